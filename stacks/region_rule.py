"""A CloudFormation rule: a geographic inference profile id deploys only in its geography."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from aws_cdk import Aws, CfnRule, CfnRuleAssertion, Fn, Stack
from aws_cdk.region_info import RegionInfo

# A profile id's prefix -> the region-name prefix of the geography it routes within.
GEOGRAPHIES: Final = {"us": "us-", "eu": "eu-", "apac": "ap-"}


def geography_regions(region_prefix: str) -> list[str]:
    """The commercial regions of a geography, as the pinned aws-cdk-lib knows them."""
    return sorted(
        region.name
        for region in RegionInfo.regions
        if region.partition == "aws" and region.name.startswith(region_prefix)
    )


def require_profile_regions(stack: Stack, model_ids: Iterable[str]) -> CfnRule | None:
    """A rule that fails the deploy, before anything is created, when a ``us.`` (``eu.``,
    ``apac.``) inference profile id is deployed outside US (EU, Asia Pacific) regions: Bedrock
    refuses such a profile there, so every question would fail only at run time.

    None when no model id names one of those geographies.
    """
    geographies = sorted(
        {geo for model_id in model_ids if (geo := model_id.partition(".")[0]) in GEOGRAPHIES}
    )
    if not geographies:
        return None
    assertions = [
        CfnRuleAssertion(
            assert_=Fn.condition_contains(geography_regions(GEOGRAPHIES[geo]), Aws.REGION),
            assert_description=(
                f"A '{geo}.' inference profile model id is served only in "
                f"{GEOGRAPHIES[geo]}* regions: deploy there, or choose a model id of this "
                "region's geography (claudeModelId, embeddingModelId)."
            ),
        )
        for geo in geographies
    ]
    return CfnRule(stack, "InferenceProfileRegion", assertions=assertions)
