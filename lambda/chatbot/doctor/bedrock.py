"""Bedrock: whether this account may call the configured models, and the profile fits the region.

GetFoundationModelAvailability (bedrock:GetFoundationModelAvailability) is the one call that
reports this account's own state for a model: the Anthropic use-case form (authorization),
the AWS Marketplace subscription (agreement, entitlement) and the region. ListFoundationModels
lists only the region's catalogue, the same for every account, so it is not used.
GetInferenceProfile (bedrock:GetInferenceProfile) says whether a cross-region profile exists
in the region and where it routes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from chatbot.doctor.findings import CAUGHT, Finding, Status, cannot_check, error_code

if TYPE_CHECKING:
    from mypy_boto3_bedrock import BedrockClient

# A cross-region inference profile id is <geography>.<model id>; the regions each geography's
# profiles can be called from (Bedrock user guide, "Supported Regions and models for inference
# profiles"). `global.` profiles route worldwide and are callable from commercial regions.
GEOGRAPHY_REGION_PREFIXES: dict[str, tuple[str, ...]] = {
    "us": ("us-east-", "us-west-"),
    "us-gov": ("us-gov-",),
    "ca": ("ca-",),
    "eu": ("eu-",),
    "apac": ("ap-",),
    "jp": ("ap-northeast-1", "ap-northeast-3"),
    "au": ("ap-southeast-2", "ap-southeast-4"),
    "global": ("us-", "ca-", "eu-", "ap-", "sa-", "me-", "af-", "il-", "mx-"),
}
# Which geography to suggest for a region whose profile prefix does not fit.
SUGGESTED_GEOGRAPHY = (("us-gov-", "us-gov"), ("us-", "us"), ("eu-", "eu"), ("ap-", "apac"))
ADMIN_ONLY = "the engine's role cannot do this"


def split_profile(model_id: str) -> tuple[str | None, str]:
    """(geography, base model id) for a profile id; (None, model_id) for a plain model id."""
    geography, dot, base = model_id.partition(".")
    if dot and base and geography in GEOGRAPHY_REGION_PREFIXES:
        return geography, base
    return None, model_id


def check_model_access(bedrock: BedrockClient, label: str, model_id: str, region: str) -> Finding:
    check = f"bedrock {label}"
    geography, base = split_profile(model_id)
    try:
        answer = bedrock.get_foundation_model_availability(modelId=base)
    except CAUGHT as error:
        if _names_no_such_thing(error):
            return Finding(
                check,
                Status.FAIL,
                f"Bedrock knows no model {base} in {region}",
                f"correct the model id (-c {_context_key(label)}=...)",
            )
        return cannot_check(
            check,
            f"access to {base}",
            error,
            permission="bedrock:GetFoundationModelAvailability",
        )
    anthropic = base.startswith("anthropic.")
    if answer.get("regionAvailability") == "NOT_AVAILABLE" and geography is None:
        return Finding(
            check,
            Status.FAIL,
            f"{base} is not offered in {region}",
            f"deploy to a region that offers it, or choose another (-c {_context_key(label)}=...)",
        )
    if answer.get("authorizationStatus") == "NOT_AUTHORIZED":
        if anthropic:
            return Finding(
                check,
                Status.FAIL,
                f"{base}: this account has not submitted Anthropic's one-time use-case form",
                "an administrator submits it once (Bedrock console > Model catalog > the model, "
                "or PutUseCaseForModelAccess; at the Organization's management account it "
                f"covers every member account); {ADMIN_ONLY}",
            )
        return Finding(
            check,
            Status.FAIL,
            f"{base}: this account is not authorized to use the model",
            "an administrator lifts the IAM policy or SCP that blocks it",
        )
    agreement = answer.get("agreementAvailability", {}).get("status")
    if agreement == "PENDING":
        return Finding(
            check,
            Status.WARN,
            f"{base}: the AWS Marketplace subscription is still being set up",
            "re-run doctor in a few minutes (it can take up to 15)",
        )
    if agreement in ("NOT_AVAILABLE", "ERROR") or (
        answer.get("entitlementAvailability") == "NOT_AVAILABLE"
    ):
        return Finding(
            check,
            Status.FAIL,
            f"{base}: no AWS Marketplace subscription for the model in this account",
            "an administrator with aws-marketplace:Subscribe opens the model once in the "
            "Bedrock console playground (or ListFoundationModelAgreementOffers then "
            f"CreateFoundationModelAgreement); {ADMIN_ONLY}",
        )
    return Finding(check, Status.OK, f"{base}: authorized and subscribed, offered in {region}")


def check_inference_profile(
    bedrock: BedrockClient, label: str, model_id: str, region: str
) -> Finding | None:
    """None for a plain model id: there is no profile to check."""
    geography, base = split_profile(model_id)
    if geography is None:
        return None
    check = f"profile {label}"
    if not region.startswith(GEOGRAPHY_REGION_PREFIXES[geography]):
        return Finding(
            check,
            Status.FAIL,
            f"a {geography}. inference profile cannot be called from {region}",
            f"-c {_context_key(label)}={suggest_profile(base, region)} "
            "(the prefix of the region's geography), or deploy to a region it fits",
        )
    try:
        profile = bedrock.get_inference_profile(inferenceProfileIdentifier=model_id)
    except CAUGHT as error:
        if _names_no_such_thing(error):
            return Finding(
                check,
                Status.FAIL,
                f"{region} offers no inference profile {model_id}",
                f"pick one it lists: aws bedrock list-inference-profiles --region {region}",
            )
        return cannot_check(
            check, f"the profile {model_id}", error, permission="bedrock:GetInferenceProfile"
        )
    # ACTIVE is the only status the API defines; the profile's existence is the finding.
    routes = sorted({_arn_region(model.get("modelArn", "")) for model in profile.get("models", [])})
    routes = [route for route in routes if route]
    where = f", routes to {', '.join(routes)}" if routes else ""
    return Finding(check, Status.OK, f"{model_id} is active in {region}{where}")


def _names_no_such_thing(error: Exception) -> bool:
    """Bedrock's answer for an id it does not know (a malformed one is a ValidationException)."""
    return isinstance(error, ClientError) and error_code(error) in (
        "ResourceNotFoundException",
        "ValidationException",
    )


def suggest_profile(base: str, region: str) -> str:
    for prefix, geography in SUGGESTED_GEOGRAPHY:
        if region.startswith(prefix):
            return f"{geography}.{base}"
    return f"global.{base}"


def _arn_region(arn: str) -> str:
    parts = arn.split(":")
    return parts[3] if len(parts) > 3 else ""


def _context_key(label: str) -> str:
    return "claudeModelId" if label == "claude" else "embeddingModelId"
