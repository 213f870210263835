"""What a cold engine loads: the handler module alone loads no SDK beyond the light set, and a
built engine loads the MCP SDK and opensearch-py only once a question needs them.

Each check runs in a fresh interpreter: this one has imported everything already."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from chatbot.clock import SystemClock
from chatbot.config import Settings
from chatbot.engine.mcp_tools import mcp_tools
from tests.conftest import FAKE_AWS_ENVIRONMENT

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("mcp", "opensearchpy", "strands")
# An engine function's environment as the stack sets it, with names that lead nowhere.
AWS_ENGINE_ENVIRONMENT = {
    **FAKE_AWS_ENVIRONMENT,
    "AWS_REGION": "us-east-1",
    "CHATBOT_ENV": "aws",
    "CHATBOT_MODEL": "bedrock",
    "WEBSOCKET_API_ENDPOINT": "https://abc123.execute-api.us-east-1.amazonaws.com/dev",
    "MCP_TRANSPORT": "lambda",
    "MCP_SERVER_LAMBDA_ARN": "arn:aws:lambda:us-east-1:123456789012:function:mcp",
    "OPENSEARCH_ENDPOINT": "https://abc123.us-east-1.aoss.amazonaws.com",
    "CONVERSATIONS_TABLE": "conversations",
    "ANALYTICS_TABLE": "analytics",
    "CONNECTIONS_TABLE": "connections",
    "SESSIONS_TABLE": "sessions",
    "LIMITS_TABLE": "limits",
}


def loaded_after(code: str, environment: dict[str, str] | None = None) -> set[str]:
    """The HEAVY top-level packages loaded by ``code`` in a fresh interpreter."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": os.pathsep.join([str(REPO / "lambda"), str(REPO)]),
        **(environment or {}),
    }
    result = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    modules = set(json.loads(result.stdout.splitlines()[-1]))
    return {name for name in HEAVY if name in modules}


def test_importing_the_engine_handler_loads_no_mcp_opensearch_or_strands() -> None:
    assert loaded_after("import chatbot.handlers.engine") == set()


def test_a_built_aws_engine_has_loaded_neither_mcp_nor_opensearch() -> None:
    # Building makes boto3 clients only: no request leaves the process.
    loaded = loaded_after(
        "import chatbot.handlers.engine as h\nh._aws_engine()", AWS_ENGINE_ENVIRONMENT
    )
    assert loaded == {"strands"}


def test_the_first_tools_question_loads_the_mcp_client(tmp_path: Path) -> None:
    loaded = loaded_after(
        "from chatbot.clock import SystemClock\n"
        "from chatbot.config import Settings\n"
        "from chatbot.engine.mcp_tools import mcp_tools\n"
        "from chatbot.records import QueryType\n"
        f"tools = mcp_tools(Settings(CHATBOT_STATE_DIR={str(tmp_path)!r}), SystemClock())\n"
        "assert tools(QueryType.GENERAL, 's') == []\n"
        "assert len(tools(QueryType.MCP_TOOL, 's')) == 1"
    )
    assert {"mcp", "strands"} <= loaded


def test_a_lambda_transport_without_its_function_is_refused_when_the_engine_is_built(
    settings: Settings,
) -> None:
    broken = settings.model_copy(update={"mcp_transport": "lambda", "mcp_server_lambda_arn": None})
    with pytest.raises(ValueError, match="MCP_SERVER_LAMBDA_ARN"):
        mcp_tools(broken, SystemClock())
