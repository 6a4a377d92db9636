"""TDX DCAP quote parser on every real quote in the shared test vectors (tdx/PROVENANCE.md)."""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from cairn_verifier.cli.tdx_render import quote_to_json, render_quote
from cairn_verifier.errors import ExitCode, ParseError
from cairn_verifier.tdx.quote import (
    INTEL_QE_VENDOR_ID,
    Quote,
    TdAttributes,
    TeeType,
    Xfam,
    parse_quote,
)

# (path under tdx/, quote version, body type); hex-text files are decoded by _load.
QUOTES = [
    ("dcap-qvl/sample/tdx_quote", 4, 2),
    ("dcap-qvl/sample/tdx_quote_outdated", 5, 3),
    ("dcap-qvl/sample/tdx-quote.hex", 4, 2),
    ("dcap-qvl/sample/quote-from-tappd.hex", 4, 2),
    ("dcap-qvl/near-gas-test/quote_hex.txt", 4, 2),
    ("dstack/ra-tls/assets/tdx_quote", 4, 2),
    ("go-tdx-guest/testdata/ccel/cos-113-tdx-quote.dat", 4, 2),
    ("go-tdx-guest/testdata/quote_v5_sample.dat", 5, 3),
    ("go-tdx-guest/testdata/tdx_prod_quote_SPR_E4.dat", 4, 2),
    ("trustee/test_data/az-tdx-vtpm/td-quote.bin", 4, 2),
    ("trustee/test_data/tdx_quote_4.dat", 4, 2),
    ("trustee/test_data/tdx_quote_5.dat", 5, 3),
    ("trustee-azure/td-quote.bin", 4, 2),
]
# Files under tdx/ that are not DCAP quotes (Azure's HCL report and its vTPM quote; the TDVF
# image and its copyright; QEMU's fw_cfg ACPI files).
NOT_DCAP_QUOTES = {
    "trustee-azure/hcl-report.bin",
    "trustee-azure/quote.bin",
    "ubuntu-ovmf/OVMF.fd.xz",
    "ubuntu-ovmf/copyright",
    "qemu-acpi/table-loader",
    "qemu-acpi/rsdp",
    "qemu-acpi/tables",
}
QUOTE_IDS = [path for path, _, _ in QUOTES]

V4 = "dcap-qvl/sample/tdx_quote"
V5 = "go-tdx-guest/testdata/quote_v5_sample.dat"
SPR_E4 = "go-tdx-guest/testdata/tdx_prod_quote_SPR_E4.dat"
COS_113 = "go-tdx-guest/testdata/ccel/cos-113-tdx-quote.dat"
# Offset of the certification-data type in a v4 quote: header + body + u32 size + sig + key.
V4_CERT_TYPE_AT = 48 + 584 + 4 + 64 + 64


def _load(testdata: Path, rel: str) -> bytes:
    data = (testdata / "tdx" / rel).read_bytes()
    if rel.endswith((".hex", ".txt")):
        text = "".join(data.decode("ascii").split())
        return bytes.fromhex(text.removeprefix("0x"))
    return data


def _parse(testdata: Path, rel: str) -> Quote:
    return parse_quote(_load(testdata, rel))


def test_every_quote_file_in_the_vectors_is_covered(testdata: Path) -> None:
    root = testdata / "tdx"
    not_quotes = {"PROVENANCE.md", ".gitattributes", "pckcrl"}
    found = {
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file()
        and p.name not in not_quotes
        and p.suffix not in {".json", ".der", ".pem"}
        and not p.name.startswith("sample_")
        and str(p.relative_to(root)) not in NOT_DCAP_QUOTES
    }
    assert found == set(QUOTE_IDS), "a quote file was added or removed: update QUOTES"


@pytest.mark.parametrize(("rel", "version", "body_type"), QUOTES, ids=QUOTE_IDS)
def test_real_quote_structure(testdata: Path, rel: str, version: int, body_type: int) -> None:
    data = _load(testdata, rel)
    q = parse_quote(data)

    assert q.header.version == version
    assert q.body_type == body_type
    assert q.header.tee_type == TeeType.TDX
    assert q.header.attestation_key_type == 2
    assert q.header.qe_vendor_id == INTEL_QE_VENDOR_ID
    assert q.raw + q.trailing == data
    assert q.header.raw == data[:48]

    if body_type == 3:
        assert len(q.body.raw) == 648
        assert q.body.tee_tcb_svn2 is not None and len(q.body.tee_tcb_svn2) == 16
        assert q.body.mr_service_td is not None and len(q.body.mr_service_td) == 48
        assert q.signed_bytes == data[: 48 + 6 + 648]
        assert struct.unpack_from("<HI", data, 48) == (3, 648)
    else:
        assert len(q.body.raw) == 584
        assert q.body.tee_tcb_svn2 is None and q.body.mr_service_td is None
        assert q.signed_bytes == data[: 48 + 584]
    assert q.signed_bytes.endswith(q.body.raw)
    assert q.body.raw[520:584] == q.body.report_data


@pytest.mark.parametrize("rel", QUOTE_IDS)
def test_quote_signature_verifies_over_signed_bytes(testdata: Path, rel: str) -> None:
    q = _parse(testdata, rel)
    key = ec.EllipticCurvePublicNumbers(
        int.from_bytes(q.attestation_key[:32], "big"),
        int.from_bytes(q.attestation_key[32:], "big"),
        ec.SECP256R1(),
    ).public_key()
    der = encode_dss_signature(
        int.from_bytes(q.signature[:32], "big"), int.from_bytes(q.signature[32:], "big")
    )
    key.verify(der, q.signed_bytes, ec.ECDSA(hashes.SHA256()))


@pytest.mark.parametrize("rel", QUOTE_IDS)
def test_qe_report_binds_attestation_key_and_is_pck_signed(testdata: Path, rel: str) -> None:
    q = _parse(testdata, rel)
    c = q.certification
    assert len(c.qe_auth_data) == 32
    assert (
        c.qe_report.report_data[:32] == hashlib.sha256(q.attestation_key + c.qe_auth_data).digest()
    )
    assert c.qe_report.report_data[32:] == bytes(32)

    assert c.pck_cert_chain_type == 5
    assert c.pck_cert_chain_pem.count(b"BEGIN CERTIFICATE") == 3
    assert not c.pck_cert_chain_pem.endswith(b"\x00")
    certs = x509.load_pem_x509_certificates(c.pck_cert_chain_pem)
    assert len(certs) == 3
    assert "Intel SGX Root CA" in certs[2].subject.rfc4514_string()
    leaf_key = certs[0].public_key()
    assert isinstance(leaf_key, ec.EllipticCurvePublicKey)
    der = encode_dss_signature(
        int.from_bytes(c.qe_report_signature[:32], "big"),
        int.from_bytes(c.qe_report_signature[32:], "big"),
    )
    leaf_key.verify(der, c.qe_report.raw, ec.ECDSA(hashes.SHA256()))


def test_v5_sample_tcb_svns_and_service_td(testdata: Path) -> None:
    b = _parse(testdata, V5).body
    assert b.tee_tcb_svn == bytes.fromhex("0b010400000000000000000000000000")
    assert b.tee_tcb_svn2 == bytes.fromhex("0d010400000000000000000000000000")
    assert b.mr_service_td == bytes(48)


def test_debug_td_attribute_on_trustee_quote_4(testdata: Path) -> None:
    attrs = _parse(testdata, "trustee/test_data/tdx_quote_4.dat").body.td_attributes
    assert attrs.debug
    assert attrs.tud == 1
    assert attrs.names() == ["DEBUG", "SEPT_VE_DISABLE"]


def test_spr_e4_attributes_and_appended_text(testdata: Path) -> None:
    q = _parse(testdata, SPR_E4)
    attrs = q.body.td_attributes
    assert not attrs.sept_ve_disable
    assert attrs.pks
    assert not attrs.debug
    assert attrs.names() == ["PKS"]
    assert q.trailing == b"\nextra bytes(only for testing purpose)\n"
    assert q.body.tee_tcb_svn[1] == 0


def test_azure_quote_has_sept_ve_disable_clear(testdata: Path) -> None:
    attrs = _parse(testdata, "trustee/test_data/az-tdx-vtpm/td-quote.bin").body.td_attributes
    assert not attrs.sept_ve_disable
    assert attrs.names() == []


def test_cos_113_zero_padding_is_ignored(testdata: Path) -> None:
    data = _load(testdata, COS_113)
    q = parse_quote(data)
    assert len(data) == 8000
    assert len(q.raw) == 4935
    assert q.trailing == bytes(8000 - 4935)
    # The PEM chain of this quote is not NUL-terminated; the others are.
    assert q.certification.pck_cert_chain_pem.endswith(b"-----END CERTIFICATE-----\n")


def test_xfam_features_of_a_real_quote(testdata: Path) -> None:
    xfam = _parse(testdata, V5).body.xfam
    assert xfam.value == 0x602E7
    assert xfam.names() == [
        "x87",
        "SSE",
        "AVX",
        "AVX512_OPMASK",
        "AVX512_ZMM_HI256",
        "AVX512_HI16_ZMM",
        "PKRU",
        "AMX_TILECFG",
        "AMX_TILEDATA",
    ]


def test_attribute_and_xfam_bit_names() -> None:
    attrs = TdAttributes((1 << 63 | 1 << 31 | 1 << 29 | 1 << 27 | 1 << 17).to_bytes(8, "little"))
    assert attrs.perfmon and attrs.kl and attrs.migratable and attrs.lass
    assert attrs.names() == ["RESERVED_BIT_17", "LASS", "MIGRATABLE", "KL", "PERFMON"]
    assert attrs.sec == (1 << 23 | 1 << 21 | 1 << 19 | 1 << 9)
    assert attrs.other == 1 << 31
    xfam = Xfam((1 << 8 | 1 << 11 | 1 << 12 | 1 << 14 | 1 << 15 | 1 << 40).to_bytes(8, "little"))
    assert xfam.names() == ["PT", "CET_U", "CET_S", "ULI", "LBR", "RESERVED_BIT_40"]
    with pytest.raises(ParseError):
        Xfam(b"\x00" * 7)


def test_qe_report_fields(testdata: Path) -> None:
    e = _parse(testdata, V5).certification.qe_report
    assert len(e.raw) == 384
    assert e.raw[320:] == e.report_data
    assert e.cpu_svn == e.raw[:16]
    assert e.mr_enclave == e.raw[64:96]
    assert e.mr_signer == e.raw[128:160]
    assert e.isv_prod_id == 2  # TD quoting enclave
    assert e.isv_svn == int.from_bytes(e.raw[258:260], "little")


@pytest.mark.parametrize("rel", [V4, V5, SPR_E4])
def test_json_and_text_rendering(testdata: Path, rel: str) -> None:
    q = _parse(testdata, rel)
    doc = quote_to_json(q)
    assert json.loads(json.dumps(doc)) == doc
    assert doc["header"]["version"] == q.header.version
    assert doc["body"]["mr_td"] == q.body.mr_td.hex()
    assert doc["body"]["rtmrs"] == [r.hex() for r in q.body.rtmrs]
    assert doc["body"]["td_attributes"]["flags"] == q.body.td_attributes.names()
    assert doc["certification_data"]["qe_auth_data"] == q.certification.qe_auth_data.hex()
    assert doc["trailing_size"] == len(q.trailing)
    assert ("tee_tcb_svn2" in doc["body"]) == (q.body_type == 3)

    assert doc["certification_data"]["pck_cert_chain_certificates"] == 3
    assert "0x" not in json.dumps(doc)  # one hex convention: lowercase, no prefix

    text = render_quote(q)
    for value in (q.body.mr_td, q.body.report_data, *q.body.rtmrs, q.signature):
        assert value.hex() in text
    assert f"  version               {q.header.version}\n" in text
    assert "BEGIN CERTIFICATE" not in text  # the chain is summarised, not dumped
    assert "pck cert chain        type 5 (PCK certificate chain), 3 certificates" in text
    assert [line for line in text.splitlines() if line.endswith(":")] == [
        "Header:",
        "TD report:",
        "Signature:",
        "QE report:",
    ]


# --- negative cases ------------------------------------------------------------------------


@pytest.mark.parametrize("rel", [V4, V5])
def test_every_truncation_is_a_parse_error(testdata: Path, rel: str) -> None:
    raw = _parse(testdata, rel).raw
    for size in range(len(raw)):
        with pytest.raises(ParseError) as info:
            parse_quote(raw[:size])
        assert info.value.field is not None and info.value.offset is not None


def test_truncation_names_the_field() -> None:
    with pytest.raises(ParseError, match="truncated") as info:
        parse_quote(bytes.fromhex("0400020081000000aabb"))
    assert info.value.field == "reserved"
    assert info.value.offset == 8
    assert info.value.exit_code == ExitCode.MALFORMED_INPUT


def _patched(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, value)
    return bytes(out)


def test_v5_body_type_flip_3_to_2_is_a_parse_error(testdata: Path) -> None:
    data = _patched(_load(testdata, V5), 48, "<H", 2)
    with pytest.raises(ParseError, match="size 648 != 584") as info:
        parse_quote(data)
    assert info.value.field == "body_size"


@pytest.mark.parametrize("body_type", [0, 1, 4, 0xFFFF])
def test_v5_other_body_types_are_rejected(testdata: Path, body_type: int) -> None:
    data = _patched(_load(testdata, V5), 48, "<H", body_type)
    with pytest.raises(ParseError, match=f"body type {body_type}"):
        parse_quote(data)


@pytest.mark.parametrize("version", [0, 3, 6])
def test_unsupported_versions(testdata: Path, version: int) -> None:
    data = _patched(_load(testdata, V4), 0, "<H", version)
    with pytest.raises(ParseError, match=f"unsupported quote version {version}"):
        parse_quote(data)


def test_sgx_tee_type_is_rejected(testdata: Path) -> None:
    for rel in (V4, V5):
        data = _patched(_load(testdata, rel), 4, "<I", 0)
        with pytest.raises(ParseError, match="this is an SGX quote, not TDX"):
            parse_quote(data)


def test_unknown_tee_type_and_key_type(testdata: Path) -> None:
    with pytest.raises(ParseError, match="tee_type 0x00000042"):
        parse_quote(_patched(_load(testdata, V4), 4, "<I", 0x42))
    with pytest.raises(ParseError, match="attestation key type 3"):
        parse_quote(_patched(_load(testdata, V4), 2, "<H", 3))


@pytest.mark.parametrize("cert_type", [1, 4, 5, 7, 99])
def test_top_level_certification_data_type_must_be_6(testdata: Path, cert_type: int) -> None:
    data = _patched(_load(testdata, V4), V4_CERT_TYPE_AT, "<H", cert_type)
    with pytest.raises(ParseError, match=f"certification data type {cert_type} ") as info:
        parse_quote(data)
    assert "type 6" in info.value.message
    assert info.value.offset == V4_CERT_TYPE_AT


@pytest.mark.parametrize("chain_type", [1, 3, 4, 6])
def test_nested_certification_data_type_must_be_5(testdata: Path, chain_type: int) -> None:
    q = _parse(testdata, V4)
    at = V4_CERT_TYPE_AT + 6 + 384 + 64 + 2 + len(q.certification.qe_auth_data)
    data = _patched(q.raw, at, "<H", chain_type)
    with pytest.raises(ParseError, match=f"carries type {chain_type} ") as info:
        parse_quote(data)
    assert "type 5" in info.value.message


def test_signature_data_size_must_match_its_content(testdata: Path) -> None:
    q = _parse(testdata, V4)
    at = 48 + 584
    size = struct.unpack_from("<I", q.raw, at)[0]
    with pytest.raises(ParseError, match="truncated"):
        parse_quote(_patched(q.raw, at, "<I", size + 1))
    with pytest.raises(ParseError, match="unparsed bytes"):
        parse_quote(_patched(q.raw, at, "<I", size + 1) + b"\x00")
    with pytest.raises(ParseError, match="truncated"):
        parse_quote(_patched(q.raw, at, "<I", size - 1))
    with pytest.raises(ParseError, match="truncated"):
        parse_quote(_patched(q.raw, at, "<I", 0xFFFFFFFF))


def test_qe_auth_data_size_is_bounded(testdata: Path) -> None:
    q = _parse(testdata, V4)
    at = V4_CERT_TYPE_AT + 6 + 384 + 64
    with pytest.raises(ParseError) as info:
        parse_quote(_patched(q.raw, at, "<H", 0xFFFF))
    assert info.value.field == "qe_auth_data"


def test_pck_chain_must_be_pem_text(testdata: Path) -> None:
    q = _parse(testdata, V4)
    pem_at = len(q.raw) - len(q.certification.pck_cert_chain_pem) - 1  # NUL-terminated
    corrupted = bytearray(q.raw)
    corrupted[pem_at + 10] = 0xFF
    with pytest.raises(ParseError, match="not PEM text"):
        parse_quote(bytes(corrupted))
    no_certs = q.raw.replace(b"BEGIN CERTIFICATE", b"BEGIN CERTIFICATX")
    with pytest.raises(ParseError, match="no PEM certificate"):
        parse_quote(no_certs)
