"""Start-up: open the TEE provider and the TPM, read the inventory, verify the agent's own
evidence. Every failure is a :class:`StartupError` with the exit code it deserves."""

from __future__ import annotations

import logging
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cairn_verifier.api import (
    CairnPolicy,
    CollateralCache,
    EvidencePolicy,
    EvidenceVerifyRequest,
    HttpFetcher,
    KdsClient,
    Outcome,
    verify_evidence,
)

from .app import AgentState, HardwareGate
from .config import AZURE_PROVIDERS, AgentConfig
from .errors import ExitCode, HardwareError, StartupError
from .evidence import EvidenceSource
from .gpu.base import GpuEvidenceProvider
from .inventory import Inventory, InventoryError
from .tee.base import EvidenceProvider, ProviderError, provider_simulated
from .tee.detect import make_provider
from .tpm import DEFAULT_TCTI, AgentTpm, TpmError

log = logging.getLogger("cairn_agent")


def provider_options(config: AgentConfig, tpm: AgentTpm | None = None) -> dict[str, Any]:
    """The options each provider accepts, from the [tee] section (and the TPM the Azure
    providers read the HCL report from)."""
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
        "azure-vtpm": {
            "tpm": tpm,
            "nv_index": tee.azure_nv_index,
            "imds_url": tee.azure_imds_url,
            "thim": tee.azure_thim,
        },
        "simulated-snp": {
            "product": tee.simulated_product,
            "directory": tee.simulated_directory,
            "launch_inputs": tee.simulated_launch_inputs,
        },
        "simulated-tdx": {"ccel": tee.ccel},
        "simulated-azure": {
            "tpm": tpm,
            "platform": tee.simulated_platform,
            "product": tee.simulated_product,
            "nv_index": tee.azure_nv_index,
            "ak_handle": tee.azure_ak_handle,
        },
    }
    return options[tee.provider]


def _required_device(config: AgentConfig) -> tuple[str, Path] | None:
    """(config key, path) of the device an explicitly named hardware provider needs."""
    tee = config.tee
    return {
        "configfs-tsm": ("tee.configfs_root", tee.configfs_root),
        "sev-guest": ("tee.sev_guest_device", tee.sev_guest_device),
        "tdx-guest": ("tee.tdx_guest_device", tee.tdx_guest_device),
    }.get(tee.provider)


def open_provider(config: AgentConfig, tpm: AgentTpm | None = None) -> EvidenceProvider:
    """The configured TEE provider; StartupError 69 if its hardware is missing, 78 if its
    state directory (simulated providers) is unusable."""
    name = config.tee.provider
    device = _required_device(config)
    if device is not None and not os.path.exists(device[1]):
        key, path = device
        raise StartupError(
            f"TEE provider {name!r}: {path} ({key}) does not exist; is this a confidential VM "
            f'with the {name} interface? (tee.provider = "auto" finds what there is; '
            'provider = "simulated-snp" runs without TEE hardware)',
            ExitCode.UNAVAILABLE,
        )
    try:
        return make_provider(
            name, state_dir=config.state.directory, **provider_options(config, tpm)
        )
    except ProviderError as exc:
        hint = f"; {exc.hint}" if exc.hint else ""
        code = ExitCode.CONFIG if name.startswith("simulated-") else ExitCode.UNAVAILABLE
        raise StartupError(f"TEE provider {name!r}: {exc.message}{hint}", code) from exc


def open_gpu(config: AgentConfig) -> GpuEvidenceProvider | None:
    """The configured GPU provider ([gpu] provider, with the NVSwitches of [gpu] switches), or
    None; StartupError 69 when NVML, NSCQ or their devices are missing, 78 when the simulated
    GPU's state directory is unusable."""
    gpu = config.gpu
    try:
        if gpu.provider == "nvml":
            from .gpu.nvml import NvmlGpuProvider

            gpus = NvmlGpuProvider(gpu.nvml_library)
            if gpu.switches != "nscq":
                return gpus
            from .gpu.node import NodeGpuProvider
            from .gpu.nscq import NscqSwitchProvider

            return NodeGpuProvider(gpus, NscqSwitchProvider(gpu.nscq_library))
        if gpu.provider == "simulated":
            from .gpu.simulated import SimulatedGpuProvider

            switches = gpu.simulated_switch_count if gpu.switches == "simulated" else 0
            return SimulatedGpuProvider(config.state.directory, gpu.simulated_count, switches)
    except ProviderError as exc:
        hint = f"; {exc.hint}" if exc.hint else ""
        code = ExitCode.CONFIG if gpu.provider == "simulated" else ExitCode.UNAVAILABLE
        raise StartupError(f"GPU provider {gpu.provider!r}: {exc.message}{hint}", code) from exc
    return None


def set_gpus_ready(source: EvidenceSource, config: AgentConfig) -> None:
    """After a passing self-check: NVIDIA's CC "GPUs ready" state, when configured. A GPU
    provider without one (simulated) has nothing to set."""
    set_ready = getattr(source.gpu, "set_ready", None)
    if not config.gpu.set_ready_state or not callable(set_ready):
        return
    try:
        set_ready()
    except HardwareError as exc:
        log.error("could not set the GPUs' CC ready state: %s", exc)


def quiet_tss2_logging() -> None:
    """Keep tpm2-tss from printing its own ERROR/WARNING lines (the agent reports the failure
    itself); an explicit TSS2_LOG in the environment wins."""
    os.environ.setdefault("TSS2_LOG", "all+NONE")


def open_tpm(config: AgentConfig) -> AgentTpm | None:
    """The TPM, or None when disabled or (with tpm.required = false) unreachable. The Azure
    providers quote with the vTPM's persistent AK (tee.azure_ak_handle), the AK the HCL report
    names; the others with Cairn's own primary AK."""
    if not config.tpm.enabled:
        log.warning("TPM disabled in the configuration: evidence carries no TPM quote")
        return None
    tcti = config.tpm.tcti or DEFAULT_TCTI
    azure = config.tee.provider in AZURE_PROVIDERS
    try:
        return AgentTpm.open(
            tcti,
            event_log_path=config.tpm.event_log,
            ak_handle=config.tee.azure_ak_handle if azure else None,
        )
    except TpmError as exc:
        hint = f": {exc.hint}; or" if exc.hint else ";"
        if config.tpm.required:
            raise StartupError(
                f"{exc.message}{hint} set tpm.required = false to serve evidence without a "
                "TPM quote",
                ExitCode.UNAVAILABLE,
            ) from exc
        log.warning("%s: serving TEE-only evidence (tpm.required = false)", exc.message)
        return None


def self_check(source: EvidenceSource, inventory: Inventory, state_dir: Path) -> dict[str, Any]:
    """Produce evidence for a random nonce and verify it with the verifier library.

    The result (shown by /healthz) is in the agent's terms: what it checked, and what a pass
    does not prove about this agent's evidence.
    """
    nonce = secrets.token_bytes(32)
    try:
        bundle = source.collect(nonce, inventory.current())
    except HardwareError as exc:
        return {"status": "failed", "reason": f"the agent could not produce evidence: {exc}"}
    except InventoryError as exc:
        log.error("self-check: %s", exc)
        return {
            "status": "failed",
            "reason": "the agent cannot read what it attests (system path, services manifest or "
            "a service key); its log says which",
        }
    provider: Any = source.provider
    roots = tuple(provider.trust_roots()) if hasattr(provider, "trust_roots") else ()
    gpu: Any = source.gpu
    if gpu is not None and gpu.simulated:  # a simulated GPU's root (SimulatedRoot)
        roots += tuple(gpu.trust_roots())
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
    if not result.ok:
        failed = next(c for c in result.checks if c.outcome is Outcome.FAIL)
        return {
            "status": "failed",
            "reason": f"the agent's own evidence fails check {failed.name!r} on "
            f"{failed.component}: {failed.summary}",
        }
    return {"status": "passed", "warnings": self_check_warnings(source)}


def self_check_warnings(source: EvidenceSource) -> list[str]:
    """What the agent's passing evidence does not prove, said from the agent's side."""
    warnings = []
    name = source.provider.name
    if provider_simulated(source.provider):
        warnings.append(
            f"the TEE is simulated ({name}): reports are signed by a certificate chain the agent "
            "generated itself, not by AMD or Intel hardware, so they prove nothing about "
            "confidentiality; a verifier accepts them only when given this agent's exported "
            "root (cairn-agent export-root)"
        )
    if source.tpm is None:
        warnings.append("no TPM: the evidence carries no TPM quote")
    if source.gpu is not None and source.gpu.simulated:
        warnings.append(
            "the GPUs are SIMULATED: their reports are signed by a chain the agent generated "
            "itself, not by NVIDIA hardware; a verifier accepts them only when given this "
            "agent's exported GPU root (cairn-agent export-root --gpu)"
        )
    if source.gpu is not None:
        warnings.append(
            "the GPUs' confidential-computing mode is not in their signed evidence (NVML "
            "reports it, from the host driver)"
        )
    return warnings


def build_state(config: AgentConfig) -> AgentState:
    """Everything the HTTP API serves from; StartupError when the agent cannot start."""
    if config.tee.provider in AZURE_PROVIDERS:  # the provider reads the HCL report from the TPM
        tpm = open_tpm(config)
        provider = open_provider(config, tpm)
    else:
        provider = open_provider(config)
        tpm = open_tpm(config)
    log.info("TEE provider: %s", provider.describe())
    gpu = open_gpu(config)
    if gpu is not None:
        log.info("GPU provider: %s", gpu.describe())
    inventory = Inventory(config.system.path, config.services.manifest)
    try:
        snapshot = inventory.current()
    except InventoryError as exc:
        raise StartupError(str(exc), ExitCode.CONFIG) from exc
    log.info(
        "system %s, %d services, tree root %064x",
        snapshot.system_store_path,
        len(snapshot.services),
        snapshot.tree_root,
    )
    source = EvidenceSource(provider, tpm, config.tpm.pcrs, config.tpm.bank, gpu, config.tee.ccel)
    gate = HardwareGate(config.limits.max_queue, config.limits.request_timeout_seconds)
    state = AgentState(source=source, inventory=inventory, gate=gate)
    if config.limits.self_check:
        state.self_check = self_check(source, inventory, config.state.directory)
        if state.self_check["status"] == "passed":
            log.info("self-check passed: the agent's own evidence verifies")
            set_gpus_ready(source, config)
        else:
            log.error("REFUSING TO SERVE EVIDENCE: %s", state.self_check["reason"])
    else:
        state.self_check = {"status": "disabled"}
        log.warning("self-check disabled: evidence is served without verifying it first")
    return state
