"""scripts/guest/cairn-state-init against file-backed LUKS2 volumes and a real swtpm.

What runs here: the whole first boot (luksFormat, systemd-cryptenroll against swtpm, wiping the
key-file slot, the header check, the sealed marker), the later boots, every interrupted first
boot, the refusals, and the unlock path up to the keyslot: the TPM unseals the token's secret and
that secret opens the keyslot (``cryptsetup open --test-passphrase``), or the TPM refuses after a
PCR change. What cannot run here: mapping the volume (device-mapper is not available in this
container), so "the filesystem mounts" is only covered by the NixOS VM test (checks.cvm-qemu).
"""

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
    extend_pcr,
    header,
    must,
    only_token,
    opens_with,
    pcr_policy_digest,
    probe,
    require_tools,
    run,
    tcti,
    unseal_passphrase,
)

STATE_INIT = GUEST_SCRIPTS / "cairn-state-init"


@pytest.fixture
def tpm(tmp_path: Path) -> Iterator[Tpm]:
    require_tools("cryptsetup", "systemd-cryptenroll", "blkid", "jq", "tpm2_unseal")
    workdir = tmp_path / "tpm"
    workdir.mkdir()
    with running_swtpm(workdir) as tpm:
        yield tpm


@pytest.fixture
def volume(tmp_path: Path) -> Path:
    return blank_volume(tmp_path / "state.img")


def state_init(device: Path, tpm_device: str, tmp_path: Path, *extra: str):
    """Run the script with its temporary key directory under ``tmp_path/keys``."""
    keys = tmp_path / "keys"
    keys.mkdir(exist_ok=True)
    env = {**os.environ, "TMPDIR": str(keys)}
    return run(STATE_INIT, "--device", device, "--tpm2-device", tpm_device, *extra, env=env)


def assert_sealed(device: Path, tpm: Tpm, tmp_path: Path) -> None:
    """One keyslot, held by one systemd-tpm2 token on PCR 7 whose secret opens it; marked."""
    fields = probe(device)
    assert (fields["TYPE"], fields["VERSION"]) == ("crypto_LUKS", "2"), fields
    assert (fields["LABEL"], fields["SUBSYSTEM"]) == ("cairn-state", "cairn-sealed"), fields
    keyslots = header(device)["keyslots"]
    assert isinstance(keyslots, dict)
    token = only_token(device)
    assert token["type"] == "systemd-tpm2"
    assert token["tpm2-pcrs"] == [7]
    assert token["keyslots"] == list(keyslots), (token["keyslots"], keyslots)
    # The token's policy is PolicyPCR over PCR 7's current value, as the TPM computes it.
    assert token["tpm2-policy-hash"] == pcr_policy_digest(tpm)
    assert opens_with(device, unseal_passphrase(tpm, device), tmp_path)
    # The random first-boot key never outlives the run.
    assert list((tmp_path / "keys").iterdir()) == []


def test_first_boot_seals_a_blank_volume(tpm: Tpm, volume: Path, tmp_path: Path) -> None:
    done = state_init(volume, tcti(tpm), tmp_path)
    assert done.returncode == 0, done.stderr
    assert "first boot" in done.stderr
    assert_sealed(volume, tpm, tmp_path)


def test_later_boots_change_nothing(tpm: Tpm, volume: Path, tmp_path: Path) -> None:
    assert state_init(volume, tcti(tpm), tmp_path).returncode == 0
    before = digest(volume)
    again = state_init(volume, tcti(tpm), tmp_path)
    assert again.returncode == 0, again.stderr
    assert "nothing to do" in again.stderr
    assert digest(volume) == before


def test_a_changed_pcr_locks_the_volume_and_nothing_is_recreated(
    tpm: Tpm, volume: Path, tmp_path: Path
) -> None:
    assert state_init(volume, tcti(tpm), tmp_path).returncode == 0
    before = digest(volume)
    extend_pcr(tpm, 7, b"cairn-test: unexpected boot component")
    with pytest.raises(AssertionError, match=r"policy check failed|0x99[dD]"):
        unseal_passphrase(tpm, volume)
    # The next boot's state-init still recognises its volume: it neither reformats nor unlocks.
    again = state_init(volume, tcti(tpm), tmp_path)
    assert again.returncode == 0, again.stderr
    assert digest(volume) == before


def _format_pending(device: Path, tmp_path: Path) -> Path:
    """What the first boot's luksFormat leaves: a cairn-pending LUKS2 header with a key slot."""
    key = tmp_path / "interrupted.key"
    key.write_bytes(os.urandom(64))
    key.chmod(0o600)
    must(
        "cryptsetup", "luksFormat", "--batch-mode", "--type", "luks2", "--label", "cairn-state",
        "--subsystem", "cairn-pending", *TEST_PBKDF, "--key-file", key, device,
    )  # fmt: skip
    return key


def _enroll(device: Path, key: Path, tpm: Tpm, *wipe: str) -> None:
    must(
        "systemd-cryptenroll", f"--unlock-key-file={key}", f"--tpm2-device={tcti(tpm)}",
        "--tpm2-pcrs=7", *wipe, device,
    )  # fmt: skip


@pytest.mark.parametrize("stopped_after", ["format", "enroll", "wipe"])
def test_an_interrupted_first_boot_is_formatted_again(
    tpm: Tpm, volume: Path, tmp_path: Path, stopped_after: str
) -> None:
    """Each on-disk state a crash can leave between luksFormat and the sealed marker."""
    key = _format_pending(volume, tmp_path)
    if stopped_after == "enroll":
        _enroll(volume, key, tpm)  # token added, key-file slot still there
    elif stopped_after == "wipe":
        _enroll(volume, key, tpm, "--wipe-slot=password")  # sealed shape, marker not yet set
    old_uuid = probe(volume)["UUID"]
    done = state_init(volume, tcti(tpm), tmp_path)
    assert done.returncode == 0, done.stderr
    assert "stopped before sealing" in done.stderr
    assert probe(volume)["UUID"] != old_uuid, "the pending volume was not formatted again"
    assert not opens_with(volume, key.read_bytes(), tmp_path), "the old key still opens it"
    assert_sealed(volume, tpm, tmp_path)


def test_no_tpm_leaves_the_volume_pending_and_the_next_boot_recovers(
    tpm: Tpm, volume: Path, tmp_path: Path
) -> None:
    absent = "swtpm:port=1"  # nothing listens there: enrolment fails after luksFormat
    failed = state_init(volume, absent, tmp_path)
    assert failed.returncode != 0
    assert probe(volume)["SUBSYSTEM"] == "cairn-pending"
    assert list((tmp_path / "keys").iterdir()) == [], "the random key outlived the failed run"
    done = state_init(volume, tcti(tpm), tmp_path)
    assert done.returncode == 0, done.stderr
    assert_sealed(volume, tpm, tmp_path)


def _foreign_luks2(device: Path, tmp_path: Path) -> None:
    key = tmp_path / "foreign.key"
    key.write_bytes(b"someone else's passphrase")
    must("cryptsetup", "luksFormat", "--batch-mode", "--type", "luks2", *TEST_PBKDF,
         "--key-file", key, device)  # fmt: skip


def _luks1(device: Path, tmp_path: Path) -> None:
    key = tmp_path / "luks1.key"
    key.write_bytes(b"a LUKS1 passphrase")
    must("cryptsetup", "luksFormat", "--batch-mode", "--type", "luks1", *TEST_PBKDF,
         "--key-file", key, device)  # fmt: skip


def _ext4(device: Path, tmp_path: Path) -> None:
    must("mkfs.ext4", "-q", "-F", device)


@pytest.mark.parametrize(
    ("prepare", "reason"),
    [
        (_foreign_luks2, "did not create"),
        (_luks1, "LUKS1"),
        (_ext4, "ext4 signature"),
    ],
    ids=["foreign-luks2", "luks1", "ext4"],
)
def test_a_volume_this_guest_did_not_create_is_refused_untouched(
    tpm: Tpm, volume: Path, tmp_path: Path, prepare, reason: str
) -> None:
    prepare(volume, tmp_path)
    before = digest(volume)
    done = state_init(volume, tcti(tpm), tmp_path)
    assert done.returncode == 1
    assert "REFUSED" in done.stderr and reason in done.stderr, done.stderr
    assert digest(volume) == before


def test_a_sealed_volume_with_an_added_passphrase_is_refused(
    tpm: Tpm, volume: Path, tmp_path: Path
) -> None:
    assert state_init(volume, tcti(tpm), tmp_path).returncode == 0
    passphrase = tmp_path / "unsealed"
    passphrase.write_bytes(unseal_passphrase(tpm, volume))
    extra = tmp_path / "extra"
    extra.write_bytes(b"a passphrase someone added later")
    must("cryptsetup", "luksAddKey", "--batch-mode", *TEST_PBKDF, "--key-file", passphrase,
         volume, extra)  # fmt: skip
    before = digest(volume)
    done = state_init(volume, tcti(tpm), tmp_path)
    assert done.returncode == 1
    assert "no longer has exactly one keyslot" in done.stderr, done.stderr
    assert digest(volume) == before


def test_a_changed_pcr_selection_is_reported_not_resealed(
    tpm: Tpm, volume: Path, tmp_path: Path
) -> None:
    assert state_init(volume, tcti(tpm), tmp_path).returncode == 0
    before = digest(volume)
    done = state_init(volume, tcti(tpm), tmp_path, "--pcrs", "7+14")
    assert done.returncode == 0, done.stderr
    assert "sealed to PCRs 7, the configuration asks for 7+14" in done.stderr
    assert digest(volume) == before


@pytest.mark.parametrize(
    "arguments",
    [
        [],
        ["--device", "relative.img"],
        ["--device", "/dev/null", "--pcrs", "7;rm"],
        ["--device"],
        ["--unknown"],
    ],
)
def test_usage_errors_exit_2(arguments: list[str]) -> None:
    done = run(STATE_INIT, *arguments)
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "usage: cairn-state-init" in done.stderr
