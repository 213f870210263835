"""`ingestPrincipalArns`: operators who run `chatbot ingest` get write access to the index."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stacks.constructs.vector_search import WRITE_PERMISSIONS
from tests.infra.conftest import synthesize

OPS = "arn:aws:iam::123456789012:role/ops"
CI = "arn:aws:iam::123456789012:user/ci"


def _statements(tmp_path: Path, context: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The data access policy's statements by description, stack role ARNs as placeholders."""
    synthesized = synthesize(context, tmp_path)  # raises on any cdk-nag finding
    (policy,) = synthesized.resources("AWS::OpenSearchServerless::AccessPolicy").values()
    document = policy["Properties"]["Policy"]
    if isinstance(document, dict):
        _, parts = document["Fn::Join"]
        document = "".join(_placeholder(part) for part in parts)
    return {statement["Description"]: statement for statement in json.loads(document)}


def _placeholder(part: Any) -> str:
    if isinstance(part, str):
        return part
    if "Fn::GetAtt" in part:
        return f"<{part['Fn::GetAtt'][0]}>"
    return "<name>"  # the collection name's suffix, from the stack id


def test_ingest_principals_get_write_access(tmp_path: Path) -> None:
    statements = _statements(tmp_path, {"ingestPrincipalArns": f"{OPS}, {CI}"})
    write = statements["chatbot write access"]
    assert OPS in write["Principal"]
    assert CI in write["Principal"]
    # The stack's own functions only search: none of them is a writer.
    assert all(not principal.startswith("<") for principal in write["Principal"])
    read = statements["chatbot read access"]
    assert any(principal.startswith("<McpServerRole") for principal in read["Principal"])
    (rule,) = write["Rules"]
    assert rule["Permission"] == list(WRITE_PERMISSIONS)
    for kind in ("read", "setup"):
        assert OPS not in statements[f"chatbot {kind} access"]["Principal"]


def test_by_default_no_ingest_principal(tmp_path: Path) -> None:
    statements = _statements(tmp_path, {})
    principals = [p for statement in statements.values() for p in statement["Principal"]]
    assert principals
    assert all(principal.startswith("<") for principal in principals), principals


def test_a_malformed_principal_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not an IAM role or user ARN"):
        synthesize({"ingestPrincipalArns": "ops"}, tmp_path)
