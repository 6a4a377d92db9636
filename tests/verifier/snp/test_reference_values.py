"""SEV-SNP reference values: sev-snp-measure's vectors reproduced, the file format, the CLI, and
reference values deciding the ``measurement`` check of a real report."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cairn_verifier.checks import Outcome
from cairn_verifier.cli import reference_cmd
from cairn_verifier.errors import ExitCode, MalformedInputError, SetupError, UsageError
from cairn_verifier.snp.certs import CertCollection
from cairn_verifier.snp.measure import (
    compute_reference_values,
    known_vcpu_types,
    ovmf_launch_digest,
)
from cairn_verifier.snp.policy import SnpPolicy
from cairn_verifier.snp.reference_values import (
    ReferenceValues,
    SnpReferenceValues,
    load_reference_values,
    merge_into,
    parse_reference_values,
    read_reference_values,
    write_reference_values,
)
from cairn_verifier.snp.report import parse_report
from cairn_verifier.snp.verify import SnpVerifyRequest, verify_snp_report

MEASURE = "snp/sev-snp-measure"
AMDSEV = "ovmf_AmdSev_suffix.bin"
OVMFX64 = "ovmf_OvmfX64_suffix.bin"

# The SNP launch-digest vectors of expected_measurements.json that can run here. Not listed, on
# purpose: the sev / seves vectors (SEV and SEV-ES digests, not SEV-SNP measurements), the
# snp:svsm vectors (their 4.7 MB fixtures are not in testdata), the OVMF-only hash and the
# must-fail vector (each has its own test below).
SNP_VECTORS = (
    "snp_ovmf_hash_gen_default",
    "snp_ovmf_hash_gen_snp_only",
    "snp_default_cmdline",
    "snp_only_cmdline",
    "snp_without_kernel_default",
    "snp_without_kernel_snp_only",
    "snp_4vcpus_default",
    "snp_4vcpus_snp_only",
    "snp_ovmfx64_no_kernel_default",
    "snp_ovmfx64_no_kernel_snp_only",
    "snp_ec2_default",
    "snp_ec2_snp_only",
    "snp_gce_1vcpu",
    "snp_gce_4vcpus",
)


@pytest.fixture(scope="module")
def measure_dir(testdata: Path) -> Path:
    return testdata / MEASURE


@pytest.fixture(scope="module")
def vectors(measure_dir: Path) -> dict[str, dict[str, Any]]:
    document = json.loads((measure_dir / "expected_measurements.json").read_text())
    return {v["name"]: v for v in document["vectors"]}


@pytest.fixture
def empty(tmp_path: Path) -> Path:
    """Upstream passes /dev/null for kernel and initrd: a zero-length file."""
    path = tmp_path / "empty"
    path.write_bytes(b"")
    return path


def _file_argument(value: str | None, empty: Path) -> Path | None:
    if value is None:
        return None
    assert value == "EMPTY"
    return empty


def _compute(vector: dict[str, Any], measure_dir: Path, empty: Path) -> ReferenceValues:
    return compute_reference_values(
        measure_dir / vector["ovmf"],
        _file_argument(vector["kernel"], empty),
        _file_argument(vector["initrd"], empty),
        vector["append"],
        vcpus=[vector["vcpus"]],
        vcpu_types=[] if vector["vcpu_type"] is None else [vector["vcpu_type"]],
        guest_features=int(vector["guest_features"], 16),
        vmm_type=vector["vmm_type"] or "QEMU",
    )


def test_every_runnable_snp_vector_is_covered(
    vectors: dict[str, dict[str, Any]], measure_dir: Path
) -> None:
    runnable = {
        name
        for name, v in vectors.items()
        if v["mode"] == "snp" and "expected" in v and "fn" not in v
    }
    assert runnable == set(SNP_VECTORS)
    assert all((measure_dir / vectors[name]["ovmf"]).is_file() for name in SNP_VECTORS)


@pytest.mark.parametrize("name", SNP_VECTORS)
def test_vector_reproduced(
    name: str, vectors: dict[str, dict[str, Any]], measure_dir: Path, empty: Path
) -> None:
    vector = vectors[name]
    values = _compute(vector, measure_dir, empty)
    expected = bytes.fromhex(vector["expected"])
    assert values.measurements == (expected,)
    (entry,) = values.inputs
    assert entry.measurement == expected
    assert entry.vcpus == vector["vcpus"]
    assert entry.vcpu_type == vector["vcpu_type"]
    assert entry.guest_features == int(vector["guest_features"], 16)
    assert entry.vmm_type == (vector["vmm_type"] or "QEMU")
    assert entry.cmdline == vector["append"]
    assert (entry.kernel is None) == (vector["kernel"] is None)
    if vector["kernel"] == "EMPTY":
        assert entry.kernel == bytes.fromhex(
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        )  # SHA-256 of nothing
    assert values.generator == "sev-snp-measure 0.0.13"


def test_ovmf_launch_digest(vectors: dict[str, dict[str, Any]], measure_dir: Path) -> None:
    vector = vectors["snp_ovmf_hash_only"]
    digest = ovmf_launch_digest(measure_dir / vector["ovmf"])
    assert digest == bytes.fromhex(vector["expected"])
    # the precomputed-hash vectors start from exactly this digest
    assert digest.hex() == vectors["snp_ovmf_hash_gen_default"]["snp_ovmf_hash"]


def test_matrix_of_vcpu_counts_and_types(
    vectors: dict[str, dict[str, Any]], measure_dir: Path, empty: Path
) -> None:
    values = compute_reference_values(
        measure_dir / AMDSEV,
        empty,
        empty,
        "",
        vcpus=[1, 4, 1],
        vcpu_types=["EPYC-v4", "epyc-milan"],
        guest_features=0x21,
    )
    combos = [(e.vcpu_type, e.vcpus) for e in values.inputs]
    assert combos == [("EPYC-v4", 1), ("EPYC-v4", 4), ("EPYC-Milan", 1), ("EPYC-Milan", 4)]
    by_combo = {(e.vcpu_type, e.vcpus): e.measurement for e in values.inputs}
    assert by_combo["EPYC-v4", 1].hex() == vectors["snp_ovmf_hash_gen_default"]["expected"]
    assert by_combo["EPYC-v4", 4].hex() == vectors["snp_4vcpus_default"]["expected"]
    # the CPU signature is in every VMSA, so another CPU model measures differently
    assert len(set(values.measurements)) == 4
    assert values.measurements == tuple(by_combo.values())


def test_firmware_without_kernel_hashes_cannot_measure_a_kernel(
    vectors: dict[str, dict[str, Any]], measure_dir: Path, empty: Path
) -> None:
    vector = vectors["snp_ovmfx64_with_kernel_must_fail"]
    with pytest.raises(MalformedInputError) as info:
        _compute({**vector, "vmm_type": None}, measure_dir, empty)
    assert vector["expected_error"] in info.value.message
    assert info.value.hint is not None and "AmdSev" in info.value.hint
    assert info.value.exit_code is ExitCode.MALFORMED_INPUT


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kernel": None, "initrd": "EMPTY"}, "needs a kernel"),
        ({"kernel": None, "append": "quiet"}, "needs a kernel"),
        ({"vcpus": []}, "no vCPU count"),
        ({"vcpus": [0]}, "not a positive integer"),
        ({"vcpu_types": ["EPYC-v9"]}, "unknown vCPU type"),
        ({"vcpu_types": []}, "no vCPU type given"),
        ({"vmm_type": "xen"}, "unknown VMM type"),
        ({"guest_features": 1 << 64}, "64-bit"),
        ({"ovmf": "missing.bin"}, "not found"),
        ({"kernel": "missing.bin"}, "not found"),
    ],
)
def test_bad_arguments_are_typed_errors(
    change: dict[str, Any], message: str, measure_dir: Path, empty: Path
) -> None:
    arguments: dict[str, Any] = {
        "ovmf": AMDSEV,
        "kernel": "EMPTY",
        "initrd": "EMPTY",
        "append": None,
        "vcpus": [1],
        "vcpu_types": ["EPYC-v4"],
        "guest_features": 1,
        "vmm_type": "QEMU",
    } | change

    def path(value: str | None) -> Path | None:
        if value is None:
            return None
        return empty if value == "EMPTY" else measure_dir / value

    ovmf = path(arguments["ovmf"])
    assert ovmf is not None
    with pytest.raises(MalformedInputError, match=message):
        compute_reference_values(
            ovmf,
            path(arguments["kernel"]),
            path(arguments["initrd"]),
            arguments["append"],
            vcpus=arguments["vcpus"],
            vcpu_types=arguments["vcpu_types"],
            guest_features=arguments["guest_features"],
            vmm_type=arguments["vmm_type"],
        )


def test_ovmf_must_be_whole_pages(measure_dir: Path, tmp_path: Path) -> None:
    short = tmp_path / "short.fd"
    short.write_bytes((measure_dir / AMDSEV).read_bytes()[1:])
    with pytest.raises(MalformedInputError, match="4 KiB pages"):
        compute_reference_values(short, None, None, None, vcpus=[1], vcpu_types=["EPYC-v4"])
    with pytest.raises(MalformedInputError, match="is a directory"):
        compute_reference_values(tmp_path, None, None, None, vcpus=[1], vcpu_types=["EPYC-v4"])


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(position=st.integers(min_value=2048, max_value=4095), value=st.integers(0, 255))
def test_corrupted_firmware_footer_never_escapes_as_a_traceback(
    position: int, value: int, measure_dir: Path, tmp_path: Path
) -> None:
    """Bytes in the footer table (GUIDs, sizes, offsets) changed: a typed error or a digest."""
    data = bytearray((measure_dir / AMDSEV).read_bytes())
    data[position] = value
    ovmf = tmp_path / "ovmf.fd"
    ovmf.write_bytes(bytes(data))
    try:
        values = compute_reference_values(ovmf, None, None, None, vcpus=[1], vcpu_types=["EPYC"])
    except MalformedInputError as error:
        assert error.component == "sev-snp-measure"
    else:
        assert len(values.measurements[0]) == 48


def test_missing_tool_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch, measure_dir: Path
) -> None:
    monkeypatch.setitem(sys.modules, "sevsnpmeasure.guest", None)  # makes the import fail
    with pytest.raises(SetupError) as info:
        compute_reference_values(measure_dir / AMDSEV, None, None, None, vcpus=[1], vcpu_types=[])
    assert "not installed" in info.value.message
    assert info.value.exit_code is ExitCode.USAGE_OR_SETUP  # a setup problem, not bad input
    assert info.value.hint is not None and "pip install sev-snp-measure==0.0.13" in info.value.hint


def test_known_vcpu_types_are_qemu_models() -> None:
    names = known_vcpu_types()
    assert {"EPYC-v4", "EPYC-Milan", "EPYC-Genoa", "EPYC-Turin"} <= set(names)


# -- the file format ---------------------------------------------------------------------------


@pytest.fixture
def computed(measure_dir: Path, empty: Path) -> ReferenceValues:
    return compute_reference_values(
        measure_dir / AMDSEV,
        empty,
        None,
        "console=ttyS0",
        vcpus=[1, 2],
        vcpu_types=["EPYC-v4"],
    )


def test_json_round_trip(computed: ReferenceValues, tmp_path: Path) -> None:
    path = tmp_path / "reference-values.json"
    write_reference_values(computed, path)
    assert read_reference_values(path) == computed
    assert load_reference_values(path) == computed.measurements
    document = json.loads(path.read_text())
    assert document["format"] == "cairn-reference-values"
    assert document["version"] == 1
    assert document["snp"]["measurements"] == [m.hex() for m in computed.measurements]
    first = document["inputs"][0]
    assert first["guest_features"] == "0x1"
    assert first["initrd"] is None
    assert first["cmdline"] == "console=ttyS0"
    assert first["kernel"] == computed.inputs[0].kernel.hex()  # type: ignore[union-attr]
    assert parse_reference_values(computed.to_json()) == computed


def test_existing_file_is_kept_unless_forced(computed: ReferenceValues, tmp_path: Path) -> None:
    directory = tmp_path / "out"
    directory.mkdir()
    path = directory / "values.json"
    path.write_text("keep me")
    with pytest.raises(UsageError, match="already exists") as info:
        write_reference_values(computed, path)
    assert info.value.hint == "choose another file name or pass --force to replace it"
    assert path.read_text() == "keep me"
    write_reference_values(computed, path, overwrite=True)
    assert read_reference_values(path) == computed
    assert [p.name for p in directory.iterdir()] == ["values.json"]  # no temporary left behind


def _mutated(base: dict[str, Any], where: str, value: Any) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(json.dumps(base))
    *parents, last = where.split(".")
    target: Any = document
    for key in parents:
        target = target[int(key)] if key.isdigit() else target[key]
    if value is _DELETE:
        del target[last]
    else:
        target[last] = value
    return document


_DELETE = object()


@pytest.mark.parametrize(
    ("where", "value", "message"),
    [
        ("format", "cairn-policy", "not a reference-values document"),
        ("version", 2, "version 2"),
        ("version", True, "version True"),
        ("snp.measurements", [], "at least 1"),
        ("snp.measurements", ["ab" * 47], "48 bytes"),
        ("snp.measurements", "ab" * 48, "valid tuple"),
        ("snp", _DELETE, "snp"),
        ("inputs.0.vcpus", "1", "valid integer"),
        ("inputs.0.vcpus", 0, "greater than or equal to 1"),
        ("inputs.0.guest_features", "1", "hex string"),
        ("inputs.0.guest_features", "0x1" + "0" * 16, "64-bit"),
        ("inputs.0.vmm_type", "kvm", "'QEMU', 'ec2' or 'gce'"),
        ("inputs.0.ovmf", "zz", "not valid hex"),
        ("inputs.0.measurement", "cd" * 48, "not in snp.measurements"),
        ("inputs.0.unknown", 1, "Extra inputs"),
    ],
)
def test_malformed_documents_are_rejected(
    computed: ReferenceValues, tmp_path: Path, where: str, value: Any, message: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(_mutated(json.loads(computed.to_json()), where, value)))
    with pytest.raises(MalformedInputError, match=message) as info:
        load_reference_values(path)
    assert info.value.exit_code is ExitCode.MALFORMED_INPUT
    assert str(path) in info.value.message


@pytest.mark.parametrize("content", [b"", b"[1, 2]", b"\xff\xfe\x00", b'{"format": '])
def test_non_documents_are_rejected(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(MalformedInputError, match=r"is empty|not valid JSON|not UTF-8|not a ref"):
        load_reference_values(path)


def test_unreadable_paths_are_typed_errors(tmp_path: Path) -> None:
    with pytest.raises(MalformedInputError, match="not found"):
        load_reference_values(tmp_path / "absent.json")
    with pytest.raises(MalformedInputError, match="directory"):
        load_reference_values(tmp_path)


# -- merging into a policy ---------------------------------------------------------------------


def test_merge_is_a_union_keeping_order() -> None:
    own, shared, extra = b"\x01" * 48, b"\x02" * 48, b"\x03" * 48
    policy = SnpPolicy(measurements=(own, shared), allow_debug=True)
    merged = merge_into(policy, (shared, extra))
    assert merged.measurements == (own, shared, extra)
    assert merged.allow_debug is True
    assert policy.measurements == (own, shared)  # the input policy is unchanged
    assert merge_into(SnpPolicy(), (extra,)).measurements == (extra,)
    with pytest.raises(MalformedInputError, match="48 bytes"):
        merge_into(policy, (b"\x04" * 32,))


@pytest.fixture(scope="module")
def milan_report(testdata: Path) -> tuple[bytes, CertCollection]:
    """go-sev-guest's Milan report with its VCEK and ASK/ARK (verified E2E in PROVENANCE.md)."""
    base = testdata / "snp/go-sev-guest"
    certs = CertCollection()
    certs.add_bytes((base / "vcek.testcer").read_bytes(), source="vcek.testcer")
    certs.add_bytes((base / "milan.testcer").read_bytes(), source="milan.testcer")
    return (base / "attestation.bin").read_bytes(), certs


VALID_AT = datetime(2022, 9, 25, 0, 55, 28, tzinfo=UTC)  # VCEK notBefore + 1 day


def _verify_with_reference_file(
    report: tuple[bytes, CertCollection], reference_file: Path
) -> tuple[ExitCode, Outcome, str | None]:
    raw, certs = report
    policy = merge_into(SnpPolicy(allow_debug=True), load_reference_values(reference_file))
    request = SnpVerifyRequest(at=VALID_AT, policy=policy, certs=certs)
    result = verify_snp_report(raw, request)
    (check,) = [c for c in result.checks if c.name == "measurement"]
    return result.exit_code, check.outcome, check.actual


def test_reference_values_with_the_reports_measurement_pass(
    milan_report: tuple[bytes, CertCollection], computed: ReferenceValues, tmp_path: Path
) -> None:
    measurement = parse_report(milan_report[0]).measurement
    values = ReferenceValues(
        snp=SnpReferenceValues(measurements=(*computed.measurements, measurement)),
        inputs=computed.inputs,
    )
    path = tmp_path / "with.json"
    write_reference_values(values, path)
    exit_code, outcome, actual = _verify_with_reference_file(milan_report, path)
    assert outcome is Outcome.PASS
    assert actual == measurement.hex()
    assert exit_code is ExitCode.OK


def test_reference_values_without_it_fail_with_content_mismatch(
    milan_report: tuple[bytes, CertCollection], computed: ReferenceValues, tmp_path: Path
) -> None:
    path = tmp_path / "without.json"
    write_reference_values(computed, path)
    exit_code, outcome, actual = _verify_with_reference_file(milan_report, path)
    assert outcome is Outcome.FAIL
    assert actual == parse_report(milan_report[0]).measurement.hex()
    assert exit_code is ExitCode.CONTENT_MISMATCH
    assert int(exit_code) == 1


# -- the command -------------------------------------------------------------------------------


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="cairn")
    reference_cmd.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["reference-values", *argv])
    result: int = args.func(args)
    return result


def test_command_writes_the_file(
    vectors: dict[str, dict[str, Any]],
    measure_dir: Path,
    empty: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    output = tmp_path / "rv.json"
    argv = [
        "--ovmf", str(measure_dir / AMDSEV),
        "--kernel", str(empty),
        "--initrd", str(empty),
        "--append", "",
        "--vcpus", "1,4",
        "--vcpu-type", "EPYC-v4",
        "--guest-features", "0x21",
        "-o", str(output),
    ]  # fmt: skip
    assert _run(argv) == 0
    measurements = [m.hex() for m in load_reference_values(output)]
    assert measurements == [
        vectors["snp_ovmf_hash_gen_default"]["expected"],
        vectors["snp_4vcpus_default"]["expected"],
    ]
    assert "wrote 2 measurement(s)" in capsys.readouterr().out
    with pytest.raises(UsageError, match="already exists"):
        _run(argv)
    assert _run([*argv, "--force", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["measurements"] == measurements
    assert summary["inputs"] == 2


def test_command_to_stdout_for_gce(
    vectors: dict[str, dict[str, Any]],
    measure_dir: Path,
    empty: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = [
        "--ovmf", str(measure_dir / AMDSEV),
        "--kernel", str(empty),
        "--initrd", str(empty),
        "--vcpus", "1,4",
        "--vmm-type", "gce",
        "-o", "-",
    ]  # fmt: skip
    assert _run(argv) == 0
    values = parse_reference_values(capsys.readouterr().out)
    assert [m.hex() for m in values.measurements] == [
        vectors["snp_gce_1vcpu"]["expected"],
        vectors["snp_gce_4vcpus"]["expected"],
    ]
    assert {e.vcpu_type for e in values.inputs} == {None}


@pytest.mark.parametrize(
    ("parse", "text"),
    [
        (reference_cmd.vcpu_counts, "1,,2"),
        (reference_cmd.vcpu_counts, "0"),
        (reference_cmd.vcpu_counts, "two"),
        (reference_cmd.vcpu_type_names, "EPYC-v4,"),
        (reference_cmd.guest_features_value, "0xZZ"),
        (reference_cmd.guest_features_value, "-1"),
    ],
)
def test_bad_option_values_are_argparse_errors(parse: Any, text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        parse(text)


def test_option_value_parsing() -> None:
    assert reference_cmd.vcpu_counts("1, 2,4") == [1, 2, 4]
    assert reference_cmd.vcpu_type_names("EPYC-v4,EPYC-Milan") == ["EPYC-v4", "EPYC-Milan"]
    assert reference_cmd.guest_features_value("0x21") == 0x21
