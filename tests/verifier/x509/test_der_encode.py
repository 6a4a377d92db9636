"""The DER writer the simulators share: what it writes the reader reads back, and it re-encodes
the vendor extensions of real AMD and Intel certificates byte for byte."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from hypothesis import given
from hypothesis import strategies as st

from cairn_verifier.tdx.pck import SGX_EXTENSIONS_OID
from cairn_verifier.tdx.quote import parse_quote
from cairn_verifier.x509 import der_encode
from cairn_verifier.x509.cert import parse_certificate
from cairn_verifier.x509.der import (
    BOOLEAN,
    ENUMERATED,
    IA5_STRING,
    INTEGER,
    OCTET_STRING,
    OID,
    Tlv,
    parse_single,
    read_tlv,
)

AMD_OID = "1.3.6.1.4.1.3704.1."


@given(st.integers(min_value=0, max_value=2**600))
def test_integers_read_back(value: int) -> None:
    encoded = der_encode.integer(value)
    assert parse_single(encoded).as_int() == value
    enumerated = parse_single(der_encode.enumerated(value))
    assert enumerated.tag == ENUMERATED
    assert enumerated.content == parse_single(encoded).content


@pytest.mark.parametrize(
    ("value", "encoded"),
    [(0, "020100"), (127, "02017f"), (128, "02020080"), (256, "02020100"), (2**15, "0203008000")],
)
def test_integers_are_minimal(value: int, encoded: str) -> None:
    assert der_encode.integer(value).hex() == encoded


@given(st.binary(max_size=70_000))
def test_lengths_read_back(content: bytes) -> None:
    element, end = read_tlv(der_encode.octet_string(content))
    assert (element.tag, element.content) == (OCTET_STRING, content)
    assert end == len(der_encode.octet_string(content))


@pytest.mark.parametrize(
    "dotted",
    [
        "1.2.840.113549.1.1.10",  # RSASSA-PSS
        "1.3.6.1.4.1.3704.1.3.8",  # AMD VCEK microcode SPL
        "1.2.840.113741.1.13.1.2.18",  # Intel SGX CPUSVN
        "2.5.29.35",
        "2.999.16384",  # a first arc of 2 takes any second arc
        "0.39",
    ],
)
def test_object_identifiers_read_back(dotted: str) -> None:
    assert parse_single(der_encode.oid(dotted)).as_oid() == dotted


@pytest.mark.parametrize("bad", ["1", "3.1", "1.40", "1.2.-3"])
def test_invalid_object_identifiers_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="not an object identifier"):
        der_encode.oid(bad)


def test_negative_integers_are_refused() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        der_encode.integer(-1)


def test_strings_booleans_and_sequences_read_back() -> None:
    sequence = parse_single(
        der_encode.sequence(
            der_encode.boolean(True),
            der_encode.boolean(False),
            der_encode.ia5_string("Genoa"),
        )
    )
    first, second, text = sequence.children()
    assert (first.tag, first.content, second.content) == (BOOLEAN, b"\xff", b"\x00")
    assert (text.tag, text.as_string()) == (IA5_STRING, "Genoa")


def _reencode(element: Tlv) -> bytes:
    """Rebuild ``element`` with the writer alone, from what the reader decoded."""
    if element.constructed:
        return der_encode.tlv(element.tag, b"".join(_reencode(c) for c in element.children()))
    writers = {
        INTEGER: lambda e: der_encode.integer(e.as_int()),
        ENUMERATED: lambda e: der_encode.enumerated(int.from_bytes(e.content, "big")),
        OID: lambda e: der_encode.oid(e.as_oid()),
        BOOLEAN: lambda e: der_encode.boolean(e.content == b"\xff"),
        OCTET_STRING: lambda e: der_encode.octet_string(e.content),
        IA5_STRING: lambda e: der_encode.ia5_string(e.as_string()),
    }
    return writers[element.tag](element)


def test_intel_sgx_extension_is_reencoded_byte_for_byte(testdata: Path) -> None:
    quote = parse_quote((testdata / "tdx/dcap-qvl/sample/tdx_quote").read_bytes())
    leaf = x509.load_pem_x509_certificates(quote.certification.pck_cert_chain_pem)[0]
    extension = leaf.extensions.get_extension_for_oid(x509.ObjectIdentifier(SGX_EXTENSIONS_OID))
    assert isinstance(extension.value, x509.UnrecognizedExtension)
    value = extension.value.value
    assert _reencode(parse_single(value)) == value


@pytest.mark.parametrize("name", ["virtee-sev/vcek_milan.der", "virtee-sev/vcek_turin.der"])
def test_amd_vcek_extensions_are_reencoded_byte_for_byte(testdata: Path, name: str) -> None:
    vcek = parse_certificate((testdata / "snp" / name).read_bytes())
    amd = {oid: e.value for oid, e in vcek.extensions.items() if oid.startswith(AMD_OID)}
    del amd[AMD_OID + "4"]  # hwID: the raw chip id, not DER
    assert len(amd) >= 7
    for oid, value in amd.items():
        assert _reencode(parse_single(value)) == value, oid
