"""Embedding models for the integration tests: a deterministic stand-in, and the real local
model loaded as a machine without network has it."""

from __future__ import annotations

import hashlib
import math
import re
import socket
from collections.abc import Sequence
from typing import Any

import pytest

from chatbot.adapters.local.embeddings import LocalEmbeddings


class HashedWords:
    """Each word adds one to a dimension chosen by its hash; unit length. Not a model of
    meaning, only a deterministic stand-in whose rankings can be checked."""

    def __init__(self, dimensions: int = 64) -> None:
        self.dimensions = dimensions
        self.model_id = f"fake-hashed-words-{dimensions}"

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        return [self.embed_query(text) for text in texts]

    def embed_query(self, text: str) -> list[float]:
        vector = [0.0] * self.dimensions
        for word in re.findall(r"\w+", text.casefold()):
            slot = int.from_bytes(hashlib.sha256(word.encode()).digest()[:4], "big")
            vector[slot % self.dimensions] += 1.0
        norm = math.sqrt(sum(x * x for x in vector)) or 1.0
        return [x / norm for x in vector]


def refuse_connections(*_args: Any, **_kwargs: Any) -> None:
    raise AssertionError("the local embedding model tried to reach the network")


def offline_local_model(batch_size: int) -> LocalEmbeddings:
    """all-MiniLM-L6-v2 loaded and warmed with the hub switched off and sockets refused, as on
    a machine that has only the installed package; one torch thread (on a 2-core machine
    shared with other work, the faster choice). The adapter keeps one loaded model per
    process, so every module that asks loads the weights once between them."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setenv("TRANSFORMERS_OFFLINE", "1")
        patch.setattr(socket.socket, "connect", refuse_connections)
        local = LocalEmbeddings(batch_size=batch_size, threads=1)
        local.load()
        local.embed_query("warm up")
    return local
