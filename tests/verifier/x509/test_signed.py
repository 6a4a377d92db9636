"""The signed envelope certificates and CRLs share: one parser reads both, exactly as the
``cryptography`` package splits them, and refuses the same defects in both with the same words
(named for each)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509

from cairn_verifier.errors import ParseError
from cairn_verifier.x509 import der_encode
from cairn_verifier.x509.cert import load_certificates, parse_certificate
from cairn_verifier.x509.crl import parse_crl
from cairn_verifier.x509.der import OCTET_STRING, parse_single
from cairn_verifier.x509.signed import (
    CERTIFICATE,
    CERTIFICATE_LIST,
    EnvelopeNames,
    parse_envelope,
)

ECDSA_SHA512 = der_encode.sequence(der_encode.oid("1.2.840.10045.4.3.4"))


@pytest.fixture(scope="module")
def intel(testdata: Path) -> tuple[bytes, bytes]:
    """Intel's SGX Root CA certificate and the CRL it signs (both ECDSA P-256/SHA-256)."""
    doc = json.loads((testdata / "tdx/dcap-qvl/sample/tdx_quote_collateral.json").read_text())
    root = load_certificates(doc["pck_crl_issuer_chain"].encode())[-1]
    return root.der, bytes.fromhex(doc["root_ca_crl"])


def test_envelope_is_what_cryptography_signs(intel: tuple[bytes, bytes]) -> None:
    cert_der, crl_der = intel
    cert = parse_envelope(cert_der, CERTIFICATE)
    reference_cert = x509.load_der_x509_certificate(cert_der)
    assert cert.tbs == reference_cert.tbs_certificate_bytes
    assert cert.signature == reference_cert.signature
    crl = parse_envelope(crl_der, CERTIFICATE_LIST)
    reference_crl = x509.load_der_x509_crl(crl_der)
    assert crl.tbs == reference_crl.tbs_certlist_bytes
    assert crl.signature == reference_crl.signature
    assert cert.algorithm == crl.algorithm  # the same ECDSA-SHA-256 identifier, decoded once
    assert str(cert.algorithm) == "ECDSA-SHA-256"
    assert parse_certificate(cert_der).tbs == cert.tbs
    assert parse_crl(crl_der).tbs == crl.tbs


def _parts(der: bytes) -> list[bytes]:
    return [element.encoded for element in parse_single(der).children()]


def _extra_element(der: bytes) -> bytes:
    return der_encode.sequence(*_parts(der), der_encode.integer(0))


def _signature_as_octets(der: bytes) -> bytes:
    tbs, algorithm, signature = _parts(der)
    return der_encode.sequence(tbs, algorithm, der_encode.tlv(OCTET_STRING, signature[2:]))


def _other_outer_algorithm(der: bytes) -> bytes:
    tbs, _, signature = _parts(der)
    return der_encode.sequence(tbs, ECDSA_SHA512, signature)


Defect = Callable[[bytes], bytes]


@pytest.mark.parametrize(
    ("defect", "message"),
    [
        (_extra_element, "{outer} must have 3 elements"),
        (_signature_as_octets, "signatureValue is not a BIT STRING"),
        (_other_outer_algorithm, "{algorithm_mismatch}"),
        (lambda der: der + b"\x00", "{document}: 1 trailing bytes after the DER element"),
    ],
)
def test_certificates_and_crls_refuse_the_same_defects(
    intel: tuple[bytes, bytes], defect: Defect, message: str
) -> None:
    cert_der, crl_der = intel
    cases: list[tuple[Callable[[bytes], object], bytes, str, EnvelopeNames]] = [
        (parse_certificate, cert_der, "malformed X.509 certificate", CERTIFICATE),
        (parse_crl, crl_der, "malformed CRL", CERTIFICATE_LIST),
    ]
    for parse, der, prefix, names in cases:
        with pytest.raises(ParseError) as info:
            parse(defect(der))
        expected = message.format(
            outer=names.outer,
            algorithm_mismatch=names.algorithm_mismatch,
            document=names.document,
        )
        assert info.value.message == f"{prefix}: {expected}"
