"""Writes the semantic router's example vectors into the package, so no cold start embeds them.

    python scripts/route_vectors.py                       # the local model, offline
    python scripts/route_vectors.py --titan [--dimensions 1024] [--model-id ID] [--region R]
    python scripts/route_vectors.py --check               # every shipped file is current

Run it after changing lambda/chatbot/engine/route_examples.yaml or the embedding model or
width (cdk.json's embeddingModelId / embeddingDimensions), and commit the file it writes
(lambda/chatbot/engine/route_vectors/). A file that already matches the model, the width
and the examples is left alone, so a run embeds only after one of them changed. Titan needs
AWS credentials with bedrock:InvokeModel on the model: one request per example, 90 of them,
a fraction of a cent. A deployed engine without a matching file still works: it embeds the
examples on its first route and logs that once (`cdk synth` warns when the configured model
has no file). `--check` embeds nothing: it fails when a shipped file was made for other
examples.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "lambda"))

from chatbot.embeddings import Embeddings  # noqa: E402
from chatbot.engine.route_vectors import (  # noqa: E402
    SUFFIX,
    VECTORS_FOLDER,
    VectorsKey,
    encode,
    file_name,
    load_shipped,
    read_key,
)
from chatbot.engine.semantic_router import EXAMPLE_BATCH, RouteExamples  # noqa: E402

FOLDER = REPO / "lambda" / "chatbot" / "engine" / VECTORS_FOLDER


def stale_files(examples: RouteExamples, folder: Path = FOLDER) -> list[str]:
    """The shipped files made for other examples than these (each line says which)."""
    fingerprint = examples.fingerprint()
    count = len(examples.pairs())
    stale = []
    for path in sorted(folder.glob(f"*{SUFFIX}")):
        key, stored = read_key(path.read_bytes())
        if key.examples_sha256 != fingerprint or stored != count:
            stale.append(f"{path.name}: made for other examples ({key.model_id})")
        elif path.name != file_name(key.model_id):
            stale.append(f"{path.name}: should be named {file_name(key.model_id)}")
    return stale


def embeddings_for(arguments: argparse.Namespace) -> Embeddings:
    if arguments.titan:
        from chatbot.adapters.aws.embeddings import TitanEmbeddings

        return TitanEmbeddings(
            region=arguments.region, model_id=arguments.model_id, dimensions=arguments.dimensions
        )
    from chatbot.adapters.local.embeddings import LocalEmbeddings

    return LocalEmbeddings()


def write_vectors(
    embeddings: Embeddings, examples: RouteExamples, folder: Path = FOLDER
) -> tuple[Path, bool]:
    """The file for ``embeddings``' model, and whether it had to be (re)computed."""
    key = VectorsKey(embeddings.model_id, embeddings.dimensions, examples.fingerprint())
    texts = [text for _, text in examples.pairs()]
    path = folder / file_name(key.model_id)
    if load_shipped(key, len(texts), folder) is not None:
        return path, False
    vectors: list[list[float]] = []
    for start in range(0, len(texts), EXAMPLE_BATCH):
        vectors += embeddings.embed_documents(texts[start : start + EXAMPLE_BATCH])
    folder.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode(key, vectors))
    return path, True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--titan", action="store_true", help="Bedrock Titan, not the local model")
    parser.add_argument("--model-id", default="amazon.titan-embed-text-v2:0")
    parser.add_argument("--dimensions", type=int, default=1024)
    parser.add_argument("--region", default=None, help="Bedrock's region (default: AWS_REGION)")
    parser.add_argument("--check", action="store_true", help="verify the shipped files only")
    arguments = parser.parse_args(argv)
    examples = RouteExamples.load()
    if arguments.check:
        stale = stale_files(examples)
        for line in stale:
            sys.stderr.write(f"stale: {line}\n")
        shipped = sorted(path.name for path in FOLDER.glob(f"*{SUFFIX}"))
        sys.stdout.write(f"{len(shipped)} file(s) checked: {', '.join(shipped) or 'none'}\n")
        return 1 if stale else 0
    path, computed = write_vectors(embeddings_for(arguments), examples)
    size = path.stat().st_size
    verb = "wrote" if computed else "up to date:"
    count = len(examples.pairs())
    sys.stdout.write(f"{verb} {path.relative_to(REPO)} ({count} examples, {size} bytes)\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
