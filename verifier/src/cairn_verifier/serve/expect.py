"""How ``cairn serve`` answers a request's ``Expect`` header (RFC 9110, section 10.1.1).

aiohttp runs a route's *expect handler* before the application's middleware. Its default answers
any expectation but ``100-continue`` with a plain-text 417 that echoes the header's value, and
invites every body with ``100 Continue`` — on unknown routes too, before the middleware can
answer 404/405. Here instead:

- ``100-continue`` is granted only where a body is read (POST, PUT) and the announced
  ``Content-Length`` fits ``limits.max_body_bytes``; a larger announced body is refused with the
  413 problem before it is sent. Elsewhere the expectation is ignored (RFC 9110 lets a server
  ignore it) and the request is answered as without it.
- Any other expectation is a 417 problem document that does not echo the value.
- Unknown routes and methods resolve to a match whose expect handler grants nothing, so the
  middleware answers them with its 404/405 problem.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import HttpVersion11, hdrs, web
from aiohttp.web_urldispatcher import MatchInfoError, UrlMappingMatchInfo

from .problems import ProblemError, problem_response

ExpectHandler = Callable[[web.Request], Awaitable[web.StreamResponse | None]]
BODY_METHODS = frozenset({hdrs.METH_POST, hdrs.METH_PUT})


def expect_handler(max_body_bytes: int) -> ExpectHandler:
    """The expect handler of every known route of the broker."""

    async def answer_expectation(request: web.Request) -> web.StreamResponse | None:
        expectation = request.headers.get(hdrs.EXPECT, "").strip().lower()
        if expectation != "100-continue":
            return problem_response(
                ProblemError(
                    417,
                    "expectation-failed",
                    "Expectation failed",
                    "the only expectation this service meets is Expect: 100-continue",
                ),
                request.path,
            )
        if request.method not in BODY_METHODS:
            return None  # no body is read: ignored, answered as without it
        announced = request.content_length
        if announced is not None and announced > max_body_bytes:
            response = problem_response(
                ProblemError(
                    413,
                    "too-large",
                    "Request Entity Too Large",
                    f"the body is larger than limits.max_body_bytes ({max_body_bytes} bytes)",
                ),
                request.path,
            )
            response.force_close()  # the client may send the body anyway: never read it
            return response
        if request.version == HttpVersion11:
            await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            request.writer.output_size = 0  # the response proper has not started
        return None

    return answer_expectation


async def _grant_nothing(_: web.Request) -> None:
    """An unknown route's expect handler: no ``100 Continue``; the middleware answers."""


class _UnmatchedRoute(MatchInfoError):  # noqa: N818 (a match result, not an exception)
    """An unknown route or method, answered 404/405 by the middleware whatever ``Expect`` says."""

    __slots__ = ()

    @property
    def expect_handler(self) -> Callable[[web.Request], Awaitable[None]]:
        return _grant_nothing


def route_unmatched_quietly(router: web.UrlDispatcher) -> None:
    """Make ``router`` resolve unknown routes and methods to :class:`_UnmatchedRoute`."""
    resolve = router.resolve

    async def resolve_quietly(request: web.Request) -> UrlMappingMatchInfo:
        match = await resolve(request)
        if isinstance(match, MatchInfoError):
            return _UnmatchedRoute(match.http_exception)
        return match

    router.resolve = resolve_quietly  # type: ignore[method-assign]
