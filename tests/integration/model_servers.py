"""A local HTTP server that speaks the streaming chat APIs of OpenAI, Ollama and Amazon
Bedrock (ConverseStream, in AWS's binary event-stream encoding), on a real socket.

Enough of each API for Strands' own providers to run for real against it: the request is
recorded, the reply streams word by word, and a test can make the next calls fail with an
HTTP status first (a service that is throttling or down). Bedrock's client is pointed here
with AWS_ENDPOINT_URL_BEDROCK_RUNTIME.
"""

from __future__ import annotations

import binascii
import json
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

WORDS = ["The ", "answer ", "streams ", "from ", "a ", "local ", "server."]
ANSWER = "".join(WORDS)
PROMPT_TOKENS, COMPLETION_TOKENS = 42, 7


@dataclass
class ModelServer:
    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    # HTTP statuses the next calls fail with, in order.
    failures: list[int] = field(default_factory=list)


def _handler(state: ModelServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return None

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.requests.append({"path": self.path, "body": body})
            if state.failures:
                status = state.failures.pop(0)
                payload = json.dumps({"error": {"message": "try later", "type": "busy"}}).encode()
                self.send_response(status)
                if self.path.endswith("/converse-stream"):
                    kind = "ThrottlingException" if status == 429 else "ServiceUnavailableException"
                    self.send_header("x-amzn-ErrorType", kind)
                    payload = json.dumps({"message": "try later"}).encode()
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
            if self.path.endswith("/chat/completions"):
                self._openai()
            elif self.path == "/api/chat":
                self._ollama()
            elif self.path.endswith("/converse-stream"):
                self._bedrock()
            else:
                self.send_error(404)

        def _stream(self, content_type: str, lines: list[str]) -> None:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for line in lines:
                data = line.encode()
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")

        def _openai(self) -> None:
            def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
                event = {
                    "id": "chatcmpl-1",
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": "local",
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                }
                return f"data: {json.dumps(event)}\n\n"

            usage = {
                "id": "chatcmpl-1",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": "local",
                "choices": [],
                "usage": {
                    "prompt_tokens": PROMPT_TOKENS,
                    "completion_tokens": COMPLETION_TOKENS,
                    "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
                },
            }
            lines = [chunk({"role": "assistant", "content": ""})]
            lines += [chunk({"content": word}) for word in WORDS]
            lines += [chunk({}, "stop"), f"data: {json.dumps(usage)}\n\n", "data: [DONE]\n\n"]
            self._stream("text/event-stream", lines)

        def _ollama(self) -> None:
            def line(content: str, done: bool) -> str:
                event: dict[str, Any] = {
                    "model": "local",
                    "created_at": "2026-11-24T00:00:00Z",
                    "message": {"role": "assistant", "content": content},
                    "done": done,
                }
                if done:
                    event |= {
                        "done_reason": "stop",
                        "total_duration": 5_000_000,
                        "prompt_eval_count": PROMPT_TOKENS,
                        "eval_count": COMPLETION_TOKENS,
                    }
                return json.dumps(event) + "\n"

            lines = [line(word, False) for word in WORDS] + [line("", True)]
            self._stream("application/x-ndjson", lines)

        def _bedrock(self) -> None:
            events: list[tuple[str, dict[str, Any]]] = [("messageStart", {"role": "assistant"})]
            events += [
                ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": word}})
                for word in WORDS
            ]
            events += [
                ("contentBlockStop", {"contentBlockIndex": 0}),
                ("messageStop", {"stopReason": "end_turn"}),
                (
                    "metadata",
                    {
                        "usage": {
                            "inputTokens": PROMPT_TOKENS,
                            "outputTokens": COMPLETION_TOKENS,
                            "totalTokens": PROMPT_TOKENS + COMPLETION_TOKENS,
                        },
                        "metrics": {"latencyMs": 5},
                    },
                ),
            ]
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.amazon.eventstream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for name, payload in events:
                data = event_stream_message(name, json.dumps(payload).encode())
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")

    return Handler


def event_stream_message(event_type: str, payload: bytes) -> bytes:
    """One message of AWS's event-stream encoding: a prelude (total and header lengths, and
    their CRC32), string headers, the payload, and a CRC32 of all that came before."""
    headers = b""
    for name, value in (
        (":event-type", event_type),
        (":content-type", "application/json"),
        (":message-type", "event"),
    ):
        encoded = value.encode()
        headers += bytes([len(name)]) + name.encode() + b"\x07"
        headers += struct.pack(">H", len(encoded)) + encoded
    total = 12 + len(headers) + len(payload) + 4
    prelude = struct.pack(">II", total, len(headers))
    message = prelude + struct.pack(">I", binascii.crc32(prelude)) + headers + payload
    return message + struct.pack(">I", binascii.crc32(message))


@contextmanager
def model_server() -> Iterator[ModelServer]:
    state = ModelServer(url="")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
