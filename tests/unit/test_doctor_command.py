"""`chatbot doctor` end to end through the real CLI entry, on stubbed clients (no network)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from chatbot import cli
from chatbot.doctor import command
from chatbot.doctor.command import Clients
from tests.conftest import FAKE_AWS_ENVIRONMENT

CLAUDE = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
CLAUDE_BASE = "anthropic.claude-sonnet-4-5-20250929-v1:0"
TITAN = "amazon.titan-embed-text-v2:0"


def availability(model_id: str, authorization: str = "AUTHORIZED") -> dict[str, Any]:
    return {
        "modelId": model_id,
        "agreementAvailability": {"status": "AVAILABLE"},
        "authorizationStatus": authorization,
        "entitlementAvailability": "AVAILABLE",
        "regionAvailability": "AVAILABLE",
    }


class Account:
    """A fresh-but-ready account in us-east-1, scripted call by call, in doctor's order."""

    def __init__(
        self, *, claude_authorization: str = "AUTHORIZED", vector_store: str = "opensearch"
    ) -> None:
        region = "us-east-1"
        self.clients = Clients(
            sts=boto3.client("sts", region_name=region),
            ssm=boto3.client("ssm", region_name=region),
            cloudformation=boto3.client("cloudformation", region_name=region),
            bedrock=boto3.client("bedrock", region_name=region),
            lambda_=boto3.client("lambda", region_name=region),
            aoss=boto3.client("opensearchserverless", region_name=region),
            s3vectors=boto3.client("s3vectors", region_name=region),
        )
        self.stubs = [Stubber(client) for client in vars(self.clients).values()]
        sts, ssm, _, bedrock, lambda_, aoss, s3vectors = self.stubs
        sts.add_response(
            "get_caller_identity",
            {
                "Account": "123456789012",
                "Arn": "arn:aws:iam::123456789012:user/op",
                "UserId": "AID",
            },
        )
        ssm.add_response(
            "get_parameter",
            {"Parameter": {"Name": "/cdk-bootstrap/hnb659fds/version", "Value": "30"}},
            {"Name": "/cdk-bootstrap/hnb659fds/version"},
        )
        bedrock.add_response(
            "get_foundation_model_availability",
            availability(CLAUDE_BASE, claude_authorization),
            {"modelId": CLAUDE_BASE},
        )
        bedrock.add_response(
            "get_inference_profile",
            {
                "inferenceProfileName": "US Claude Sonnet 4.5",
                "inferenceProfileArn": "arn:aws:bedrock:us-east-1:123456789012:inference-profile/"
                + CLAUDE,
                "inferenceProfileId": CLAUDE,
                "status": "ACTIVE",
                "type": "SYSTEM_DEFINED",
                "models": [
                    {"modelArn": f"arn:aws:bedrock:us-east-1::foundation-model/{CLAUDE_BASE}"}
                ],
            },
            {"inferenceProfileIdentifier": CLAUDE},
        )
        bedrock.add_response(
            "get_foundation_model_availability", availability(TITAN), {"modelId": TITAN}
        )
        lambda_.add_response(
            "get_account_settings",
            {
                "AccountLimit": {
                    "ConcurrentExecutions": 1000,
                    "UnreservedConcurrentExecutions": 1000,
                }
            },
        )
        if vector_store == "opensearch":
            aoss.add_response("list_collections", {"collectionSummaries": []})
            aoss.add_response(
                "get_account_settings",
                {
                    "accountSettingsDetail": {
                        "capacityLimits": {
                            "maxIndexingCapacityInOCU": 10,
                            "maxSearchCapacityInOCU": 10,
                        }
                    }
                },
            )
        elif vector_store == "s3vectors":
            s3vectors.add_response(
                "list_vector_buckets",
                {"vectorBuckets": []},
                {"prefix": "chatbot-test-vectors"},
            )

    def factory(self, region: str) -> Clients:
        assert region == "us-east-1"
        return self.clients


@pytest.fixture
def operator(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An operator at a repository root whose environment says us-east-1."""
    for key, value in FAKE_AWS_ENVIRONMENT.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    (tmp_path / "cdk.json").write_text(json.dumps({"context": {"claudeModelId": CLAUDE}}))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run_doctor(monkeypatch: pytest.MonkeyPatch, account: Account, *argv: str) -> int:
    monkeypatch.setattr(command, "clients_for", lambda session, region: account.factory(region))
    for stub in account.stubs:
        stub.activate()
    try:
        status = cli.main(["doctor", *argv])
        for stub in account.stubs:
            stub.assert_no_pending_responses()
    finally:
        for stub in account.stubs:
            stub.deactivate()
    return status


def test_a_ready_account_prints_one_ok_line_per_check_and_exits_zero(
    operator: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    status = run_doctor(monkeypatch, Account(), "--stage", "test")

    lines = capsys.readouterr().out.splitlines()
    assert status == 0
    assert [line.split()[:2] for line in lines] == [
        ["OK", "region"],
        ["OK", "document"],
        ["OK", "credentials"],
        ["OK", "bootstrap"],
        ["OK", "bedrock"],
        ["OK", "profile"],
        ["OK", "bedrock"],
        ["OK", "lambda"],
        ["OK", "opensearch"],
        ["OK", "opensearch"],
    ]
    assert "room for chatbot-test-docs" in lines[8]
    assert "testing" not in "\n".join(lines)


def test_a_fail_makes_the_exit_status_one_and_json_says_which(
    operator: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    account = Account(claude_authorization="NOT_AUTHORIZED")

    status = run_doctor(monkeypatch, account, "--format", "json", "-c", "stage=prod")

    report = json.loads(capsys.readouterr().out)
    assert status == 1
    assert report["ok"] is False
    failed = [finding for finding in report["findings"] if finding["status"] == "FAIL"]
    assert [finding["check"] for finding in failed] == ["bedrock claude"]
    assert "use-case form" in failed[0]["found"]
    assert "room for chatbot-prod-docs" in report["findings"][-2]["found"]


def test_a_bad_override_exits_two_before_any_call(
    operator: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(command, "clients_for", lambda session, region: pytest.fail("called"))

    status = cli.main(["doctor", "-c", "stage"])

    assert status == 2
    assert capsys.readouterr().err == "chatbot doctor: -c takes key=value\n"


def test_an_unknown_vector_store_fails_with_the_allowed_values(
    operator: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Neither store's checks run (the stubs hold no response for them, and none is left).
    account = Account(vector_store="pinecone")
    status = run_doctor(monkeypatch, account, "-c", "vectorStore=pinecone")

    [line] = [line for line in capsys.readouterr().out.splitlines() if "document store" in line]
    assert status == 1
    assert line.startswith("FAIL")
    assert "fix: -c vectorStore=<one of opensearch, s3vectors>" in line
    assert "pinecone" not in line


def test_with_s3vectors_the_store_is_checked_in_place_of_opensearch(
    operator: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    account = Account(vector_store="s3vectors")

    status = run_doctor(monkeypatch, account, "--stage", "test", "-c", "vectorStore=s3vectors")

    lines = capsys.readouterr().out.splitlines()
    assert status == 0
    checks = [" ".join(line.split()[:3]) for line in lines]
    assert not [check for check in checks if "opensearch" in check]
    assert checks[1] == "OK document store"
    assert checks[-1] == "OK s3vectors buckets"
    assert "Amazon S3 Vectors (vectorStore=s3vectors)" in lines[1]
    assert "S3 Vectors answers in us-east-1; no chatbot-test-vectors-* yet" in lines[-1]
