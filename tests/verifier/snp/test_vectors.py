"""Tests of the SNP vector catalogue itself, with plain ``cryptography`` checks.

Nothing here uses cairn_verifier: the catalogue must be right independently of the code it
is used to test. Expected facts come from tests/vectors/snp/PROVENANCE.md section 2.
"""

from __future__ import annotations

import hashlib
import json
import re
import warnings
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from _extract import (
    REPORT_SIZE,
    azure_evidence,
    pem_blocks,
    pem_certificates,
    protobuf_fields,
    protobuf_path,
    report_from_hcl,
    report_from_hex,
    report_from_sev_json,
    txtar_sections,
)
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import NameOID
from vectors import SnpVector, by_name, load_vectors, verified_vectors

SIGNED_END = 0x2A0  # the signature covers report bytes 0x000-0x29F
HWID_OID = x509.ObjectIdentifier("1.3.6.1.4.1.3704.1.4")


@dataclass(frozen=True)
class ProvenanceRow:
    vector: str
    version: int
    sha16: str
    product: str | None
    key: str
    result: str


def provenance_rows(testdata: Path) -> list[ProvenanceRow]:
    """Section 2 rows of PROVENANCE.md that name a report (``v<N> sha256:<16 hex>``)."""
    text = (testdata / "snp" / "PROVENANCE.md").read_text(encoding="utf-8")
    section = text.split("## 2.", 1)[1].split("## 3.", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 5:
            continue
        match = re.fullmatch(r"v(\d) sha256:([0-9a-f]{16})", cells[1])
        if match:
            product = None if cells[2] == "-" else cells[2]
            rows.append(
                ProvenanceRow(
                    cells[0], int(match[1]), match[2], product, cells[3], cells[4].strip("*")
                )
            )
    return rows


def sha16(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def load_cert(der: bytes) -> x509.Certificate:
    """Load a certificate; AMD VCEK/VLEK serial 0 triggers a deprecation warning, expected."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        return x509.load_der_x509_certificate(der)


def common_name(name: x509.Name) -> str:
    return str(name.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def report_signature_valid(report: bytes, leaf_der: bytes) -> bool:
    """ECDSA P-384/SHA-384 over bytes 0x000-0x29F; R and S are 72-byte little-endian."""
    key = load_cert(leaf_der).public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    assert key.curve.name == "secp384r1"
    r = int.from_bytes(report[0x2A0:0x2E8], "little")
    s = int.from_bytes(report[0x2E8:0x330], "little")
    try:
        key.verify(encode_dss_signature(r, s), report[:SIGNED_END], ec.ECDSA(hashes.SHA384()))
    except InvalidSignature:
        return False
    return True


def issued_by(cert_der: bytes, issuer_der: bytes) -> bool:
    """RSASSA-PSS (SHA-384, MGF1-SHA-384, salt 48) signature of ``issuer`` over ``cert``."""
    cert, issuer = load_cert(cert_der), load_cert(issuer_der)
    key = issuer.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48)
    try:
        key.verify(cert.signature, cert.tbs_certificate_bytes, pss, hashes.SHA384())
    except InvalidSignature:
        return False
    return True


def hw_id(leaf_der: bytes) -> bytes:
    """The VCEK hwID extension: raw bytes, or inside an OCTET STRING (trustee 'invalid-new')."""
    value = load_cert(leaf_der).extensions.get_extension_for_oid(HWID_OID).value
    assert isinstance(value, x509.UnrecognizedExtension)
    raw = value.value
    return raw[2:] if raw[:2] == b"\x04\x40" else raw


def chip_id_matches(vector: SnpVector) -> bool:
    """CHIP_ID == hwID (Turin: 8-byte hwID, CHIP_ID[8:] zero)."""
    hwid, chip_id = hw_id(vector.leaf), vector.report[0x1A0:0x1E0]
    return chip_id[: len(hwid)] == hwid and not any(chip_id[len(hwid) :])


@pytest.fixture(scope="module")
def vectors(testdata: Path) -> list[SnpVector]:
    return load_vectors(testdata)


def test_catalogue_mirrors_provenance_section_2(testdata: Path, vectors: list[SnpVector]) -> None:
    """One vector per section-2 report row, in order, with the same hash, version and verdict."""
    rows = provenance_rows(testdata)
    assert len(rows) == 31
    assert len(vectors) == len(rows)
    for vector, row in zip(vectors, rows, strict=True):
        assert len(vector.report) == REPORT_SIZE
        assert sha16(vector.report) == row.sha16, (vector.name, row.vector)
        assert int.from_bytes(vector.report[:4], "little") == row.version, vector.name
        assert vector.product == row.product, vector.name
        assert vector.signing_key == row.key.lower(), vector.name
        verified = row.result == "VERIFIED E2E"
        assert (vector.expected == "verified") == verified, (vector.name, row.result)
        assert (vector.expected == "parse-only") == row.result.startswith("parse only")


def test_counts(testdata: Path, vectors: list[SnpVector]) -> None:
    """24 verified pairings of 21 distinct reports (two reports are paired twice or thrice)."""
    verified = verified_vectors(testdata)
    assert len(verified) == 24
    assert len({v.report for v in verified}) == 21
    assert len({v.report for v in vectors}) == 26
    assert Counter(v.expected for v in vectors) == {
        "verified": 24,
        "tampered-vcek": 2,
        "parse-only": 3,
        "bad-signature": 1,
        "wrong-chip": 1,
    }
    assert Counter(v.signing_key for v in verified) == {"vcek": 22, "vlek": 2}
    assert Counter(v.product for v in verified) == {"Milan": 17, "Genoa": 5, "Turin": 2}


def test_names_are_unique_and_lookup_works(testdata: Path, vectors: list[SnpVector]) -> None:
    names = [v.name for v in vectors]
    assert len(set(names)) == len(names)
    turin = by_name(testdata, "oak/turin_oc")
    assert turin.product == "Turin"
    assert int.from_bytes(turin.report[:4], "little") == 5
    with pytest.raises(KeyError, match="no SNP vector named"):
        by_name(testdata, "oak/missing")


def test_report_fields_agree_with_catalogue(vectors: list[SnpVector]) -> None:
    """SIGNING_KEY bits and (v3+) CPUID family/model agree with the catalogued key and product."""
    families = {"Milan": (0x19, range(0x00, 0x10)), "Turin": (0x1A, range(0x00, 0x12))}
    for vector in vectors:
        signer_info = int.from_bytes(vector.report[0x48:0x4C], "little")
        assert (signer_info >> 2) & 0b111 == (0 if vector.signing_key == "vcek" else 1)
        version = int.from_bytes(vector.report[:4], "little")
        if version < 3 or vector.product is None:
            continue
        family, model = vector.report[0x188], vector.report[0x189]
        if vector.product == "Genoa":
            assert family == 0x19 and (0x10 <= model <= 0x1F or 0xA0 <= model <= 0xAF)
        else:
            expected_family, models = families[vector.product]
            assert family == expected_family and model in models, vector.name


def test_certificates_are_leaf_intermediate_root(vectors: list[SnpVector]) -> None:
    for vector in vectors:
        if vector.expected == "parse-only":
            assert vector.certs == () and vector.at is None
            continue
        leaf, middle, root = (load_cert(der) for der in vector.certs)
        kind = vector.signing_key.upper()
        assert common_name(leaf.subject) == f"SEV-{kind}", vector.name
        middle_cn = f"SEV-{vector.product}" if kind == "VCEK" else f"SEV-VLEK-{vector.product}"
        assert common_name(middle.subject) == middle_cn
        assert common_name(leaf.issuer) == middle_cn
        assert common_name(middle.issuer) == common_name(root.subject) == f"ARK-{vector.product}"
        assert common_name(root.issuer) == f"ARK-{vector.product}"


def test_pinned_time_is_inside_every_certificate_window(vectors: list[SnpVector]) -> None:
    for vector in vectors:
        if not vector.certs:
            continue
        assert vector.at is not None and vector.at.utcoffset() is not None, vector.name
        for der in vector.certs:
            cert = load_cert(der)
            assert cert.not_valid_before_utc < vector.at < cert.not_valid_after_utc, vector.name


def test_verified_vectors_verify_end_to_end(testdata: Path) -> None:
    for vector in verified_vectors(testdata):
        leaf, middle, root = vector.certs
        assert report_signature_valid(vector.report, leaf), vector.name
        assert issued_by(leaf, middle), vector.name
        assert issued_by(middle, root), vector.name
        assert issued_by(root, root), vector.name
        if vector.signing_key == "vcek":
            assert chip_id_matches(vector), vector.name
        else:  # VLEK-signed reports carry an all-zero CHIP_ID
            assert not any(vector.report[0x1A0:0x1E0])


@pytest.mark.parametrize(
    "name",
    [
        "constellation/vlek-bad-signature",
        "azure-cvm-tooling/hcl-report+other-chip-vcek",
        "trustee/test-report+vcek-invalid-legacy",
        "trustee/test-report+vcek-invalid-new",
    ],
)
def test_negative_vectors_do_not_verify(testdata: Path, name: str) -> None:
    vector = by_name(testdata, name)
    leaf, middle, root = vector.certs
    assert not report_signature_valid(vector.report, leaf)
    assert issued_by(middle, root) and issued_by(root, root)
    # Only the tampered VCEKs have a broken certificate signature.
    assert issued_by(leaf, middle) == (vector.expected != "tampered-vcek")
    if vector.signing_key == "vcek":
        assert not chip_id_matches(vector)


def test_tampered_vceks_only_differ_from_the_genuine_one(testdata: Path) -> None:
    genuine = by_name(testdata, "trustee/test-report")
    for suffix in ("legacy", "new"):
        tampered = by_name(testdata, f"trustee/test-report+vcek-invalid-{suffix}")
        assert tampered.expected == "tampered-vcek"
        assert tampered.report == genuine.report
        assert tampered.leaf != genuine.leaf
        assert hw_id(tampered.leaf)[:8] == bytes(range(8))


def test_e2e_json_reserialisation_is_byte_exact(testdata: Path) -> None:
    """The rebuilt trustee e2e report verifies; changing one re-serialised field breaks it."""
    vector = by_name(testdata, "trustee/as-e2e")
    assert report_signature_valid(vector.report, vector.leaf)
    fields = json.loads((testdata / "snp" / "trustee" / "as-e2e_evidence.json").read_bytes())
    report_fields = fields["attestation_report"]
    assert report_from_sev_json(report_fields, "e2e") == vector.report
    assert vector.report[0x188:0x18B] == bytes([0x19, 0xA0, 0x02])  # CPUID fam/model/step
    report_fields["current"]["build"] ^= 1
    assert not report_signature_valid(report_from_sev_json(report_fields, "e2e"), vector.leaf)


def test_sev_json_rejects_unknown_keys(testdata: Path) -> None:
    fields = json.loads((testdata / "snp" / "trustee" / "as-e2e_evidence.json").read_bytes())
    report_fields = fields["attestation_report"]
    report_fields["surprise"] = 1
    with pytest.raises(ValueError, match="unknown report keys"):
        report_from_sev_json(report_fields, "e2e")


def test_oak_endorsement_paths_hold_vceks(testdata: Path) -> None:
    """The VCEK field paths from PROVENANCE (3.1.1, 2.1.1, 1.1.1) each hold one SEV-VCEK."""
    for stem, path in (("cb", (3, 1, 1)), ("genoa_oc", (2, 1, 1)), ("milan_rk_release", (1, 1, 1))):
        data = (testdata / "snp" / "oak" / f"{stem}_endorsements.binarypb").read_bytes()
        assert common_name(load_cert(protobuf_path(data, path, stem)).subject) == "SEV-VCEK"
        assert load_cert(protobuf_path(data, path, stem)) == load_cert(
            by_name(testdata, f"oak/{stem}").leaf
        )


def test_azure_json_hcl_reports_carry_the_magic(testdata: Path) -> None:
    for version in ("v0", "v1", "v2", "genoa"):
        path = testdata / "snp" / "trustee" / f"az-snp-vtpm_evidence-{version}.json"
        hcl, vcek = azure_evidence(path.read_bytes(), path.name)
        assert hcl.startswith(b"HCLA")
        assert common_name(load_cert(vcek).subject) == "SEV-VCEK"


def test_txtar_sections_of_openpcc_certificates(testdata: Path) -> None:
    text = (testdata / "snp" / "openpcc" / "sev_certificates.txt").read_bytes()
    sections = txtar_sections(text, "sev_certificates.txt")
    assert list(sections) == [
        "test_amd_genoa_crl.pem",
        "test_amd_milan_crl.pem",
        "test_amd_sev_milan_root_certs.pem",
        "test_amd_sev_genoa_root_certs.pem",
        "test_vcek.pem",
    ]
    (crl,) = pem_blocks(sections["test_amd_genoa_crl.pem"], "X509 CRL", "genoa crl")
    assert common_name(x509.load_der_x509_crl(crl).issuer) == "ARK-Genoa"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: protobuf_fields(b"\x0a\x05ab", "t"), "runs past the end"),
        (lambda: protobuf_fields(b"\x08\xff", "t"), "truncated protobuf varint"),
        (lambda: protobuf_fields(b"\x0b", "t"), "unsupported protobuf wire type 3"),
        (lambda: protobuf_path(b"\x0a\x00\x0a\x00", (1,), "t"), "occurs 2 times"),
        (lambda: report_from_hcl(b"XCLA" + bytes(2000), "t"), "missing b'HCLA' magic"),
        (lambda: report_from_hcl(b"HCLA" + bytes(100), "t"), "too short"),
        (lambda: report_from_hex(b"00" * 1183, "t"), "expected 1184 report bytes, got 1183"),
        (lambda: report_from_hex(b"zz", "t"), "not a hex-encoded report"),
        (lambda: txtar_sections(b"no sections", "t"), "not a txtar archive"),
        (lambda: txtar_sections(b"-- a --\nx\n-- a --\ny\n", "t"), "duplicate txtar section"),
    ],
)
def test_extractors_reject_malformed_containers(call: object, message: str) -> None:
    assert callable(call)
    with pytest.raises(ValueError, match=re.escape(message)):
        call()


# --- bundled examples (examples/snp) ---------------------------------------------------------

EXAMPLES_DIR = Path(__file__).resolve().parents[3] / "examples" / "snp"
EXAMPLES = {
    "milan-v3-oak-containers": "oak/milan_oc_release",
    "genoa-v5-oak-containers": "oak/genoa_oc",
    "turin-v5-oak-containers": "routex-client-lua/turin-chain+oak-turin_oc",
}


def test_examples_are_catalogued_vectors(testdata: Path) -> None:
    """Each example is a verified vector, byte for byte, with LF-only PEMs."""
    assert sorted(p.name for p in EXAMPLES_DIR.iterdir() if p.is_dir()) == sorted(EXAMPLES)
    for directory, name in EXAMPLES.items():
        vector = by_name(testdata, name)
        assert vector.expected == "verified"
        folder = EXAMPLES_DIR / directory
        assert sorted(p.name for p in folder.iterdir()) == [
            "ark.pem",
            "ask.pem",
            "report.bin",
            "vcek.pem",
        ]
        assert (folder / "report.bin").read_bytes() == vector.report
        pems = [(folder / f"{role}.pem").read_bytes() for role in ("vcek", "ask", "ark")]
        assert all(b"\r" not in pem for pem in pems)
        assert tuple(pem_certificates(pem, directory)[0] for pem in pems) == vector.certs
        assert all(len(pem_certificates(pem, directory)) == 1 for pem in pems)


def test_example_certificates_stay_valid_for_years() -> None:
    """Valid on 2026-11-23 (when bundled) and still on 2031-12-31: the demo keeps working."""
    for directory in EXAMPLES:
        for role in ("vcek", "ask", "ark"):
            pem = (EXAMPLES_DIR / directory / f"{role}.pem").read_bytes()
            (der,) = pem_certificates(pem, f"{directory}/{role}.pem")
            cert = load_cert(der)
            assert cert.not_valid_before_utc < datetime(2026, 11, 23, tzinfo=UTC)
            assert cert.not_valid_after_utc > datetime(2031, 12, 31, tzinfo=UTC)


def test_examples_provenance_lists_every_file_hash() -> None:
    text = (EXAMPLES_DIR / "PROVENANCE.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"\| ([0-9a-f]{64}) \|", text))
    actual = {
        hashlib.sha256(path.read_bytes()).hexdigest()
        for directory in EXAMPLES
        for path in (EXAMPLES_DIR / directory).iterdir()
    }
    assert listed == actual
