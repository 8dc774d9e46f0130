"""A scripted HTTP server for responses a standards-compliant server never sends."""

from __future__ import annotations

import dataclasses
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclasses.dataclass
class Scripted:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    delay: float = 0.0


@dataclasses.dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class StubServer:
    """
    Answers each request with the next scripted response (the last one repeats).

    ``requests`` records what arrived, so tests can assert on retries and headers.
    """

    def __init__(self) -> None:
        self.script: list[Scripted] = []
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with stub._lock:
                    stub.requests.append(Received(self.command, self.path, dict(self.headers), body))
                    answer = stub.script.pop(0) if len(stub.script) > 1 else (stub.script or [Scripted(404)])[0]
                if answer.delay:
                    time.sleep(answer.delay)
                try:
                    self.send_response(answer.status)
                    for key, value in answer.headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(answer.body)))
                    self.end_headers()
                    self.wfile.write(answer.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def add(self, status: int = 200, body: bytes | str = b"", *, delay: float = 0.0, **headers: str) -> None:
        """Queue a response; ``content_type="..."`` style keywords become headers."""
        data = body.encode() if isinstance(body, str) else body
        named = {k.replace("_", "-").title(): v for k, v in headers.items()}
        self.script.append(Scripted(status, data, named, delay))

    def add_json(self, status: int, payload: Any, **headers: str) -> None:
        import json

        self.add(status, json.dumps(payload), content_type="application/json", **headers)

    def __enter__(self) -> StubServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
