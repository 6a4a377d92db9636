"""The agent's configuration: one TOML file (the NixOS module writes it), strictly validated.

Every key is checked: unknown keys, wrong types (``"yes"`` for a boolean, ``"8080"`` for a
port) and out-of-range values are errors naming the key (``tpm.pcrs: …``); nothing is coerced.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from .files import read_limited
from .tcti import TctiSyntaxError, check_host, check_tcti

ProviderName = Literal[
    "auto",
    "configfs-tsm",
    "sev-guest",
    "tdx-guest",
    "azure-vtpm",
    "simulated-snp",
    "simulated-tdx",
    "simulated-azure",
]
AZURE_PROVIDERS = ("azure-vtpm", "simulated-azure")
"""Providers that read Azure's HCL report from the TPM and quote with its persistent AK."""
SimulatedProduct = Literal["Milan", "Genoa"]
"""The product lines the simulated SEV-SNP platform imitates (tee/simulated_snp.py builds these)."""
PCR_COUNT = 24
MAX_CONFIG_BYTES = 1 << 20
DEFAULT_PCRS = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 14)


class ConfigError(Exception):
    """The configuration file is missing, unreadable or invalid (message says which key)."""


def _non_empty_path(value: object) -> object:
    if isinstance(value, str) and not value.strip():
        raise PydanticCustomError("empty_path", "must be a path, not an empty string")
    return value


ConfigPath = Annotated[Path, Field(strict=False), BeforeValidator(_non_empty_path)]
"""A path written as a TOML string (the only non-strict conversion: string to Path)."""


def parse_pcr_selection(value: object) -> tuple[int, ...]:
    """PCR indexes from a list of integers or a string like ``"0-9,11,12,14"``; sorted, unique.

    Raises ``PydanticCustomError`` (shown as ``tpm.pcrs: …``) for anything else.
    """
    if isinstance(value, str):
        indexes = _pcr_ranges(value)
    elif isinstance(value, list | tuple):
        bad = [v for v in value if not isinstance(v, int) or isinstance(v, bool)]
        if bad:
            raise PydanticCustomError(
                "pcr_type", "PCR indexes must be integers, got {bad}", {"bad": repr(bad[0])}
            )
        indexes = list(value)
    else:
        raise PydanticCustomError(
            "pcr_type",
            'must be a list of PCR indexes like [0, 1, 7] or a string like "0-9,11,12,14"',
        )
    if not indexes:
        raise PydanticCustomError("pcr_empty", "select at least one PCR")
    out_of_range = [i for i in indexes if not 0 <= i < PCR_COUNT]
    if out_of_range:
        raise PydanticCustomError(
            "pcr_range",
            "PCR {index} does not exist: indexes are 0-{last}",
            {"index": out_of_range[0], "last": PCR_COUNT - 1},
        )
    duplicates = sorted({i for i in indexes if indexes.count(i) > 1})
    if duplicates:
        raise PydanticCustomError(
            "pcr_duplicate", "PCR {index} is selected twice", {"index": duplicates[0]}
        )
    return tuple(sorted(indexes))


def _pcr_ranges(text: str) -> list[int]:
    """``"0-9,11"`` → [0, …, 9, 11]: comma-separated indexes or ascending ``a-b`` ranges."""
    indexes: list[int] = []
    for part in text.split(","):
        first, dash, last = part.strip().partition("-")
        numbers = [first, last] if dash else [first]
        if not all(n.isascii() and n.isdigit() and len(n) <= 2 for n in numbers):
            raise PydanticCustomError(
                "pcr_syntax",
                "'{part}' is not a PCR index or range: write e.g. \"0-9,11,12,14\"",
                {"part": part.strip()},
            )
        low, high = int(first), int(last or first)
        if high < low:
            raise PydanticCustomError(
                "pcr_syntax", "range '{part}' runs backwards", {"part": part.strip()}
            )
        indexes.extend(range(low, high + 1))
    return indexes


PcrSelection = Annotated[tuple[int, ...], BeforeValidator(parse_pcr_selection)]


def _simulated_product(value: object) -> object:
    if value not in get_args(SimulatedProduct):
        raise PydanticCustomError(
            "simulated_product",
            "must be {products}: the simulated SEV-SNP platform imitates no other product, "
            "not Turin (a real Turin report verifies with `cairn verify snp`)",
            {"products": " or ".join(get_args(SimulatedProduct))},
        )
    return value


def _http_url(value: object) -> object:
    if (
        not isinstance(value, str)
        or not value.startswith(("http://", "https://"))
        or len(value) > 256
    ):
        raise PydanticCustomError("http_url", "must be an http:// or https:// URL")
    return value


def _tcti(value: object) -> object:
    if not isinstance(value, str):
        return value  # the strict string type names the mistake
    try:
        return check_tcti(value)
    except TctiSyntaxError as exc:
        raise PydanticCustomError(
            "tcti_syntax",
            "{tcti} is not a valid TCTI: {reason}",
            {"tcti": repr(value), "reason": str(exc)},
        ) from None


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


def _listen_host(value: object) -> object:
    if not isinstance(value, str):
        return value  # the strict string type names the mistake
    try:
        check_host(value)
    except TctiSyntaxError as exc:
        raise PydanticCustomError("tcti_host", "{reason}", {"reason": str(exc)}) from None
    return value


class ListenConfig(_Section):
    host: Annotated[str, BeforeValidator(_listen_host)] = Field(default="127.0.0.1", min_length=1)
    """An IP address or host name (checked here; whether it can be bound, at start: exit 69)."""
    port: int = Field(default=8080, ge=0, le=65535)


class TeeConfig(_Section):
    provider: ProviderName = "auto"
    """Which evidence provider; "auto" never picks a simulated one."""
    configfs_root: ConfigPath = Path("/sys/kernel/config/tsm/report")
    sev_guest_device: ConfigPath = Path("/dev/sev-guest")
    tdx_guest_device: ConfigPath = Path("/dev/tdx_guest")
    vmpl: int = Field(default=0, ge=0, le=3)
    simulated_product: Annotated[SimulatedProduct, BeforeValidator(_simulated_product)] = "Genoa"
    simulated_directory: ConfigPath | None = None
    """simulated-snp: where the simulated platform keeps its chip (identity, key-derivation
    secret, certificate chain); unset = ``[state] directory``. It stands for hardware, so it
    must not live on a volume its derived keys open (``cairn-agent state-key`` runs before)."""
    simulated_launch_inputs: list[ConfigPath] = Field(default_factory=list, max_length=16)
    """simulated-snp: files the simulated launch measurement covers (each file's path and
    SHA-384, in order, after the fixed launch description), read when the provider opens: the
    host's launch choices, as SEV-SNP's measured direct boot covers the kernel command line."""
    simulated_platform: Literal["sev-snp", "tdx"] = "sev-snp"
    """simulated-azure: which hardware the simulated paravisor's HCL report imitates."""
    azure_nv_index: int = Field(default=0x01400001, ge=0x01000000, le=0x01FFFFFF)
    """azure-vtpm: the vTPM NV index holding the HCL report."""
    azure_ak_handle: int = Field(default=0x81000003, ge=0x81000000, le=0x81FFFFFF)
    """azure-vtpm: the persistent handle of the vTPM's attestation key (HCLAkPub)."""
    azure_imds_url: Annotated[str, BeforeValidator(_http_url)] = "http://169.254.169.254"
    """azure-vtpm: Azure's instance metadata service (TD quotes, THIM certificates)."""
    azure_thim: bool = True
    """azure-vtpm on SEV-SNP: send the VCEK chain from Azure's THIM with the evidence."""
    ccel: ConfigPath = Path("/sys/firmware/acpi/tables/data/CCEL")
    """TDX: the TD's event log (the ACPI CCEL table's data), sent with TDX evidence when the
    file exists (evidence bundle version 2, ``tee.event_log``); simulated-tdx: its simulated
    RTMRs are this log's replay."""


class TpmConfig(_Section):
    enabled: bool = True
    tcti: Annotated[str, BeforeValidator(_tcti)] | None = Field(default=None, min_length=1)
    """TCTI string, e.g. "device:/dev/tpmrm0" (the default) or "swtpm:port=2321"; its syntax
    is checked here (:mod:`.tcti`), whether the TPM answers when the agent starts."""
    pcrs: PcrSelection = DEFAULT_PCRS
    bank: Literal["sha1", "sha256", "sha384"] = "sha256"
    required: bool = True
    """Refuse to start without a TPM (false: serve TEE-only evidence and say so)."""
    event_log: ConfigPath = Path("/sys/kernel/security/tpm0/binary_bios_measurements")


class ServicesConfig(_Section):
    manifest: ConfigPath | None = None
    """JSON services manifest; unset = no services (an empty tree)."""


class SystemConfig(_Section):
    path: ConfigPath = Path("/run/current-system")
    """Symlink to the running NixOS system; its target store path is hashed."""


class StateConfig(_Section):
    directory: ConfigPath = Path("/var/lib/cairn-agent")


class LimitsConfig(_Section):
    max_queue: int = Field(default=16, ge=1, le=10_000)
    """Evidence requests waiting for the hardware beyond which 429 is answered."""
    request_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    max_request_bytes: int = Field(default=8192, ge=512, le=1 << 20)
    """Largest request line + headers accepted (no endpoint takes a body); beyond: 413."""
    self_check: bool = True
    """Verify the agent's own first evidence at start-up and refuse to serve if it fails."""


class GpuConfig(_Section):
    provider: Literal["none", "nvml", "simulated"] = "none"
    """Where GPU evidence comes from: no GPUs, NVIDIA GPUs through NVML, or simulated H100s."""
    nvml_library: str = Field(default="libnvidia-ml.so.1", min_length=1)
    """nvml: the NVML shared library (a name the loader finds, or a path)."""
    simulated_count: int = Field(default=1, ge=1, le=8)
    """simulated: how many GPUs the simulated node has."""
    set_ready_state: bool = True
    """nvml: after the self-check verified the GPUs' evidence, set NVIDIA's CC "GPUs ready"
    state so that they accept work (as NVIDIA's local verifier does); false leaves it alone."""
    switches: Literal["none", "nscq", "simulated"] = "none"
    """Where NVSwitch evidence comes from, after the GPUs': none, NVIDIA's NSCQ library (with
    provider "nvml"), or simulated LS10 switches under the simulated GPUs' root (with provider
    "simulated")."""
    nscq_library: str = Field(default="libnvidia-nscq.so.2", min_length=1)
    """nscq: the NSCQ shared library (a name the loader finds, or a path)."""
    simulated_switch_count: int = Field(default=4, ge=1, le=8)
    """switches = "simulated": how many NVSwitches the simulated node has."""

    @model_validator(mode="after")
    def _switches_match_the_gpus(self) -> GpuConfig:
        wanted = {"nscq": "nvml", "simulated": "simulated"}.get(self.switches)
        if wanted is not None and self.provider != wanted:
            raise PydanticCustomError(
                "gpu_switches",
                'switches = "{switches}" goes with provider = "{wanted}" (a node\'s switches '
                "are attested beside its GPUs, both real or both simulated), not "
                '"{provider}"',
                {"switches": self.switches, "wanted": wanted, "provider": self.provider},
            )
        return self


class AgentConfig(_Section):
    listen: ListenConfig = ListenConfig()
    tee: TeeConfig = TeeConfig()
    tpm: TpmConfig = TpmConfig()
    services: ServicesConfig = ServicesConfig()
    system: SystemConfig = SystemConfig()
    state: StateConfig = StateConfig()
    limits: LimitsConfig = LimitsConfig()
    gpu: GpuConfig = GpuConfig()


def load_config(path: Path) -> AgentConfig:
    """Read and validate the TOML configuration; ConfigError names the offending keys."""
    raw = read_limited(
        path,
        limit=MAX_CONFIG_BYTES,
        what=f"configuration file {path}",
        missing="`cairn-agent init-demo DIR` writes one for a local run; docs/agent.md lists "
        "the keys",
        error=ConfigError,
    )
    try:
        document = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"configuration file {path} is not UTF-8 text: {exc.reason}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"configuration file {path} is not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"configuration file {path} is nested too deeply") from None
    return parse_config(document, source=str(path))


def parse_config(document: dict[str, Any], *, source: str = "configuration") -> AgentConfig:
    """Validate a parsed TOML document; ConfigError lists every problem as ``key: message``."""
    try:
        return AgentConfig.model_validate(document)
    except ValidationError as exc:
        problems = config_problems(exc)
        lines = "\n".join(f"  {problem}" for problem in problems)
        raise ConfigError(f"{source} is invalid:\n{lines}") from None


def config_problems(exc: ValidationError) -> list[str]:
    """One ``section.key: message`` line per error, naming the accepted keys for unknown ones."""
    problems = []
    for error in exc.errors(include_url=False):
        location = [str(part) for part in error["loc"]]
        key = ".".join(location) or "(top level)"
        kind = error["type"]
        if kind == "extra_forbidden":
            known = sorted(_known_keys(location[:-1]))
            where = f"[{'.'.join(location[:-1])}]" if location[:-1] else "the top level"
            problems.append(f"{key}: unknown key; {where} accepts {', '.join(known)}")
        elif kind == "model_type":
            problems.append(f"{key}: must be a table ([{key}]), got {_shown(error.get('input'))}")
        elif kind in _TYPE_MESSAGES:
            problems.append(f"{key}: {_TYPE_MESSAGES[kind]}, got {_shown(error.get('input'))}")
        elif kind.startswith(("pcr_", "empty_path", "tcti_")):
            problems.append(f"{key}: {error['msg']}")
        else:
            problems.append(f"{key}: {error['msg']} (got {_shown(error.get('input'))})")
    return problems


_TYPE_MESSAGES = {
    "bool_type": "must be true or false (a TOML boolean, unquoted)",
    "int_type": "must be an integer (unquoted)",
    "float_type": "must be a number of seconds (unquoted)",
    "string_type": "must be a string (quoted)",
    "path_type": "must be a path (a quoted string)",
}


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _known_keys(section: list[str]) -> set[str]:
    model: type[BaseModel] = AgentConfig
    for part in section:
        annotation = model.model_fields[part].annotation
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return set()
        model = annotation
    return set(model.model_fields)


def config_keys(model: type[BaseModel] = AgentConfig, prefix: str = "") -> set[str]:
    """Every dotted key the configuration accepts (for drift checks against the NixOS module)."""
    keys: set[str] = set()
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys |= config_keys(annotation, f"{prefix}{name}.")
        else:
            keys.add(f"{prefix}{name}")
    return keys
