"""Trains the router's classifier and writes its weights into the package.

    python scripts/train_router.py [--output bench/results/routing-eval.md]   # the local model
    python scripts/train_router.py --titan [--dimensions 1024] [--model-id ID] [--region R]
    python scripts/train_router.py --check      # every shipped file matches the training data

Trains on the router's examples (lambda/chatbot/engine/route_examples.yaml) and the tuning set
(tests/data/routing/tune.jsonl), never the held-out set, and writes
lambda/chatbot/engine/route_classifier/<model>.json; commit it. Run it after changing either
file, the keyword rules (chatbot.engine.router) or the embedding model; `--check` (run by the
tests) embeds nothing and fails when a shipped file was trained on other data. Titan needs AWS
credentials with bedrock:InvokeModel on the model: one request per message, about 300, a
fraction of a cent; `make deploy` runs it, and without a file for the deployed model the
engine routes by the nearest examples instead. How it trains: chatbot.evaluation.route_training.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "lambda"))

from chatbot.clock import SystemClock  # noqa: E402
from chatbot.embeddings import Embeddings  # noqa: E402
from chatbot.engine.route_classifier import (  # noqa: E402
    CLASSIFIER_FOLDER,
    SUFFIX,
    RouteClassifier,
    file_name,
)
from chatbot.engine.router import keyword_route  # noqa: E402
from chatbot.engine.semantic_router import RouteExamples  # noqa: E402
from chatbot.evaluation.route_training import (  # noqa: E402
    CrossValidation,
    Example,
    data_fingerprint,
    train,
)
from chatbot.evaluation.routing import TUNE_DATA, append_result, load_routing_set  # noqa: E402

FOLDER = REPO / "lambda" / "chatbot" / "engine" / CLASSIFIER_FOLDER


def training_examples() -> list[Example]:
    """The examples file's questions, then the tuning set's."""
    examples = [Example(text, route, False) for route, text in RouteExamples.load().pairs()]
    examples += [Example(q.text, q.route, True) for q in load_routing_set(TUNE_DATA)]
    return examples


def stale_files(folder: Path = FOLDER) -> list[str]:
    """The shipped classifiers trained on other data than today's (each line says which)."""
    fingerprint = data_fingerprint(training_examples())
    stale = []
    for path in sorted(folder.glob(f"*{SUFFIX}")):
        classifier = RouteClassifier.from_json(path.read_text(encoding="utf-8"))
        if classifier.provenance.get("data_sha256") != fingerprint:
            stale.append(f"{path.name}: trained on other data ({classifier.key.model_id})")
        elif path.name != file_name(classifier.key.model_id):
            stale.append(f"{path.name}: should be named {file_name(classifier.key.model_id)}")
    return stale


def embeddings_for(arguments: argparse.Namespace) -> Embeddings:
    if arguments.titan:
        from chatbot.adapters.aws.embeddings import TitanEmbeddings

        return TitanEmbeddings(
            region=arguments.region, model_id=arguments.model_id, dimensions=arguments.dimensions
        )
    from chatbot.adapters.local.embeddings import LocalEmbeddings

    return LocalEmbeddings()


def embed(embeddings: Embeddings, texts: list[str]) -> list[list[float]]:
    """Query vectors, as the router embeds a message."""
    return [embeddings.embed_query(text) for text in texts]


def report(model_id: str, examples: list[Example], validation: CrossValidation) -> str:
    tuning = sum(1 for example in examples if example.tuning)
    return (
        f"Router classifier trained for {model_id} on {len(examples) - tuning} example "
        f"questions and {tuning} tuning questions (`scripts/train_router.py`); "
        "5-fold cross-validation on the tuning questions:\n\n"
        "| measure | value |\n| --- | ---: |\n"
        f"| accuracy of the best route | {validation.accuracy:.1%} |\n"
        f"| min_confidence (asks the model below it) | {validation.min_confidence:.4f} |\n"
        f"| share that would ask the model | {validation.asked:.1%} |\n"
        f"| right among the confident | {validation.confident_precision:.1%} |\n"
        f"| among the unsure: the best route right | {validation.guess_accuracy:.1%} |\n"
        f"| among the unsure: the keyword rules right | {validation.rules_accuracy:.1%} |\n"
        "| among the unsure: a matching rule, else the best route | "
        f"{validation.fallback_accuracy:.1%} |\n"
        "| every tuning question, routed as offline (no model) | "
        f"{validation.routed_accuracy:.1%} |\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--titan", action="store_true", help="Bedrock Titan, not the local model")
    parser.add_argument("--model-id", default="amazon.titan-embed-text-v2:0")
    parser.add_argument("--dimensions", type=int, default=1024)
    parser.add_argument("--region", default=None, help="Bedrock's region (default: AWS_REGION)")
    parser.add_argument("--check", action="store_true", help="verify the shipped files only")
    parser.add_argument("--output", type=Path, help="append the report to this Markdown file")
    arguments = parser.parse_args(argv)
    if arguments.check:
        stale = stale_files()
        for line in stale:
            sys.stderr.write(f"stale: {line}\n")
        shipped = sorted(path.name for path in FOLDER.glob(f"*{SUFFIX}"))
        sys.stdout.write(f"{len(shipped)} file(s) checked: {', '.join(shipped) or 'none'}\n")
        return 1 if stale else 0
    examples = training_examples()
    embeddings = embeddings_for(arguments)
    texts = [example.text for example in examples]
    vectors = embed(embeddings, texts)
    rules = [keyword_route(text) for text in texts]
    classifier, validation = train(
        examples, vectors, rules, model_id=embeddings.model_id, dimensions=embeddings.dimensions
    )
    FOLDER.mkdir(parents=True, exist_ok=True)
    path = FOLDER / file_name(embeddings.model_id)
    path.write_text(classifier.to_json(), encoding="utf-8")
    text = report(embeddings.model_id, examples, validation)
    sys.stdout.write(f"wrote {path.relative_to(REPO)} ({path.stat().st_size} bytes)\n\n{text}")
    if arguments.output is not None:
        append_result(text, arguments.output, when=SystemClock().now())
    return 0


if __name__ == "__main__":
    sys.exit(main())
