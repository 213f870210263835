"""The document search port: ranked chunks for a query, from the embedded index or OpenSearch."""

from __future__ import annotations

from typing import Protocol

from chatbot.records import DocumentChunk


class DocumentSearch(Protocol):
    def search(self, query: str, *, limit: int) -> list[DocumentChunk]:
        """The best chunks for the query, best first, at most ``limit``."""
        ...
