"""The terminal client: reads questions from stdin, streams the answers to stdout.

One question at a time. Deltas are printed as they arrive, then the sources (numbered, as
``[n]`` in the answer cites them) and the path that answered. Ctrl-C while an answer
streams sends ``cancel`` (the stopped answer is shown as such); a second Ctrl-C, or one at
the prompt, quits. ``/new`` starts a new session (the old one stays on the server).
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import threading
import uuid
from typing import Any, TextIO
from urllib.parse import urlencode

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import InvalidStatus

from chatbot.terminal.saved_sessions import SavedSessions

DEFAULT_URL = "ws://127.0.0.1:8080/"
PING_SECONDS = 240.0  # the protocol asks for one at least every 5 minutes
PATHS = {"rag": "Documents", "general": "Conversation", "mcp_tool": "Tools"}


def describe_answer(message: dict[str, Any]) -> list[str]:
    """The lines printed after an answer's text: stopped, sources, path and tools."""
    lines: list[str] = []
    if message.get("stopped"):
        lines.append("[stopped]")
    citations = message.get("citations") or []
    sources = [c.get("source", "") for c in citations] or list(message.get("sources") or [])
    if sources:
        lines.append("Sources:")
        numbers = [str(c.get("id", n)) for n, c in enumerate(citations, 1)] or [
            str(n) for n in range(1, len(sources) + 1)
        ]
        lines.extend(f"  [{n}] {source}" for n, source in zip(numbers, sources, strict=True))
    path = PATHS.get(str(message.get("queryType")), str(message.get("queryType")))
    tools = message.get("toolsUsed") or []
    lines.append(f"Path: {path}" + (f" (tools: {', '.join(tools)})" if tools else ""))
    return lines


class TerminalChat:
    def __init__(
        self,
        url: str,
        saved: SavedSessions,
        *,
        token: str | None = None,
        stdin: TextIO = sys.stdin,
        stdout: TextIO = sys.stdout,
    ) -> None:
        self._url = url
        self._saved = saved
        self._token = token
        self._stdin = stdin
        self._out = stdout
        self._connection: ClientConnection | None = None
        self._answering: str | None = None
        self._cancel_sent = False
        self._quit = asyncio.Event()
        self._lines: asyncio.Queue[str] = asyncio.Queue()

    def _print(self, text: str = "", end: str = "\n") -> None:
        self._out.write(text + end)
        self._out.flush()

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, self._interrupted)
        try:
            await self._open(resume=True)
            self._start_reader()
            pinger = asyncio.create_task(self._ping())
            try:
                return await self._loop()
            finally:
                pinger.cancel()
        finally:
            loop.remove_signal_handler(signal.SIGINT)
            if self._connection is not None:
                await self._connection.close()

    def _interrupted(self) -> None:
        if self._answering is not None and not self._cancel_sent and self._connection:
            self._cancel_sent = True
            frame = {"action": "cancel", "messageId": self._answering}
            asyncio.get_running_loop().create_task(self._connection.send(json.dumps(frame)))
            self._print("\n^C: stopping the answer (Ctrl-C again quits)")
            return
        self._quit.set()

    async def _open(self, *, resume: bool) -> None:
        saved = self._saved.get(self._url) if resume else None
        query: dict[str, str] = {}
        if saved is not None:
            query = {"sessionId": saved[0], "sessionToken": saved[1]}
        try:
            self._connection = await self._connect(query)
        except InvalidStatus as refused:
            if saved is None or refused.response.status_code not in (401, 403):
                raise
            self._print("The saved session is no longer available: starting a new one.")
            self._saved.forget(self._url)
            self._connection = await self._connect({})
        await self._send({"action": "getSession"})
        session = await self._next(lambda frame: frame.get("type") == "session")
        self._saved.put(self._url, session["sessionId"], session["sessionToken"])
        state = "Resumed" if session.get("resumed") else "New"
        self._print(f"{state} session {session['sessionId']}")

    async def _connect(self, query: dict[str, str]) -> ClientConnection:
        if self._token:
            query = {**query, "token": self._token}
        separator = "&" if "?" in self._url else "?"
        url = self._url + (separator + urlencode(query) if query else "")
        return await websockets.connect(url, open_timeout=10)

    async def _send(self, frame: dict[str, Any]) -> None:
        assert self._connection is not None
        await self._connection.send(json.dumps(frame))

    async def _next(self, wanted: Any) -> dict[str, Any]:
        """The next frame ``wanted`` accepts; others (a pong) are skipped."""
        assert self._connection is not None
        while True:
            frame: dict[str, Any] = json.loads(await self._connection.recv())
            if wanted(frame):
                return frame

    async def _ping(self) -> None:
        while True:
            await asyncio.sleep(PING_SECONDS)
            await self._send({"action": "ping"})

    async def _read_line(self) -> str | None:
        """The next line from stdin, None at its end or when the user quits."""
        if self._stdin.isatty():
            self._print("> ", end="")
        reading = asyncio.ensure_future(self._lines.get())
        quitting = asyncio.ensure_future(self._quit.wait())
        done, _ = await asyncio.wait({reading, quitting}, return_when=asyncio.FIRST_COMPLETED)
        quitting.cancel()
        if reading not in done:
            reading.cancel()
            return None
        line: str = reading.result()
        return line if line else None

    def _start_reader(self) -> None:
        """Read stdin in a daemon thread (a blocked read must not keep the process alive
        after Ctrl-C at the prompt); "" marks its end."""
        loop = asyncio.get_running_loop()

        def read() -> None:
            while True:
                line = self._stdin.readline()
                try:
                    loop.call_soon_threadsafe(self._lines.put_nowait, line)
                except RuntimeError:  # the loop has closed: the client is quitting
                    return
                if not line:
                    return

        threading.Thread(target=read, name="stdin", daemon=True).start()

    async def _loop(self) -> int:
        while not self._quit.is_set():
            line = await self._read_line()
            if line is None:
                return 0
            question = line.strip()
            if not question:
                continue
            if question == "/new":
                assert self._connection is not None
                await self._connection.close()
                self._saved.forget(self._url)
                await self._open(resume=False)
                continue
            if question in ("/quit", "/exit"):
                return 0
            await self._ask(question)
        return 0

    async def _ask(self, question: str) -> None:
        message_id = uuid.uuid4().hex
        self._answering, self._cancel_sent = message_id, False
        try:
            await self._send(
                {"action": "sendMessage", "messageId": message_id, "content": question}
            )
            answer = asyncio.ensure_future(self._answer(message_id))
            quitting = asyncio.ensure_future(self._quit.wait())
            await asyncio.wait({answer, quitting}, return_when=asyncio.FIRST_COMPLETED)
            quitting.cancel()
            if not answer.done():
                answer.cancel()
                self._print()
        finally:
            self._answering = None

    async def _answer(self, message_id: str) -> None:
        streamed = False
        while True:
            frame = await self._next(lambda f: f.get("messageId") == message_id)
            if frame["type"] == "delta":
                self._print(frame["content"], end="")
                streamed = True
            elif frame["type"] == "message":
                if not streamed:
                    self._print(frame["content"], end="")
                self._print()
                for line in describe_answer(frame):
                    self._print(line)
                return
            elif frame["type"] == "error":
                if streamed:
                    self._print()
                self._print(f"Error ({frame['code']}): {frame['message']}")
                return
