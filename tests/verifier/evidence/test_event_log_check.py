"""``tpm-event-log``: a bundle's TCG event log is replayed against the PCRs its verified quote
covers. The TPM is a real swtpm whose PCRs were extended, event by event, with a real CentOS
boot's event log (keylime's test data); the agent reads that log as the firmware's and quotes
PCRs 0-7 and 16, as Cairn's agent does by default."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fakes.agent_server import AgentBundle, agent_config
from fakes.event_logs import extend_pcrs, keylime_log

from cairn_agent.config import DEFAULT_PCRS
from cairn_agent.main import build_state
from cairn_agent.swtpm import running_swtpm
from cairn_verifier.api import dump_evidence
from cairn_verifier.checks import Check, Outcome, VerificationResult
from cairn_verifier.errors import ExitCode
from cairn_verifier.eventlog import parse_tcg_log


def _check(result: VerificationResult, name: str) -> Check:
    return next(c for c in result.checks if c.name == name)


@pytest.fixture(scope="module")
def measured_bundle(
    tmp_path_factory: pytest.TempPathFactory, testdata: Path
) -> Iterator[AgentBundle]:
    workdir = tmp_path_factory.mktemp("measured-agent")
    raw_log = keylime_log(testdata)
    log_file = workdir / "binary_bios_measurements"
    log_file.write_bytes(raw_log)
    with running_swtpm(workdir / "swtpm") as swtpm:
        extend_pcrs(swtpm.tcti, raw_log)
        config = agent_config(workdir, swtpm.tcti, "simulated-snp")
        tpm = config.tpm.model_copy(update={"event_log": log_file, "pcrs": DEFAULT_PCRS})
        config = config.model_copy(update={"tpm": tpm})
        state = build_state(config)
        nonce = secrets.token_bytes(32)
        bundle = state.source.collect(nonce, state.inventory.current())
        roots = state.source.provider.trust_roots()  # type: ignore[attr-defined]
        yield AgentBundle(json.loads(dump_evidence(bundle)), nonce, roots)


def test_the_real_log_replays_to_the_quoted_pcrs(measured_bundle: AgentBundle) -> None:
    assert base64.b64decode(measured_bundle.document["tpm"]["event_log"])[:4] == bytes(4)
    result = measured_bundle.verify()
    assert result.exit_code is ExitCode.OK, result.to_json()
    check = _check(result, "tpm-event-log")
    assert check.outcome is Outcome.PASS
    assert "replays to quoted PCRs sha256:0,1,2,3,4,5,6,7,8,9,14" in check.summary
    assert "not covered by the quote" not in check.summary
    assert "quoted but not described by the log: sha256:11,12" in check.summary
    boot = result.claims["measured_boot"]
    assert boot["pcrs"][0] == "sha256:0"
    summary = boot["summary"]
    assert summary["secure_boot"] is True
    assert summary["boot_applications"][0] == "\\EFI\\centos\\shimx64.efi"
    assert summary["kernels"] == ["(hd0,gpt2)/vmlinuz-5.14.0-183.el9.x86_64"]  # PCR 9
    assert "rd.lvm.lv=cs/root" in summary["command_lines"][0]  # GRUB's PCR 8 event


def _tamper(pcr: int) -> Callable[[dict[str, Any]], None]:
    def change(document: dict[str, Any]) -> None:
        raw = bytearray(base64.b64decode(document["tpm"]["event_log"]))
        events = parse_tcg_log(bytes(raw)).events
        event = next(e for e in events if e.register == pcr and e.extends)
        assert event.offset is not None
        raw[event.offset + 14] ^= 0x80  # first byte of its SHA-256 digest
        document["tpm"]["event_log"] = base64.b64encode(bytes(raw)).decode()

    return change


def test_a_tampered_event_fails_with_a_content_mismatch(measured_bundle: AgentBundle) -> None:
    result = measured_bundle.verify(measured_bundle.changed(_tamper(4)))
    check = _check(result, "tpm-event-log")
    assert check.outcome is Outcome.FAIL
    assert "does not replay to the quoted pre-OS PCRs sha256:4" in check.summary
    assert check.expected is not None and check.expected.startswith("sha256:4 = ")
    assert result.exit_code is ExitCode.CONTENT_MISMATCH
    assert "measured_boot" not in result.claims


def test_a_tampered_os_event_is_not_verified(measured_bundle: AgentBundle) -> None:
    """PCR 8 is the OS's: the OS may extend it after the firmware's log ends, so a log that
    does not reproduce it is no contradiction, but none of its events is verified."""
    result = measured_bundle.verify(measured_bundle.changed(_tamper(8)))
    check = _check(result, "tpm-event-log")
    assert check.outcome is Outcome.PASS
    assert "not reproduced, so their events are not verified: sha256:8" in check.summary
    assert result.exit_code is ExitCode.OK
    summary = result.claims["measured_boot"]["summary"]
    assert summary["command_lines"] == []  # GRUB's PCR 8 events are no longer verified
    assert summary["kernels"] == ["(hd0,gpt2)/vmlinuz-5.14.0-183.el9.x86_64"]


def test_an_unreadable_log_is_malformed_input(measured_bundle: AgentBundle) -> None:
    def truncate(document: dict[str, Any]) -> None:
        raw = base64.b64decode(document["tpm"]["event_log"])
        document["tpm"]["event_log"] = base64.b64encode(raw[:-3]).decode()

    result = measured_bundle.verify(measured_bundle.changed(truncate))
    check = _check(result, "tpm-event-log")
    assert check.outcome is Outcome.FAIL
    assert "cannot be read" in check.summary
    assert result.exit_code is ExitCode.MALFORMED_INPUT


def test_without_a_verified_quote_the_log_is_not_replayed(measured_bundle: AgentBundle) -> None:
    def wrong_pcr(document: dict[str, Any]) -> None:
        document["tpm"]["pcrs"]["sha256"]["4"] = "00" * 32

    result = measured_bundle.verify(measured_bundle.changed(wrong_pcr))
    assert _check(result, "tpm-pcr-digest").outcome is Outcome.FAIL
    check = _check(result, "tpm-event-log")
    assert check.outcome is Outcome.SKIP
    assert "no PCR value is trusted" in check.summary


def test_a_log_of_other_pcrs_is_named_as_not_covered(snp_agent_bundle: AgentBundle) -> None:
    """The plain agent quotes PCRs 0-7 and 16 of a fresh swtpm; a log extending only PCR 8
    (here: the real log's GRUB events alone) covers nothing the quote proves."""

    def add_log(document: dict[str, Any]) -> None:
        document["tpm"]["event_log"] = base64.b64encode(_pcr8_only()).decode()

    result = snp_agent_bundle.verify(snp_agent_bundle.changed(add_log))
    check = _check(result, "tpm-event-log")
    assert check.outcome is Outcome.SKIP
    assert "nothing in it is covered" in check.summary
    assert result.exit_code is ExitCode.OK


def _pcr8_only() -> bytes:
    text = (Path(__file__).parents[2] / "vectors/eventlog/keylime/mb_log.b64").read_text()
    raw = base64.b64decode("".join(text.split()))
    log = parse_tcg_log(raw)
    keep = bytearray(raw[: log.events[1].offset])
    for event, following in zip(log.events[1:], [*log.events[2:], None], strict=True):
        end = following.offset if following is not None else len(raw)
        if event.register == 8:
            keep += raw[event.offset : end]
    return bytes(keep)
