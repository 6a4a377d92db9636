"""The agent's configuration: one TOML file (the NixOS module writes it), strictly validated."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cairn_verifier.policy import validation_message

ProviderName = Literal[
    "auto", "configfs-tsm", "sev-guest", "tdx-guest", "simulated-snp", "simulated-tdx"
]


class ConfigError(Exception):
    """The configuration file is missing, unreadable or invalid (message says which key)."""


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ListenConfig(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)


class TeeConfig(_Section):
    provider: ProviderName = "auto"
    """Which evidence provider; "auto" never picks a simulated one."""
    configfs_root: Path = Path("/sys/kernel/config/tsm/report")
    sev_guest_device: Path = Path("/dev/sev-guest")
    tdx_guest_device: Path = Path("/dev/tdx_guest")
    vmpl: int = Field(default=0, ge=0, le=3)
    simulated_product: Literal["Milan", "Genoa", "Turin"] = "Genoa"


class TpmConfig(_Section):
    enabled: bool = True
    tcti: str | None = None
    """TCTI string, e.g. "device:/dev/tpmrm0" (the default) or "swtpm:port=2321"."""
    pcrs: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 14)
    bank: Literal["sha1", "sha256", "sha384"] = "sha256"
    required: bool = True
    """Refuse to start without a TPM (false: serve TEE-only evidence and say so)."""
    event_log: Path = Path("/sys/kernel/security/tpm0/binary_bios_measurements")


class ServicesConfig(_Section):
    manifest: Path | None = None
    """JSON services manifest; unset = no services (an empty tree)."""


class SystemConfig(_Section):
    path: Path = Path("/run/current-system")
    """Symlink to the running NixOS system; its target store path is hashed."""


class StateConfig(_Section):
    directory: Path = Path("/var/lib/cairn-agent")


class LimitsConfig(_Section):
    max_queue: int = Field(default=16, ge=1, le=10_000)
    """Evidence requests waiting for the hardware beyond which 429 is answered."""
    request_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    max_request_bytes: int = Field(default=8192, ge=512, le=1 << 20)
    self_check: bool = True
    """Verify the agent's own first evidence at start-up and refuse to serve if it fails."""


class AgentConfig(_Section):
    listen: ListenConfig = ListenConfig()
    tee: TeeConfig = TeeConfig()
    tpm: TpmConfig = TpmConfig()
    services: ServicesConfig = ServicesConfig()
    system: SystemConfig = SystemConfig()
    state: StateConfig = StateConfig()
    limits: LimitsConfig = LimitsConfig()


def load_config(path: Path) -> AgentConfig:
    """Read and validate the TOML configuration; ConfigError names the offending key."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read configuration {path}: {exc.strerror}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"configuration {path} is not valid TOML: {exc}") from exc
    try:
        return AgentConfig.model_validate(document)
    except ValidationError as exc:
        problems = validation_message(exc, top="")
        raise ConfigError(f"configuration {path} is invalid: {problems}") from None


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
