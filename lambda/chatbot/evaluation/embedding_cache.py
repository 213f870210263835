"""Vectors of an evaluation's texts kept on disk between runs, keyed by model and texts.

Embedding python_faq's 3,892 passages with the local model takes minutes on two shared
cores; the ranking code under test takes a second. A run whose model and texts are those of
an earlier run reads that run's vectors instead: the key is a digest of the model id, its
dimensions and every text in order, so a changed corpus or model is embedded afresh.

The cache is only an evaluation aid: nothing in the product reads it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from chatbot.embeddings import Embeddings

# Texts per call to the embedding model: large enough to batch well, small enough that
# progress shows while a few thousand passages are embedded.
EMBEDDING_BATCH: Final = 256

Progress = Callable[[str], None]


def default_cache_directory() -> Path:
    """``$XDG_CACHE_HOME/chatbot/eval-vectors`` (``~/.cache`` when unset)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "chatbot" / "eval-vectors"


def cache_key(model_id: str, dimensions: int, texts: Sequence[str]) -> str:
    digest = hashlib.sha256(f"{model_id}\0{dimensions}\0{len(texts)}\0".encode())
    for text in texts:
        encoded = text.encode()
        digest.update(len(encoded).to_bytes(8, "little"))
        digest.update(encoded)
    return digest.hexdigest()[:24]


def embed_cached(
    texts: Sequence[str],
    embeddings: Embeddings,
    directory: Path | None,
    *,
    query: bool = False,
    progress: Progress = lambda _: None,
) -> npt.NDArray[np.float32]:
    """The vectors of ``texts`` (one row each), read from ``directory`` if an earlier run left
    them there, else embedded (``embed_query`` one by one if ``query``, else in batches) and
    saved. ``directory`` None: no cache, always embedded."""
    dimensions = embeddings.dimensions
    path = None
    if directory is not None:
        kind = "queries" if query else "documents"
        path = directory / f"{kind}-{cache_key(embeddings.model_id, dimensions, texts)}.npy"
        if path.is_file():
            cached = np.load(path)
            if cached.shape == (len(texts), dimensions):
                progress(f"read {len(texts)} {kind} vectors from {path}")
                found: npt.NDArray[np.float32] = cached.astype(np.float32, copy=False)
                return found
    rows: list[list[float]] = []
    if query:
        rows = [embeddings.embed_query(text) for text in texts]
    else:
        for start in range(0, len(texts), EMBEDDING_BATCH):
            rows += embeddings.embed_documents(texts[start : start + EMBEDDING_BATCH])
            progress(f"embedded {len(rows)}/{len(texts)} passages")
    vectors = np.asarray(rows, dtype=np.float32).reshape(len(texts), dimensions)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial.npy")
        np.save(partial, vectors)
        partial.replace(path)
    return vectors
