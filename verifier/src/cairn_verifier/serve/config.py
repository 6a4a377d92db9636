"""``cairn serve``'s configuration (TOML), strict like every Cairn document: unknown keys, wrong
types and out-of-range values are errors naming the key (exit 10 from ``cairn serve``).

```toml
[listen]
host = "127.0.0.1"
port = 8443
# tls_certificate = "/etc/cairn-serve/tls.pem"   # both or neither: HTTPS
# tls_key = "/etc/cairn-serve/tls.key"

[database]
url = "sqlite:///var/lib/cairn-serve/state.db"   # or postgresql://user@host/db for replicas
pool_size = 8

[signing]
key = "/etc/cairn-serve/ear-es256.pem"   # P-256 private key (PEM); the same on every replica
# verification_keys = ["/etc/cairn-serve/ear-es256-old.pem"]   # a rotation's earlier keys
issuer = "https://broker.example"
result_lifetime_seconds = 120

[attestation]
# policy = "/etc/cairn-serve/policy.toml"           # cairn's policy file (docs/policy.md)
# reference_values = "/etc/cairn-serve/reference-values.json"
# trust_simulated_roots = ["/etc/cairn-serve/simulated-root.pem"]   # never in production
nonce_lifetime_seconds = 120
offline = false

[admin]
token_sha256 = "…"   # SHA-256 (hex) of the admin bearer token; the token itself is not stored

[limits]
max_body_bytes = 1048576
max_request_bytes = 16384
max_verifications = 8
rate_limit_per_minute = 60          # challenge + attest per client (0: off), per replica
rate_limit_burst = 20
trusted_proxies = []                # e.g. ["10.0.0.0/8"]: their X-Forwarded-For names the client
unauthenticated_audit_seconds = 60  # resource requests without a valid token: one summary entry
```
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..documents import parse_toml
from ..errors import MalformedInputError
from ..input_files import read_input_file
from ..policy import validation_message

MAX_CONFIG_BYTES = 64 * 1024


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class Listen(_Section):
    host: str = Field(default="127.0.0.1", min_length=1)
    port: int = Field(default=8443, ge=0, le=65535)
    tls_certificate: Path | None = None
    tls_key: Path | None = None


class Database(_Section):
    url: str = Field(default="sqlite:///var/lib/cairn-serve/state.db", min_length=1)
    pool_size: int = Field(default=8, ge=1, le=256)


class Signing(_Section):
    key: Path
    verification_keys: tuple[Path, ...] = Field(default=(), max_length=8)
    """Earlier signing keys (PEM, public or private): published and accepted, never used to
    sign (a key rotation keeps the old one here for ``result_lifetime_seconds``)."""
    issuer: str = Field(default="cairn-serve", min_length=1, max_length=256)
    result_lifetime_seconds: int = Field(default=120, gt=0, le=3600)


class Attestation(_Section):
    policy: Path | None = None
    reference_values: Path | None = None
    trust_simulated_roots: tuple[Path, ...] = ()
    nonce_lifetime_seconds: int = Field(default=120, gt=0, le=3600)
    offline: bool = False


class Admin(_Section):
    token_sha256: str | None = None

    @field_validator("token_sha256")
    @classmethod
    def _digest(cls, value: str | None) -> str | None:
        if value is not None and (
            len(value) != 64 or not all(c in "0123456789abcdef" for c in value)
        ):
            raise ValueError("must be 64 lowercase hex digits (sha256sum of the token)")
        return value


class Limits(_Section):
    max_body_bytes: int = Field(default=1 << 20, ge=1024, le=16 << 20)
    max_request_bytes: int = Field(default=16384, ge=1024, le=1 << 20)
    max_verifications: int = Field(default=8, ge=1, le=256)
    rate_limit_per_minute: int = Field(default=60, ge=0, le=1_000_000)
    """Challenge and attest requests per client and minute, per replica (0: no limit)."""
    rate_limit_burst: int = Field(default=20, ge=1, le=1_000_000)
    """Requests a client may send at once before the per-minute rate applies."""
    trusted_proxies: list[str] = Field(default_factory=list, max_length=64)
    """Networks (CIDR) of proxies whose ``X-Forwarded-For`` names the client."""
    unauthenticated_audit_seconds: int = Field(default=60, ge=1, le=86400)
    """Resource requests without a valid token are counted and audited as one summary entry
    at most this often (per replica)."""

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for network in value:
            try:
                ipaddress.ip_network(network, strict=True)
            except ValueError as exc:
                raise ValueError(f"{network[:64]!r} is not a network: {exc}") from None
        return value


class ServeConfig(_Section):
    listen: Listen = Listen()
    database: Database = Database()
    signing: Signing
    attestation: Attestation = Attestation()
    admin: Admin = Admin()
    limits: Limits = Limits()


def _paths_from_toml(document: dict[str, Any], base: Path) -> dict[str, Any]:
    """TOML has no path type: turn the path-valued strings into Paths, relative to ``base``."""
    path_keys = {
        "listen": ("tls_certificate", "tls_key"),
        "signing": ("key",),
        "attestation": ("policy", "reference_values"),
    }
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in document.items()}
    for section, keys in path_keys.items():
        table = out.get(section)
        if isinstance(table, dict):
            for key in keys:
                if isinstance(table.get(key), str):
                    table[key] = base / table[key]
    lists = (("attestation", "trust_simulated_roots"), ("signing", "verification_keys"))
    for section, key in lists:
        table = out.get(section)
        paths = table.get(key) if isinstance(table, dict) else None
        if isinstance(paths, list) and all(isinstance(p, str) for p in paths):
            out[section][key] = tuple(base / p for p in paths)
    return out


def load_serve_config(path: Path) -> ServeConfig:
    """Read and validate the configuration; relative paths are relative to its directory."""
    what = f"cairn serve configuration {path}"
    data = read_input_file(path, "cairn serve configuration", limit=MAX_CONFIG_BYTES)
    document = parse_toml(data, what, component="serve config")
    try:
        config = ServeConfig.model_validate(_paths_from_toml(document, path.parent))
    except ValidationError as exc:
        raise MalformedInputError(
            f"{what} is invalid: {validation_message(exc)}",
            component="serve config",
            hint="see docs/serve.md for every key",
        ) from None
    if (config.listen.tls_certificate is None) != (config.listen.tls_key is None):
        raise MalformedInputError(
            f"{what}: listen.tls_certificate and listen.tls_key go together",
            component="serve config",
        )
    return config
