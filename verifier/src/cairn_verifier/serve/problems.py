"""RFC 9457 problem documents for ``cairn serve``, including requests aiohttp cannot parse.

aiohttp answers HTTP parser errors from its connection handler, past the application's
middleware, in plain text that echoes part of the request; :class:`ProblemRequestHandler` answers
them with a problem document instead and never echoes the request (as the agent's server does).
"""

from __future__ import annotations

import asyncio
import json
import logging

from aiohttp import web
from aiohttp.http_exceptions import LineTooLong

log = logging.getLogger("cairn.serve")
PROBLEM_BASE = "https://cairn.invalid/problems/"


class ProblemError(Exception):
    """An RFC 9457 problem: status, a short stable type, a title and a detail for humans."""

    def __init__(
        self,
        status: int,
        kind: str,
        title: str,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(detail)
        self.status = status
        self.kind = kind
        self.title = title
        self.detail = detail
        self.headers = headers or {}

    def document(self, instance: str) -> dict[str, object]:
        return {
            "type": PROBLEM_BASE + self.kind,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "instance": instance,
        }


def problem_response(problem: ProblemError, instance: str) -> web.Response:
    return web.Response(
        status=problem.status,
        text=json.dumps(problem.document(instance)),
        content_type="application/problem+json",
        headers=problem.headers,
    )


class ProblemRequestHandler(web.RequestHandler):
    """aiohttp's connection handler, answering unparseable requests with problem documents."""

    __slots__ = ()

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:
            raise ConnectionError("a response was already sent; cannot send an error")
        if status >= 500:
            log.error("internal error answering a request", exc_info=exc)
            problem = ProblemError(
                500, "internal", "Internal error", "the broker hit a bug; see its log"
            )
        elif isinstance(exc, LineTooLong):
            problem = ProblemError(
                413, "too-large", "Request too large",
                "the request line or a header field is longer than limits.max_request_bytes",
            )  # fmt: skip
        else:
            problem = ProblemError(
                400, "malformed-request", "Malformed HTTP request",
                "the request is not valid HTTP/1.1: a malformed request line, header or body "
                "framing",
            )  # fmt: skip
        response = problem_response(problem, "/")
        response.headers["Server"] = "cairn-serve"
        response.force_close()
        return response


class _ProblemServer(web.Server):
    def __init__(self, base: web.Server) -> None:
        super().__init__(
            base.request_handler,
            request_factory=base.request_factory,
            handler_cancellation=base.handler_cancellation,
            loop=asyncio.get_running_loop(),
            **base._kwargs,
        )

    def __call__(self) -> web.RequestHandler:
        return ProblemRequestHandler(self, loop=self._loop, **self._kwargs)


class ProblemRunner(web.AppRunner):
    """``web.AppRunner`` whose connections answer parser errors with problem documents."""

    __slots__ = ()

    async def _make_server(self) -> web.Server:
        return _ProblemServer(await super()._make_server())
