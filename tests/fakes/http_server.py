"""A scripted local HTTP server for collateral tests (KDS, PCS, CLI).

``RecordedServer`` binds 127.0.0.1 on a free port and answers each request target (path plus
query, exactly as sent) from a script: a list of steps consumed one per request, the last one
repeating. A step is a :class:`Reply`, a :class:`Delay` (to force client time-outs) or a
:class:`Drop` (close the connection without answering). Every request is recorded.
Unscripted targets answer 404.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Delay:
    """Wait ``seconds`` (or until the server stops), then send ``then`` or drop the connection."""

    seconds: float
    then: Reply | None = None


@dataclass(frozen=True)
class Drop:
    """Close the connection without sending a response."""


Step = Reply | Delay | Drop


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes


class RecordedServer:
    """A threaded HTTP server answering from scripts; use as a context manager or start/stop."""

    def __init__(self, routes: Mapping[str, Step | Sequence[Step]] | None = None):
        self._lock = threading.Lock()
        self._scripts: dict[str, list[Step]] = {}
        self._served: dict[str, int] = {}
        self._requests: list[RecordedRequest] = []
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        for target, steps in (routes or {}).items():
            if isinstance(steps, Reply | Delay | Drop):
                self.script(target, steps)
            else:
                self.script(target, *steps)

    # -- scripting -------------------------------------------------------------------------

    def script(self, target: str, *steps: Step) -> None:
        """Answer ``target`` with ``steps`` in order (the last repeats); replaces any script."""
        if not steps:
            raise ValueError("a script needs at least one step")
        with self._lock:
            self._scripts[target] = list(steps)
            self._served[target] = 0

    def _next_step(self, target: str) -> Step | None:
        with self._lock:
            steps = self._scripts.get(target)
            if steps is None:
                return None
            index = min(self._served[target], len(steps) - 1)
            self._served[target] += 1
            return steps[index]

    # -- what happened ---------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def count(self, target: str | None = None) -> int:
        """How many requests arrived (for ``target``, or in all)."""
        return sum(1 for r in self.requests if target is None or r.target == target)

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("RecordedServer is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def url(self, target: str) -> str:
        return self.base_url + target

    def start(self) -> RecordedServer:
        if self._server is not None:
            return self
        self._stopping.clear()
        server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), name="recorded-http", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> RecordedServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- serving ---------------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length > 0 else b""
        request = RecordedRequest(
            handler.command,
            handler.path,
            {k.lower(): v for k, v in handler.headers.items()},
            body,
        )
        with self._lock:
            self._requests.append(request)
        step = self._next_step(handler.path)
        if step is None:
            step = Reply(404, f"not scripted: {handler.path}".encode())
        if isinstance(step, Delay):
            self._stopping.wait(step.seconds)
            step = step.then if step.then is not None else Drop()
        if isinstance(step, Drop):
            handler.close_connection = True
            return
        try:
            handler.send_response(step.status)
            for name, value in step.headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(step.body)))
            handler.end_headers()
            if handler.command != "HEAD":
                handler.wfile.write(step.body)
        except (BrokenPipeError, ConnectionResetError):
            handler.close_connection = True  # the client gave up (e.g. it timed out)


def _make_handler(owner: RecordedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            owner._handle(self)

        def do_HEAD(self) -> None:
            owner._handle(self)

        def do_POST(self) -> None:
            owner._handle(self)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
