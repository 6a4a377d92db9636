"""A real agent for tests: inventory files, configuration, and aiohttp served on loopback."""

from __future__ import annotations

import asyncio
import copy
import json
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from cairn_agent.app import AgentState
from cairn_agent.config import AgentConfig
from cairn_agent.main import build_state
from cairn_agent.server import AgentRunner
from cairn_agent.swtpm import free_port_pair, running_swtpm
from cairn_verifier.api import (
    CairnPolicy,
    Certificate,
    EvidenceVerifyRequest,
    VerificationResult,
    dump_evidence,
    load_evidence,
    verify_evidence,
)

SYSTEM = "/nix/store/0c1i4g9kq7bhm8lcjj8h4pyf1r6b6nh9-nixos-system-cairn-test-25.11"
SERVICES = {
    "echo-cpp": "/nix/store/1g6cq2ic1x7alnmpmzb7nl8xg3c9y7m5-echo-cpp-0.1.0",
    "echo-rust": "/nix/store/2j3nqrz5kbyy0m1q3yqdqzq1m1xw8w8k-echo-rust-0.1.0",
}


def write_key(path: Path) -> bytes:
    key = ec.generate_private_key(ec.SECP256K1()).public_key()
    public = key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
    )
    path.write_text(public.hex() + "\n")
    return public


@dataclass
class RunningAgent:
    url: str
    state: AgentState
    workdir: Path
    tcti: str
    manifest: Path
    config: AgentConfig

    def key_file(self, service: str) -> Path:
        return self.workdir / f"{service}.pub"


def agent_config(
    workdir: Path,
    tcti: str,
    provider: str,
    gpu: dict[str, object] | None = None,
    **limits: object,
) -> AgentConfig:
    link = workdir / "current-system"
    if not link.is_symlink():
        link.symlink_to(SYSTEM)
    manifest = workdir / "services.json"
    services = []
    for name, path in SERVICES.items():
        key_file = workdir / f"{name}.pub"
        if not key_file.exists():
            write_key(key_file)
        services.append({"name": name, "store_path": path, "public_key_file": str(key_file)})
    manifest.write_text(json.dumps({"services": services}))
    return AgentConfig.model_validate(
        {
            "listen": {"host": "127.0.0.1", "port": 0},
            "tee": {"provider": provider},
            "tpm": {"tcti": tcti, "pcrs": [0, 1, 2, 3, 4, 5, 6, 7, 16]},
            "services": {"manifest": str(manifest)},
            "system": {"path": str(link)},
            "state": {"directory": str(workdir / "state")},
            "limits": limits,
            "gpu": gpu or {},
        }
    )


class ServerThread:
    """Serve an aiohttp app from a background thread's event loop on a free loopback port,
    with the agent's own runner (as ``cairn-agent serve`` does)."""

    def __init__(self, app: web.Application):
        self.app = app
        self.port = free_port_pair()
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._runner: AgentRunner | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self._runner = AgentRunner(self.app)
        self.loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        self.loop.run_until_complete(site.start())
        self._ready.set()
        self.loop.run_forever()

    def __enter__(self) -> str:
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the agent's HTTP server did not start")
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        assert self._runner is not None
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(30)
        self.loop.close()


def start_agent(
    workdir: Path,
    tcti: str,
    provider: str,
    gpu: dict[str, object] | None = None,
    **limits: object,
) -> tuple[AgentState, AgentConfig]:
    config = agent_config(workdir, tcti, provider, gpu, **limits)
    return build_state(config), config


@dataclass(frozen=True)
class AgentBundle:
    """One evidence bundle of a real agent (swtpm + simulated TEE) as JSON, to change and verify
    the way someone who controls the bundle could."""

    document: dict[str, Any]
    nonce: bytes
    roots: tuple[Certificate, ...]
    """The simulated roots the verifier trusts explicitly (``--trust-simulated-root``)."""

    @property
    def genuine_pcrs(self) -> dict[tuple[str, int], bytes]:
        """The PCR values the agent's quote covers, as it sent them."""
        pcrs = self.document["tpm"]["pcrs"]
        return {
            (bank, int(i)): bytes.fromhex(v)
            for bank, values in pcrs.items()
            for i, v in values.items()
        }

    def changed(self, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        """A deep copy of the document with ``change`` applied to it."""
        document = copy.deepcopy(self.document)
        change(document)
        return document

    def verify(
        self, document: dict[str, Any] | None = None, policy: CairnPolicy | None = None
    ) -> VerificationResult:
        """Verify ``document`` (default: the untouched bundle) now, trusting the roots."""
        bundle = load_evidence(json.dumps(document or self.document).encode())
        request = EvidenceVerifyRequest(
            nonce=self.nonce,
            at=datetime.now(UTC),
            policy=policy or CairnPolicy(),
            simulated_roots=self.roots,
        )
        return verify_evidence(bundle, request)


@contextmanager
def agent_bundle(workdir: Path, provider: str) -> Iterator[AgentBundle]:
    """Start swtpm and an agent with ``provider`` and collect one bundle for a fresh nonce."""
    with running_swtpm(workdir / "swtpm") as swtpm:
        state, _ = start_agent(workdir, swtpm.tcti, provider)
        assert state.self_check["status"] == "passed", state.self_check
        nonce = secrets.token_bytes(32)
        bundle = state.source.collect(nonce, state.inventory.current())
        roots = state.source.provider.trust_roots()  # type: ignore[attr-defined]
        yield AgentBundle(json.loads(dump_evidence(bundle)), nonce, roots)
