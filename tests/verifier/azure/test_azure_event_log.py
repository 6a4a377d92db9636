"""`cairn verify azure --event-log`: the vTPM's TCG event log replayed against the PCRs of the
vTPM quote, by the same `tpm-event-log` check `cairn verify evidence` runs.

The real Azure vectors carry quoted PCRs but no event log. The passing case is built honestly:
the simulated Azure paravisor (`simulated-azure`, SEV-SNP) names a real swtpm's AK in its HCL
report, and that swtpm's PCRs were extended, event by event, with a real CentOS boot's log
(keylime's test data) before it quoted them. The HCL report, the quote (in trustee's quote JSON)
and the VCEK chain are then given to the command as files, as a user holding them would."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from azure_vectors import vectors
from fakes.agent_server import agent_config
from fakes.event_logs import extend_pcrs, keylime_log

from cairn_agent.main import build_state
from cairn_agent.swtpm import running_swtpm
from cairn_verifier.api import dump_evidence
from cairn_verifier.cli.main import main
from cairn_verifier.eventlog import parse_tcg_log
from cairn_verifier.tpm.structures import parse_attest

RSA_SIGNATURE_HEADER = 6  # TPMT_SIGNATURE: sigAlg, hashAlg, size, then the RSA signature
PRE_OS_AND_GRUB = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 14)
"""The PCRs keylime's CentOS log extends (PCR 8 and 9: GRUB's commands and files)."""
POLICY = "[azure]\nallow_console = true\n"


@dataclass(frozen=True)
class AzureFiles:
    """One simulated Azure VM's evidence as files `cairn verify azure` reads."""

    folder: Path
    nonce: bytes
    """The vTPM quote's extraData (the agent's claims digest)."""

    def argv(self, *extra: str) -> list[str]:
        return [
            "verify",
            "azure",
            str(self.folder / "hcl-report.bin"),
            "--tpm-quote",
            str(self.folder / "quote.json"),
            "--certs",
            str(self.folder / "certs.pem"),
            "--trust-simulated-root",
            str(self.folder / "root.pem"),
            "--policy",
            str(self.folder / "azure.toml"),
            "--nonce",
            self.nonce.hex(),
            "--offline",
            "--no-cache",
            *extra,
        ]


def _write_files(folder: Path, document: dict[str, Any], state: Any) -> AzureFiles:
    tee, tpm = document["tee"], document["tpm"]
    (folder / "hcl-report.bin").write_bytes(base64.b64decode(tee["report"]))
    attest = base64.b64decode(tpm["quote"])
    selected = [i for bank, i in parse_attest(attest).selected if bank == "sha256"]
    quote = {  # trustee's vTPM quote JSON: the bare RSA signature, PCRs in selection order
        "signature": base64.b64decode(tpm["signature"])[RSA_SIGNATURE_HEADER:].hex(),
        "message": attest.hex(),
        "pcrs": [tpm["pcrs"]["sha256"][str(i)] for i in selected],
    }
    (folder / "quote.json").write_text(json.dumps(quote))
    (folder / "certs.pem").write_text(
        "".join(
            "-----BEGIN CERTIFICATE-----\n" + der + "\n-----END CERTIFICATE-----\n"
            for der in tee["certificates"]
        )
    )
    state.source.provider.export_trust_root(folder / "root.pem")
    (folder / "azure.toml").write_text(POLICY)
    return AzureFiles(folder, parse_attest(attest).extra_data)


def _measured_vm(folder: Path, raw_log: bytes, pcrs: tuple[int, ...]) -> AzureFiles:
    """A simulated Azure SEV-SNP VM whose swtpm holds the log's PCR values, quoting ``pcrs``."""
    with running_swtpm(folder / "swtpm") as swtpm:
        extend_pcrs(swtpm.tcti, raw_log)
        config = agent_config(folder, swtpm.tcti, "simulated-azure")
        tee = config.tee.model_copy(update={"simulated_platform": "sev-snp"})
        tpm = config.tpm.model_copy(update={"pcrs": pcrs})
        state = build_state(config.model_copy(update={"tee": tee, "tpm": tpm}))
        collected = state.source.collect(secrets.token_bytes(32), state.inventory.current())
        return _write_files(folder, json.loads(dump_evidence(collected)), state)


@pytest.fixture(scope="module")
def raw_log(testdata: Path) -> bytes:
    return keylime_log(testdata)


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory, raw_log: bytes) -> Iterator[AzureFiles]:
    """The quote selects every PCR the log extends (and 16, which it does not)."""
    yield _measured_vm(tmp_path_factory.mktemp("azure-log"), raw_log, (*PRE_OS_AND_GRUB, 16))


@pytest.fixture(scope="module")
def pre_os_only(tmp_path_factory: pytest.TempPathFactory, raw_log: bytes) -> Iterator[AzureFiles]:
    """The same boot, but the quote selects PCRs 0-7 and 16 only: GRUB's PCRs 8, 9 and 14 are
    in the log and in the TPM, but no signature covers their values."""
    yield _measured_vm(
        tmp_path_factory.mktemp("azure-log-pre-os"), raw_log, (0, 1, 2, 3, 4, 5, 6, 7, 16)
    )


def _run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, dict[str, Any]]:
    code = main([*argv, "--json"])
    return code, json.loads(capsys.readouterr().out)


def _check(doc: dict[str, Any], name: str) -> dict[str, Any]:
    [check] = [c for c in doc["checks"] if c["name"] == name]
    return check  # type: ignore[no-any-return]


def _write_log(folder: Path, name: str, raw: bytes) -> str:
    path = folder / name
    path.write_bytes(raw)
    return str(path)


def test_without_a_log_nothing_is_replayed(
    measured: AzureFiles, capsys: pytest.CaptureFixture[str]
) -> None:
    code, doc = _run(capsys, measured.argv())
    assert code == 0, [c for c in doc["checks"] if c["outcome"] == "fail"]
    assert "tpm-event-log" not in {c["name"] for c in doc["checks"]}
    assert "measured_boot" not in doc["claims"]


def test_a_log_that_replays_to_the_quoted_pcrs_passes(
    measured: AzureFiles, raw_log: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = _write_log(tmp_path, "binary_bios_measurements", raw_log)
    code, doc = _run(capsys, measured.argv("--event-log", log))
    assert code == 0, [c for c in doc["checks"] if c["outcome"] == "fail"]
    names = [c["name"] for c in doc["checks"]]
    assert names.index("tpm-pcr-digest") < names.index("tpm-event-log")
    check = _check(doc, "tpm-event-log")
    assert check["outcome"] == "pass"
    assert check["component"] == "vTPM quote"
    assert "replays to quoted PCRs sha256:0,1,2,3,4,5,6,7,8,9,14" in check["summary"]
    assert "quoted but not described by the log: sha256:16" in check["summary"]
    assert "not covered by the quote" not in check["summary"]
    boot = doc["claims"]["measured_boot"]
    assert boot["pcrs"][0] == "sha256:0"
    summary = boot["summary"]
    assert summary["secure_boot"] is True
    assert summary["boot_applications"][0] == "\\EFI\\centos\\shimx64.efi"
    assert summary["kernels"] == ["(hd0,gpt2)/vmlinuz-5.14.0-183.el9.x86_64"]
    assert "rd.lvm.lv=cs/root" in summary["command_lines"][0]
    assert not any("event log given was not replayed" in w for w in doc["warnings"])


def test_the_log_may_be_given_as_base64(
    measured: AzureFiles, raw_log: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = _write_log(tmp_path, "mb_log.b64", base64.b64encode(raw_log))
    code, doc = _run(capsys, measured.argv("--event-log", log))
    assert code == 0
    assert _check(doc, "tpm-event-log")["outcome"] == "pass"


def _tampered(raw_log: bytes, pcr: int) -> bytes:
    raw = bytearray(raw_log)
    event = next(e for e in parse_tcg_log(raw_log).events if e.register == pcr and e.extends)
    assert event.offset is not None
    raw[event.offset + 14] ^= 0x80  # first byte of its SHA-256 digest
    return bytes(raw)


def test_a_tampered_event_fails_with_a_content_mismatch(
    measured: AzureFiles, raw_log: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = _write_log(tmp_path, "tampered", _tampered(raw_log, 4))
    code, doc = _run(capsys, measured.argv("--event-log", log))
    assert code == 1
    failed = [c for c in doc["checks"] if c["outcome"] == "fail"]
    assert [c["name"] for c in failed] == ["tpm-event-log"]
    assert "does not replay to the quoted pre-OS PCRs sha256:4" in failed[0]["summary"]
    assert failed[0]["expected"].startswith("sha256:4 = ")
    assert "measured_boot" not in doc["claims"]


def test_text_output_names_the_failed_replay(
    measured: AzureFiles, raw_log: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = _write_log(tmp_path, "tampered", _tampered(raw_log, 4))
    code = main(measured.argv("--event-log", log))
    out = capsys.readouterr().out
    assert code == 1
    assert "at check 'tpm-event-log' on vTPM quote (exit 1)" in out
    assert "does not replay to the quoted pre-OS PCRs sha256:4" in out


def test_pcrs_the_quote_does_not_select_are_never_verified(
    pre_os_only: AzureFiles, raw_log: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The swtpm holds GRUB's PCR 8/9/14 values, but the quote does not select them: the replay
    passes on PCRs 0-7 only, names 8, 9 and 14 as not covered, and none of their events (the
    kernel GRUB loaded, its command line) is in the measured boot."""
    log = _write_log(tmp_path, "binary_bios_measurements", raw_log)
    code, doc = _run(capsys, pre_os_only.argv("--event-log", log))
    assert code == 0, [c for c in doc["checks"] if c["outcome"] == "fail"]
    check = _check(doc, "tpm-event-log")
    assert check["outcome"] == "pass"
    assert "replays to quoted PCRs sha256:0,1,2,3,4,5,6,7;" in check["summary"]
    assert "not covered by the quote, so not trusted: sha256:8,9,14" in check["summary"]
    boot = doc["claims"]["measured_boot"]
    assert boot["pcrs"] == [f"sha256:{i}" for i in range(8)]
    assert boot["summary"]["kernels"] == []
    assert boot["summary"]["command_lines"] == []
    assert boot["summary"]["secure_boot"] is True  # PCR 7: covered


def _pcr8_only(raw: bytes) -> bytes:
    log = parse_tcg_log(raw)
    keep = bytearray(raw[: log.events[1].offset])
    for event, following in zip(log.events[1:], [*log.events[2:], None], strict=True):
        end = following.offset if following is not None else len(raw)
        if event.register == 8:
            keep += raw[event.offset : end]
    return bytes(keep)


def test_a_log_of_unquoted_pcrs_only_is_skipped_loudly(
    pre_os_only: AzureFiles, raw_log: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = _write_log(tmp_path, "pcr8", _pcr8_only(raw_log))
    code, doc = _run(capsys, pre_os_only.argv("--event-log", log))
    check = _check(doc, "tpm-event-log")
    assert check["outcome"] == "skipped"
    assert "nothing in it is covered" in check["summary"]
    assert "in the log: sha256:8" in check["summary"]
    assert "measured_boot" not in doc["claims"]
    [warning] = [w for w in doc["warnings"] if "event log given was not replayed" in w]
    assert "nothing in it is verified" in warning
    assert code == 0  # the evidence itself verifies; the log proves nothing, and says so


def test_without_a_verified_quote_the_log_is_not_replayed(
    measured: AzureFiles, raw_log: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = _write_log(tmp_path, "binary_bios_measurements", raw_log)
    argv = measured.argv("--event-log", log)
    argv[argv.index("--nonce") + 1] = secrets.token_bytes(32).hex()
    code, doc = _run(capsys, argv)
    assert code == 1
    assert _check(doc, "tpm-quote-nonce")["outcome"] == "fail"
    check = _check(doc, "tpm-event-log")
    assert check["outcome"] == "skipped"
    assert "no PCR value is trusted" in check["summary"]
    assert "measured_boot" not in doc["claims"]
    assert any("event log given was not replayed" in w for w in doc["warnings"])


def test_a_log_of_another_boot_fails_on_every_real_vector(
    testdata: Path, raw_log: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The real Azure quotes' PCRs are not CentOS's: replaying keylime's log against them fails
    (exit 1) wherever the quote verified; on TDX, whose collateral is not at hand (exit 5), the
    replay still runs, since the vTPM quote verified with HCLAkPub."""
    policy = tmp_path / "azure.toml"
    policy.write_text(POLICY + "[tdx]\nrequire_sept_ve_disable = false\n")
    log = _write_log(tmp_path, "binary_bios_measurements", raw_log)
    for vector in vectors(testdata):
        argv = [
            "verify",
            "azure",
            str(testdata / vector.path),
            "--policy",
            str(policy),
            "--at",
            vector.at.isoformat(),
            "--nonce",
            vector.nonce.hex(),
            "--offline",
            "--no-cache",
            "--event-log",
            log,
        ]
        code, doc = _run(capsys, argv)
        check = _check(doc, "tpm-event-log")
        assert check["outcome"] == "fail", vector.name
        assert check["exit_code"] == 1
        assert "does not replay to the quoted pre-OS PCRs" in check["summary"]
        assert code == (vector.exit_code or 1), vector.name


def test_a_tds_log_is_refused_before_anything_is_verified(
    measured: AzureFiles, testdata: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dstack = testdata / "eventlog" / "dstack" / "tdx-lite-getquote.json"
    code, doc = _run(capsys, measured.argv("--event-log", str(dstack)))
    assert code == 10
    assert "extends a TD's RTMRs, not the vTPM's PCRs" in doc["error"]["message"]
    assert "checks" not in doc


def test_an_unreadable_log_is_malformed_input(
    measured: AzureFiles, raw_log: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = _write_log(tmp_path, "cut", raw_log[:-3])
    code, doc = _run(capsys, measured.argv("--event-log", log))
    assert code == 10
    assert "checks" not in doc
