"""Cairn's own X.509 certificate parser against real AMD and Intel certificates."""

from __future__ import annotations

import contextlib
import json
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from cairn_verifier.errors import ChainError, MalformedInputError, ParseError
from cairn_verifier.x509.cert import Certificate, load_certificates, parse_certificate
from cairn_verifier.x509.der import read_tlv

# Every file under testdata/snp that holds certificates, with how many it holds.
SNP_CERT_FILES = {
    "azure-cvm-tooling/certs.pem": 3,
    "constellation/aws-snp_certchain.pem": 2,
    "constellation/aws-snp_vlek.pem": 1,
    "constellation/snp_certchain.pem": 2,
    "constellation/snp_vcek.cert": 1,
    "constellation/snp_vcek.pem": 1,
    "constellation/snp_vlek.pem": 1,
    "constellation/snp_vlekcertchain.pem": 2,
    "go-sev-guest/ask_ark_genoa.pem": 2,
    "go-sev-guest/ask_ark_genoa_vlek.pem": 2,
    "go-sev-guest/ask_ark_milan.pem": 2,
    "go-sev-guest/ask_ark_milan_vlek.pem": 2,
    "go-sev-guest/ask_ark_turin_vcek.pem": 2,
    "go-sev-guest/ask_ark_turin_vlek.pem": 2,
    "go-sev-guest/milan.testcer": 2,
    "go-sev-guest/milanvlek.testcer": 2,
    "go-sev-guest/vcek.testcer": 1,
    "oak/ark_genoa.pem": 1,
    "oak/ark_milan.pem": 1,
    "oak/ark_turin.pem": 1,
    "oak/ask_genoa.pem": 1,
    "oak/ask_milan.pem": 1,
    "oak/ask_turin.pem": 1,
    "routex-client-lua/vcek-chain-genoa.pem": 3,
    "routex-client-lua/vcek-chain-milan.pem": 3,
    "routex-client-lua/vcek-chain-turin.pem": 3,
    "trustee/az-snp-vtpm_vcek-genoa.pem": 1,
    "trustee/az-snp-vtpm_vcek.pem": 3,
    "trustee/genoa_ask_ark_asvk.pem": 3,
    "trustee/milan_ask_ark_asvk.pem": 3,
    "trustee/snp_test-vcek-invalid-legacy.der": 1,
    "trustee/snp_test-vcek-invalid-new.der": 1,
    "trustee/snp_test-vcek.der": 1,
    "trustee/snp_test-vlek.der": 1,
    "trustee/turin_ask_ark_asvk.pem": 3,
    "virtee-sev/builtin_genoa_ark.pem": 1,
    "virtee-sev/builtin_genoa_ask.pem": 1,
    "virtee-sev/builtin_milan_ark.pem": 1,
    "virtee-sev/builtin_milan_ask.pem": 1,
    "virtee-sev/builtin_turin_ark.pem": 1,
    "virtee-sev/builtin_turin_ask.pem": 1,
    "virtee-sev/cert_chain_milan": 2,
    "virtee-sev/cert_chain_turin": 2,
    "virtee-sev/vcek_milan.der": 1,
    "virtee-sev/vcek_turin.der": 1,
}

ARK_MILAN_SHA256 = "69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd"


def _reference(der: bytes) -> x509.Certificate:
    """cryptography's view of the same certificate (serial-0 warning silenced here)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        ref = x509.load_der_x509_certificate(der)
        _ = ref.serial_number
    return ref


def _reference_serial(ref: x509.Certificate) -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        return ref.serial_number


def _set_bits(bit_string_der: bytes) -> set[int]:
    assert bit_string_der[0] == 0x03 and bit_string_der[1] == len(bit_string_der) - 2
    unused, body = bit_string_der[2], bit_string_der[3:]
    total = len(body) * 8 - unused
    value = int.from_bytes(body, "big") >> unused
    return {total - 1 - i for i in range(total) if value >> i & 1}


def _load(testdata: Path, rel: str) -> list[Certificate]:
    return load_certificates((testdata / "snp" / rel).read_bytes())


@pytest.mark.parametrize("rel", sorted(SNP_CERT_FILES))
def test_every_snp_certificate_matches_cryptography(testdata: Path, rel: str) -> None:
    certs = _load(testdata, rel)
    assert len(certs) == SNP_CERT_FILES[rel]
    for cert in certs:
        ref = _reference(cert.der)
        assert cert.serial == _reference_serial(ref)
        assert cert.version == 3
        assert cert.tbs == ref.tbs_certificate_bytes
        assert cert.signature == ref.signature
        assert cert.signature_algorithm.oid == ref.signature_algorithm_oid.dotted_string
        assert cert.issuer.der == ref.issuer.public_bytes()
        assert cert.subject.der == ref.subject.public_bytes()
        assert str(cert.issuer) == ref.issuer.rfc4514_string()
        assert str(cert.subject) == ref.subject.rfc4514_string()
        common_names = ref.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        assert cert.subject.common_name == common_names[-1].value
        assert cert.not_before == ref.not_valid_before_utc
        assert cert.not_after == ref.not_valid_after_utc
        assert cert.spki_der == ref.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        assert cert.public_key() == ref.public_key()
        assert cert.fingerprint_sha256 == ref.fingerprint(hashes.SHA256())
        ref_extensions = {ext.oid.dotted_string: ext for ext in ref.extensions}
        assert set(cert.extensions) == set(ref_extensions)
        for oid, ext in cert.extensions.items():
            ref_ext = ref_extensions[oid]
            assert ext.critical == ref_ext.critical
            ref_value = ref_ext.value
            if isinstance(ref_value, x509.UnrecognizedExtension):
                assert ext.value == ref_value.value  # AMD's extensions: raw bytes
            elif isinstance(ref_value, x509.KeyUsage):
                # AMD encodes keyUsage with a non-minimal unused-bits count (03 02 01 04);
                # cryptography re-encodes it minimally, so compare the bits that are set.
                assert _set_bits(ext.value) == _set_bits(ref_value.public_bytes())
            else:
                assert ext.value == ref_value.public_bytes()
        # AMD signs everything with RSASSA-PSS SHA-384 / MGF1-SHA-384 / salt 48.
        alg = cert.signature_algorithm
        assert (alg.kind, alg.hash, alg.mgf_hash, alg.salt_length) == (
            "rsa-pss",
            "sha384",
            "sha384",
            48,
        )
        assert alg.is_rsa_pss_sha384_salt48


def test_cryptography_still_warns_about_serial_zero(testdata: Path) -> None:
    """AMD VCEKs have serial 0; cryptography deprecates that. If this starts raising instead,
    Cairn's own parser is what keeps VCEKs working (see test above)."""
    der = (testdata / "snp/go-sev-guest/vcek.testcer").read_bytes()
    with pytest.warns(CryptographyDeprecationWarning, match="serial number"):
        ref = x509.load_der_x509_certificate(der)
        assert ref.serial_number == 0
    assert parse_certificate(der).serial == 0


def test_turin_crlf_pem_chain(testdata: Path) -> None:
    data = (testdata / "snp/virtee-sev/cert_chain_turin").read_bytes()
    assert b"\r\n" in data
    ask, ark = load_certificates(data)
    assert (ask.subject.common_name, ark.subject.common_name) == ("SEV-Turin", "ARK-Turin")
    assert ask.serial == 0x30001
    assert ark.serial == 0x30000


def test_text_between_pem_blocks(testdata: Path) -> None:
    # A txtar archive: prose, "-- name --" lines, CRL blocks and certificate blocks.
    certs = load_certificates((testdata / "snp/openpcc/sev_certificates.txt").read_bytes())
    names = [c.subject.common_name for c in certs]
    assert names.count("SEV-VCEK") == 1
    assert {"ARK-Milan", "SEV-Milan", "ARK-Genoa", "SEV-Genoa"} <= set(names)


def test_vcek_fields(testdata: Path) -> None:
    cert = parse_certificate((testdata / "snp/go-sev-guest/vcek.testcer").read_bytes())
    assert cert.serial == 0
    assert cert.subject.common_name == "SEV-VCEK"
    assert cert.issuer.common_name == "SEV-Milan"
    assert str(cert.issuer) == (
        "CN=SEV-Milan,O=Advanced Micro Devices,ST=CA,L=Santa Clara,C=US,OU=Engineering"
    )
    assert cert.not_before == datetime(2022, 9, 24, 0, 55, 28, tzinfo=UTC)
    assert cert.not_after == datetime(2029, 9, 24, 0, 55, 28, tzinfo=UTC)
    assert "1.3.6.1.4.1.3704.1.4" in cert.extensions
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert cert == parse_certificate(cert.der)
    assert len({cert, parse_certificate(cert.der)}) == 1


def test_ark_fingerprint_and_self_signature(testdata: Path) -> None:
    (ark,) = _load(testdata, "oak/ark_milan.pem")
    assert ark.fingerprint_sha256.hex() == ARK_MILAN_SHA256
    ark.verify_signed_by(ark)
    assert isinstance(ark.public_key(), rsa.RSAPublicKey)


def test_chain_links_verify_and_wrong_issuer_fails(testdata: Path) -> None:
    vcek, ask, ark = _load(testdata, "routex-client-lua/vcek-chain-milan.pem")
    vcek.verify_signed_by(ask)
    ask.verify_signed_by(ark)
    with pytest.raises(ChainError, match="names issuer 'CN=SEV-Milan"):
        vcek.verify_signed_by(ark)
    (genoa_ask,) = _load(testdata, "oak/ask_genoa.pem")
    with pytest.raises(ChainError, match="supplied issuer is 'CN=SEV-Genoa"):
        vcek.verify_signed_by(genoa_ask)


def test_tampered_signature_fails(testdata: Path) -> None:
    vcek, ask, _ = _load(testdata, "routex-client-lua/vcek-chain-genoa.pem")
    der = bytearray(vcek.der)
    der[-1] ^= 0x01  # last byte of the signature BIT STRING
    tampered = parse_certificate(bytes(der))
    with pytest.raises(ChainError, match="does not verify under the key of 'SEV-Genoa'") as info:
        tampered.verify_signed_by(ask)
    assert info.value.hint


def test_validity_at_pinned_times(testdata: Path) -> None:
    (vlek,) = _load(testdata, "trustee/snp_test-vlek.der")
    assert vlek.not_before == datetime(2024, 12, 10, 22, 14, 21, tzinfo=UTC)
    assert vlek.not_after == datetime(2025, 12, 10, 22, 14, 21, tzinfo=UTC)
    inside = datetime(2025, 6, 1, tzinfo=UTC)
    assert vlek.is_valid_at(inside)
    vlek.check_validity(inside, "VLEK")
    assert vlek.is_valid_at(vlek.not_after)
    after = vlek.not_after + timedelta(seconds=1)
    assert not vlek.is_valid_at(after)
    with pytest.raises(ChainError, match=r"VLEK certificate 'SEV-VLEK' expired on 2025-12-10") as e:
        vlek.check_validity(after, "VLEK")
    assert e.value.component == "VLEK"
    assert e.value.hint
    with pytest.raises(ChainError, match="not yet valid until 2024-12-10"):
        vlek.check_validity(datetime(2024, 1, 1, tzinfo=UTC), "VLEK")
    with pytest.raises(ValueError, match="timezone-aware"):
        vlek.is_valid_at(datetime(2025, 6, 1))


# --- Intel certificates: ECDSA P-256 / SHA-256 (the generic path) -------------------------


def _intel_chain(testdata: Path, field: str) -> list[Certificate]:
    doc = json.loads((testdata / "tdx/dcap-qvl/sample/tdx_quote_collateral.json").read_text())
    return load_certificates(doc[field].encode())


def test_intel_ecdsa_chain(testdata: Path) -> None:
    root = parse_certificate((testdata / "tdx/dcap-qvl/src/TrustedRootCA.der").read_bytes())
    assert root.subject.common_name == "Intel SGX Root CA"
    assert root.signature_algorithm.kind == "ecdsa"
    assert root.signature_algorithm.hash == "sha256"
    root.verify_signed_by(root)
    signing, chain_root = _intel_chain(testdata, "tcb_info_issuer_chain")
    assert chain_root == root
    signing.verify_signed_by(root)
    platform_ca, _ = _intel_chain(testdata, "pck_crl_issuer_chain")
    platform_ca.verify_signed_by(root)
    with pytest.raises(ChainError):
        root.verify_signed_by(platform_ca)
    for cert in (root, signing, platform_ca):
        ref = _reference(cert.der)
        assert cert.serial == ref.serial_number
        assert str(cert.subject) == ref.subject.rfc4514_string()


# --- generated certificates for the algorithms no real vector here uses --------------------


def _issue(
    issuer_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
    subject_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
    algorithm: hashes.SHA256 | hashes.SHA384,
    rsa_padding: padding.PSS | None = None,
) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Cairn test")])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(subject_key.public_key())
        .serial_number(7)
        .not_valid_before(datetime(2024, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(2034, 1, 1, tzinfo=UTC))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    )
    cert = builder.sign(issuer_key, algorithm, rsa_padding=rsa_padding)
    return cert.public_bytes(serialization.Encoding.DER)


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.mark.parametrize("digest", [hashes.SHA256(), hashes.SHA384()])
def test_rsa_pkcs1v15(rsa_key: rsa.RSAPrivateKey, digest: hashes.SHA256 | hashes.SHA384) -> None:
    cert = parse_certificate(_issue(rsa_key, rsa_key, digest))
    assert (cert.signature_algorithm.kind, cert.signature_algorithm.hash) == (
        "rsa-pkcs1v15",
        digest.name,
    )
    assert cert.extensions["2.5.29.19"].critical
    cert.verify_signed_by(cert)


@pytest.mark.parametrize("digest", [hashes.SHA256(), hashes.SHA384()])
def test_ecdsa(digest: hashes.SHA256 | hashes.SHA384) -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    cert = parse_certificate(_issue(key, key, digest))
    assert (cert.signature_algorithm.kind, cert.signature_algorithm.hash) == ("ecdsa", digest.name)
    cert.verify_signed_by(cert)
    other = parse_certificate(_issue(ec.generate_private_key(ec.SECP384R1()), key, digest))
    with pytest.raises(ChainError, match="does not verify"):
        other.verify_signed_by(cert)


def test_rsa_pss_other_parameters_verify_generically(rsa_key: rsa.RSAPrivateKey) -> None:
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    cert = parse_certificate(_issue(rsa_key, rsa_key, hashes.SHA256(), pss))
    alg = cert.signature_algorithm
    assert (alg.kind, alg.hash, alg.mgf_hash, alg.salt_length) == (
        "rsa-pss",
        "sha256",
        "sha256",
        32,
    )
    assert not alg.is_rsa_pss_sha384_salt48
    cert.verify_signed_by(cert)


def test_key_type_mismatch(testdata: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ec_cert = parse_certificate(_issue(ec_key, ec_key, hashes.SHA256()))
    rsa_cert = parse_certificate(_issue(rsa_key, rsa_key, hashes.SHA256()))
    with pytest.raises(ChainError, match="key of 'Cairn test' is of another type"):
        rsa_cert.verify_signed_by(ec_cert)


# --- malformed input ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def vcek_der(testdata: Path) -> bytes:
    return (testdata / "snp/virtee-sev/vcek_turin.der").read_bytes()


def test_trailing_bytes_rejected(vcek_der: bytes) -> None:
    with pytest.raises(ParseError, match="trailing bytes"):
        parse_certificate(vcek_der + b"\x00")


def test_truncated_rejected(vcek_der: bytes) -> None:
    with pytest.raises(ParseError, match=r"malformed X\.509 certificate") as info:
        parse_certificate(vcek_der[:-10])
    assert info.value.component == "x509"


def test_tbs_signature_algorithm_mismatch_rejected(vcek_der: bytes) -> None:
    # The tbsCertificate copy of the algorithm says salt 0x30; make it 0x31.
    marker = bytes.fromhex("a203020130")
    assert vcek_der.count(marker) == 2
    tampered = vcek_der.replace(marker, bytes.fromhex("a203020131"), 1)
    with pytest.raises(ParseError, match="differs from"):
        parse_certificate(tampered)


def test_no_certificate_in_text() -> None:
    with pytest.raises(MalformedInputError, match="no certificate found"):
        load_certificates(b"hello\nworld\n")
    with pytest.raises(MalformedInputError, match="no certificate found"):
        load_certificates(b"")


def test_bad_base64_rejected() -> None:
    pem = b"-----BEGIN CERTIFICATE-----\nMII*notbase64\n-----END CERTIFICATE-----\n"
    with pytest.raises(MalformedInputError, match="invalid base64"):
        load_certificates(pem)


def test_truncated_pem_bundle_rejected(testdata: Path) -> None:
    data = (testdata / "snp/routex-client-lua/vcek-chain-milan.pem").read_bytes()
    cut = data.rindex(b"-----END CERTIFICATE-----")
    with pytest.raises(MalformedInputError, match="without a matching END"):
        load_certificates(data[:cut])


def test_mismatched_pem_labels_rejected(vcek_der: bytes) -> None:
    pem = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END X509 CRL-----\n"
    with pytest.raises(MalformedInputError, match="ends with END X509 CRL"):
        load_certificates(pem)


def _parse_or_typed_error(data: bytes) -> None:
    try:
        cert = parse_certificate(data)
    except MalformedInputError:  # ParseError is a subclass
        return
    cert.public_key()  # a parsed certificate must also yield a key or a typed error


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_arbitrary_bytes(data: bytes) -> None:
    with contextlib.suppress(MalformedInputError):
        load_certificates(data)
    _parse_or_typed_error(data)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_fuzz_mutated_real_certificate(vcek_der: bytes, data: st.DataObject) -> None:
    blob = bytearray(vcek_der)
    for _ in range(data.draw(st.integers(1, 4))):
        index = data.draw(st.integers(0, len(blob) - 1))
        blob[index] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(blob)))
    with contextlib.suppress(ParseError):
        _parse_or_typed_error(bytes(blob[:cut]))


def _time_element(tag: int, text: bytes) -> bytes:
    return bytes([tag, len(text)]) + text


@pytest.mark.parametrize(
    ("tag", "text", "expected"),
    [
        (0x17, b"250101120000Z", datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)),
        (0x17, b"491231235959Z", datetime(2049, 12, 31, 23, 59, 59, tzinfo=UTC)),
        (0x17, b"500101000000Z", datetime(1950, 1, 1, tzinfo=UTC)),  # RFC 5280: 50-99 is 19YY
        (0x17, b"681231000000Z", datetime(1968, 12, 31, tzinfo=UTC)),
        (0x17, b"990101000000Z", datetime(1999, 1, 1, tzinfo=UTC)),
        (0x18, b"20500101000000Z", datetime(2050, 1, 1, tzinfo=UTC)),
        (0x18, b"99991231235959Z", datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)),
    ],
)
def test_der_times_read_as_rfc_5280_defines_them(tag: int, text: bytes, expected: datetime) -> None:
    element, _ = read_tlv(_time_element(tag, text))
    assert element.as_time() == expected


@pytest.mark.parametrize(
    ("tag", "text"),
    [
        (0x17, b"25010112000Z"),  # 12 characters: seconds with one digit (strptime took it)
        (0x17, b"25011120000Z"),  # a one-digit month, read by strptime as 2025-01-11
        (0x17, b"250101120000z"),  # lower-case zone (strptime took it)
        (0x17, b"2501011200Z"),  # no seconds
        (0x17, b"250101120000+0000"),  # an offset instead of Z
        (0x17, b"250101120060Z"),  # second 60
        (0x17, b"251301000000Z"),  # month 13
        (0x17, b"25010112000\xd9Z"),  # not ASCII
        (0x17, b"2501011200 0Z"),
        (0x18, b"2025010112000Z"),  # 14 characters
        (0x18, b"20250101120000.5Z"),  # fractions are not DER for certificates
        (0x18, b"00000101000000Z"),  # year 0
        (0x04, b"250101120000Z"),  # an OCTET STRING is no time
    ],
)
def test_der_times_other_than_the_exact_der_forms_are_refused(tag: int, text: bytes) -> None:
    element, _ = read_tlv(_time_element(tag, text))
    with pytest.raises(ParseError, match=r"invalid DER time|is not a time"):
        element.as_time()
