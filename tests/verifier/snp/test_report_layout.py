"""One field table parses and builds SEV-SNP reports: it tiles the report in every version, and
every real report round-trips through it byte for byte. (The guest-policy, platform-info and
signer-info bit tables are tested with the other bit tables in tests/verifier/test_bits.py.)"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from vectors import load_vectors

from cairn_verifier.snp.flags import GuestPolicy, PlatformInfo, SignerInfo, SigningKey
from cairn_verifier.snp.product import ProductLine
from cairn_verifier.snp.report import (
    REPORT_FIELDS,
    REPORT_SIZE,
    SIGNED_SIZE,
    SUPPORTED_VERSIONS,
    build_report,
    fields_of,
    parse_report,
)
from cairn_verifier.snp.tcb import TcbLayout, TcbVersion


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
def test_table_tiles_the_report(version: int) -> None:
    end = 0
    for field in fields_of(version):
        assert field.offset == end, f"gap or overlap before {field.name} in v{version}"
        assert field.size > 0
        end = field.end
    assert end == REPORT_SIZE
    starts = {f.offset: f.name for f in fields_of(version)}
    assert starts[SIGNED_SIZE] == "SIGNATURE.R"


def test_table_names_each_attribute_once() -> None:
    attrs = [f.attr for f in REPORT_FIELDS if f.attr]
    assert len(attrs) == len(set(attrs))
    names = [f.name for f in REPORT_FIELDS]
    assert len(names) == len(set(names))


def _real_reports(testdata: Path) -> dict[bytes, tuple[str, ProductLine | None]]:
    """Every distinct report in the catalogue, with the product line it comes from."""
    reports: dict[bytes, tuple[str, ProductLine | None]] = {}
    for vector in load_vectors(testdata):
        product = ProductLine(vector.product) if vector.product else None
        reports.setdefault(vector.report, (vector.name, product))
    return reports


def test_every_real_report_round_trips(testdata: Path) -> None:
    versions: set[int] = set()
    layouts: set[TcbLayout] = set()
    for raw, (name, product) in _real_reports(testdata).items():
        for decoded in (parse_report(raw), parse_report(raw, product=product)):
            assert decoded.to_bytes() == raw, name
            assert build_report(decoded.field_values()) == raw, name
            versions.add(decoded.version)
            layouts.add(decoded.tcb_layout)
    # The catalogue must keep covering every version and both TCB layouts.
    assert versions == set(SUPPORTED_VERSIONS)
    assert layouts == {TcbLayout.MILAN_GENOA, TcbLayout.TURIN}


def test_built_report_parses_to_the_values_given() -> None:
    tcb = TcbVersion.decode(bytes([1, 2, 3, 4, 0, 0, 0, 9]), ProductLine.TURIN)
    raw = build_report(
        {
            "version": 5,
            "policy": GuestPolicy.build(smt=True, debug=True, abi_major=1, abi_minor=55),
            "signature_algo": 1,
            "platform_info": PlatformInfo.build(smt_en=True, tio_en=True).raw,
            "signer_info": SignerInfo.build(signing_key_bits=SigningKey.VLEK, mask_chip_id=True),
            "current_tcb": tcb,
            "reported_tcb": tcb,
            "cpuid_fam_id": 0x1A,
            "cpuid_mod_id": 0x02,
            "launch_mit_vector": 0x3F,
            "measurement": hashlib.sha384(b"m").digest(),
            "signature_r": 7,
        }
    )
    report = parse_report(raw)
    assert report.product is ProductLine.TURIN
    assert report.policy.debug and report.policy.abi_version == "1.55"
    assert report.platform_info.tio_en and not report.platform_info.ecc_en
    assert report.signing_key is SigningKey.VLEK and report.mask_chip_id
    assert report.current_tcb == tcb == report.reported_tcb
    assert report.committed_tcb.raw == bytes(8)
    assert (report.launch_mit_vector, report.current_mit_vector) == (0x3F, 0)
    assert report.measurement == hashlib.sha384(b"m").digest()
    assert (report.signature_r, report.signature_s) == (7, 0)


@pytest.mark.parametrize(
    ("values", "error"),
    [
        ({"version": 6}, ValueError),
        ({"guest_svn": 1}, ValueError),  # no version
        ({"version": 2, "cpuid_fam_id": 0x19}, ValueError),  # v2 has no CPUID bytes
        ({"version": 4, "current_mit_vector": 1}, ValueError),  # only v5 has the vectors
        ({"version": 3, "surprise": 1}, ValueError),
        ({"version": 3, "measurement": bytes(47)}, ValueError),
        ({"version": 3, "vmpl": 1 << 32}, OverflowError),
        ({"version": 3, "vmpl": "0"}, TypeError),
        ({"version": 3, "vmpl": True}, TypeError),
    ],
)
def test_builder_refuses_what_the_layout_cannot_hold(
    values: dict[str, object], error: type[Exception]
) -> None:
    with pytest.raises(error):
        build_report(values)
