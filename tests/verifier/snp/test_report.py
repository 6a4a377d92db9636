"""SEV-SNP attestation report model on the real shared vectors (snp/PROVENANCE.md) and on
synthetic corruptions of them."""

from __future__ import annotations

import json
import struct
import warnings
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.utils import CryptographyDeprecationWarning
from vectors import by_name, load_vectors, verified_vectors

from cairn_verifier.cli.snp_render import render_report, report_to_json
from cairn_verifier.encoding import extract_snp_report
from cairn_verifier.errors import ExitCode, MalformedInputError, ParseError
from cairn_verifier.snp.product import ProductLine
from cairn_verifier.snp.report import (
    REPORT_SIZE,
    SIGNED_SIZE,
    AttestationReport,
    ProductSource,
    SigningKey,
    parse_report,
    peek_signing_fields,
    reserved_ranges,
)
from cairn_verifier.snp.tcb import TcbLayout, TcbVersion
from cairn_verifier.x509.der import parse_single

SNP = "snp"


def _report(testdata: Path, relative: str) -> bytes:
    raw, _ = extract_snp_report((testdata / SNP / relative).read_bytes())
    return raw


def _parse(testdata: Path, relative: str, product: ProductLine | None = None) -> AttestationReport:
    return parse_report(_report(testdata, relative), product=product)


@pytest.fixture(scope="module")
def milan_v2(testdata: Path) -> bytes:
    """go-sev-guest/attestation.bin: a raw Milan v2 VCEK report (verified E2E upstream)."""
    return (testdata / SNP / "go-sev-guest/attestation.bin").read_bytes()


def _patched(data: bytes, offset: int, value: bytes) -> bytes:
    out = bytearray(data)
    out[offset : offset + len(value)] = value
    return bytes(out)


def _with_version(data: bytes, version: int) -> bytes:
    return _patched(data, 0, struct.pack("<I", version))


# ------------------------------------------------------------------------------------------
# Every plain report file in the shared vectors, with facts from PROVENANCE.md
# ------------------------------------------------------------------------------------------

# (file, version, signing key, product from CPUID (None for v2), policy)
PLAIN_REPORTS = [
    ("go-sev-guest/attestation.bin", 2, SigningKey.VCEK, None, 0xB0000),
    ("virtee-sev/report_milan.hex", 2, SigningKey.VCEK, None, 0x30000),
    ("trustee/snp_test-report.bin", 2, SigningKey.VCEK, None, 0x3001F),
    ("trustee/snp_test-vlek-report.bin", 3, SigningKey.VLEK, ProductLine.MILAN, 0x30000),
    ("lit-sev-snp-utils/guest_report.bin", 2, SigningKey.VCEK, None, 0x30000),
    ("routex-client-lua/report-genoa-v2-parseonly.b64", 2, SigningKey.VCEK, None, 0x30000),
    ("routex-client-lua/report-genoa-v3.b64", 3, SigningKey.VCEK, ProductLine.GENOA, 0x30000),
    ("constellation/aws-snp_report.txt", 3, SigningKey.VLEK, ProductLine.MILAN, 0x30000),
    ("constellation/snp_AttestationReportVLEK.hex", 2, SigningKey.VLEK, None, 0x30000),
    ("azure-cvm-tooling/hcl-report-snp.bin", 2, SigningKey.VCEK, None, 0x3001F),
    ("trustee/az-snp-vtpm_hcl-report.bin", 2, SigningKey.VCEK, None, 0x3001F),
    ("openpcc/azure_sevsnp_report.txt", 3, SigningKey.VCEK, ProductLine.GENOA, 0x3001F),
    ("openpcc/gce_sevsnp_report.txt", 4, SigningKey.VCEK, ProductLine.MILAN, 0x30000),
]


@pytest.mark.parametrize(("relative", "version", "key", "product", "policy"), PLAIN_REPORTS)
def test_plain_report_files(testdata, relative, version, key, product, policy):
    report = _parse(testdata, relative)
    assert report.version == version
    assert report.signing_key is key
    assert report.signature_algo == 1
    assert report.policy.raw == policy
    assert report.product_from_cpuid is product
    assert report.product is product
    if version == 2:
        assert (report.cpuid_fam_id, report.cpuid_mod_id, report.cpuid_step) == (None,) * 3
        assert report.product_source is ProductSource.UNKNOWN
        assert report.tcb_layout_assumed and report.reported_tcb.layout_assumed
    else:
        assert report.product_source is ProductSource.CPUID
        assert not report.tcb_layout_assumed
    # Reports before v5 carry no mitigation vectors.
    assert report.launch_mit_vector is None and report.current_mit_vector is None
    assert report.signed_bytes == report.raw[:SIGNED_SIZE] and len(report.raw) == REPORT_SIZE
    assert report.signature_r > 0 and report.signature_s > 0


def test_constellation_attestation_first_1184_bytes(testdata):
    # 1204 bytes upstream: the report followed by 20 trailing bytes; Azure Milan v2.
    data = (testdata / SNP / "constellation/snp_attestation.bin").read_bytes()
    assert len(data) == 1204
    report = parse_report(data[:REPORT_SIZE])
    assert report.version == 2
    assert report.policy.raw == 0x3001F
    assert report.signing_key is SigningKey.VCEK


def test_azure_policy_0x3001f_decoding(testdata):
    # PROVENANCE: "Azure policy is 0x3001f (ABI >= 0.31, SMT)".
    policy = _parse(testdata, "trustee/az-snp-vtpm_hcl-report.bin").policy
    assert (policy.abi_major, policy.abi_minor, policy.abi_version) == (0, 31, "0.31")
    assert policy.smt
    assert not any(
        (
            policy.migrate_ma,
            policy.debug,
            policy.single_socket,
            policy.cxl_allow,
            policy.mem_aes_256_xts,
            policy.rapl_dis,
            policy.ciphertext_hiding,
            policy.page_swap_disable,
        )
    )
    assert policy.reserved_bits == 0


def test_debug_policy_decoded(testdata):
    # go-sev-guest's sample guest was launched with policy 0xB0000: SMT and DEBUG allowed.
    policy = _parse(testdata, "go-sev-guest/attestation.bin").policy
    assert policy.debug and policy.smt and not policy.migrate_ma


def test_trustee_vcek_report_facts(testdata):
    # PROVENANCE (trustee negatives): report snp=8, ucode=115, CHIP_ID c38427a30d4c7af9...
    report = _parse(testdata, "trustee/snp_test-report.bin")
    assert report.reported_tcb.snp == 8 and report.reported_tcb.microcode == 115
    assert report.reported_tcb.bootloader == 3
    assert report.chip_id_hex.startswith("c38427a30d4c7af9")


def test_azure_cvm_tooling_chip_id(testdata):
    # PROVENANCE: hwID mismatch "report 3a5d5b1d059d193e.." (a negative pairing upstream).
    report = _parse(testdata, "azure-cvm-tooling/hcl-report-snp.bin")
    assert report.chip_id_hex.startswith("3a5d5b1d059d193e")


def test_lit_report_current_vs_reported_tcb(testdata):
    # PROVENANCE: upstream built the KDS URL from CURRENT_TCB (snpSPL=06); REPORTED_TCB has snp=5.
    report = _parse(testdata, "lit-sev-snp-utils/guest_report.bin")
    assert report.current_tcb.snp == 6
    assert report.reported_tcb.snp == 5


@pytest.mark.parametrize(
    "relative",
    [
        "trustee/snp_test-vlek-report.bin",
        "constellation/aws-snp_report.txt",
        "constellation/snp_AttestationReportVLEK.hex",
    ],
)
def test_vlek_reports_have_zero_chip_id(testdata, relative):
    # PROVENANCE: "VLEK-signed reports: all zero even with MASK_CHIP_ID=0".
    report = _parse(testdata, relative)
    assert report.signing_key is SigningKey.VLEK
    assert report.chip_id_is_zero and report.chip_id == bytes(64)
    assert not report.mask_chip_id


def test_aws_vlek_vmpl(testdata):
    # The trustee AWS (us-east-2) VLEK report was requested at VMPL 1; the constellation AWS
    # (eu-west-1) one at VMPL 0.
    assert _parse(testdata, "trustee/snp_test-vlek-report.bin").vmpl == 1
    assert _parse(testdata, "constellation/aws-snp_report.txt").vmpl == 0


def test_gce_v4_report_is_milan_from_cpuid(testdata):
    # PROVENANCE: GCE v4 report, Milan (cpuid 19h/01h); v4 has the v3 layout.
    report = _parse(testdata, "openpcc/gce_sevsnp_report.txt")
    assert (report.cpuid_fam_id, report.cpuid_mod_id) == (0x19, 0x01)
    assert report.family == 0x19 and report.model == 0x01
    assert report.launch_mit_vector is None


def test_genoa_v3_models(testdata):
    # PROVENANCE: Genoa models seen 0x11 and 0xA0 (trustee e2e); routex Genoa is 0x11.
    report = _parse(testdata, "routex-client-lua/report-genoa-v3.b64")
    assert (report.cpuid_fam_id, report.cpuid_mod_id) == (0x19, 0x11)
    assert report.product is ProductLine.GENOA
    assert ProductLine.from_cpuid(0x19, 0xA0) is ProductLine.GENOA


def test_caller_product_overrides_cpuid(testdata):
    report = _parse(testdata, "routex-client-lua/report-genoa-v2-parseonly.b64")
    assert report.product is None
    genoa = _parse(
        testdata, "routex-client-lua/report-genoa-v2-parseonly.b64", product=ProductLine.GENOA
    )
    assert genoa.product is ProductLine.GENOA
    assert genoa.product_source is ProductSource.CALLER
    assert not genoa.tcb_layout_assumed


# ------------------------------------------------------------------------------------------
# Turin and v5 (reports lifted out of Oak protobufs by the shared vector catalogue)
# ------------------------------------------------------------------------------------------


def test_turin_v5_report(testdata):
    report = parse_report(by_name(testdata, "oak/turin_oc").report)
    assert report.version == 5
    assert report.product is ProductLine.TURIN and report.product_source is ProductSource.CPUID
    assert report.family == 0x1A
    # PLATFORM_INFO bit 6 is set on Turin (0x67) and must be accepted, not rejected.
    assert report.platform_info.raw == 0x67
    assert report.platform_info.iommu_write_safe
    assert report.platform_info.alias_check_complete and report.platform_info.smt_en
    assert report.platform_info.reserved_bits == 0
    # The Oak KDS URL for this chip: hwID 3b42092f69c656d3, ucodeSPL=71 snpSPL=2 teeSPL=0
    # blSPL=1 fmcSPL=0; Turin CHIP_ID is 8 bytes + 56 zero bytes.
    assert report.chip_id[:8].hex() == "3b42092f69c656d3"
    assert report.chip_id[8:] == bytes(56)
    tcb = report.reported_tcb
    assert tcb.layout is TcbLayout.TURIN
    assert tcb.components() == {"fmc": 0, "bootloader": 1, "tee": 0, "snp": 2, "microcode": 71}
    assert str(tcb) == "fmc=0 bl=1 tee=0 snp=2 ucode=71"
    assert report.launch_mit_vector is not None and report.current_mit_vector is not None


def test_genoa_v5_mitigation_vectors(testdata):
    report = parse_report(by_name(testdata, "oak/genoa_oc").report)
    assert report.version == 5 and report.product is ProductLine.GENOA
    # PROVENANCE: values seen 0x0, 0x1, 0xb, 0x3f; Oak's Genoa report carries 1 and 1.
    assert (report.launch_mit_vector, report.current_mit_vector) == (1, 1)
    assert report.reported_tcb.fmc is None


def test_every_catalogued_report_parses(testdata):
    vectors = load_vectors(testdata)
    assert len(vectors) >= 30
    for vector in vectors:
        report = parse_report(vector.report)
        assert report.signing_key.name.lower() == vector.signing_key, vector.name
        if report.version >= 3 and vector.product is not None:
            assert report.product_from_cpuid == ProductLine(vector.product), vector.name


def _ext_int(cert: x509.Certificate, oid: str) -> int | None:
    try:
        ext = cert.extensions.get_extension_for_oid(x509.ObjectIdentifier(oid))
    except x509.ExtensionNotFound:
        return None
    assert isinstance(ext.value, x509.UnrecognizedExtension)
    return parse_single(ext.value.value).as_int()


_TCB_OIDS = {
    "fmc": "1.3.6.1.4.1.3704.1.3.9",
    "bootloader": "1.3.6.1.4.1.3704.1.3.1",
    "tee": "1.3.6.1.4.1.3704.1.3.2",
    "snp": "1.3.6.1.4.1.3704.1.3.3",
    "microcode": "1.3.6.1.4.1.3704.1.3.8",
}


def test_reported_tcb_matches_vcek_extensions(testdata):
    """The decoded REPORTED_TCB equals the TCB the AMD-signed VCEK/VLEK states (every pair)."""
    checked = set()
    for vector in verified_vectors(testdata):
        assert vector.product is not None
        product = ProductLine(vector.product)
        report = parse_report(vector.report, product=product)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)  # serial number 0
            cert = x509.load_der_x509_certificate(vector.leaf)
        from_cert = {
            name: value
            for name, oid in _TCB_OIDS.items()
            if (value := _ext_int(cert, oid)) is not None
        }
        assert report.reported_tcb.components() == from_cert, vector.name
        if report.signing_key is SigningKey.VCEK:
            hwid = cert.extensions.get_extension_for_oid(
                x509.ObjectIdentifier("1.3.6.1.4.1.3704.1.4")
            ).value
            assert isinstance(hwid, x509.UnrecognizedExtension)
            assert report.chip_id[: len(hwid.value)] == hwid.value, vector.name
        checked.add(product)
    assert checked == set(ProductLine)


def test_with_product_redecodes_tcbs(testdata):
    # Without the product, a v2 report's TCB uses the Milan/Genoa layout; learning the product
    # from the VCEK later re-decodes every TCB.
    turin = by_name(testdata, "oak/turin_oc").report
    as_v2 = _patched(_with_version(turin, 2), 0x188, bytes(3))
    as_v2 = _patched(as_v2, 0x1F8, bytes(16))
    report = parse_report(as_v2)
    assert report.product is None and report.reported_tcb.layout is TcbLayout.MILAN_GENOA
    assert report.reported_tcb.components() == {
        "bootloader": 0,
        "tee": 1,
        "snp": 0,
        "microcode": 71,
    }
    fixed = report.with_product(ProductLine.TURIN)
    for tcb in fixed.tcbs().values():
        assert tcb.layout is TcbLayout.TURIN and not tcb.layout_assumed
    assert fixed.reported_tcb.components()["snp"] == 2
    assert fixed.product_source is ProductSource.CALLER
    assert fixed.raw == report.raw  # the bytes never change


# ------------------------------------------------------------------------------------------
# TCB and product line
# ------------------------------------------------------------------------------------------


def test_tcb_turin_layout_from_kds_url_values():
    # Oak's Turin KDS URL: fmcSPL=0 blSPL=1 teeSPL=0 snpSPL=2 ucodeSPL=71.
    raw = bytes([0, 1, 0, 2, 0, 0, 0, 71])
    tcb = TcbVersion.decode(raw, ProductLine.TURIN)
    assert (tcb.fmc, tcb.bootloader, tcb.tee, tcb.snp, tcb.microcode) == (0, 1, 0, 2, 71)
    assert tcb.reserved == bytes(3)
    assert list(tcb.components()) == ["fmc", "bootloader", "tee", "snp", "microcode"]


def test_tcb_milan_layout():
    raw = bytes.fromhex("0300000000000873")  # virtee report_milan: bl=3 tee=0 snp=8 ucode=115
    tcb = TcbVersion.decode(raw, ProductLine.MILAN)
    assert str(tcb) == "bl=3 tee=0 snp=8 ucode=115"
    assert tcb.fmc is None and "fmc" not in tcb.components()
    assert tcb.reserved == bytes(4) and tcb.as_int == int.from_bytes(raw, "little")
    assumed = TcbVersion.decode(raw, None)
    assert assumed.layout is TcbLayout.MILAN_GENOA and assumed.layout_assumed
    assert assumed.components() == tcb.components()
    assert TcbVersion.decode(raw, ProductLine.GENOA).components() == tcb.components()


@pytest.mark.parametrize("size", [0, 7, 9])
def test_tcb_wrong_size(size):
    with pytest.raises(ParseError, match="8 bytes"):
        TcbVersion.decode(bytes(size), None)


@pytest.mark.parametrize(
    ("family", "model", "product"),
    [
        (0x19, 0x00, ProductLine.MILAN),
        (0x19, 0x01, ProductLine.MILAN),
        (0x19, 0x0F, ProductLine.MILAN),
        (0x19, 0x10, ProductLine.GENOA),
        (0x19, 0x11, ProductLine.GENOA),
        (0x19, 0x1F, ProductLine.GENOA),
        (0x19, 0xA0, ProductLine.GENOA),
        (0x19, 0xAF, ProductLine.GENOA),
        (0x1A, 0x00, ProductLine.TURIN),
        (0x1A, 0x02, ProductLine.TURIN),
        (0x1A, 0x11, ProductLine.TURIN),
        (0x19, 0x20, None),
        (0x19, 0xB0, None),
        (0x1A, 0x12, None),
        (0x17, 0x31, None),
        (0x00, 0x00, None),
    ],
)
def test_product_from_cpuid(family, model, product):
    assert ProductLine.from_cpuid(family, model) is product


@pytest.mark.parametrize(
    ("text", "product"),
    [
        ("Milan", ProductLine.MILAN),
        ("milan", ProductLine.MILAN),
        ("Milan-B0", ProductLine.MILAN),
        (" GENOA ", ProductLine.GENOA),
        ("Turin", ProductLine.TURIN),
        ("turin-c1", ProductLine.TURIN),
    ],
)
def test_product_parse(text, product):
    assert ProductLine.parse(text) is product
    assert str(product) == product.value  # the KDS URL spelling


@pytest.mark.parametrize("text", ["", "Rome", "Bergamo", "-Milan", "Mil an"])
def test_product_parse_unknown(text):
    with pytest.raises(MalformedInputError) as info:
        ProductLine.parse(text)
    assert "Milan, Genoa, Turin" in str(info.value)
    assert info.value.exit_code is ExitCode.MALFORMED_INPUT


# ------------------------------------------------------------------------------------------
# Rejections
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 1183, 1185, 2048])
def test_wrong_size(size):
    with pytest.raises(ParseError) as info:
        parse_report(bytes(size))
    assert "1184" in info.value.message and str(size) in info.value.message
    with pytest.raises(ParseError):
        peek_signing_fields(bytes(size))


@pytest.mark.parametrize("version", [0, 1, 6, 255, 0x02000000])
def test_unsupported_versions(milan_v2, version):
    with pytest.raises(ParseError) as info:
        parse_report(_with_version(milan_v2, version))
    assert info.value.message.startswith(f"unsupported report version {version}; Cairn reads 2-5")
    assert (info.value.field, info.value.offset) == ("VERSION", 0)


@pytest.mark.parametrize("algo", [0, 2, 0x100])
def test_bad_signature_algo(milan_v2, algo):
    with pytest.raises(ParseError) as info:
        parse_report(_patched(milan_v2, 0x34, struct.pack("<I", algo)))
    assert (info.value.field, info.value.offset) == ("SIGNATURE_ALGO", 0x34)


def test_policy_bit17_must_be_one(milan_v2):
    policy = struct.unpack_from("<Q", milan_v2, 0x08)[0] & ~(1 << 17)
    with pytest.raises(ParseError) as info:
        parse_report(_patched(milan_v2, 0x08, struct.pack("<Q", policy)))
    assert (info.value.field, info.value.offset) == ("POLICY", 0x08)
    assert "bit 17" in info.value.message


@pytest.mark.parametrize("key_bits", [2, 3, 4, 5, 6])
def test_reserved_signing_key_values(milan_v2, key_bits):
    with pytest.raises(ParseError) as info:
        parse_report(_patched(milan_v2, 0x48, struct.pack("<I", key_bits << 2)))
    assert (info.value.field, info.value.offset) == ("SIGNING_KEY", 0x48)
    # The pre-verification peek does not judge it.
    assert peek_signing_fields(_patched(milan_v2, 0x48, struct.pack("<I", key_bits << 2)))


def test_unsigned_report_signing_key_none(milan_v2):
    report = parse_report(_patched(milan_v2, 0x48, struct.pack("<I", 7 << 2 | 0b11)))
    assert report.signing_key is SigningKey.NONE
    assert report.mask_chip_id and report.author_key_en


def _reserved_cases() -> list[tuple[int, int, str]]:
    cases = []
    for version in (2, 3, 4, 5):
        for rng in reserved_ranges(version):
            for offset in sorted({rng.start, rng.end - 1}):
                cases.append((version, offset, rng.name))
    return cases


@pytest.mark.parametrize(("version", "offset", "name"), _reserved_cases())
def test_every_reserved_range_must_be_zero(milan_v2, version, offset, name):
    base = _with_version(milan_v2, version)
    parse_report(base)  # the real report has zeros in every range
    with pytest.raises(ParseError) as info:
        parse_report(_patched(base, offset, b"\x5a"))
    assert (info.value.field, info.value.offset) == (name, offset)
    assert f"0x{offset:03X}" in str(info.value)
    # Reserved bytes are not the peek's business.
    assert peek_signing_fields(_patched(base, offset, b"\x5a")).version == version


def test_reserved_ranges_per_version():
    v2 = {(r.start, r.end) for r in reserved_ranges(2)}
    v3 = {(r.start, r.end) for r in reserved_ranges(3)}
    v5 = {(r.start, r.end) for r in reserved_ranges(5)}
    assert (0x188, 0x1A0) in v2 and (0x18B, 0x1A0) in v3
    assert (0x1F8, 0x2A0) in v3 and (0x208, 0x2A0) in v5
    assert reserved_ranges(4) == reserved_ranges(3)
    for ranges in (v2, v3, v5):
        assert {(0x4C, 0x50), (0x1EB, 0x1EC), (0x1EF, 0x1F0), (0x330, 0x4A0)} <= ranges


def test_cpuid_bytes_only_reserved_in_v2(milan_v2):
    cpuid = bytes([0x1A, 0x02, 0x01])
    with pytest.raises(ParseError):
        parse_report(_patched(milan_v2, 0x188, cpuid))
    report = parse_report(_patched(_with_version(milan_v2, 3), 0x188, cpuid))
    assert (report.cpuid_fam_id, report.cpuid_mod_id, report.cpuid_step) == (0x1A, 0x02, 0x01)
    assert report.product is ProductLine.TURIN


def test_mit_vectors_only_defined_in_v5(milan_v2):
    mit = struct.pack("<QQ", 0x3F, 0xB)
    with pytest.raises(ParseError):
        parse_report(_patched(_with_version(milan_v2, 4), 0x1F8, mit))
    report = parse_report(_patched(_with_version(milan_v2, 5), 0x1F8, mit))
    assert (report.launch_mit_vector, report.current_mit_vector) == (0x3F, 0xB)


def test_platform_info_bit6_and_unknown_bits_accepted(milan_v2):
    report = parse_report(_patched(milan_v2, 0x40, struct.pack("<Q", 1 << 6 | 1 << 7 | 1 << 40)))
    assert report.platform_info.iommu_write_safe and report.platform_info.tio_en
    assert report.platform_info.reserved_bits == 1 << 40
    policy = struct.unpack_from("<Q", milan_v2, 0x08)[0] | 1 << 21 | 1 << 25 | 1 << 30
    report = parse_report(_patched(milan_v2, 0x08, struct.pack("<Q", policy)))
    assert report.policy.cxl_allow and report.policy.page_swap_disable
    assert report.policy.reserved_bits == 1 << 30


def test_errors_name_component(milan_v2):
    with pytest.raises(ParseError) as info:
        parse_report(_with_version(milan_v2, 9))
    assert info.value.component == "snp-report"
    assert info.value.hint
    assert info.value.exit_code is ExitCode.MALFORMED_INPUT


# ------------------------------------------------------------------------------------------
# Peek, JSON, text
# ------------------------------------------------------------------------------------------


def test_peek_matches_parse(testdata):
    for relative in ("trustee/snp_test-vlek-report.bin", "virtee-sev/report_milan.hex"):
        raw = _report(testdata, relative)
        peek, report = peek_signing_fields(raw), parse_report(raw)
        assert peek.version == report.version
        assert peek.chip_id == report.chip_id
        assert peek.reported_tcb == report.reported_tcb.raw
        assert peek.signing_key is report.signing_key
        assert peek.signing_key_bits == int(report.signing_key)
        assert peek.mask_chip_id == report.mask_chip_id
        assert peek.product_from_cpuid is report.product_from_cpuid
        assert (peek.signature_r, peek.signature_s) == (report.signature_r, report.signature_s)
        assert peek.signed_bytes == report.signed_bytes


def test_peek_tolerates_unknown_version(milan_v2):
    peek = peek_signing_fields(_with_version(milan_v2, 6))
    assert peek.version == 6 and peek.product_from_cpuid is None


def test_report_to_json_has_every_field(testdata):
    report = parse_report(by_name(testdata, "oak/turin_oc").report)
    doc = report_to_json(report)
    json.dumps(doc)  # serialisable
    assert set(doc) == {
        "version",
        "guest_svn",
        "policy",
        "family_id",
        "image_id",
        "vmpl",
        "signature_algo",
        "current_tcb",
        "platform_info",
        "signer_info",
        "report_data",
        "measurement",
        "host_data",
        "id_key_digest",
        "author_key_digest",
        "report_id",
        "report_id_ma",
        "reported_tcb",
        "cpuid",
        "chip_id",
        "committed_tcb",
        "current_firmware",
        "committed_firmware",
        "launch_tcb",
        "launch_mit_vector",
        "current_mit_vector",
        "signature",
        "product",
    }
    assert bytes.fromhex(doc["measurement"]) == report.measurement
    assert doc["platform_info"]["iommu_write_safe"] is True
    assert doc["reported_tcb"]["fmc"] == 0 and doc["reported_tcb"]["layout"] == "Turin"
    assert doc["signer_info"]["signing_key"] == "VCEK"
    assert doc["cpuid"] == {"family": 0x1A, "model": 0x02, "stepping": 0x01, "product": "Turin"}
    assert doc["product"]["name"] == "Turin" and doc["product"]["source"] == "report CPUID"
    assert int(doc["signature"]["r"], 16) == report.signature_r


def test_report_to_json_v2(testdata):
    doc = report_to_json(_parse(testdata, "trustee/snp_test-report.bin"))
    assert doc["cpuid"] is None and doc["launch_mit_vector"] is None
    assert doc["product"] == {
        "name": None,
        "source": "unknown",
        "tcb_layout": "Milan/Genoa",
        "tcb_layout_assumed": True,
    }
    assert doc["policy"]["abi_minor"] == 31 and doc["policy"]["smt"] is True
    assert doc["reported_tcb"]["microcode"] == 115


def test_render_report(testdata):
    report = _parse(testdata, "trustee/snp_test-vlek-report.bin")
    text = render_report(report)
    for heading in (
        "Header:",
        "Guest policy:",
        "Platform info:",
        "Signer:",
        "Measurements:",
        "TCB:",
        "Identifiers:",
        "Signature:",
    ):
        assert heading in text
    rows = [line for line in text.splitlines() if line.startswith("  ")]
    value_columns = {len(line) - len(line[2:].split("  ", 1)[1].lstrip()) for line in rows}
    assert len(value_columns) == 1  # labels aligned
    assert report.measurement.hex() in text and report.chip_id.hex() in text
    (signing_row,) = [line for line in rows if line.split()[:2] == ["signing", "key"]]
    assert signing_row.endswith(" VLEK")
    assert "vmpl" in text and str(report.reported_tcb) in text


def test_render_marks_assumed_layout(testdata):
    text = render_report(_parse(testdata, "go-sev-guest/attestation.bin"))
    assert "layout assumed" in text and "n/a (report version 2)" in text
