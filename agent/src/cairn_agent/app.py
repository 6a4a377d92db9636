"""The agent's HTTP API (aiohttp): evidence, services, proofs, health, metrics, OpenAPI.

Every error is an RFC 9457 problem document (``application/problem+json``); nothing a client
sends can produce a 5xx or a traceback. Hardware calls go through one :class:`HardwareGate`:
serialised, bounded in queue length (429 + Retry-After beyond it) and in time (503).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from cairn_verifier.binding.proof_document import proof_document
from cairn_verifier.evidence.models import dump_evidence

from .evidence import EvidenceSource
from .inventory import Inventory, InventoryError
from .metrics import Metrics
from .openapi import openapi_document
from .tee.base import ProviderError
from .tpm import TpmError

log = logging.getLogger("cairn_agent")
NONCE_RE = re.compile(r"^[0-9a-fA-F]{64}$")
PROBLEM_BASE = "https://cairn.invalid/problems/"
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
        body = {
            "type": PROBLEM_BASE + self.kind,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "instance": instance,
        }
        return web.Response(
            status=self.status,
            text=json.dumps(body),
            content_type="application/problem+json",
            headers=self.headers,
        )


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
                future = loop.run_in_executor(self._executor, call)
                try:
                    return await asyncio.wait_for(asyncio.shield(future), self.timeout)
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


def _snapshot(state: AgentState) -> Any:
    try:
        return state.inventory.current()
    except InventoryError as exc:
        raise ProblemError(
            503, "inventory", "The agent cannot read what it attests", str(exc)
        ) from exc


async def evidence(request: web.Request) -> web.Response:
    state = request.app[STATE]
    params = request.rel_url.query
    unknown = sorted(set(params) - {"nonce"})
    if unknown:
        raise ProblemError(400, "bad-query", "Unknown query parameter", f"unexpected: {unknown}")
    values = params.getall("nonce", [])
    if len(values) != 1 or not NONCE_RE.match(values[0]):
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
    except (ProviderError, TpmError) as exc:
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
    state = request.app[STATE]
    body = {
        "status": "ok" if state.serving else "unavailable",
        "provider": state.source.provider.describe(),
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


@web.middleware
async def problems(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Map every failure to a problem document; count responses."""
    state = request.app[STATE]
    route = request.match_info.route.resource
    endpoint = route.canonical if route is not None else "unmatched"
    try:
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
    state.metrics.count(endpoint, response.status)
    return response


def make_app(state: AgentState, *, max_request_bytes: int = 8192) -> web.Application:
    app = web.Application(middlewares=[problems], client_max_size=max_request_bytes)
    app[STATE] = state
    app.router.add_get("/v1/evidence", evidence)
    app.router.add_get("/v1/services", services)
    app.router.add_get("/v1/services/{name}/proof", service_proof)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/openapi.json", openapi)

    async def close_gate(_: web.Application) -> None:
        state.gate.close()

    app.on_cleanup.append(close_gate)
    return app
