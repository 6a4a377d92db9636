"""Serving the agent's application: aiohttp's runner, with problem documents for requests that
do not even parse.

aiohttp answers HTTP parser errors (a malformed request line or header, a line longer than the
limit, broken body framing) from its connection handler: the application's middlewares and
``on_response_prepare`` never see them (aio-libs/aiohttp#3287), and its default answer is plain
text that echoes part of the request, with a ``Server`` header naming the Python and aiohttp
versions. ``RequestHandler.handle_error`` is the method aiohttp calls to build that answer;
:class:`ProblemRequestHandler` overrides it, and :class:`AgentRunner` makes aiohttp use it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable

from aiohttp import web
from aiohttp.http_exceptions import LineTooLong

log = logging.getLogger("cairn_agent")

SERVER_HEADER = "cairn-agent"
"""The ``Server`` header of every answer: no versions."""
PROBLEM_BASE = "https://cairn.invalid/problems/"
ON_MALFORMED: web.AppKey[Callable[[int], None]] = web.AppKey("on_malformed")
"""Called with the status of every request refused before it reached the application."""


class ListenError(OSError):
    """The address to listen on cannot be bound (in use, not local, no permission)."""


def problem_body(status: int, kind: str, title: str, detail: str, instance: str) -> str:
    """An RFC 9457 problem document (JSON text)."""
    return json.dumps(
        {
            "type": PROBLEM_BASE + kind,
            "title": title,
            "status": status,
            "detail": detail,
            "instance": instance,
        }
    )


class ProblemRequestHandler(web.RequestHandler):
    """aiohttp's connection handler, answering unparseable requests with RFC 9457 problems."""

    __slots__ = ("on_malformed",)
    on_malformed: Callable[[int], None] | None

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """The answer to a request aiohttp could not parse (or to a bug past the middleware).

        The request's bytes are never echoed back; the connection is closed afterwards.
        """
        if request.writer.output_size > 0:  # as aiohttp: too late for another response
            raise ConnectionError("a response was already sent; cannot send an error")
        if status >= 500:
            log.error("internal error answering a request", exc_info=exc)
            status, kind, title = 500, "internal", "Internal error"
            detail = "the agent hit a bug; see its log"
        elif isinstance(exc, LineTooLong):
            status, kind, title = 413, "too-large", "Request too large"
            detail = (
                f"the request line or a header field is longer than {self.max_line_size} bytes "
                "(limits.max_request_bytes)"
            )
        else:
            kind, title = "malformed-request", "Malformed HTTP request"
            detail = (
                "the request is not valid HTTP/1.1: a malformed request line, header or body "
                "framing"
            )
        log.debug("refused an unparseable request (%s): %s", type(exc).__name__, kind)
        callback = getattr(self, "on_malformed", None)
        if callback is not None and status < 500:
            callback(status)
        response = web.Response(
            status=status,
            text=problem_body(status, kind, title, detail, "/"),
            content_type="application/problem+json",
            headers={"Server": SERVER_HEADER},
        )
        response.force_close()
        return response


class _ProblemServer(web.Server):
    """aiohttp's ``Server`` whose connections are :class:`ProblemRequestHandler` instances."""

    def __init__(self, base: web.Server, on_malformed: Callable[[int], None] | None = None) -> None:
        super().__init__(
            base.request_handler,
            request_factory=base.request_factory,
            handler_cancellation=base.handler_cancellation,
            loop=asyncio.get_running_loop(),
            **base._kwargs,
        )
        self.on_malformed = on_malformed

    def __call__(self) -> web.RequestHandler:
        handler = ProblemRequestHandler(self, loop=self._loop, **self._kwargs)
        handler.on_malformed = self.on_malformed
        return handler


class AgentRunner(web.AppRunner):
    """``web.AppRunner`` serving with :class:`ProblemRequestHandler` connections; the app's
    :data:`ON_MALFORMED` callback, if set, counts the requests refused before reaching it."""

    __slots__ = ()

    async def _make_server(self) -> web.Server:
        return _ProblemServer(await super()._make_server(), self.app.get(ON_MALFORMED))


async def serve(
    app: web.Application,
    host: str,
    port: int,
    *,
    started: Callable[[list[str]], None] | None = None,
) -> None:
    """Serve ``app`` on host:port until SIGINT/SIGTERM; ``started`` gets the bound addresses."""
    runner = AgentRunner(app, handle_signals=True)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            raise ListenError(exc.errno, exc.strerror or str(exc)) from exc
        if started is not None:
            started([_address(a) for a in runner.addresses])
        await asyncio.Event().wait()  # until GracefulExit (SIGINT/SIGTERM) ends the loop
    finally:
        await runner.cleanup()


def _address(address: object) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(address)
