"""Choose and build the evidence provider named in the agent's configuration.

``auto`` looks for real hardware only, in this order: configfs-tsm (when its report root
exists and a TSM provider is registered), ``/dev/sev-guest``, ``/dev/tdx_guest`` (which cannot
give quotes, so auto explains that instead of picking it). It never picks a simulated provider:
a development machine must say ``provider = "simulated-snp"`` explicitly. Nor does it pick
``azure-vtpm``: an Azure confidential VM reaches its TEE through the vTPM, which ``auto`` does
not probe; its failure says to configure it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, cast, get_args

from ..config import ProviderName
from ..tpm import AgentTpm
from .base import EvidenceProvider, ProviderError
from .configfs_tsm import DEFAULT_ROOT, ConfigfsTsmProvider, TsmFilesystem
from .sev_guest import SevGuestProvider
from .tdx_guest import QUOTE_HINT, TdxGuestProvider

PROVIDER_NAMES: tuple[ProviderName, ...] = get_args(ProviderName)
DEFAULT_SEV_DEVICE = Path("/dev/sev-guest")
DEFAULT_TDX_DEVICE = Path("/dev/tdx_guest")

_ALLOWED_OPTIONS: Mapping[str, frozenset[str]] = {
    "auto": frozenset({"root", "privlevel", "fs", "sev_device", "vmpl", "tdx_device"}),
    "configfs-tsm": frozenset({"root", "privlevel", "fs"}),
    "sev-guest": frozenset({"device", "vmpl"}),
    "tdx-guest": frozenset({"device", "tdreport_only"}),
    "azure-vtpm": frozenset({"tpm", "nv_index", "imds_url", "thim"}),
    "simulated-snp": frozenset({"product", "directory", "launch_inputs"}),
    "simulated-tdx": frozenset({"ccel"}),
    "simulated-azure": frozenset({"tpm", "platform", "product", "nv_index", "ak_handle"}),
}


class _Options:
    """Typed access to the options of one provider; every mistake is a ProviderError."""

    def __init__(self, provider: str, options: Mapping[str, Any]):
        unknown = sorted(set(options) - _ALLOWED_OPTIONS[provider])
        if unknown:
            accepted = ", ".join(sorted(_ALLOWED_OPTIONS[provider])) or "none"
            raise ProviderError(
                f"provider {provider!r} does not take option(s) {', '.join(unknown)}",
                hint=f"options accepted by {provider}: {accepted}",
            )
        self.provider = provider
        self.options = options

    def _bad(self, key: str, expected: str) -> ProviderError:
        value = self.options[key]
        return ProviderError(
            f"provider {self.provider!r}: option {key} must be {expected}, got {value!r}"
        )

    def path(self, key: str, default: Path) -> Path:
        value = self.options.get(key, default)
        if isinstance(value, (str, Path)) and str(value):
            return Path(value)
        raise self._bad(key, "a path")

    def int_or_none(self, key: str, default: int | None) -> int | None:
        value = self.options.get(key, default)
        if value is None or (isinstance(value, int) and not isinstance(value, bool)):
            return value
        raise self._bad(key, "an integer")

    def int(self, key: str, default: int) -> int:
        value = self.int_or_none(key, default)
        if value is None:
            raise self._bad(key, "an integer")
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self.options.get(key, default)
        if isinstance(value, bool):
            return value
        raise self._bad(key, "true or false")

    def string(self, key: str, default: str) -> str:
        value = self.options.get(key, default)
        if isinstance(value, str) and value:
            return value
        raise self._bad(key, "a non-empty string")

    def tpm(self) -> AgentTpm:
        """The agent's TPM, which the Azure providers read the HCL report from."""
        tpm = self.options.get("tpm")
        if not isinstance(tpm, AgentTpm):
            raise ProviderError(
                f"provider {self.provider!r} reads the HCL report from the vTPM, and there is "
                "no TPM",
                hint="enable the TPM (tpm.enabled = true) with the VM's vTPM",
            )
        return tpm

    def fs(self) -> TsmFilesystem | None:
        """The filesystem layer under configfs-tsm (tests animate a fake one)."""
        return cast("TsmFilesystem | None", self.options.get("fs"))


def _configfs(opts: _Options) -> ConfigfsTsmProvider:
    return ConfigfsTsmProvider(
        root=opts.path("root", DEFAULT_ROOT),
        privlevel=opts.int_or_none("privlevel", None),
        fs=opts.fs(),
    )


def _simulated_snp(state_dir: Path, opts: _Options) -> EvidenceProvider:
    from .simulated_snp import SimulatedSnpProvider, launch_description  # only when configured

    directory = opts.options.get("directory")
    inputs = opts.options.get("launch_inputs") or ()
    return SimulatedSnpProvider(
        opts.path("directory", state_dir) if directory else state_dir,
        product=opts.string("product", "Genoa"),
        launch_description=launch_description([Path(p) for p in inputs]),
    )


def _simulated_tdx(state_dir: Path, opts: _Options) -> EvidenceProvider:
    from .simulated_tdx import SimulatedTdxProvider  # only when configured

    ccel = opts.options.get("ccel")
    return SimulatedTdxProvider(state_dir, ccel=opts.path("ccel", Path()) if ccel else None)


def _azure(opts: _Options) -> EvidenceProvider:
    from .azure_vtpm import HCL_NV_INDEX, IMDS_URL, AzureVtpmProvider

    return AzureVtpmProvider(
        opts.tpm(),
        nv_index=opts.int("nv_index", HCL_NV_INDEX),
        imds_url=opts.string("imds_url", IMDS_URL),
        thim=opts.flag("thim", True),
    )


def _simulated_azure(state_dir: Path, opts: _Options) -> EvidenceProvider:
    from .azure_vtpm import AK_HANDLE, HCL_NV_INDEX
    from .simulated_azure import SimulatedAzureProvider  # only when configured

    platform = opts.string("platform", "sev-snp")
    if platform not in ("sev-snp", "tdx"):
        raise ProviderError(f"simulated-azure imitates sev-snp or tdx, not {platform!r}")
    return SimulatedAzureProvider(
        state_dir,
        opts.tpm(),
        platform="tdx" if platform == "tdx" else "sev-snp",
        product=opts.string("product", "Genoa"),
        nv_index=opts.int("nv_index", HCL_NV_INDEX),
        ak_handle=opts.int("ak_handle", AK_HANDLE),
    )


def _auto(opts: _Options) -> EvidenceProvider:
    tried: list[str] = []
    configfs = _configfs(opts)
    if configfs.available():
        try:
            configfs.probe()
        except ProviderError as exc:
            tried.append(f"configfs-tsm at {configfs.root}: {exc.message}")
        else:
            return configfs
    else:
        tried.append(f"configfs-tsm: {configfs.root} does not exist")
    sev_device = opts.path("sev_device", DEFAULT_SEV_DEVICE)
    if sev_device.exists():
        return SevGuestProvider(sev_device, vmpl=opts.int("vmpl", 0))
    tried.append(f"sev-guest: {sev_device} does not exist")
    tdx_device = opts.path("tdx_device", DEFAULT_TDX_DEVICE)
    if tdx_device.exists():
        raise ProviderError(
            f"found only {tdx_device}, which gives TDREPORTs, not verifiable TDX quotes"
            f" ({'; '.join(tried)})",
            hint=QUOTE_HINT,
        )
    tried.append(f"tdx-guest: {tdx_device} does not exist")
    raise ProviderError(
        f"no TEE found ({'; '.join(tried)})",
        hint="on an Azure confidential VM configure provider = azure-vtpm (the TEE is reached "
        "through the vTPM there); on a development machine provider = simulated-snp",
    )


def make_provider(name: str, *, state_dir: Path, **options: Any) -> EvidenceProvider:
    """The provider configured as ``name`` with its ``options``; ProviderError if impossible."""
    if name not in _ALLOWED_OPTIONS:
        raise ProviderError(
            f"unknown evidence provider {name!r}",
            hint=f"choose one of: {', '.join(PROVIDER_NAMES)}",
        )
    opts = _Options(name, options)
    builders: dict[str, Callable[[], EvidenceProvider]] = {
        "auto": lambda: _auto(opts),
        "configfs-tsm": lambda: _configfs(opts),
        "sev-guest": lambda: SevGuestProvider(
            opts.path("device", DEFAULT_SEV_DEVICE), vmpl=opts.int("vmpl", 0)
        ),
        "tdx-guest": lambda: TdxGuestProvider(
            opts.path("device", DEFAULT_TDX_DEVICE),
            tdreport_only=opts.flag("tdreport_only", False),
        ),
        "azure-vtpm": lambda: _azure(opts),
        "simulated-snp": lambda: _simulated_snp(Path(state_dir), opts),
        "simulated-tdx": lambda: _simulated_tdx(Path(state_dir), opts),
        "simulated-azure": lambda: _simulated_azure(Path(state_dir), opts),
    }
    return builders[name]()
