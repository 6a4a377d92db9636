"""Real EFI binaries for the reference-value tests: Debian's systemd-boot EFI stub and OVMF.

They come from Debian packages the test session installs (`systemd-boot-efi`, `ovmf`,
`sbsigntool`, `binutils`: ./dev's `guest` group); a missing one fails with the command that
installs it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

STUB = Path("/usr/lib/systemd/boot/efi/linuxx64.efi.stub")
BOOT = Path("/usr/lib/systemd/boot/efi/systemd-bootx64.efi")
OVMF = Path("/usr/share/ovmf/OVMF.fd")
SYSTEMD_MEASURE = Path("/usr/lib/systemd/systemd-measure")


def _need(path: Path, package: str) -> Path:
    if not path.exists():
        pytest.fail(f"{path} is missing: `apt-get install {package}` (./dev setup guest)")
    return path


@pytest.fixture(scope="session")
def stub() -> Path:
    return _need(STUB, "systemd-boot-efi")


@pytest.fixture(scope="session")
def boot_efi() -> Path:
    return _need(BOOT, "systemd-boot-efi")


@pytest.fixture(scope="session")
def ovmf() -> Path:
    return _need(OVMF, "ovmf")


@pytest.fixture(scope="session")
def systemd_measure() -> Path:
    return _need(SYSTEMD_MEASURE, "systemd")
