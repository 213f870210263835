"""The Lambda package's fingerprint: any file that lands in the package changes it, so an edit
to code or to a data file beside it is redeployed."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest
from aws_cdk.assertions import Annotations, Match

from chatbot.adapters.aws.embeddings import TITAN_V2_MODEL_ID, BedrockRuntime, TitanEmbeddings
from chatbot.engine.route_classifier import ClassifierKey, RouteClassifier
from chatbot.engine.route_classifier import file_name as classifier_file_name
from chatbot.engine.route_vectors import VectorsKey, encode, file_name
from chatbot.engine.router import KEYWORD_PATTERNS
from chatbot.engine.semantic_router import RouteExamples
from chatbot.records import QueryType
from stacks import bundling
from stacks.settings import DEFAULTS
from tests.infra.conftest import Synthesized


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "lambda" / "chatbot" / "engine").mkdir(parents=True)
    (tmp_path / "lambda" / "chatbot" / "engine" / "engine.py").write_text("x = 1\n")
    (tmp_path / "lambda" / "chatbot" / "engine" / "route_examples.yaml").write_text("rag: [a]\n")
    (tmp_path / "lambda" / "chatbot" / "engine" / "route_vectors").mkdir()
    (tmp_path / "lambda" / "chatbot" / "engine" / "route_vectors" / "m.f16").write_text("{}\n")
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "mcp_tools.yaml").write_text("openapi: 3.1.0\n")
    (tmp_path / "requirements.txt").write_text("boto3==1\n")
    monkeypatch.setattr(bundling, "REPO", tmp_path)
    monkeypatch.setattr(bundling, "SOURCE", tmp_path / "lambda")
    monkeypatch.setattr(bundling, "LOCK", tmp_path / "requirements.txt")
    return tmp_path


@pytest.mark.parametrize(
    "changed",
    [
        "lambda/chatbot/engine/engine.py",
        "lambda/chatbot/engine/route_examples.yaml",
        "lambda/chatbot/engine/route_vectors/m.f16",
        "schemas/mcp_tools.yaml",
        "requirements.txt",
    ],
)
def test_every_packaged_file_changes_the_fingerprint(tree: Path, changed: str) -> None:
    before = bundling.FULL.fingerprint()
    path = tree / changed
    path.write_text(path.read_text() + "# edited\n")
    assert bundling.FULL.fingerprint() != before


def test_files_outside_the_package_do_not(tree: Path) -> None:
    before = bundling.FULL.fingerprint()
    (tree / "README.md").write_text("notes\n")
    (tree / "lambda" / "chatbot" / "engine" / "__pycache__").mkdir()
    (tree / "lambda" / "chatbot" / "engine" / "__pycache__" / "engine.cpython-311.pyc").write_text(
        ""
    )
    assert bundling.FULL.fingerprint() == before
    assert bundling.LIGHT.fingerprint() != before


def test_a_model_without_shipped_vectors_draws_a_synth_warning(tmp_path: Path) -> None:
    message = bundling.route_vectors_warning("amazon.titan-embed-text-v2:0", 512, tmp_path)
    assert message is not None
    assert "scripts/route_vectors.py --titan" in message
    assert "--dimensions 512" in message


def test_shipped_vectors_for_the_model_silence_the_warning(tmp_path: Path) -> None:
    examples = RouteExamples.load()
    embedding_id = bundling.titan_embedding_id("amazon.titan-embed-text-v2:0", 256)
    key = VectorsKey(embedding_id, 256, examples.fingerprint())
    vectors = [[1.0] + [0.0] * 255 for _ in examples.pairs()]
    (tmp_path / file_name(embedding_id)).write_bytes(encode(key, vectors))
    assert bundling.route_vectors_warning("amazon.titan-embed-text-v2:0", 256, tmp_path) is None


def test_the_warning_names_the_model_as_the_titan_adapter_does() -> None:
    titan = TitanEmbeddings(client=cast(BedrockRuntime, object()), dimensions=256)
    assert bundling.titan_embedding_id(TITAN_V2_MODEL_ID, 256) == titan.model_id


def test_the_stack_warns_at_synth_exactly_when_the_deployed_model_lacks_vectors(
    synthesized: Synthesized,
) -> None:
    expected = bundling.route_vectors_warning(
        DEFAULTS["embeddingModelId"], DEFAULTS["embeddingDimensions"]
    )
    warnings = Annotations.from_stack(synthesized.stack).find_warning(
        "*", Match.string_like_regexp("router example vectors")
    )
    # CDK appends the acknowledgement id to the message.
    texts = [
        str(entry.entry.data).removesuffix(" [ack: chatbot:routeVectors]") for entry in warnings
    ]
    assert texts == ([expected] if expected else [])


def test_a_model_without_a_trained_classifier_draws_a_synth_warning(tmp_path: Path) -> None:
    message = bundling.route_classifier_warning("amazon.titan-embed-text-v2:0", 512, tmp_path)
    assert message is not None
    assert "scripts/train_router.py --titan" in message
    assert "--dimensions 512" in message


def test_a_shipped_classifier_for_the_model_silences_its_warning(tmp_path: Path) -> None:
    embedding_id = bundling.titan_embedding_id("amazon.titan-embed-text-v2:0", 4)
    width = 4 + len(KEYWORD_PATTERNS)
    classifier = RouteClassifier(
        key=ClassifierKey.current(embedding_id, 4),
        routes=(QueryType.RAG, QueryType.GENERAL, QueryType.MCP_TOOL),
        weights=((0.0,) * width,) * 3,
        bias=(0.0, 0.0, 0.0),
        min_confidence=0.8,
        provenance={},
    )
    (tmp_path / classifier_file_name(embedding_id)).write_text(classifier.to_json())
    assert bundling.route_classifier_warning("amazon.titan-embed-text-v2:0", 4, tmp_path) is None
