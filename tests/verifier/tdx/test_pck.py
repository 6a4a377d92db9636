"""SGX extension of real PCK certificates; dcap-qvl 0.7.0's parser is the test-time oracle."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import dcap_qvl  # type: ignore[import-untyped]
import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID, ObjectIdentifier
from hypothesis import given, settings
from hypothesis import strategies as st

from cairn_verifier.errors import ChainError, ExitCode, MalformedInputError, ParseError
from cairn_verifier.tdx.pck import (
    SGX_EXTENSIONS_OID,
    PlatformConfiguration,
    SgxExtensions,
    SgxType,
    pck_ca_kind,
)
from cairn_verifier.tdx.quote import parse_quote
from cairn_verifier.x509 import der_encode
from cairn_verifier.x509.der import iter_tlvs, parse_single

# quote -> FMSPC (PROVENANCE "Vectors" table; the three quotes without collateral too).
QUOTES = {
    "dcap-qvl/sample/tdx_quote": "b0c06f000000",
    "dcap-qvl/sample/tdx_quote_outdated": "90c06f000000",
    "dcap-qvl/sample/tdx-quote.hex": "b0c06f000000",
    "dcap-qvl/sample/quote-from-tappd.hex": "b0c06f000000",
    "dcap-qvl/near-gas-test/quote_hex.txt": "20a06f000000",
    "dstack/ra-tls/assets/tdx_quote": "b0c06f000000",
    "go-tdx-guest/testdata/tdx_prod_quote_SPR_E4.dat": "50806f000000",
    "go-tdx-guest/testdata/quote_v5_sample.dat": "90c06f000000",
    "go-tdx-guest/testdata/ccel/cos-113-tdx-quote.dat": None,
    "trustee/test_data/tdx_quote_4.dat": "50806f000000",
    "trustee/test_data/tdx_quote_5.dat": None,
    "trustee/test_data/az-tdx-vtpm/td-quote.bin": None,
}


def _quote_bytes(testdata: Path, rel: str) -> bytes:
    data = (testdata / "tdx" / rel).read_bytes()
    if rel.endswith((".hex", ".txt")):
        return bytes.fromhex("".join(data.decode("ascii").split()).removeprefix("0x"))
    return data


def _chain(testdata: Path, rel: str) -> bytes:
    return parse_quote(_quote_bytes(testdata, rel)).certification.pck_cert_chain_pem


def _extension(leaf: x509.Certificate) -> bytes:
    ext = leaf.extensions.get_extension_for_oid(ObjectIdentifier(SGX_EXTENSIONS_OID))
    assert isinstance(ext.value, x509.UnrecognizedExtension)
    return ext.value.value


def _leaf_extension(testdata: Path, rel: str) -> bytes:
    return _extension(x509.load_pem_x509_certificates(_chain(testdata, rel))[0])


@pytest.mark.parametrize("rel", sorted(QUOTES))
def test_sgx_extensions_match_dcap_qvl(testdata: Path, rel: str) -> None:
    chain = _chain(testdata, rel)
    leaf = x509.load_pem_x509_certificates(chain)[0]
    ext = SgxExtensions.parse(_extension(leaf))
    oracle = dcap_qvl.parse_pck_extension_from_pem(chain)
    assert ext.ppid == oracle.ppid and len(ext.ppid) == 16
    assert ext.cpu_svn == oracle.cpu_svn
    assert ext.pce_svn == oracle.pce_svn
    assert ext.pce_id == oracle.pce_id == b"\0\0"
    assert ext.fmspc == oracle.fmspc
    assert int(ext.sgx_type) == oracle.sgx_type
    assert ext.platform_instance_id == oracle.platform_instance_id
    # In Intel's PCK certificates CPUSVN is the 16 TCB components as bytes.
    assert ext.cpu_svn == bytes(ext.tcb_components)
    if QUOTES[rel] is not None:
        assert ext.fmspc.hex() == QUOTES[rel]
    # Every vector's PCK comes from the Platform CA: instance ID and configuration present.
    issuer = leaf.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert isinstance(issuer, str)
    assert pck_ca_kind(issuer) == "platform"
    assert ext.sgx_type is SgxType.SCALABLE
    assert ext.platform_instance_id is not None
    assert isinstance(ext.configuration, PlatformConfiguration)
    assert ext.configuration.dynamic_platform is True


def test_values_named_in_provenance(testdata: Path) -> None:
    outdated = SgxExtensions.parse(_leaf_extension(testdata, "dcap-qvl/sample/tdx_quote_outdated"))
    assert outdated.tcb_components[7] == 3  # "PCK SGX comp #8 = 3"
    assert outdated.pce_svn == 13
    near = SgxExtensions.parse(_leaf_extension(testdata, "dcap-qvl/near-gas-test/quote_hex.txt"))
    assert near.tcb_components[5] == 255  # "note SGX comp #6 = 255" (DER 02 02 00 FF)
    spr = SgxExtensions.parse(
        _leaf_extension(testdata, "go-tdx-guest/testdata/tdx_prod_quote_SPR_E4.dat")
    )
    assert spr.tcb_components[:2] == (3, 3)  # "SGX comps 3,3,... below every level"
    assert spr.configuration == PlatformConfiguration(True, False, True)


def test_pck_ca_kind(testdata: Path) -> None:
    doc = json.loads(
        (testdata / "tdx/dcap-qvl/history-eadf882/tdx_quote_collateral.json").read_text()
    )
    processor = x509.load_pem_x509_certificates(doc["pck_crl_issuer_chain"].encode())[0]
    cn = processor.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert cn == "Intel SGX PCK Processor CA"
    assert pck_ca_kind(cn) == "processor"
    assert pck_ca_kind("Intel SGX PCK Platform CA") == "platform"
    for bad in ("Intel SGX Root CA", "intel sgx pck platform ca", None):
        with pytest.raises(ChainError, match="not an Intel SGX PCK") as err:
            pck_ca_kind(bad)
        assert err.value.exit_code is ExitCode.CHAIN_UNTRUSTED


# --------------------------------------------------------------------------- malformed input


def _without(ext: bytes, oid_suffix: str) -> bytes:
    """Re-encode the extension without the top-level entry whose OID ends with oid_suffix."""
    kept = [
        child.encoded
        for child in parse_single(ext).children()
        if not child.children()[0].as_oid().endswith(oid_suffix)
    ]
    return der_encode.sequence(*kept)


@pytest.mark.parametrize(
    ("suffix", "name"),
    [
        (".1.13.1.1", "PPID"),
        (".1.13.1.2", "TCB"),
        (".1.13.1.4", "FMSPC"),
        (".1.13.1.5", "SGX Type"),
    ],
)
def test_missing_mandatory_entry(testdata: Path, suffix: str, name: str) -> None:
    ext = _leaf_extension(testdata, "dcap-qvl/sample/tdx_quote")
    with pytest.raises(ParseError, match=f"missing {name}"):
        SgxExtensions.parse(_without(ext, suffix))


def test_optional_platform_entries(testdata: Path) -> None:
    ext = _leaf_extension(testdata, "dcap-qvl/sample/tdx_quote")
    stripped = SgxExtensions.parse(_without(_without(ext, ".1.13.1.6"), ".1.13.1.7"))
    assert stripped.platform_instance_id is None and stripped.configuration is None
    assert stripped.fmspc == SgxExtensions.parse(ext).fmspc


def test_duplicate_entry_rejected(testdata: Path) -> None:
    ext = _leaf_extension(testdata, "dcap-qvl/sample/tdx_quote")
    children = list(iter_tlvs(parse_single(ext).content))
    doubled = der_encode.sequence(*(c.encoded for c in [*children, children[3]]))
    with pytest.raises(ParseError, match="duplicate entry"):
        SgxExtensions.parse(doubled)


def test_every_truncation_is_a_parse_error(testdata: Path) -> None:
    ext = _leaf_extension(testdata, "go-tdx-guest/testdata/quote_v5_sample.dat")
    for end in range(len(ext)):
        with pytest.raises(ParseError):
            SgxExtensions.parse(ext[:end])


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_mutations_only_raise_typed_errors(testdata: Path, data: st.DataObject) -> None:
    ext = bytearray(_leaf_extension(testdata, "dcap-qvl/sample/tdx_quote"))
    for _ in range(data.draw(st.integers(1, 4))):
        ext[data.draw(st.integers(0, len(ext) - 1))] = data.draw(st.integers(0, 255))
    with contextlib.suppress(MalformedInputError):
        parsed = SgxExtensions.parse(bytes(ext))
        assert len(parsed.tcb_components) == 16 and len(parsed.fmspc) == 6
