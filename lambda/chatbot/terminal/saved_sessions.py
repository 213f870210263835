"""The terminal client's sessions, one per server URL, kept so that a later run resumes.

A JSON file in the state folder, mode 0600: a session token lets whoever holds it read
the conversation.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

FILE_NAME = "terminal-session.json"


class SavedSessions:
    def __init__(self, state_dir: Path) -> None:
        self._path = state_dir / FILE_NAME

    def _all(self) -> dict[str, dict[str, str]]:
        try:
            data = json.loads(self._path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def get(self, url: str) -> tuple[str, str] | None:
        """The session id and token saved for ``url``, if any."""
        saved = self._all().get(url)
        if not isinstance(saved, dict):
            return None
        session_id, token = saved.get("sessionId"), saved.get("sessionToken")
        if isinstance(session_id, str) and isinstance(token, str):
            return session_id, token
        return None

    def put(self, url: str, session_id: str, token: str) -> None:
        self._write({**self._all(), url: {"sessionId": session_id, "sessionToken": token}})

    def forget(self, url: str) -> None:
        saved = self._all()
        if saved.pop(url, None) is not None:
            self._write(saved)

    def _write(self, data: dict[str, dict[str, str]]) -> None:
        self._path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        descriptor = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.chmod(self._path, 0o600)
        with os.fdopen(descriptor, "w") as file:
            json.dump(data, file, indent=2)
