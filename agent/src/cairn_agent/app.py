"""The agent's HTTP API (aiohttp): evidence, services, proofs, health, metrics, OpenAPI.

Every error is an RFC 9457 problem document (``application/problem+json``); nothing a client
sends can produce a 5xx or a traceback. No endpoint takes a request body: a body (announced by
Content-Length or sent chunked, compressed or not) is refused with 413 before a byte of it is
read, and request bodies are never decompressed. The request line and headers together are
bounded by ``limits.max_request_bytes``. Hardware calls go through one :class:`HardwareGate`:
serialised, bounded in queue length (429 + Retry-After beyond it) and in time (503).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.web_urldispatcher import MatchInfoError, UrlMappingMatchInfo

from cairn_verifier.api import dump_evidence, proof_document

from .errors import HardwareError
from .evidence import EvidenceSource
from .inventory import Inventory, InventoryError
from .metrics import Metrics
from .openapi import openapi_document
from .server import ON_MALFORMED, SERVER_HEADER, problem_body
from .tee.base import provider_simulated

log = logging.getLogger("cairn_agent")
NONCE_RE = re.compile(r"[0-9a-fA-F]{64}")
"""A nonce: exactly 64 hex digits (always used with ``fullmatch``)."""
MAX_HEADERS = 64
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


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

    def response(self, instance: str) -> web.Response:
        return web.Response(
            status=self.status,
            text=problem_body(self.status, self.kind, self.title, self.detail, instance),
            content_type="application/problem+json",
            headers=self.headers,
        )


def _answer_from_thread(
    loop: asyncio.AbstractEventLoop, answer: asyncio.Future[Any], call: Callable[[], Any]
) -> None:
    """Run ``call`` (in the hardware thread) and hand its outcome to ``answer`` on ``loop``.

    One hop back to the loop, not the four of ``run_in_executor`` + ``wait_for(shield(…))``
    (about 0.1 ms of a request; docs/performance.md). An answer nobody waits for any more
    (timed out, or the client left) is dropped; the call itself always runs to its end."""
    try:
        value = call()
    except BaseException as exc:  # handed to the waiting request, raised there
        loop.call_soon_threadsafe(_settle, answer, None, exc)
    else:
        loop.call_soon_threadsafe(_settle, answer, value, None)


def _settle(answer: asyncio.Future[Any], value: Any, error: BaseException | None) -> None:
    if answer.done():
        return
    if error is None:
        answer.set_result(value)
    else:
        answer.set_exception(error)


class HardwareGate:
    """One hardware call at a time, at most ``max_queue`` waiting, each bounded by a timeout."""

    def __init__(self, max_queue: int, timeout: float):
        self.max_queue = max_queue
        self.timeout = timeout
        self.waiting = 0
        self._lock = asyncio.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cairn-hw")

    async def run(self, call: Callable[[], Any]) -> Any:
        if self.waiting >= self.max_queue:
            raise ProblemError(
                429,
                "busy",
                "Too many evidence requests",
                f"{self.waiting} requests are already waiting for the TEE/TPM; retry shortly",
                headers={"Retry-After": "1"},
            )
        self.waiting += 1
        try:
            async with self._lock:
                loop = asyncio.get_running_loop()
                answer: asyncio.Future[Any] = loop.create_future()
                self._executor.submit(_answer_from_thread, loop, answer, call)
                try:
                    async with asyncio.timeout(self.timeout):
                        return await answer
                except TimeoutError:
                    raise ProblemError(
                        503,
                        "hardware-timeout",
                        "The TEE or TPM did not answer in time",
                        f"no answer within {self.timeout:g} s; retry later",
                        headers={"Retry-After": "5"},
                    ) from None
        finally:
            self.waiting -= 1

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


@dataclass
class AgentState:
    """Everything the handlers share."""

    source: EvidenceSource
    inventory: Inventory
    gate: HardwareGate
    metrics: Metrics = field(default_factory=Metrics)
    self_check: dict[str, Any] = field(default_factory=lambda: {"status": "pending"})

    @property
    def serving(self) -> bool:
        return self.self_check.get("status") in ("passed", "disabled")


STATE: web.AppKey[AgentState] = web.AppKey("state", AgentState)
MAX_REQUEST_BYTES: web.AppKey[int] = web.AppKey("max_request_bytes", int)


def _snapshot(state: AgentState) -> Any:
    try:
        return state.inventory.current()
    except InventoryError as exc:
        log.error("cannot read what the agent attests: %s", exc)
        raise ProblemError(
            503,
            "inventory",
            "The agent cannot read what it attests",
            "the system path, services manifest or a service key is unusable; the agent's log "
            "says which",
            headers={"Retry-After": "5"},
        ) from exc


async def evidence(request: web.Request) -> web.Response:
    state = request.app[STATE]
    params = request.rel_url.query
    unknown = sorted(set(params) - {"nonce"})
    if unknown:
        raise ProblemError(400, "bad-query", "Unknown query parameter", f"unexpected: {unknown}")
    values = params.getall("nonce", [])
    if len(values) != 1 or not NONCE_RE.fullmatch(values[0]):
        raise ProblemError(
            400,
            "bad-nonce",
            "A 32-byte nonce is required",
            "pass ?nonce= with exactly 64 hex digits (a fresh random value per request)",
        )
    if not state.serving:
        raise ProblemError(
            503,
            "self-check-failed",
            "The agent refuses to serve evidence it cannot verify itself",
            str(state.self_check.get("reason", "self-check has not passed")),
        )
    nonce = bytes.fromhex(values[0])
    snapshot = _snapshot(state)
    started = time.perf_counter()
    try:
        bundle = await state.gate.run(lambda: state.source.collect(nonce, snapshot))
    except HardwareError as exc:
        raise ProblemError(
            503,
            "hardware-error",
            "The TEE or TPM could not produce evidence",
            str(exc),
            headers={"Retry-After": "1"},
        ) from exc
    state.metrics.observe_evidence(time.perf_counter() - started)
    return web.Response(body=dump_evidence(bundle), content_type="application/json")


async def services(request: web.Request) -> web.Response:
    snapshot = _snapshot(request.app[STATE])
    return web.json_response(
        {
            "system": {
                "store_path": snapshot.system_store_path,
                "hash": snapshot.system_hash.hex(),
            },
            "tree_root": f"{snapshot.tree_root:064x}",
            "services": [
                {"name": s.name, "store_path": s.store_path, "public_key": s.public_key.hex()}
                for s in snapshot.services
            ],
        }
    )


async def service_proof(request: web.Request) -> web.Response:
    snapshot = _snapshot(request.app[STATE])
    name = request.match_info["name"]
    for service in snapshot.services:
        if service.name == name:
            return web.json_response(proof_document(snapshot.tree, service))
    raise ProblemError(404, "unknown-service", "No such service", f"no service named {name[:64]!r}")


async def healthz(request: web.Request) -> web.Response:
    """Serving or not, and why: provider name, TPM, self-check (never a path or a key)."""
    state = request.app[STATE]
    provider = state.source.provider
    body = {
        "status": "ok" if state.serving else "unavailable",
        "provider": provider.name,
        "simulated": provider_simulated(provider),
        "tpm": state.source.tpm is not None,
        "self_check": state.self_check,
    }
    return web.json_response(body, status=200 if state.serving else 503)


async def metrics(request: web.Request) -> web.Response:
    state = request.app[STATE]
    text = state.metrics.render(queue_depth=state.gate.waiting)
    return web.Response(text=text, content_type="text/plain", charset="utf-8")


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document())


def _refuse_oversize(request: web.Request, max_request_bytes: int) -> None:
    """413 for a head above the limit, or a body on a route that exists (none takes one;
    unknown routes and methods keep their 404/405)."""
    head = _head_size(request)
    if head > max_request_bytes:
        raise ProblemError(
            413,
            "too-large",
            "Request too large",
            f"the request line and headers are {head} bytes; the limit is {max_request_bytes} "
            "(limits.max_request_bytes)",
        )
    if request.body_exists and request.match_info.http_exception is None:
        length = request.headers.get("Content-Length")
        framing = f"{length} bytes (Content-Length)" if length else "a chunked body"
        coding = request.headers.get("Content-Encoding")
        compressed = f", {coding[:32]}-encoded" if coding else ""
        raise ProblemError(
            413,
            "too-large",
            "Request body not accepted",
            f"no endpoint of this API takes a request body; the request announced {framing}"
            f"{compressed}; it was not read",
        )


def _head_size(request: web.Request) -> int:
    """Bytes of the request line and header fields as sent (CRLFs included)."""
    line = len(request.method) + len(request.raw_path.encode("utf-8", "replace")) + 12
    fields = sum(len(name) + len(value) + 4 for name, value in request.raw_headers)
    return line + fields + 2


@web.middleware
async def problems(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse bodies and oversize requests, map every failure to a problem document, count."""
    state = request.app[STATE]
    route = request.match_info.route.resource
    endpoint = route.canonical if route is not None else "unmatched"
    try:
        _refuse_oversize(request, request.app[MAX_REQUEST_BYTES])
        response = await handler(request)
    except ProblemError as problem:
        response = problem.response(request.path)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        kinds = {404: "not-found", 405: "method-not-allowed", 413: "too-large"}
        response = ProblemError(
            exc.status, kinds.get(exc.status, "bad-request"), exc.reason, exc.text or exc.reason
        ).response(request.path)
    except Exception:  # a bug: log it, never leak a traceback to the client
        log.exception("unexpected error on %s", request.path)
        response = ProblemError(
            500, "internal", "Internal error", "the agent hit a bug; see its log"
        ).response(request.path)
    if request.body_exists:
        response.force_close()  # never read: the connection cannot carry another request
    state.metrics.count(endpoint, response.status)
    return response


async def _no_continue(_: web.Request) -> None:
    """``Expect: 100-continue`` is never granted (no body is read); the middleware answers."""


class _UnmatchedRoute(MatchInfoError):  # noqa: N818 (a match result, not an exception)
    """An unknown route or method whose ``Expect`` header is handled as on the known routes
    (:func:`_no_continue`): aiohttp's default would answer 417 echoing the header's value, or
    invite a body with ``100 Continue``, before the middleware could answer 404/405."""

    __slots__ = ()

    @property
    def expect_handler(self) -> Callable[[web.Request], Awaitable[None]]:
        return _no_continue


def _route_unmatched_quietly(router: web.UrlDispatcher) -> None:
    """Make ``router`` resolve unknown routes and methods to :class:`_UnmatchedRoute`."""
    resolve = router.resolve

    async def resolve_quietly(request: web.Request) -> UrlMappingMatchInfo:
        match = await resolve(request)
        if isinstance(match, MatchInfoError):
            return _UnmatchedRoute(match.http_exception)
        return match

    router.resolve = resolve_quietly  # type: ignore[method-assign]


async def _server_header(_: web.Request, response: web.StreamResponse) -> None:
    response.headers["Server"] = SERVER_HEADER


def make_app(state: AgentState, *, max_request_bytes: int = 8192) -> web.Application:
    """The agent's application; serve it with :class:`cairn_agent.server.AgentRunner`.

    ``handler_args`` configure aiohttp's parser: a request line or header field longer than
    ``max_request_bytes`` is refused while parsing, request bodies are never decompressed, and
    an unread body is not drained (the connection is closed instead).
    """
    app = web.Application(
        middlewares=[problems],
        client_max_size=max_request_bytes,
        handler_args={
            "max_line_size": max_request_bytes,
            "max_field_size": max_request_bytes,
            "max_headers": MAX_HEADERS,
            "auto_decompress": False,
            "lingering_time": 0,
        },
    )
    app[STATE] = state
    app[MAX_REQUEST_BYTES] = max_request_bytes
    app[ON_MALFORMED] = lambda status: state.metrics.count("unparsed", status)
    app.on_response_prepare.append(_server_header)
    routes = {
        "/v1/evidence": evidence,
        "/v1/services": services,
        "/v1/services/{name}/proof": service_proof,
        "/healthz": healthz,
        "/metrics": metrics,
        "/openapi.json": openapi,
    }
    for path, handler in routes.items():
        app.router.add_get(path, handler, expect_handler=_no_continue)
    _route_unmatched_quietly(app.router)

    async def close_gate(_: web.Application) -> None:
        state.gate.close()

    app.on_cleanup.append(close_gate)
    return app
