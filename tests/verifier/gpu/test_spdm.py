"""The SPDM transcript parsed by structure: offsets, limits, trailing bytes, tampering."""

from __future__ import annotations

import binascii
from datetime import UTC, datetime
from pathlib import Path

import pytest
from gpu_vectors import NVTRUST_TEST_NONCE, SOURCES

from cairn_verifier.checks import Outcome
from cairn_verifier.errors import ParseError
from cairn_verifier.gpu.evidence import DeviceEvidence
from cairn_verifier.gpu.families import DeviceKind
from cairn_verifier.gpu.opaque import parse_opaque
from cairn_verifier.gpu.report import Nvdec0, decode_report
from cairn_verifier.gpu.spdm import _parse_checked, _parse_well_formed, parse_spdm_report
from cairn_verifier.gpu.verify import GpuVerifyRequest, verify_gpu_evidence
from cairn_verifier.inputs.gpu import read_gpu_evidence
from cairn_verifier.x509.cert import load_certificates

AT = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def sample(testdata: Path) -> tuple[bytes, tuple[bytes, ...]]:
    gpu = testdata / "gpu" / "nvtrust"
    report = binascii.unhexlify((gpu / "hopperAttestationReport.txt").read_bytes().strip())
    chain = tuple(c.der for c in load_certificates((gpu / "hopperCertChain.txt").read_bytes()))
    return report, chain


def verify(report: bytes, chain: tuple[bytes, ...]) -> tuple[int, list[str]]:
    request = GpuVerifyRequest(at=AT, nonce=bytes.fromhex(NVTRUST_TEST_NONCE))
    result = verify_gpu_evidence([DeviceEvidence(report, chain, "test")], request)
    return int(result.exit_code), [c.name for c in result.checks if c.outcome is Outcome.FAIL]


def test_the_signature_sits_at_79_plus_l_plus_o(sample: tuple[bytes, tuple[bytes, ...]]) -> None:
    report, _ = sample
    spdm = parse_spdm_report(report)
    record = int.from_bytes(report[42:45], "little")
    opaque = int.from_bytes(report[77 + record : 79 + record], "little")
    assert (record, opaque) == (3520, 422)
    assert spdm.signature_offset == 79 + record + opaque == 4021
    assert spdm.signature == report[4021:4117] and spdm.trailing == b""
    assert spdm.nonce == bytes.fromhex(NVTRUST_TEST_NONCE) == report[4:36]
    assert [b.index for b in spdm.blocks] == list(range(1, 65))
    assert {len(b.value) for b in spdm.blocks} == {48}


def test_opaque_fields_decode(sample: tuple[bytes, tuple[bytes, ...]]) -> None:
    spdm = parse_spdm_report(sample[0])
    report = decode_report(spdm, DeviceKind.GPU)
    assert (report.driver_version, report.firmware_version) == ("550.90.07", "96.00.9F.00.01")
    assert (report.project, report.project_sku, report.chip_sku) == ("1010", "0200", "882")
    assert report.nvdec0 is Nvdec0.DISABLED
    assert report.fwid is not None and report.fwid.hex().startswith("f5c384aebb579217")
    assert report.measurement_counts is not None and len(report.measurement_counts) == 64


def test_zero_bytes_after_the_signature_are_reported_not_read(
    sample: tuple[bytes, tuple[bytes, ...]],
) -> None:
    """One real capture (trustee's CoCo CI) carries one zero byte after the signature: the
    structure puts the signature at 79+L+O, so it still verifies; the byte is named."""
    report, chain = sample
    padded = report + b"\x00"
    spdm = parse_spdm_report(padded)
    assert spdm.trailing == b"\x00" and spdm.signed_bytes == report[:4021]
    assert verify(padded, chain) == (0, [])
    request = GpuVerifyRequest(at=AT, nonce=bytes.fromhex(NVTRUST_TEST_NONCE))
    result = verify_gpu_evidence([DeviceEvidence(padded, chain, "t")], request)
    assert any("1 zero bytes follow the report's signature" in w for w in result.warnings)


def test_non_zero_bytes_after_the_signature_are_refused(
    sample: tuple[bytes, tuple[bytes, ...]],
) -> None:
    with pytest.raises(ParseError) as info:
        parse_spdm_report(sample[0] + b"\x00\x01")
    assert info.value.field == "trailing"
    assert verify(sample[0] + b"\x07", sample[1]) == (10, ["spdm-format"])


@pytest.mark.parametrize(
    ("offset", "value", "field"),
    [
        (0, 0x12, "request SPDMVersion"),
        (1, 0xE1, "request RequestResponseCode"),
        (2, 0x00, "request Param1"),
        (37, 0x10, "response SPDMVersion"),
        (38, 0x61, "response RequestResponseCode"),
        (40, 0x01, "response Param2"),
        (41, 0x41, "measurement block 64 Index"),
        (41, 0x3F, "MeasurementRecord"),
        (46, 0x02, "MeasurementSpecification"),
    ],
)
def test_structure_defects_name_their_field(
    sample: tuple[bytes, tuple[bytes, ...]], offset: int, value: int, field: str
) -> None:
    data = bytearray(sample[0])
    data[offset] = value
    with pytest.raises(ParseError) as info:
        parse_spdm_report(bytes(data))
    assert info.value.field == field


def test_truncated_and_oversized_lengths_are_refused(
    sample: tuple[bytes, tuple[bytes, ...]],
) -> None:
    report = sample[0]
    for cut in (0, 10, 37, 45, 4000, 4116):
        with pytest.raises(ParseError):
            parse_spdm_report(report[:cut])
    data = bytearray(report)
    data[3597:3599] = (2000).to_bytes(2, "little")  # OpaqueLength beyond SPDM's 1024
    with pytest.raises(ParseError) as info:
        parse_spdm_report(bytes(data))
    assert info.value.field == "response OpaqueLength"


def test_every_single_byte_tamper_of_the_signed_range_is_rejected(
    sample: tuple[bytes, tuple[bytes, ...]],
) -> None:
    """Flip one bit of every signed byte in turn: never verified (exit 2 where the structure
    still parses, exit 10 where a length no longer adds up)."""
    report, chain = sample
    outcomes: dict[int, int] = {}
    for offset in range(parse_spdm_report(report).signature_offset):
        data = bytearray(report)
        data[offset] ^= 0x01
        code, _ = verify(bytes(data), chain)
        assert code in (1, 2, 10), offset
        outcomes[code] = outcomes.get(code, 0) + 1
    assert set(outcomes) == {2, 10} and outcomes[2] > 3500, outcomes


def test_opaque_duplicates_and_truncation_are_refused() -> None:
    field = (3).to_bytes(2, "little") + (2).to_bytes(2, "little") + b"1\x00"
    with pytest.raises(ParseError, match="appears twice"):
        parse_opaque(field + field)
    with pytest.raises(ParseError):
        parse_opaque(field[:-1])
    assert parse_opaque(b"").fields == ()


def test_the_nvdaod_layout_is_read_with_value_types() -> None:
    header = b"NVDAOD" + (0).to_bytes(2, "little") + bytes([2, 1]) + b"\x00\x00"
    entry = (3).to_bytes(2, "little") + (0x87).to_bytes(2, "little")
    entry += (7).to_bytes(2, "little") + b"575.32\x00"
    parsed = parse_opaque(header + entry)
    assert parsed.header_version == (2, 1)
    assert [(f.type, f.value_type, f.value) for f in parsed.fields] == [(3, 0x87, b"575.32\x00")]
    with pytest.raises(ParseError, match="profile"):
        parse_opaque(b"NVDAOD" + (1).to_bytes(2, "little") + bytes(4) + entry)


FIRST = "measurement block 1"


@pytest.mark.parametrize(
    ("offset", "value", "field", "error_offset", "words"),
    [
        (45, b"\x00", "MeasurementRecord", 45, "which SPDM reserves"),
        (45, b"\x02", "MeasurementRecord", 100, "given twice"),
        (47, (60000).to_bytes(2, "little"), FIRST, 47, "only 3516 left"),
        (50, (47).to_bytes(2, "little"), f"{FIRST} DMTFSpecMeasurementValueSize", 50, "of 47"),
    ],
)
def test_measurement_block_defects_name_their_field_and_offset(
    sample: tuple[bytes, tuple[bytes, ...]],
    offset: int,
    value: bytes,
    field: str,
    error_offset: int,
    words: str,
) -> None:
    """The first block starts at 45 (4 header bytes, then the DMTF value type and size), the
    second at 100; each defect is named where it sits in the report."""
    data = bytearray(sample[0])
    data[offset : offset + len(value)] = value
    with pytest.raises(ParseError, match=words) as info:
        parse_spdm_report(bytes(data))
    assert (info.value.field, info.value.offset) == (field, error_offset)


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        (1, "measurement block 64 MeasurementSpecification"),
        (3, "measurement block 64 MeasurementSize"),
        (4, "measurement block 64 DMTFSpecMeasurementValueType"),
        (6, "measurement block 64 DMTFSpecMeasurementValueSize"),
    ],
)
def test_a_cut_off_block_header_names_the_field_it_lacks(
    sample: tuple[bytes, tuple[bytes, ...]], extra: int, field: str
) -> None:
    """A 65th block announced, with only ``extra`` bytes of it in the record (which grows by
    them, so everything after it still adds up)."""
    report = sample[0]
    data = bytearray(report[:3565] + b"\x41" * extra + report[3565:])
    data[41] = 65
    data[42:45] = (3520 + extra).to_bytes(3, "little")
    with pytest.raises(ParseError, match="cut off") as info:
        parse_spdm_report(bytes(data))
    assert (info.value.field, info.value.offset) == (field, 3565)


def test_opaque_defects_are_placed_in_the_report() -> None:
    """``offset`` is where the blob sits in the report: errors and fields count from there."""
    field = (3).to_bytes(2, "little") + (2).to_bytes(2, "little") + b"1\x00"
    assert parse_opaque(field, offset=100).fields[0].offset == 100
    cases = [
        (field[:3], "opaque field type", 100),
        (field[:-1], "opaque field 3 value", 104),
        (field + field, "opaque field 3", 106),
        (b"NVDAOD" + (1).to_bytes(2, "little") + bytes(4), "NVDAOD profile", 106),
    ]
    for blob, name, at in cases:
        with pytest.raises(ParseError) as info:
            parse_opaque(blob, offset=100)
        assert (info.value.field, info.value.offset) == (name, at)


def _both_readings(data: bytes) -> tuple[object, object]:
    try:
        checked: object = _parse_checked(data)
    except ParseError:
        checked = None
    return _parse_well_formed(data), checked


def test_the_quick_reading_accepts_only_what_the_checked_one_does_and_agrees(
    testdata: Path, sample: tuple[bytes, tuple[bytes, ...]]
) -> None:
    """parse_spdm_report reads a well-formed report with one ``struct`` read of its fixed fields
    and falls back to the field-by-field reading (which names the defect) for anything else:
    on every real report and on every one-byte change, truncation and trailing byte of the
    sample, the quick reading either declines or gives exactly what the checked one gives."""
    gpu = testdata / "gpu"
    real = []
    for source in SOURCES:
        certs = None
        if source.certs is not None:
            certs = [c.der for c in load_certificates((gpu / source.certs).read_bytes())]
        evidence = read_gpu_evidence((gpu / source.evidence).read_bytes(), certs)
        real += [device.report for device in evidence.devices]
    for report in real:
        quick, checked = _both_readings(report)
        assert quick is not None and quick == checked
    report = sample[0]
    variants = [report[:cut] for cut in range(0, len(report), 3)]
    variants += [report + b"\0", report + b"\0\1"]
    for offset in range(len(report)):
        for change in (0x01, 0x80, 0xFF):
            data = bytearray(report)
            data[offset] ^= change
            variants.append(bytes(data))
    accepted = declined = 0
    for data in variants:
        quick, checked = _both_readings(data)
        assert quick is None or quick == checked, data.hex()
        assert checked is not None or quick is None
        accepted += quick is not None
        declined += checked is None
    assert accepted > 3 * 3500 and declined > 1000, (accepted, declined)
