"""CRL parsing and checking against AMD's real VCEK CRLs and Intel's SGX CRLs."""

from __future__ import annotations

import contextlib
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from hypothesis import given, settings
from hypothesis import strategies as st

from cairn_verifier.errors import ChainError, MalformedInputError, ParseError
from cairn_verifier.x509.cert import Certificate, load_certificates, parse_certificate
from cairn_verifier.x509.crl import Crl, load_crl, parse_crl


def txtar(path: Path) -> dict[str, bytes]:
    """Split a txtar archive on its '-- name --' lines."""
    parts = re.split(rb"^-- (\S+) --\r?\n", path.read_bytes(), flags=re.MULTILINE)
    return {name.decode(): body for name, body in zip(parts[1::2], parts[2::2], strict=True)}


@pytest.fixture(scope="module")
def openpcc(testdata: Path) -> dict[str, bytes]:
    return txtar(testdata / "snp/openpcc/sev_certificates.txt")


def _ark(openpcc: dict[str, bytes], product: str) -> Certificate:
    certs = load_certificates(openpcc[f"test_amd_sev_{product}_root_certs.pem"])
    (ark,) = [c for c in certs if c.subject.common_name == f"ARK-{product.capitalize()}"]
    return ark


def test_genoa_crl(openpcc: dict[str, bytes]) -> None:
    crl = load_crl(openpcc["test_amd_genoa_crl.pem"])
    assert crl.issuer.common_name == "ARK-Genoa"
    assert crl.this_update == datetime(2024, 10, 23, 4, 36, 24, tzinfo=UTC)
    assert crl.next_update == datetime(2025, 11, 3, 1, 0, 0, tzinfo=UTC)
    assert set(crl.revoked) == {0x20001}
    assert crl.revoked[0x20001].revoked_at == datetime(2022, 10, 31, 12, 0, tzinfo=UTC)
    assert crl.is_revoked(0x20001)
    assert not crl.is_revoked(0x20002)  # the current Genoa ASK
    assert crl.signature_algorithm.is_rsa_pss_sha384_salt48
    crl.verify_signed_by(_ark(openpcc, "genoa"))


def test_milan_crl(openpcc: dict[str, bytes]) -> None:
    crl = load_crl(openpcc["test_amd_milan_crl.pem"])
    assert crl.issuer.common_name == "ARK-Milan"
    assert crl.this_update == datetime(2025, 5, 6, 12, 39, 6, tzinfo=UTC)
    assert crl.next_update == datetime(2026, 5, 12, tzinfo=UTC)
    assert dict(crl.revoked) == {}
    assert not crl.is_revoked(0x10001)
    crl.verify_signed_by(_ark(openpcc, "milan"))


@pytest.mark.parametrize("name", ["test_amd_genoa_crl.pem", "test_amd_milan_crl.pem"])
def test_matches_cryptography(openpcc: dict[str, bytes], name: str) -> None:
    crl = load_crl(openpcc[name])
    ref = x509.load_der_x509_crl(crl.der)
    assert crl.tbs == ref.tbs_certlist_bytes
    assert crl.signature == ref.signature
    assert crl.issuer.der == ref.issuer.public_bytes()
    assert str(crl.issuer) == ref.issuer.rfc4514_string()
    assert crl.this_update == ref.last_update_utc
    assert crl.next_update == ref.next_update_utc
    assert {r.serial_number: r.revocation_date_utc for r in ref} == {
        serial: entry.revoked_at for serial, entry in crl.revoked.items()
    }
    number = ref.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    assert crl.crl_number == number


def test_wrong_ark_fails(openpcc: dict[str, bytes]) -> None:
    crl = load_crl(openpcc["test_amd_genoa_crl.pem"])
    with pytest.raises(ChainError, match="issuer names differ") as info:
        crl.verify_signed_by(_ark(openpcc, "milan"))
    assert info.value.component == "crl"
    assert info.value.hint


def test_tampered_crl_signature_fails(openpcc: dict[str, bytes]) -> None:
    der = bytearray(load_crl(openpcc["test_amd_milan_crl.pem"]).der)
    der[-2] ^= 0x40
    with pytest.raises(ChainError, match="does not verify under the key of 'ARK-Milan'"):
        parse_crl(bytes(der)).verify_signed_by(_ark(openpcc, "milan"))


def test_tampered_crl_body_fails(openpcc: dict[str, bytes]) -> None:
    crl = load_crl(openpcc["test_amd_genoa_crl.pem"])
    # Change the revoked serial 0x020001 to 0x020003 inside the signed tbsCertList.
    marker = bytes.fromhex("020302000117")
    assert crl.der.count(marker) == 1
    tampered = parse_crl(crl.der.replace(marker, bytes.fromhex("020302000317")))
    assert tampered.is_revoked(0x20003)
    with pytest.raises(ChainError, match="does not verify"):
        tampered.verify_signed_by(_ark(openpcc, "genoa"))


def test_check_current(openpcc: dict[str, bytes]) -> None:
    crl = load_crl(openpcc["test_amd_genoa_crl.pem"])
    crl.check_current(datetime(2025, 1, 1, tzinfo=UTC))
    assert crl.next_update is not None
    crl.check_current(crl.next_update)
    with pytest.raises(ChainError, match="CRL is stale") as stale:
        crl.check_current(crl.next_update + timedelta(seconds=1))
    assert stale.value.hint is not None
    assert "fetch a current CRL" in stale.value.hint
    with pytest.raises(ChainError, match="not yet valid"):
        crl.check_current(crl.this_update - timedelta(seconds=1))


def test_der_and_pem_load_the_same(openpcc: dict[str, bytes]) -> None:
    pem = openpcc["test_amd_milan_crl.pem"]
    crl = load_crl(pem)
    assert load_crl(crl.der) == crl
    assert load_crl(pem.replace(b"\n", b"\r\n")) == crl


# --- Intel CRLs: ECDSA P-256, DER, with entries and reason codes -------------------------


def test_intel_root_crl(testdata: Path) -> None:
    crl = load_crl((testdata / "tdx/go-tdx-guest/testdata/rootcrl.der").read_bytes())
    root = parse_certificate((testdata / "tdx/dcap-qvl/src/TrustedRootCA.der").read_bytes())
    assert crl.signature_algorithm.kind == "ecdsa"
    assert crl.this_update == datetime(2023, 4, 3, 10, 22, 51, tzinfo=UTC)
    assert crl.next_update == datetime(2024, 4, 2, 10, 22, 51, tzinfo=UTC)
    assert dict(crl.revoked) == {}
    crl.verify_signed_by(root)


def test_intel_pck_crl(testdata: Path) -> None:
    der = (testdata / "tdx/go-tdx-guest/testdata/pckcrl").read_bytes()
    crl = load_crl(der)
    ref = x509.load_der_x509_crl(der)
    assert len(crl.revoked) == 44
    for entry in ref:
        ours = crl.revoked[entry.serial_number]
        assert ours.revoked_at == entry.revocation_date_utc
        try:
            reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
        except x509.ExtensionNotFound:
            assert ours.reason is None
        else:
            assert ours.reason == reason.value
    doc = json.loads((testdata / "tdx/dcap-qvl/sample/tdx_quote_collateral.json").read_text())
    platform_ca, _ = load_certificates(doc["pck_crl_issuer_chain"].encode())
    # This CRL is from 2023 and the chain from 2025: the same Platform CA key signs both.
    crl.verify_signed_by(platform_ca)


# --- malformed input ----------------------------------------------------------------------


def test_trailing_bytes_rejected(openpcc: dict[str, bytes]) -> None:
    der = load_crl(openpcc["test_amd_milan_crl.pem"]).der
    with pytest.raises(ParseError, match="trailing bytes"):
        parse_crl(der + b"\x00\x00")


def test_no_crl_found() -> None:
    with pytest.raises(MalformedInputError, match="found 0"):
        load_crl(b"no crl here")


def test_two_crls_rejected(openpcc: dict[str, bytes]) -> None:
    both = openpcc["test_amd_milan_crl.pem"] + openpcc["test_amd_genoa_crl.pem"]
    with pytest.raises(MalformedInputError, match="exactly one"):
        load_crl(both)


def test_certificate_is_not_a_crl(testdata: Path) -> None:
    der = (testdata / "snp/virtee-sev/vcek_turin.der").read_bytes()
    with pytest.raises(ParseError, match="malformed CRL"):
        load_crl(der)


@pytest.fixture(scope="module")
def genoa_crl_der(openpcc: dict[str, bytes]) -> bytes:
    return load_crl(openpcc["test_amd_genoa_crl.pem"]).der


def _load_or_typed_error(data: bytes) -> Crl | None:
    try:
        return load_crl(data)
    except MalformedInputError:  # ParseError is a subclass
        return None


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_arbitrary_bytes(data: bytes) -> None:
    _load_or_typed_error(data)
    _load_or_typed_error(b"\x30" + data)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_fuzz_mutated_real_crl(genoa_crl_der: bytes, data: st.DataObject) -> None:
    blob = bytearray(genoa_crl_der)
    for _ in range(data.draw(st.integers(1, 4))):
        blob[data.draw(st.integers(0, len(blob) - 1))] = data.draw(st.integers(0, 255))
    crl = _load_or_typed_error(bytes(blob[: data.draw(st.integers(0, len(blob)))]))
    if crl is not None:
        with contextlib.suppress(ParseError):
            _ = crl.crl_number
