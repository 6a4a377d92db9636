"""``cairn-agent``: start the evidence service, or export a simulated provider's trust root."""

from __future__ import annotations

import argparse
import logging
import secrets
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from cairn_verifier.checks import Outcome
from cairn_verifier.collateral.cache import CollateralCache
from cairn_verifier.collateral.http import HttpFetcher
from cairn_verifier.evidence.policy import EvidencePolicy
from cairn_verifier.evidence.verify import EvidenceVerifyRequest, verify_evidence
from cairn_verifier.policy_document import CairnPolicy
from cairn_verifier.snp.kds import KdsClient

from . import __version__
from .app import AgentState, HardwareGate, make_app
from .config import AgentConfig, ConfigError, load_config
from .evidence import EvidenceSource
from .inventory import Inventory, InventoryError
from .tee.base import EvidenceProvider, ProviderError
from .tee.detect import make_provider
from .tpm import AgentTpm, TpmError

log = logging.getLogger("cairn_agent")


class StartupError(Exception):
    """The agent cannot start; the message says why and what to do."""


def provider_options(config: AgentConfig) -> dict[str, Any]:
    """The options each provider accepts, from the [tee] section."""
    tee = config.tee
    options: dict[str, dict[str, Any]] = {
        "auto": {
            "root": tee.configfs_root,
            "sev_device": tee.sev_guest_device,
            "tdx_device": tee.tdx_guest_device,
            "vmpl": tee.vmpl,
        },
        "configfs-tsm": {"root": tee.configfs_root},
        "sev-guest": {"device": tee.sev_guest_device, "vmpl": tee.vmpl},
        "tdx-guest": {"device": tee.tdx_guest_device},
        "simulated-snp": {"product": tee.simulated_product},
        "simulated-tdx": {},
    }
    return options[tee.provider]


def open_provider(config: AgentConfig) -> EvidenceProvider:
    name = config.tee.provider
    try:
        return make_provider(name, state_dir=config.state.directory, **provider_options(config))
    except ProviderError as exc:
        raise StartupError(f"TEE provider {name!r}: {exc.message}") from exc


def open_tpm(config: AgentConfig) -> AgentTpm | None:
    if not config.tpm.enabled:
        log.warning("TPM disabled in the configuration: evidence carries no TPM quote")
        return None
    try:
        return AgentTpm.open(config.tpm.tcti, event_log_path=config.tpm.event_log)
    except TpmError as exc:
        if config.tpm.required:
            raise StartupError(
                f"no usable TPM ({exc}); set tpm.required = false to run without"
            ) from exc
        log.warning("no usable TPM (%s): serving TEE-only evidence", exc)
        return None


def self_check(source: EvidenceSource, inventory: Inventory, state_dir: Path) -> dict[str, Any]:
    """Produce evidence for a random nonce and verify it with the verifier library."""
    nonce = secrets.token_bytes(32)
    try:
        bundle = source.collect(nonce, inventory.current())
    except (ProviderError, TpmError, InventoryError) as exc:
        return {"status": "failed", "reason": f"could not produce evidence: {exc}"}
    provider: Any = source.provider
    roots = tuple(provider.trust_roots()) if hasattr(provider, "trust_roots") else ()
    collateral = getattr(provider, "collateral", None)
    request = EvidenceVerifyRequest(
        nonce=nonce,
        at=datetime.now(UTC),
        policy=CairnPolicy(evidence=EvidencePolicy(require_tpm=source.tpm is not None)),
        kds=KdsClient(HttpFetcher(), CollateralCache(state_dir / "collateral-cache")),
        fetch_tdx_collateral=(lambda _fmspc, _ca: collateral()) if callable(collateral) else None,
        simulated_roots=roots,
        subject="self-check",
    )
    result = verify_evidence(bundle, request)
    if result.ok:
        return {"status": "passed", "warnings": list(result.warnings)}
    failed = next(c for c in result.checks if c.outcome is Outcome.FAIL)
    return {
        "status": "failed",
        "reason": f"own evidence does not verify: check {failed.name!r} on {failed.component}: "
        f"{failed.summary}",
    }


def build_state(config: AgentConfig) -> AgentState:
    provider = open_provider(config)
    log.info("TEE provider: %s", provider.describe())
    tpm = open_tpm(config)
    inventory = Inventory(config.system.path, config.services.manifest)
    try:
        snapshot = inventory.current()
    except InventoryError as exc:
        raise StartupError(str(exc)) from exc
    log.info(
        "system %s, %d services, tree root %064x",
        snapshot.system_store_path,
        len(snapshot.services),
        snapshot.tree_root,
    )
    source = EvidenceSource(provider, tpm, config.tpm.pcrs, config.tpm.bank)
    gate = HardwareGate(config.limits.max_queue, config.limits.request_timeout_seconds)
    state = AgentState(source=source, inventory=inventory, gate=gate)
    if config.limits.self_check:
        state.self_check = self_check(source, inventory, config.state.directory)
        if state.self_check["status"] == "passed":
            log.info("self-check passed: the agent's own evidence verifies")
        else:
            log.error("REFUSING TO SERVE EVIDENCE: %s", state.self_check["reason"])
    else:
        state.self_check = {"status": "disabled"}
        log.warning("self-check disabled: evidence is served without verifying it first")
    return state


def _serve(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    state = build_state(config)
    app = make_app(state, max_request_bytes=config.limits.max_request_bytes)
    log.info(
        "cairn-agent %s listening on %s:%d", __version__, config.listen.host, config.listen.port
    )
    web.run_app(app, host=config.listen.host, port=config.listen.port, print=None)
    return 0


def _export_root(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    provider: Any = open_provider(config)
    if not hasattr(provider, "export_trust_root"):
        raise StartupError(f"provider {provider.name!r} is not simulated: it has no root to export")
    provider.export_trust_root(args.output)
    print(f"wrote the SIMULATED trust root of {provider.name} to {args.output}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cairn-agent", description="Cairn attestation agent")
    parser.add_argument("--version", action="version", version=f"cairn-agent {__version__}")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING"])
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="serve evidence (the default)")
    serve.add_argument("--config", type=Path, required=True)
    export = sub.add_parser("export-root", help="write a simulated provider's trust root (PEM)")
    export.add_argument("--config", type=Path, required=True)
    export.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    handlers = {"serve": _serve, "export-root": _export_root}
    if args.command is None:
        parser.error("a command is required: serve or export-root")
    try:
        return handlers[args.command](args)
    except (ConfigError, StartupError) as exc:
        log.error("%s", exc)
        return 2


if __name__ == "__main__":
    sys.exit(main())
