"""The retrieval evaluation through the S3 Vectors adapter, beside the embedded index.

    .venv/bin/python bench/retrieval_s3vectors.py [--data DIR ...] [--limit-queries N]
        [--output bench/results/retrieval-s3vectors.md]

Each labelled set (default: python_faq and gnu_manpages) through the adapter over its fake,
beside the embedded index on the same vectors (``tests/integration/s3vectors_retrieval.py``
says how, and what the rows can and cannot say); the tables go to stdout, and with
``--output`` are appended to the results file.

Corpus and question vectors come from the evaluation's cache (``chatbot eval retrieval``
fills it; a cold cache embeds the corpus first, minutes for python_faq).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "lambda"), str(REPO)]

from chatbot.adapters.local.embeddings import LocalEmbeddings  # noqa: E402
from chatbot.clock import SystemClock  # noqa: E402
from chatbot.evaluation.dataset import DEFAULT_DATASETS, load_dataset  # noqa: E402
from chatbot.evaluation.embedding_cache import default_cache_directory  # noqa: E402
from chatbot.evaluation.results_log import append_section  # noqa: E402
from tests.integration.s3vectors_retrieval import evaluate_s3vectors  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, action="append", help="dataset directory")
    parser.add_argument("--limit-queries", type=int, metavar="N")
    parser.add_argument("--output", type=Path, help="append the tables to this Markdown file")
    options = parser.parse_args(argv)
    embeddings = LocalEmbeddings()
    parts = []
    for directory in options.data or DEFAULT_DATASETS:
        dataset = load_dataset(directory)
        if options.limit_queries is not None:
            dataset = dataset.first_queries(options.limit_queries)
        parts.append(
            evaluate_s3vectors(dataset, embeddings, default_cache_directory()).to_markdown()
        )
    text = "\n".join(parts)
    sys.stdout.write(text)
    if options.output is not None:
        append_section(
            options.output,
            text,
            title="Retrieval evaluation through the S3 Vectors adapter",
            command="bench/retrieval_s3vectors.py",
            when=SystemClock().now(),
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
