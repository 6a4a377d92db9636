"""``cairn-agent state-key``: the state volume's key from a source the host cannot read, written to
a new file for ``cairn-state-init --key-file`` and the volume's cryptsetup unit.

Sources: ``snp-derived`` (the AMD-SP's ``MSG_KEY_REQ`` through ``/dev/sev-guest``, or the
simulated SEV-SNP firmware; :mod:`.tee.derived_key`) and ``broker`` (an attestation-gated
``cairn serve``; :mod:`.broker_client`). The key file is created, never overwritten, with mode
0600: it belongs on a tmpfs that only root reads (the NixOS module uses a runtime directory).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from .config import AgentConfig
from .errors import ExitCode, StartupError
from .startup import open_provider
from .tee.base import ProviderError
from .tee.derived_key import DerivedKeyRequest, DerivedKeySource, state_volume_key
from .tee.sev_guest import SevGuestProvider
from .tee.simulated_snp import SimulatedSnpProvider

_SEV_GUEST_PROVIDERS = ("auto", "sev-guest", "configfs-tsm")


def derived_key_source(config: AgentConfig) -> DerivedKeySource:
    """Where this guest's derived keys come from: /dev/sev-guest for a real SEV-SNP guest
    (configfs-tsm has no key derivation), the simulated firmware for ``simulated-snp``."""
    provider = config.tee.provider
    if provider == "simulated-snp":
        source = open_provider(config)
        if not isinstance(source, SimulatedSnpProvider):  # pragma: no cover - make_provider's
            raise TypeError(f"simulated-snp opened a {type(source).__name__}")
        return source
    if provider in _SEV_GUEST_PROVIDERS:
        return SevGuestProvider(config.tee.sev_guest_device, vmpl=config.tee.vmpl)
    raise StartupError(
        f"tee.provider is {provider!r}: SNP-derived keys need an SEV-SNP guest (sev-guest, "
        "configfs-tsm, auto or simulated-snp); TDX has no such key here: use the broker key "
        "source",
        ExitCode.USAGE,
    )


def snp_derived_state_key(config: AgentConfig, request: DerivedKeyRequest) -> bytes:
    """The state volume key from the AMD-SP (HKDF of the derived key, 64 bytes)."""
    source = derived_key_source(config)
    try:
        derived = source.derived_key(request)
    except ProviderError as exc:
        hint = f"; {exc.hint}" if exc.hint else ""
        raise StartupError(
            f"no derived key ({request.describe()}): {exc.message}{hint}", ExitCode.UNAVAILABLE
        ) from exc
    return state_volume_key(derived, request)


def write_key_file(path: Path, key: bytes) -> None:
    """Create ``path`` (mode 0600) holding ``key``; an existing file is never overwritten."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        if exc.errno == errno.EEXIST:
            raise StartupError(
                f"{path} exists: a key file is never overwritten (remove it first if it is stale)",
                ExitCode.USAGE,
            ) from exc
        raise StartupError(f"cannot create {path}: {exc.strerror or exc}", ExitCode.USAGE) from exc
    try:
        view = memoryview(key)
        while view:
            written = os.write(fd, view)
            view = view[written:]
    finally:
        os.close(fd)
