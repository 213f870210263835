"""chatbot doctor's Bedrock checks: model access for this account, the profile for the region."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from chatbot.doctor.bedrock import check_inference_profile, check_model_access
from chatbot.doctor.findings import Finding, Status, render_text

CLAUDE = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
CLAUDE_BASE = "anthropic.claude-sonnet-4-5-20250929-v1:0"
TITAN = "amazon.titan-embed-text-v2:0"


def availability(**overrides: Any) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "modelId": CLAUDE_BASE,
        "agreementAvailability": {"status": "AVAILABLE"},
        "authorizationStatus": "AUTHORIZED",
        "entitlementAvailability": "AVAILABLE",
        "regionAvailability": "AVAILABLE",
    }
    answer.update(overrides)
    return answer


def access(answer: dict[str, Any] | None, model_id: str = CLAUDE, **error: Any) -> Finding:
    bedrock = boto3.client("bedrock", region_name="us-east-1")
    _, _, base = model_id.partition(".") if model_id.startswith("us.") else ("", "", model_id)
    with Stubber(bedrock) as stub:
        if answer is None:
            stub.add_client_error("get_foundation_model_availability", **error)
        else:
            stub.add_response("get_foundation_model_availability", answer, {"modelId": base})
        finding = check_model_access(bedrock, "claude", model_id, "us-east-1")
        stub.assert_no_pending_responses()
    return finding


def test_a_model_this_account_may_call_is_ok() -> None:
    finding = access(availability())

    assert finding.status is Status.OK
    assert finding.found == f"{CLAUDE_BASE}: authorized and subscribed, offered in us-east-1"


def test_an_anthropic_model_without_the_use_case_form_fails_with_the_administrators_step() -> None:
    finding = access(availability(authorizationStatus="NOT_AUTHORIZED"))

    assert finding.status is Status.FAIL
    assert "has not submitted Anthropic's one-time use-case form" in finding.found
    assert "PutUseCaseForModelAccess" in finding.fix
    assert "the engine's role cannot do this" in finding.fix


def test_a_model_without_a_marketplace_subscription_fails_with_the_administrators_step() -> None:
    finding = access(availability(agreementAvailability={"status": "NOT_AVAILABLE"}))

    assert finding.status is Status.FAIL
    assert "no AWS Marketplace subscription" in finding.found
    assert "aws-marketplace:Subscribe" in finding.fix


def test_a_model_without_an_entitlement_fails_as_unsubscribed() -> None:
    finding = access(availability(entitlementAvailability="NOT_AVAILABLE"))

    assert finding.status is Status.FAIL
    assert "no AWS Marketplace subscription" in finding.found


def test_a_subscription_being_set_up_warns_to_re_run_later() -> None:
    finding = access(availability(agreementAvailability={"status": "PENDING"}))

    assert finding.status is Status.WARN
    assert "re-run doctor in a few minutes" in finding.fix


def test_a_model_the_region_does_not_offer_fails_with_the_setting_to_change() -> None:
    finding = access(
        availability(modelId=TITAN, regionAvailability="NOT_AVAILABLE"), model_id=TITAN
    )

    assert finding.status is Status.FAIL
    assert finding.found == f"{TITAN} is not offered in us-east-1"
    assert "-c claudeModelId=" in finding.fix


def test_a_model_id_bedrock_does_not_know_fails_as_a_typo() -> None:
    finding = access(None, service_error_code="ResourceNotFoundException", http_status_code=404)

    assert finding.status is Status.FAIL
    assert "Bedrock knows no model" in finding.found


def test_an_operator_who_may_not_ask_is_told_the_permission_it_takes() -> None:
    finding = access(None, service_error_code="AccessDeniedException", http_status_code=403)

    assert finding.status is Status.WARN
    assert render_text([finding]) == (
        f"WARN  bedrock claude  cannot check access to {CLAUDE_BASE}: access denied"
        " -> fix: grant the operator bedrock:GetFoundationModelAvailability, then re-run\n"
    )


def profile(region: str, answer: dict[str, Any] | None, **error: Any) -> Finding | None:
    bedrock = boto3.client("bedrock", region_name=region)
    with Stubber(bedrock) as stub:
        expected = {"inferenceProfileIdentifier": CLAUDE}
        if answer is not None:
            stub.add_response("get_inference_profile", answer, expected)
        elif error:
            stub.add_client_error("get_inference_profile", **error)
        finding = check_inference_profile(bedrock, "claude", CLAUDE, region)
        stub.assert_no_pending_responses()
    return finding


def profile_answer(model_id: str, *regions: str) -> dict[str, Any]:
    return {
        "inferenceProfileName": "Claude Sonnet 4.5",
        "inferenceProfileArn": f"arn:aws:bedrock:{regions[0]}:123456789012:inference-profile/"
        + model_id,
        "inferenceProfileId": model_id,
        "status": "ACTIVE",
        "type": "SYSTEM_DEFINED",
        "models": [
            {"modelArn": f"arn:aws:bedrock:{region}::foundation-model/{CLAUDE_BASE}"}
            for region in regions
        ],
    }


def test_a_profile_of_the_regions_geography_is_ok_and_says_where_it_routes() -> None:
    finding = profile("us-east-1", profile_answer(CLAUDE, "us-west-2", "us-east-1", "us-east-2"))

    assert finding is not None and finding.status is Status.OK
    assert (
        finding.found
        == f"{CLAUDE} is active in us-east-1, routes to us-east-1, us-east-2, us-west-2"
    )


def test_a_profile_of_another_geography_fails_without_a_call_and_names_the_right_one() -> None:
    finding = profile("eu-west-1", None)

    assert finding is not None and finding.status is Status.FAIL
    assert finding.found == "a us. inference profile cannot be called from eu-west-1"
    assert f"-c claudeModelId=eu.{CLAUDE_BASE}" in finding.fix


def test_a_us_profile_in_an_asia_pacific_region_fails_and_names_the_apac_one() -> None:
    finding = profile("ap-southeast-1", None)

    assert finding is not None and finding.status is Status.FAIL
    assert finding.found == "a us. inference profile cannot be called from ap-southeast-1"
    assert f"-c claudeModelId=apac.{CLAUDE_BASE}" in finding.fix


def test_a_profile_the_region_does_not_offer_fails_with_how_to_list_them() -> None:
    finding = profile(
        "us-west-1", None, service_error_code="ResourceNotFoundException", http_status_code=404
    )

    assert finding is not None and finding.status is Status.FAIL
    assert finding.found == f"us-west-1 offers no inference profile {CLAUDE}"
    assert "aws bedrock list-inference-profiles --region us-west-1" in finding.fix


def test_an_operator_who_may_not_read_the_profile_is_told_the_permission_it_takes() -> None:
    finding = profile(
        "us-east-1", None, service_error_code="AccessDeniedException", http_status_code=403
    )

    assert finding is not None and finding.status is Status.WARN
    assert "bedrock:GetInferenceProfile" in finding.fix


@pytest.mark.parametrize(
    ("model_id", "region"),
    [
        ("global.anthropic.claude-sonnet-4-5-20250929-v1:0", "sa-east-1"),
        (CLAUDE, "us-west-2"),
        (f"apac.{CLAUDE_BASE}", "ap-northeast-1"),
        (f"apac.{CLAUDE_BASE}", "ap-south-1"),
    ],
)
def test_a_prefix_that_fits_the_region_passes_the_offline_check(model_id: str, region: str) -> None:
    bedrock = boto3.client("bedrock", region_name=region)
    with Stubber(bedrock) as stub:
        stub.add_response("get_inference_profile", profile_answer(model_id, region))
        finding = check_inference_profile(bedrock, "claude", model_id, region)

    assert finding is not None and finding.status is Status.OK


def test_a_plain_model_id_has_no_profile_to_check() -> None:
    bedrock = boto3.client("bedrock", region_name="us-east-1")

    assert check_inference_profile(bedrock, "titan", TITAN, "us-east-1") is None
