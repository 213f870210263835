"""chatbot doctor's inputs and first checks: the settings, the region, the credentials."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber
from moto import mock_aws

from chatbot.doctor.account import check_credentials
from chatbot.doctor.findings import Status
from chatbot.doctor.inputs import (
    InputError,
    check_region,
    deploy_inputs,
    parse_overrides,
    read_context,
)
from tests.conftest import FAKE_AWS_ENVIRONMENT


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key, value in FAKE_AWS_ENVIRONMENT.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        yield


def test_credentials_that_work_report_the_account_and_region(aws: None) -> None:
    account, finding = check_credentials(boto3.client("sts", region_name="eu-west-1"), "eu-west-1")

    assert account == "123456789012"
    assert finding.status is Status.OK
    assert finding.found == "account 123456789012, region eu-west-1"


def test_no_credentials_at_all_fail_with_how_to_configure_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for key in FAKE_AWS_ENVIRONMENT:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")

    # A session of its own: boto3's default session may hold credentials an earlier test
    # resolved. The loopback endpoint is a safety net: nothing may leave the machine.
    sts = boto3.session.Session().client(
        "sts", region_name="us-east-1", endpoint_url="http://127.0.0.1:9"
    )
    account, finding = check_credentials(sts, "us-east-1")

    assert account is None
    assert finding.status is Status.FAIL
    assert finding.found == "no AWS credentials found"


def test_expired_credentials_fail_without_echoing_what_aws_said() -> None:
    sts = boto3.client("sts", region_name="us-east-1")
    with Stubber(sts) as stub:
        stub.add_client_error(
            "get_caller_identity",
            service_error_code="ExpiredToken",
            service_message="expired: arn:aws:sts::123456789012:assumed-role/Admin/jane@example",
        )
        account, finding = check_credentials(sts, "us-east-1")

    assert account is None
    assert finding.status is Status.FAIL
    assert "the credentials were rejected (ExpiredToken)" in finding.found
    assert "jane" not in finding.found + finding.fix


def test_an_unreachable_endpoint_is_a_finding_not_a_traceback(aws: None) -> None:
    # Loopback port 9 refuses the connection: nothing leaves the machine.
    sts = boto3.client(
        "sts",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        config=Config(retries={"max_attempts": 1}, connect_timeout=1),
    )

    account, finding = check_credentials(sts, "us-east-1")

    assert account is None
    assert finding.status is Status.FAIL
    assert finding.found == "cannot check the credentials: the service endpoint did not answer"


def test_the_region_checked_is_where_the_cdk_deploys_from_aws_region() -> None:
    region, finding = check_region(None, {"AWS_REGION": "eu-west-1"}, "us-east-1")

    assert region == "eu-west-1"
    assert finding.status is Status.OK
    assert finding.found == "the stack deploys to eu-west-1 (AWS_REGION)"


def test_a_region_given_that_a_deploy_would_not_use_fails() -> None:
    region, finding = check_region("eu-central-1", {"AWS_DEFAULT_REGION": "us-east-1"}, None)

    assert region == "eu-central-1"
    assert finding.status is Status.FAIL
    assert "make deploy would deploy to us-east-1 (from AWS_DEFAULT_REGION)" in finding.found
    assert finding.fix.startswith("export AWS_REGION=eu-central-1")


def test_aws_region_and_aws_default_region_that_differ_warn() -> None:
    _, finding = check_region(
        None, {"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "us-east-1"}, None
    )

    assert finding.status is Status.WARN
    assert finding.fix == "export AWS_DEFAULT_REGION=eu-west-1"


def test_the_profiles_region_counts_and_none_at_all_warns_of_the_cdks_fallback() -> None:
    assert check_region(None, {}, "ap-southeast-2")[1].status is Status.OK
    region, finding = check_region(None, {}, None)

    assert region == "us-east-1"
    assert finding.status is Status.WARN


def test_settings_come_from_cdk_json_then_overrides_then_stage(tmp_path: Path) -> None:
    cdk_json = tmp_path / "cdk.json"
    cdk_json.write_text(
        json.dumps({"context": {"stage": "dev", "embeddingModelId": "amazon.titan-embed-text-v1"}})
    )
    overrides = parse_overrides(["claudeModelId=eu.anthropic.claude-x-v1:0", "stage=prod"])

    inputs = deploy_inputs(read_context(cdk_json), overrides)

    assert inputs.stage == "prod"
    assert inputs.claude_model_id == "eu.anthropic.claude-x-v1:0"
    assert inputs.embedding_model_id == "amazon.titan-embed-text-v1"
    assert inputs.bootstrap_qualifier == "hnb659fds"
    assert inputs.collection_name == "chatbot-prod-docs"


def test_a_stage_the_stack_would_refuse_is_refused_without_echoing_it() -> None:
    with pytest.raises(InputError) as raised:
        deploy_inputs({}, {"stage": "Prod<script>"})

    assert "script" not in str(raised.value)


def test_an_override_without_an_equals_sign_is_refused() -> None:
    with pytest.raises(InputError, match="-c takes key=value"):
        parse_overrides(["stage"])
