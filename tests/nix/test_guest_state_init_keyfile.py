"""scripts/guest/cairn-state-init with a key file (``--key-source snp-derived`` and ``broker``)
against file-backed LUKS2 volumes: the key `cairn-agent state-key` obtained opens the only keyslot,
a token records the source, and every later boot checks both. A key that no longer opens the volume
(an update changed a field an SNP-derived key is bound to; the broker released another secret) is
refused with the volume left byte for byte as it was; so is a volume of another key source. The
``tpm`` source is tested unchanged in test_guest_state_init.py; what cannot run here (mapping the
volume) is said there."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes.swtpm import Tpm, running_swtpm
from guest_scripts import (
    GUEST_SCRIPTS,
    TEST_PBKDF,
    blank_volume,
    digest,
    header,
    must,
    only_token,
    opens_with,
    probe,
    require_tools,
    run,
    tcti,
)

STATE_INIT = GUEST_SCRIPTS / "cairn-state-init"
SOURCES = ("snp-derived", "broker")


@pytest.fixture(autouse=True)
def _tools() -> None:
    require_tools("cryptsetup", "blkid", "jq")


@pytest.fixture
def volume(tmp_path: Path) -> Path:
    return blank_volume(tmp_path / "state.img")


def key_file(tmp_path: Path, name: str = "key", data: bytes | None = None) -> Path:
    path = tmp_path / name
    path.write_bytes(os.urandom(64) if data is None else data)
    path.chmod(0o600)
    return path


def state_init(device: Path, *args: str | Path):
    return run(STATE_INIT, "--device", device, *args)


def with_key(device: Path, source: str, key: Path, key_id: str = "test key id"):
    return state_init(device, "--key-source", source, "--key-file", key, "--key-id", key_id)


@pytest.mark.parametrize("source", SOURCES)
def test_first_boot_seals_with_the_key_file(source: str, volume: Path, tmp_path: Path) -> None:
    key = key_file(tmp_path)
    done = with_key(volume, source, key, "root=vcek fields=measurement")
    assert done.returncode == 0, done.stderr
    fields = probe(volume)
    assert (fields["TYPE"], fields["VERSION"]) == ("crypto_LUKS", "2"), fields
    assert (fields["LABEL"], fields["SUBSYSTEM"]) == ("cairn-state", "cairn-sealed"), fields
    keyslots = header(volume)["keyslots"]
    assert isinstance(keyslots, dict) and list(keyslots) == ["0"]
    token = only_token(volume)
    assert token["type"] == f"cairn-{source}"
    assert token["keyslots"] == ["0"]
    assert token["cairn-key-id"] == "root=vcek fields=measurement"
    assert opens_with(volume, key.read_bytes(), tmp_path)
    assert not opens_with(volume, os.urandom(64), tmp_path)


@pytest.mark.parametrize("source", SOURCES)
def test_later_boots_with_the_same_key_change_nothing(
    source: str, volume: Path, tmp_path: Path
) -> None:
    key = key_file(tmp_path)
    assert with_key(volume, source, key).returncode == 0
    before = digest(volume)
    again = with_key(volume, source, key)
    assert again.returncode == 0, again.stderr
    assert "nothing to do" in again.stderr
    assert digest(volume) == before


def test_a_changed_derived_key_is_refused_and_nothing_is_changed(
    volume: Path, tmp_path: Path
) -> None:
    """An update that changes a field the key is bound to: refused, never formatted again."""
    assert with_key(volume, "snp-derived", key_file(tmp_path), "fields=measurement").returncode == 0
    before = digest(volume)
    other = key_file(tmp_path, "after-update")
    done = with_key(volume, "snp-derived", other, "fields=measurement")
    assert done.returncode == 1
    assert "REFUSED: the derived key does not open" in done.stderr
    assert "launch measurement after an update" in done.stderr
    assert "Nothing was changed" in done.stderr
    assert digest(volume) == before


def test_another_secret_from_the_broker_is_refused(volume: Path, tmp_path: Path) -> None:
    assert with_key(volume, "broker", key_file(tmp_path), "state-key").returncode == 0
    before = digest(volume)
    done = with_key(volume, "broker", key_file(tmp_path, "other"), "state-key")
    assert done.returncode == 1
    assert "the key from the broker does not open" in done.stderr
    assert digest(volume) == before


def test_a_volume_of_another_key_source_is_refused(volume: Path, tmp_path: Path) -> None:
    key = key_file(tmp_path)
    assert with_key(volume, "broker", key).returncode == 0
    before = digest(volume)
    done = with_key(volume, "snp-derived", key)
    assert done.returncode == 1
    assert "sealed with key source 'broker'" in done.stderr
    assert "asks for snp-derived" in done.stderr
    # And the tpm source (no key file) refuses it too instead of touching it.
    tpm_done = state_init(volume)
    assert tpm_done.returncode == 1
    assert "sealed with key source 'broker'" in tpm_done.stderr
    assert digest(volume) == before


@pytest.fixture
def tpm(tmp_path: Path) -> Iterator[Tpm]:
    require_tools("systemd-cryptenroll", "tpm2_unseal")
    workdir = tmp_path / "tpm"
    workdir.mkdir()
    with running_swtpm(workdir) as tpm:
        yield tpm


def test_a_tpm_sealed_volume_is_refused_by_a_key_file_source(
    tpm: Tpm, volume: Path, tmp_path: Path
) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    sealed = run(
        STATE_INIT, "--device", volume, "--tpm2-device", tcti(tpm),
        env={**os.environ, "TMPDIR": str(keys)},
    )  # fmt: skip
    assert sealed.returncode == 0, sealed.stderr
    before = digest(volume)
    done = with_key(volume, "snp-derived", key_file(tmp_path))
    assert done.returncode == 1
    assert "sealed with key source 'systemd-tpm2'" in done.stderr
    assert digest(volume) == before


@pytest.mark.parametrize("source", SOURCES)
def test_an_interrupted_first_boot_is_formatted_again(
    source: str, volume: Path, tmp_path: Path
) -> None:
    """A crash after luksFormat (marker still pending): formatted again with the current key."""
    stale = key_file(tmp_path, "stale")
    must(
        "cryptsetup", "luksFormat", "--batch-mode", "--type", "luks2", "--label", "cairn-state",
        "--subsystem", "cairn-pending", *TEST_PBKDF, "--key-file", stale, volume,
    )  # fmt: skip
    old_uuid = probe(volume)["UUID"]
    key = key_file(tmp_path)
    done = with_key(volume, source, key)
    assert done.returncode == 0, done.stderr
    assert "stopped before sealing" in done.stderr
    assert probe(volume)["UUID"] != old_uuid
    assert opens_with(volume, key.read_bytes(), tmp_path)
    assert not opens_with(volume, stale.read_bytes(), tmp_path)


def test_a_missing_key_file_fails_and_leaves_a_blank_device_blank(
    volume: Path, tmp_path: Path
) -> None:
    done = with_key(volume, "broker", tmp_path / "never-written")
    assert done.returncode == 1
    assert "missing or unreadable (did cairn-agent state-key run?)" in done.stderr
    assert probe(volume) == {}


def test_a_short_key_file_is_refused(volume: Path, tmp_path: Path) -> None:
    done = with_key(volume, "snp-derived", key_file(tmp_path, data=b"too short"))
    assert done.returncode == 1
    assert "holds 9 bytes; expected 32 to 1024" in done.stderr
    assert probe(volume) == {}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--key-source", "broker"), "--key-source broker needs --key-file"),
        (("--key-source", "vault", "--key-file", "/k"), "must be tpm, snp-derived or broker"),
        (("--key-source", "broker", "--key-file", "k"), "--key-file must be an absolute path"),
        (("--key-file", "/k"), "--key-file is for --key-source snp-derived or broker"),
    ],
)
def test_usage_errors(volume: Path, args: tuple[str, ...], message: str) -> None:
    done = state_init(volume, *args)
    assert done.returncode == 2
    assert message in done.stderr
    assert probe(volume) == {}
