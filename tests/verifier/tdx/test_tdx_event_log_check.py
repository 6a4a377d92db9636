"""``cairn verify tdx --event-log`` and the ``rtmr-event-log`` check.

The real vectors: dstack's TDX attestation (a real quote v4 and the JSON event log of its
firmware's events) and the same events as a binary CCEL (tests/fakes/ccel.py). The real quote's
signatures verify, but no collateral at hand covers it at a time its PCK is valid, so its runs
end in exit 3 for that reason alone; a simulated TD whose firmware "measured" the real CCEL (its
RTMRs are the log's replay, equal to the real quote's RTMR[0]-[2]) gives a quote that verifies
end to end under ``--trust-simulated-root``.
"""

from __future__ import annotations

import base64
import json
import struct
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fakes.ccel import DstackAttestation, dstack_attestation, dstack_ccel
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cairn_agent.tee.simulated_tdx import SimulatedTdxProvider
from cairn_verifier.checks import CheckLog, Outcome
from cairn_verifier.cli.main import main
from cairn_verifier.eventlog import parse_ccel, parse_dstack_event_log
from cairn_verifier.tdx.event_log import check_rtmr_event_log
from cairn_verifier.tdx.quote import parse_quote
from cairn_verifier.tdx.verify import TdxVerifyRequest, verify_tdx_quote

REPORT_DATA = bytes(range(64))
REAL_COLLATERAL = "tdx/dcap-qvl/sample/tdx_quote_collateral.json"
REAL_AT = "2025-06-19T10:32:27Z"


@dataclass(frozen=True)
class SimulatedTd:
    """A simulated TD whose RTMRs are the replay of the real CCEL, with its files."""

    quote: Path
    collateral: Path
    root: Path
    ccel: Path
    dstack_log: Path

    def verify(self, *extra: str) -> list[str]:
        return [
            "verify",
            "tdx",
            str(self.quote),
            "--collateral",
            str(self.collateral),
            "--trust-simulated-root",
            str(self.root),
            "--report-data",
            REPORT_DATA.hex(),
            "--json",
            *extra,
        ]


@pytest.fixture(scope="module")
def real(testdata: Path) -> DstackAttestation:
    return dstack_attestation(testdata)


@pytest.fixture(scope="module")
def td(testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> SimulatedTd:
    directory = tmp_path_factory.mktemp("td")
    ccel = directory / "CCEL"
    ccel.write_bytes(dstack_ccel(testdata))
    provider = SimulatedTdxProvider(directory / "state", ccel=ccel)
    quote = directory / "quote.bin"
    quote.write_bytes(provider.get_evidence(REPORT_DATA).report)
    collateral, root = directory / "collateral.json", directory / "root.pem"
    provider.export_collateral(collateral)
    provider.export_trust_root(root)
    dstack_log = directory / "dstack.json"
    dstack_log.write_text(dstack_attestation(testdata).event_log_json)
    return SimulatedTd(quote, collateral, root, ccel, dstack_log)


def dstack_kernel_authenticode(real: DstackAttestation) -> str:
    """``kernel_authenticode`` of the CBOR measurement in dstack's ``vm_config``: a 48-byte
    CBOR byte string (``58 30``) after its key."""
    vm_config = json.loads(json.loads(real.path.read_text())["vm_config"])
    cbor = base64.b64decode(vm_config["tdx_measurement"]["measurement"])
    key = b"kernel_authenticode"
    start = cbor.index(key) + len(key)
    assert cbor[start : start + 2] == b"\x58\x30"
    return cbor[start + 2 : start + 50].hex()


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    code = main(argv)
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else {}


def _check(doc: dict[str, Any]) -> dict[str, Any]:
    (check,) = [c for c in doc["checks"] if c["name"] == "rtmr-event-log"]
    return check


def test_the_simulated_tds_rtmrs_are_the_real_quotes(
    td: SimulatedTd, real: DstackAttestation
) -> None:
    """The CCEL's replay is the real TD's RTMR[0]-[2] (the fake is the real boot's log)."""
    rtmrs = parse_quote(td.quote.read_bytes()).body.rtmrs
    assert rtmrs[:3] == real.quote.body.rtmrs[:3]
    assert rtmrs[3] == bytes(48)  # the CCEL extends no RTMR[3]


@pytest.mark.parametrize("log", ["ccel", "ccel-base64", "dstack"])
def test_a_log_that_replays_verifies_and_describes_the_boot(
    td: SimulatedTd,
    real: DstackAttestation,
    log: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = {"ccel": td.ccel, "dstack": td.dstack_log}.get(log)
    if path is None:
        path = tmp_path / "CCEL.b64"
        path.write_bytes(base64.b64encode(td.ccel.read_bytes()))
    code, doc = _run(td.verify("--event-log", str(path)), capsys)
    assert code == 0, [c for c in doc["checks"] if c["outcome"] == "fail"]
    check = _check(doc)
    assert check["outcome"] == "pass"
    assert check["summary"].startswith(
        "the event log replays to the quote's RTMR[0], RTMR[1], RTMR[2]"
    )
    boot = doc["claims"]["measured_boot"]
    assert boot["rtmrs"] == ["RTMR[0]", "RTMR[1]", "RTMR[2]"]
    assert boot["summary"]["kernels"] == ["(image without a file path: loaded from memory)"]
    # the kernel's Authenticode SHA-384: dstack-mr's kernel_authenticode (PROVENANCE.md)
    assert boot["kernel_sha384"] == [dstack_kernel_authenticode(real)]
    if log == "dstack":  # its RTMR[3] events carry no digest
        assert "so not replayed: RTMR[3]" in check["summary"]
    else:
        assert "not described by the log: RTMR[3]" in check["summary"]


def test_the_real_quote_and_log_replay(
    testdata: Path, real: DstackAttestation, capsys: pytest.CaptureFixture[str]
) -> None:
    """The real quote is authentic, so its RTMRs count: its real log replays to them. (The run
    fails only because no collateral here is for its platform at a time its PCK is valid.)"""
    argv = ["verify", "tdx", str(real.path), "--event-log", str(real.path), "--json"]
    argv += ["--collateral", str(testdata / REAL_COLLATERAL), "--at", REAL_AT]
    code, doc = _run(argv, capsys)
    failed = {c["name"] for c in doc["checks"] if c["outcome"] == "fail"}
    assert (code, failed) == (3, {"validity", "tcb-info-matches-pck"})
    assert _check(doc)["outcome"] == "pass"
    assert doc["claims"]["measured_boot"]["rtmrs"] == ["RTMR[0]", "RTMR[1]", "RTMR[2]"]


def test_a_tampered_digest_fails_naming_the_rtmr(
    td: SimulatedTd, real: DstackAttestation, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = json.loads(real.event_log_json)
    initrd = next(e for e in events if e["imr"] == 2 and e["event_type"] == 6)
    initrd["digest"] = "00" + initrd["digest"][2:]
    path = tmp_path / "tampered.json"
    path.write_text(json.dumps(events))
    code, doc = _run(td.verify("--event-log", str(path)), capsys)
    check = _check(doc)
    assert (code, check["outcome"], check["exit_code"]) == (1, "fail", 1)
    assert check["summary"].startswith("the event log does not replay to the quote's RTMR[2]: ")
    assert "which of its 2 events diverges cannot be known" in check["summary"]
    assert check["expected"].startswith("RTMR[2] = 4c1b739e")
    assert "measured_boot" not in doc["claims"]


def test_an_altered_event_is_named_when_the_log_shows_it(
    td: SimulatedTd, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A separator whose digest is not the SHA-384 of its four bytes: the first diverging event
    is known, and named."""
    raw = bytearray(td.ccel.read_bytes())
    log = parse_ccel(bytes(raw))
    separator = next(
        e for e in log.events if e.register == 1 and e.type_name == "EV_SEPARATOR" and e.data
    )
    assert separator.offset is not None
    digest_at = separator.offset + 4 + 4 + 4 + 2  # MR index, type, digest count, algorithm
    raw[digest_at] ^= 0x01
    path = tmp_path / "CCEL"
    path.write_bytes(bytes(raw))
    code, doc = _run(td.verify("--event-log", str(path)), capsys)
    check = _check(doc)
    assert code == 1
    assert check["summary"] == (
        "the event log does not replay to the quote's RTMR[1]: event "
        f"{separator.number} (EV_SEPARATOR) on RTMR[1] carries a digest that is not the SHA-384 "
        "of its own data: it was altered"
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x00" * 7, "event log"),
        (b"[1]", "event 0"),
        (b"{}", "event_log"),
    ],
)
def test_an_unreadable_log_exits_10_before_verifying(
    td: SimulatedTd,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: bytes,
    message: str,
) -> None:
    path = tmp_path / "log"
    path.write_bytes(content)
    code, doc = _run(td.verify("--event-log", str(path)), capsys)
    assert (code, doc["error"]["type"]) == (10, "ParseError")
    assert "checks" not in doc  # nothing was verified
    assert message in json.dumps(doc["error"])


def test_a_tpm_log_is_refused(
    td: SimulatedTd, testdata: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keylime = testdata / "eventlog/keylime/mb_log.b64"
    code, doc = _run(td.verify("--event-log", str(keylime)), capsys)
    error = json.dumps(doc["error"])
    assert code == 10
    assert "extends TPM PCRs, not a TD's RTMRs" in error and "tpm-event-log" in error


def test_several_quotes_with_one_log_is_a_usage_error(
    td: SimulatedTd, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = td.verify("--event-log", str(td.ccel))
    argv.insert(3, str(td.quote))
    code, doc = _run(argv, capsys)
    assert code == 64 and "--event-log belongs to one quote" in json.dumps(doc["error"])


def test_a_quote_that_is_not_authentic_replays_nothing(
    td: SimulatedTd, real: DstackAttestation
) -> None:
    """Without an authentic quote (here: Intel's pinned root, which did not issue the simulated
    chain) no RTMR is trusted: the log is skipped, never compared."""
    result = verify_tdx_quote(
        parse_quote(td.quote.read_bytes()),
        TdxVerifyRequest(at=datetime.now(UTC), event_log=real.log),
    )
    (check,) = [c for c in result.checks if c.name == "rtmr-event-log"]
    assert check.outcome is Outcome.SKIP and "not authentic" in check.summary
    assert "measured_boot" not in result.claims


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_a_mutated_log_never_crashes(
    td: SimulatedTd, tmp_path: Path, capsys: pytest.CaptureFixture[str], data: st.DataObject
) -> None:
    """Flipped, cut or spliced bytes of a CCEL or a dstack log: a failure (1) or malformed
    input (10), or a pass when only description bytes changed — never an internal error."""
    source = data.draw(st.sampled_from([td.ccel, td.dstack_log]))
    raw = bytearray(source.read_bytes())
    for _ in range(data.draw(st.integers(1, 4))):
        kind = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        at = data.draw(st.integers(0, len(raw) - 1))
        if kind == "flip":
            raw[at] ^= 1 << data.draw(st.integers(0, 7))
        elif kind == "cut":
            del raw[at : at + data.draw(st.integers(1, 64))]
        else:
            raw[at:at] = data.draw(st.binary(min_size=1, max_size=16))
        if not raw:
            raw = bytearray(b"\x00")
    path = tmp_path / "mutated"
    path.write_bytes(bytes(raw))
    code = main(td.verify("--event-log", str(path)))
    capsys.readouterr()
    assert code in (0, 1, 10)


def test_a_mutated_integer_field_is_malformed(
    td: SimulatedTd, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An event size that runs past the log: exit 10, not a crash."""
    raw = bytearray(td.ccel.read_bytes())
    event = parse_ccel(bytes(raw)).events[1]
    assert event.offset is not None
    size_at = event.offset + 4 + 4 + 4 + 2 + 48
    raw[size_at : size_at + 4] = struct.pack("<I", 0x7FFFFFFF)
    path = tmp_path / "CCEL"
    path.write_bytes(bytes(raw))
    assert main(td.verify("--event-log", str(path))) == 10
    capsys.readouterr()


@pytest.mark.parametrize(
    ("pin", "with_log", "code", "outcome"),
    [
        ("real", True, 0, "pass"),
        ("other", True, 1, "fail"),
        ("real", False, 4, "fail"),
    ],
)
def test_the_policy_pins_the_kernel_by_its_event(
    td: SimulatedTd,
    real: DstackAttestation,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    pin: str,
    with_log: bool,
    code: int,
    outcome: str,
) -> None:
    kernel = dstack_kernel_authenticode(real) if pin == "real" else "ab" * 48
    policy = tmp_path / "policy.toml"
    policy.write_text(f'[tdx]\nkernel_sha384 = ["{kernel}"]\n')
    extra = ["--policy", str(policy)] + (["--event-log", str(td.ccel)] if with_log else [])
    got, doc = _run(td.verify(*extra), capsys)
    (check,) = [c for c in doc["checks"] if c["name"] == "kernel-sha384"]
    assert (got, check["outcome"]) == (code, outcome)
    if not with_log:
        assert check["summary"].endswith("no event log was given to show it")
    if pin == "other":
        assert check["actual"] == dstack_kernel_authenticode(real)


def test_a_kernel_pin_with_a_log_that_does_not_replay_fails_closed(
    td: SimulatedTd, real: DstackAttestation, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The log names the pinned kernel, but RTMR[1] does not replay: nothing in it is proven."""
    events = json.loads(real.event_log_json)
    action = next(e for e in events if e["imr"] == 1 and e["event_type"] == 0x80000007)
    action["digest"] = "00" * 48
    log = tmp_path / "log.json"
    log.write_text(json.dumps(events))
    policy = tmp_path / "policy.toml"
    policy.write_text(f'[tdx]\nkernel_sha384 = ["{dstack_kernel_authenticode(real)}"]\n')
    code, doc = _run(td.verify("--policy", str(policy), "--event-log", str(log)), capsys)
    outcomes = {c["name"]: (c["outcome"], c.get("exit_code")) for c in doc["checks"]}
    assert code == 1
    assert outcomes["rtmr-event-log"] == ("fail", 1)
    assert outcomes["kernel-sha384"] == ("fail", 4)


def test_a_log_of_runtime_events_only_is_skipped(td: SimulatedTd, real: DstackAttestation) -> None:
    """dstack's RTMR[3] events carry no digest: nothing in them replays, so nothing is covered
    (skipped, not passed), and no measured boot is claimed."""
    events = [e for e in json.loads(real.event_log_json) if e["imr"] == 3]
    log = parse_dstack_event_log(json.dumps(events))
    checks = CheckLog()
    assert check_rtmr_event_log(log, parse_quote(td.quote.read_bytes()), checks) is None
    (check,) = checks.checks
    assert check.outcome is Outcome.SKIP
    assert check.summary.startswith("the event log reproduces none of the quote's RTMRs")
