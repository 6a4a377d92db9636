"""``cairn-agent state-key``: the snp-derived key from the simulated firmware, as a process, sealing
a file-backed volume with ``cairn-state-init`` and opening it again on a later boot (the same chip
and launch give the same key) while an updated launch measurement gets another key that the
script refuses; and the broker client's back-off: what it retries and what it does not."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from cairn_agent.broker_client import (
    BrokerClient,
    BrokerRefusedError,
    BrokerUnavailableError,
    fetch_with_backoff,
)
from cairn_agent.tee.derived_key import DerivedKeyRequest, GuestField, state_volume_key
from cairn_agent.tee.simulated_snp import LAUNCH_DESCRIPTION, SimulatedSnpProvider

CAIRN_AGENT = Path(sys.executable).parent / "cairn-agent"
STATE_INIT = Path(__file__).resolve().parents[2] / "scripts" / "guest" / "cairn-state-init"
SYSTEM = "/nix/store/0c1i4g9kq7bhm8lcjj8h4pyf1r6b6nh9-nixos-system-cairn-test-25.11"


def _config(tmp_path: Path) -> Path:
    system = tmp_path / "current-system"
    system.symlink_to(SYSTEM)
    config = tmp_path / "agent.toml"
    config.write_text(
        f'[tee]\nprovider = "simulated-snp"\n[tpm]\nenabled = false\n'
        f'[system]\npath = "{system}"\n[state]\ndirectory = "{tmp_path / "state"}"\n'
    )
    return config


def _state_key(config: Path, output: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CAIRN_AGENT), "state-key", "--config", str(config), "--source", "snp-derived",
         "-o", str(output), *extra],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def _seal(volume: Path, key: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(STATE_INIT), "--device", str(volume), "--key-source", "snp-derived",
         "--key-file", str(key), "--key-id", "fields=measurement+guest-policy"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_a_derived_state_key_seals_and_reopens_a_volume(tmp_path: Path) -> None:
    config = _config(tmp_path)
    first = _state_key(config, tmp_path / "boot1.key")
    assert first.returncode == 0, first.stderr
    assert "fields=guest-policy+measurement" in first.stderr
    key = (tmp_path / "boot1.key").read_bytes()
    # The key is HKDF of the simulated firmware's derived key for the default request.
    provider = SimulatedSnpProvider(tmp_path / "state", "Genoa")
    request = DerivedKeyRequest(fields=GuestField.MEASUREMENT | GuestField.GUEST_POLICY)
    assert key == state_volume_key(provider.derived_key(request), request)
    volume = tmp_path / "state.img"
    with volume.open("wb") as handle:
        handle.truncate(32 * 1024 * 1024)
    assert _seal(volume, tmp_path / "boot1.key").returncode == 0
    # Next boot: the same chip and launch derive the same key; the volume is recognised.
    assert _state_key(config, tmp_path / "boot2.key").returncode == 0
    assert (tmp_path / "boot2.key").read_bytes() == key
    again = _seal(volume, tmp_path / "boot2.key")
    assert again.returncode == 0 and "nothing to do" in again.stderr


def test_an_update_bound_by_measurement_gets_another_key(tmp_path: Path) -> None:
    """What docs/trust-model.md says about updates: a measurement-bound key changes with the
    image, a family-and-SVN-bound one does not (the simulated firmware stands in for the AMD-SP)."""
    old = SimulatedSnpProvider(tmp_path / "chip", "Genoa", family_id=b"F" * 16, guest_svn=1)
    new = SimulatedSnpProvider(
        tmp_path / "chip", "Genoa", launch_description=LAUNCH_DESCRIPTION + b" v2",
        family_id=b"F" * 16, guest_svn=2,
    )  # fmt: skip
    by_measurement = DerivedKeyRequest(fields=GuestField.MEASUREMENT)
    by_family = DerivedKeyRequest(fields=GuestField.FAMILY_ID | GuestField.GUEST_SVN, guest_svn=1)
    assert old.derived_key(by_measurement) != new.derived_key(by_measurement)
    assert old.derived_key(by_family) == new.derived_key(by_family)


def test_bad_fields_and_a_tdx_guest_are_usage_errors(tmp_path: Path) -> None:
    config = _config(tmp_path)
    bad = _state_key(config, tmp_path / "k", "--fields", "measurement,host-data")
    assert bad.returncode == 64 and "unknown guest field 'host-data'" in bad.stderr
    tdx = tmp_path / "tdx.toml"
    tdx.write_text(config.read_text().replace("simulated-snp", "simulated-tdx"))
    refused = _state_key(tdx, tmp_path / "k")
    assert refused.returncode == 64 and "use the broker key source" in refused.stderr
    assert not (tmp_path / "k").exists()


def test_backoff_retries_what_may_pass_and_stops_on_refusals() -> None:
    waits: list[float] = []
    calls = iter([BrokerUnavailableError("503"), BrokerUnavailableError("reset"), {"k": b"v"}])

    def flaky() -> dict[str, bytes]:
        outcome = next(calls)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert fetch_with_backoff(flaky, attempts=5, sleep=waits.append) == {"k": b"v"}
    assert waits == [1.0, 2.0]

    def refused() -> dict[str, bytes]:
        raise BrokerRefusedError("403 policy-refused: measurement …")

    with pytest.raises(BrokerRefusedError):
        fetch_with_backoff(refused, attempts=5, sleep=waits.append)
    assert waits == [1.0, 2.0]

    def down() -> dict[str, bytes]:
        raise BrokerUnavailableError("connection refused")

    waits.clear()
    with pytest.raises(BrokerUnavailableError, match="gave up after 9 attempts"):
        fetch_with_backoff(down, attempts=9, sleep=waits.append)
    assert waits == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]


def test_backoff_waits_at_least_the_brokers_retry_after() -> None:
    waits: list[float] = []
    calls = iter(
        [
            BrokerUnavailableError("429 rate-limited", retry_after=30.0),
            BrokerUnavailableError("429 rate-limited", retry_after=1.0),  # the back-off is longer
            BrokerUnavailableError("429 rate-limited", retry_after=3600.0),  # capped
            BrokerUnavailableError("503"),
            {"k": b"v"},
        ]
    )

    def limited() -> dict[str, bytes]:
        outcome = next(calls)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert fetch_with_backoff(limited, attempts=9, sleep=waits.append) == {"k": b"v"}
    assert waits == [30.0, 2.0, 60.0, 8.0]


@pytest.mark.parametrize(
    "url", ["http://broker.example:8443", "ftp://127.0.0.1", "https://", "broker.example"]
)
def test_plain_http_only_on_loopback(url: str) -> None:
    with pytest.raises(ValueError, match="broker URL"):
        BrokerClient(url)


def _chip_config(tmp_path: Path, launch: Path) -> Path:
    """As cvm-qemu with keySource snp-derived: the chip outside the agent's state directory, the
    launch measurement covering a file the host sets."""
    config = _config(tmp_path)
    text = config.read_text().replace(
        '[tee]\nprovider = "simulated-snp"\n',
        f'[tee]\nprovider = "simulated-snp"\nsimulated_directory = "{tmp_path / "chip"}"\n'
        f'simulated_launch_inputs = ["{launch}"]\n',
    )
    config.write_text(text)
    return config


def test_the_chip_lives_in_its_own_directory_and_the_launch_changes_the_key(
    tmp_path: Path,
) -> None:
    launch = tmp_path / "product_version"
    launch.write_text("cairn-vm-launch-a\n")
    config = _chip_config(tmp_path, launch)
    first = _state_key(config, tmp_path / "a.key")
    assert first.returncode == 0, first.stderr
    assert (tmp_path / "chip" / "simulated-snp-genoa" / "chip_secret.hex").is_file()
    assert not (tmp_path / "state").exists()  # the agent's state (the volume) is not touched
    again = _state_key(config, tmp_path / "a-again.key")
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "a.key").read_bytes() == (tmp_path / "a-again.key").read_bytes()
    launch.write_text("cairn-vm-launch-b\n")
    other = _state_key(config, tmp_path / "b.key")
    assert other.returncode == 0, other.stderr
    assert (tmp_path / "b.key").read_bytes() != (tmp_path / "a.key").read_bytes()


def test_the_launch_inputs_are_the_simulated_measurement(tmp_path: Path) -> None:
    from cairn_agent.tee.simulated_snp import launch_description

    launch = tmp_path / "product_version"
    launch.write_text("cairn-vm-launch-a\n")
    described = launch_description([launch])
    assert described == (
        LAUNCH_DESCRIPTION
        + b"\0"
        + str(launch).encode()
        + b"\0"
        + hashlib.sha384(b"cairn-vm-launch-a\n").digest()
    )
    assert launch_description([]) == LAUNCH_DESCRIPTION
    provider = SimulatedSnpProvider(tmp_path / "chip", launch_description=described)
    assert provider.measurement == hashlib.sha384(described).digest()


def test_a_missing_or_huge_launch_input_is_refused(tmp_path: Path) -> None:
    missing = tmp_path / "absent"
    config = _chip_config(tmp_path, missing)
    done = _state_key(config, tmp_path / "k.key")
    assert done.returncode != 0
    assert f"cannot read the launch input {missing}" in done.stderr
    assert not (tmp_path / "k.key").exists()
    from cairn_agent.tee.base import ProviderError
    from cairn_agent.tee.simulated_snp import MAX_LAUNCH_INPUT, launch_description

    huge = tmp_path / "huge"
    huge.write_bytes(b"x" * (MAX_LAUNCH_INPUT + 1))
    with pytest.raises(ProviderError, match="over"):
        launch_description([huge])
