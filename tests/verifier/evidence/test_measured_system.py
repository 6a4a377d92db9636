"""The system claim against the measured command line (cairn_verifier.evidence.measured_system).

Unit tests of the init= parsing and of each outcome, then end to end: a real agent (simulated
SEV-SNP, real swtpm) over HTTP and `cairn verify evidence --reference-values`, where the
reference values record the simulated launch measurement with a command line whose init= names
the agent's system (passes), another system (fails, exit 1), or nothing (self-reported).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fakes.agent_server import SYSTEM, ServerThread, start_agent

from cairn_agent.app import make_app
from cairn_agent.swtpm import running_swtpm
from cairn_agent.tee.simulated_snp import LAUNCH_DESCRIPTION
from cairn_verifier.checks import Check, CheckLog, Outcome, VerificationResult
from cairn_verifier.cli.main import main
from cairn_verifier.errors import ExitCode
from cairn_verifier.evidence.measured_system import (
    CHECK,
    check_measured_system,
    init_toplevel,
)
from cairn_verifier.snp.reference_values import MeasuredInputs, ReferenceValues

OTHER_SYSTEM = "/nix/store/7zqd1jj4xbq4f4nd7l5ixg95wyrq0sb0-nixos-system-cairn-other-25.11"
MEASURED = bytes.fromhex("ab" * 48)
KERNEL_PARAMS = "panic=1 oops=panic nohibernate"


def cmdline(system: str | None) -> str:
    """A command line as nixos/modules/cvm.nix writes it (init= first)."""
    return f"init={system}/init {KERNEL_PARAMS}" if system else KERNEL_PARAMS


def reference(measurement: bytes, *cmdlines: str | None, listed: bool = True) -> ReferenceValues:
    entries = [
        MeasuredInputs(
            ovmf=bytes(32),
            kernel=bytes(32),
            initrd=bytes(32),
            cmdline=line,
            vcpus=2,
            vcpu_type="EPYC-v4",
            guest_features=1,
            vmm_type="QEMU",
            measurement=measurement,
        )
        for line in cmdlines
    ]
    if entries:
        return ReferenceValues.from_inputs(entries, generator="test")
    assert listed
    return ReferenceValues.model_validate({"snp": {"measurements": [measurement.hex()]}})


def tee_result(measurement: bytes = MEASURED, *, ok: bool = True) -> VerificationResult:
    failed = Check("signature", "report", Outcome.FAIL, "bad", category=ExitCode.SIGNATURE_INVALID)
    checks = () if ok else (failed,)
    return VerificationResult(
        kind="SEV-SNP report",
        subject="test",
        verified_at=datetime.now(UTC),
        checks=checks,
        claims={"measurement": measurement.hex()},
    )


def run_check(
    claimed: str,
    values: ReferenceValues | None,
    *,
    kind: str = "sev-snp",
    result: VerificationResult | None = None,
) -> tuple[Check, str | None]:
    log = CheckLog()
    warning = check_measured_system(claimed, kind, result or tee_result(), values, log)
    [check] = log.checks
    assert check.name == CHECK and check.component == "claims"
    return check, warning


# --- init= ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (cmdline(SYSTEM), SYSTEM),
        (f"console=ttyS0 init={SYSTEM}/init", SYSTEM),
        (f"init={OTHER_SYSTEM}/init init={SYSTEM}/init", SYSTEM),  # the last one wins
        (f"init={SYSTEM}/init -- init={OTHER_SYSTEM}/init", SYSTEM),  # after --: init's args
        (f"-- init={SYSTEM}/init", None),
        (KERNEL_PARAMS, None),
        ("", None),
        ("init=/sbin/init", None),
        (f"init={SYSTEM}/bin/init", None),  # not <store path>/init
        (f"init={SYSTEM}/init/", None),
        ("init=/nix/store/short-nixos/init", None),
        (f"rdinit={SYSTEM}/init", None),
    ],
)
def test_init_toplevel(line: str, expected: str | None) -> None:
    assert init_toplevel(line) == expected


# --- outcomes ------------------------------------------------------------------------------------


def test_matching_claim_passes() -> None:
    check, warning = run_check(SYSTEM, reference(MEASURED, cmdline(SYSTEM)))
    assert check.outcome is Outcome.PASS and warning is None
    assert (check.expected, check.actual) == (SYSTEM, SYSTEM)


def test_another_system_fails_as_a_content_mismatch() -> None:
    check, warning = run_check(OTHER_SYSTEM, reference(MEASURED, cmdline(SYSTEM)))
    assert check.outcome is Outcome.FAIL and int(check.category or 0) == 1
    assert (check.expected, check.actual) == (SYSTEM, OTHER_SYSTEM)
    assert warning is None


def test_without_reference_values_the_claim_is_self_reported() -> None:
    check, warning = run_check(SYSTEM, None)
    assert check.outcome is Outcome.SKIP
    assert warning is not None and "SELF-REPORTED SYSTEM" in warning and SYSTEM in warning


def test_tdx_evidence_is_not_linked_yet() -> None:
    check, warning = run_check(SYSTEM, reference(MEASURED, cmdline(SYSTEM)), kind="tdx")
    assert check.outcome is Outcome.SKIP and "tdx" in check.summary
    assert warning is not None and "SELF-REPORTED" in warning


def test_unverified_tee_evidence_proves_nothing() -> None:
    check, warning = run_check(
        SYSTEM, reference(MEASURED, cmdline(SYSTEM)), result=tee_result(ok=False)
    )
    assert check.outcome is Outcome.SKIP and warning is None


def test_a_measurement_outside_the_reference_values_fails() -> None:
    check, _ = run_check(SYSTEM, reference(bytes(48), cmdline(SYSTEM)))
    assert check.outcome is Outcome.FAIL and int(check.category or 0) == 1
    assert check.actual == MEASURED.hex()


def test_a_measurement_without_recorded_inputs_is_self_reported() -> None:
    check, warning = run_check(SYSTEM, reference(MEASURED))
    assert check.outcome is Outcome.SKIP and "without the command line" in check.summary
    assert warning is not None and "SELF-REPORTED" in warning


def test_a_command_line_without_init_is_self_reported() -> None:
    check, warning = run_check(SYSTEM, reference(MEASURED, cmdline(None)))
    assert check.outcome is Outcome.SKIP and "no init=" in check.summary
    assert warning is not None


def test_two_command_lines_for_one_measurement_are_malformed() -> None:
    check, _ = run_check(SYSTEM, reference(MEASURED, cmdline(SYSTEM), cmdline(OTHER_SYSTEM)))
    assert check.outcome is Outcome.FAIL and int(check.category or 0) == 10


# --- end to end ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def snp_agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A simulated-SEV-SNP agent whose system is SYSTEM: (URL, exported root PEM)."""
    workdir = tmp_path_factory.mktemp("agent")
    with running_swtpm(workdir / "swtpm") as swtpm:
        state, _ = start_agent(workdir, swtpm.tcti, "simulated-snp")
        assert state.self_check["status"] == "passed", state.self_check
        root = workdir / "root.pem"
        state.source.provider.export_trust_root(root)  # type: ignore[attr-defined]
        with ServerThread(make_app(state)) as url:
            yield url, root


def simulated_measurement() -> bytes:
    return hashlib.sha384(LAUNCH_DESCRIPTION).digest()


def cli(
    agent: tuple[str, Path], capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[int, dict]:
    url, root = agent
    code = main(
        ["verify", "evidence", url, "--json", "--offline", "--trust-simulated-root", str(root),
         *extra]
    )  # fmt: skip
    return code, json.loads(capsys.readouterr().out)


def reference_file(tmp_path: Path, values: ReferenceValues) -> str:
    path = tmp_path / "reference-values.json"
    path.write_text(values.to_json())
    return str(path)


def system_check(document: dict) -> dict:
    [check] = [c for c in document["checks"] if c["name"] == CHECK]
    return check


def test_e2e_the_measured_init_names_the_claimed_system(
    snp_agent: tuple[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    values = reference(simulated_measurement(), cmdline(SYSTEM))
    code, doc = cli(snp_agent, capsys, "--reference-values", reference_file(tmp_path, values))
    assert code == 0, doc
    assert system_check(doc)["outcome"] == "pass"
    assert not [w for w in doc["warnings"] if "SELF-REPORTED" in w]
    # The reference measurement is now pinned too: the SNP measurement check passed.
    assert any(c["name"] == "measurement" and c["outcome"] == "pass" for c in doc["checks"])


def test_e2e_a_system_other_than_the_booted_one_is_rejected(
    snp_agent: tuple[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    values = reference(simulated_measurement(), cmdline(OTHER_SYSTEM))
    code, doc = cli(snp_agent, capsys, "--reference-values", reference_file(tmp_path, values))
    assert code == 1
    check = system_check(doc)
    assert check["outcome"] == "fail"
    assert (check["expected"], check["actual"]) == (OTHER_SYSTEM, SYSTEM)


def test_e2e_without_reference_values_the_output_says_self_reported(
    snp_agent: tuple[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, doc = cli(snp_agent, capsys)
    assert code == 0, doc
    assert system_check(doc)["outcome"] == "skipped"
    assert [w for w in doc["warnings"] if w.startswith("SELF-REPORTED SYSTEM") and SYSTEM in w]


def test_e2e_reference_values_of_another_image_fail(
    snp_agent: tuple[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    values = reference(bytes.fromhex("cd" * 48), cmdline(SYSTEM))
    code, doc = cli(snp_agent, capsys, "--reference-values", reference_file(tmp_path, values))
    assert code == 1
    failed = [c["name"] for c in doc["checks"] if c["outcome"] == "fail"]
    assert failed == ["measurement"]
    # An SNP report that failed a check links nothing: the system check says why it skipped.
    assert system_check(doc)["outcome"] == "skipped"
    assert "did not verify" in system_check(doc)["summary"]


def test_e2e_a_malformed_reference_file_exits_10(
    snp_agent: tuple[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"format": "cairn-reference-values", "version": 1, "snp": {}}')
    code, _ = cli(snp_agent, capsys, "--reference-values", str(path))
    assert code == 10
