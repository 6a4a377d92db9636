"""Provider selection: explicit names, options, and what ``auto`` finds (never a simulator)."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path
from typing import get_args

import pytest

from cairn_agent.config import ProviderName
from cairn_agent.tee.base import ProviderError
from cairn_agent.tee.configfs_tsm import ConfigfsTsmProvider, OsTsmFilesystem
from cairn_agent.tee.detect import PROVIDER_NAMES, make_provider
from cairn_agent.tee.sev_guest import SevGuestProvider
from cairn_agent.tee.tdx_guest import TdxGuestProvider


class ProbeFs(OsTsmFilesystem):
    """configfs-tsm as far as probing goes: a new entry shows ``provider`` (or ENXIO)."""

    def __init__(self, provider: str | None):
        self.provider = provider
        self.entries: list[Path] = []

    def mkdir(self, path: Path) -> None:
        super().mkdir(path)
        self.entries.append(path)
        if self.provider is not None:
            (path / "provider").write_text(self.provider + "\n")

    def read(self, path: Path) -> bytes:
        if path.name == "provider" and self.provider is None:
            raise OSError(errno.ENXIO, os.strerror(errno.ENXIO), str(path))
        return super().read(path)

    def rmdir(self, path: Path) -> None:
        shutil.rmtree(path)


@pytest.fixture
def paths(tmp_path: Path) -> dict[str, Path]:
    return {
        "root": tmp_path / "config" / "tsm" / "report",
        "sev_device": tmp_path / "dev" / "sev-guest",
        "tdx_device": tmp_path / "dev" / "tdx_guest",
        "state": tmp_path / "state",
    }


def _auto(paths: dict[str, Path], **extra: object) -> object:
    return make_provider(
        "auto",
        state_dir=paths["state"],
        root=paths["root"],
        sev_device=paths["sev_device"],
        tdx_device=paths["tdx_device"],
        **extra,
    )


def test_auto_prefers_configfs_tsm_with_a_provider(paths: dict[str, Path]) -> None:
    paths["root"].mkdir(parents=True)
    paths["sev_device"].parent.mkdir(parents=True)
    paths["sev_device"].touch()
    fs = ProbeFs("sev_guest")
    provider = _auto(paths, fs=fs, privlevel=1)
    assert isinstance(provider, ConfigfsTsmProvider)
    assert provider.root == paths["root"] and provider.privlevel == 1
    assert len(fs.entries) == 1 and not fs.entries[0].exists()


def test_auto_skips_configfs_without_a_provider(paths: dict[str, Path]) -> None:
    paths["root"].mkdir(parents=True)
    paths["sev_device"].parent.mkdir(parents=True)
    paths["sev_device"].touch()
    provider = _auto(paths, fs=ProbeFs(None), vmpl=2)
    assert isinstance(provider, SevGuestProvider)
    assert provider.device == paths["sev_device"] and provider.vmpl == 2


def test_auto_skips_unknown_tsm_provider(paths: dict[str, Path]) -> None:
    paths["root"].mkdir(parents=True)
    with pytest.raises(ProviderError) as info:
        _auto(paths, fs=ProbeFs("arm_cca_guest"))
    assert "arm_cca_guest" in info.value.message
    assert "simulated-snp" in (info.value.hint or "")


def test_auto_uses_sev_guest_when_configfs_is_absent(paths: dict[str, Path]) -> None:
    paths["sev_device"].parent.mkdir(parents=True)
    paths["sev_device"].touch()
    assert isinstance(_auto(paths), SevGuestProvider)


def test_auto_with_only_tdx_guest_explains_configfs(paths: dict[str, Path]) -> None:
    paths["tdx_device"].parent.mkdir(parents=True)
    paths["tdx_device"].touch()
    with pytest.raises(ProviderError) as info:
        _auto(paths)
    assert str(paths["tdx_device"]) in info.value.message
    assert "configfs-tsm" in (info.value.hint or "")


def test_auto_never_picks_a_simulator(paths: dict[str, Path]) -> None:
    with pytest.raises(ProviderError) as info:
        _auto(paths)
    assert "no TEE found" in info.value.message
    assert "simulated-snp" in (info.value.hint or "")
    assert str(paths["root"]) in info.value.message


def test_explicit_hardware_providers(paths: dict[str, Path]) -> None:
    configfs = make_provider(
        "configfs-tsm", state_dir=paths["state"], root=str(paths["root"]), privlevel=0
    )
    assert isinstance(configfs, ConfigfsTsmProvider) and configfs.root == paths["root"]
    sev = make_provider("sev-guest", state_dir=paths["state"], device=paths["sev_device"], vmpl=1)
    assert isinstance(sev, SevGuestProvider) and sev.vmpl == 1
    tdx = make_provider("tdx-guest", state_dir=paths["state"], tdreport_only=True)
    assert isinstance(tdx, TdxGuestProvider) and tdx.tdreport_only
    assert tdx.device == Path("/dev/tdx_guest")
    default = make_provider("configfs-tsm", state_dir=paths["state"])
    assert isinstance(default, ConfigfsTsmProvider)
    assert default.root == Path("/sys/kernel/config/tsm/report")


def test_simulated_providers_are_explicit(paths: dict[str, Path]) -> None:
    snp = make_provider("simulated-snp", state_dir=paths["state"], product="Milan")
    assert snp.name == "simulated-snp"
    tdx = make_provider("simulated-tdx", state_dir=paths["state"])
    assert tdx.name == "simulated-tdx"


def test_unknown_provider(paths: dict[str, Path]) -> None:
    with pytest.raises(ProviderError) as info:
        make_provider("sgx", state_dir=paths["state"])
    for name in PROVIDER_NAMES:
        assert name in (info.value.hint or "")


@pytest.mark.parametrize(
    ("name", "options", "words"),
    [
        ("sev-guest", {"privlevel": 1}, "does not take"),
        ("simulated-tdx", {"product": "Genoa"}, "does not take"),
        ("sev-guest", {"vmpl": "0"}, "must be an integer"),
        ("sev-guest", {"vmpl": True}, "must be an integer"),
        ("sev-guest", {"vmpl": 9}, "vmpl must be 0-3"),
        ("configfs-tsm", {"root": 3}, "must be a path"),
        ("configfs-tsm", {"root": ""}, "must be a path"),
        ("configfs-tsm", {"privlevel": 7}, "privlevel must be 0-3"),
        ("tdx-guest", {"tdreport_only": "yes"}, "true or false"),
        ("simulated-snp", {"product": ""}, "non-empty string"),
    ],
)
def test_bad_options(
    paths: dict[str, Path], name: str, options: dict[str, object], words: str
) -> None:
    with pytest.raises(ProviderError) as info:
        make_provider(name, state_dir=paths["state"], **options)
    assert words in info.value.message


def test_every_configurable_provider_is_known(paths: dict[str, Path]) -> None:
    """The names the configuration (and the NixOS module) accept are the names detect builds."""
    for name in get_args(ProviderName):
        try:
            make_provider(name, state_dir=paths["state"])
        except ProviderError as error:  # e.g. no TEE here: but never an unknown name
            assert not error.message.startswith("unknown evidence provider"), name
