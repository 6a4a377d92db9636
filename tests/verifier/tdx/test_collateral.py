"""TDX collateral loading, byte-exact signed JSON, signatures and windows (tdx/PROVENANCE.md)."""

from __future__ import annotations

import contextlib
import json
import shutil
import urllib.parse
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cairn_verifier.errors import ChainError, ExitCode, MalformedInputError, SignatureError
from cairn_verifier.tdx.collateral import (
    TdxCollateral,
    crl_to_der,
    load_collateral_dir,
    load_collateral_path,
    load_dcap_qvl_collateral,
    load_pcs_qe_identity,
    load_pcs_tcb_info,
)
from cairn_verifier.tdx.qe_identity import QeIdentity
from cairn_verifier.tdx.signed_json import (
    SignedJson,
    decode_issuer_chain_header,
    slice_json_member,
    verify_signed_json,
)
from cairn_verifier.tdx.tcb_info import TcbInfo, TcbStatus

QVL_SETS = {
    "qvl-b0c06f-2025-06": "dcap-qvl/sample/tdx_quote_collateral.json",
    "qvl-90c06f-2026-02": "dcap-qvl/sample/tdx_quote_outdated_collateral.json",
    "qvl-20a06f-2025-09": "dcap-qvl/near-gas-test/quote_collateral.json",
}
HISTORY = "dcap-qvl/history-eadf882/tdx_quote_collateral.json"
GTG = "go-tdx-guest/testdata"
TCB_SIGNING_CN = "Intel SGX TCB Signing"


def _tdx(testdata: Path) -> Path:
    return testdata / "tdx"


def _signer(chain: bytes | None) -> ec.EllipticCurvePublicKey:
    assert chain is not None
    leaf = x509.load_pem_x509_certificates(chain)[0]
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == TCB_SIGNING_CN
    key = leaf.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    return key


def _old_signing_chain(testdata: Path) -> bytes:
    """The 2018-2025 TCB signing chain (PROVENANCE: set gtg-50806f-2023-06)."""
    doc = json.loads((_tdx(testdata) / HISTORY).read_text())
    chain: str = doc["tcb_info_issuer_chain"]
    return chain.encode()


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# --------------------------------------------------------------------------- dcap-qvl JSON


@pytest.mark.parametrize("name", sorted(QVL_SETS))
def test_dcap_qvl_collateral_loads_and_verifies(testdata: Path, name: str) -> None:
    raw = (_tdx(testdata) / QVL_SETS[name]).read_bytes()
    c = load_dcap_qvl_collateral(raw)
    doc = json.loads(raw)
    # The signed bytes are exactly the JSON text dcap-qvl stores (never re-serialised).
    assert c.tcb_info.signed.body == doc["tcb_info"].encode()
    assert c.qe_identity.signed.body == doc["qe_identity"].encode()
    assert c.tcb_info.signed.signature == bytes.fromhex(doc["tcb_info_signature"])
    verify_signed_json(c.tcb_info.signed, _signer(c.tcb_info_issuer_chain))
    verify_signed_json(c.qe_identity.signed, _signer(c.qe_identity_issuer_chain))
    assert c.pck_crl is not None and c.pck_crl[:1] == b"\x30"
    assert c.root_ca_crl is not None and c.root_ca_crl[:1] == b"\x30"
    x509.load_der_x509_crl(c.pck_crl)
    x509.load_der_x509_crl(c.root_ca_crl)
    assert c.pck_crl_issuer_chain is not None
    fmspc = name.split("-")[1] + "000000"
    info = c.tcb_info.parsed
    assert (info.id, info.version, info.fmspc.hex(), info.pce_id) == ("TDX", 3, fmspc, b"\0\0")
    assert c.qe_identity.parsed.id == "TD_QE"
    assert {i.id for i in info.tdx_module_identities} == {"TDX_01", "TDX_03"}


def test_tcb_info_fields_b0c06f(testdata: Path) -> None:
    c = load_dcap_qvl_collateral((_tdx(testdata) / QVL_SETS["qvl-b0c06f-2025-06"]).read_bytes())
    info = c.tcb_info.parsed
    # PROVENANCE: eval 17, 2025-06-19..07-19.
    assert info.tcb_evaluation_data_number == 17
    assert info.issue_date == datetime(2025, 6, 19, 10, 16, 3, tzinfo=UTC)
    assert info.next_update == datetime(2025, 7, 19, 10, 16, 3, tzinfo=UTC)
    assert info.tdx_module.mrsigner == bytes(48)
    assert info.tdx_module.attributes_mask == b"\xff" * 8
    top = info.sorted_levels()[0]
    assert top.tcb_status is TcbStatus.UP_TO_DATE
    assert len(top.sgx_components) == len(top.tdx_components) == 16
    assert top.sgx_components[7].type == "SEAMLDR ACM"
    assert top.sgx_components[7].category == "OS/VMM"
    assert top.tdx_components[0].type == "TDX Module"
    tdx01 = info.module_identity(1)
    assert tdx01 is not None and tdx01.id == "TDX_01"
    assert info.module_identity(2) is None
    qe = c.qe_identity.parsed
    assert qe.mrsigner.hex().upper().startswith("DC9E2A7C6F")
    assert (qe.miscselect, qe.miscselect_mask, qe.isvprodid) == (0, 0xFFFFFFFF, 2)


def test_history_collateral_is_sgx_not_tdx(testdata: Path) -> None:
    """PROVENANCE negative: SGX TCB info used for a TDX quote."""
    raw = (_tdx(testdata) / HISTORY).read_bytes()
    with pytest.raises(MalformedInputError, match="TCB info is not a TDX v3 structure") as err:
        load_dcap_qvl_collateral(raw)
    assert err.value.exit_code is ExitCode.MALFORMED_INPUT
    assert err.value.hint
    doc = json.loads(raw)
    with pytest.raises(MalformedInputError, match="QE identity is not a TD_QE v2 structure"):
        QeIdentity.parse(doc["qe_identity"].encode())
    # ... though its signatures are genuine (old 2018-2025 TCB signing cert).
    key = _signer(doc["tcb_info_issuer_chain"].encode())
    sig = bytes.fromhex(doc["tcb_info_signature"])
    verify_signed_json(SignedJson(doc["tcb_info"].encode(), sig), key)


def test_tcb_info_version_2_rejected(testdata: Path) -> None:
    doc = json.loads((_tdx(testdata) / QVL_SETS["qvl-b0c06f-2025-06"]).read_text())
    info = json.loads(doc["tcb_info"])
    info["version"] = 2
    del info["id"]
    with pytest.raises(MalformedInputError, match="not a TDX v3 structure"):
        TcbInfo.parse(json.dumps(info).encode())


# --------------------------------------------------------------------------- PCS bodies


def test_pcs_bodies_gtg_50806f_verify_with_old_signing_cert(testdata: Path) -> None:
    chain = _old_signing_chain(testdata)
    body = (_tdx(testdata) / GTG / "sample_tcbInfo_response").read_bytes()
    tcb = load_pcs_tcb_info(body, chain)
    verify_signed_json(tcb.signed, _signer(chain))
    # Byte-exact slice: the signed object sits between '{"tcbInfo":' and ',"signature"'.
    assert body.startswith(b'{"tcbInfo":' + tcb.signed.body + b',"signature":"')
    assert tcb.parsed.fmspc.hex() == "50806f000000"
    assert tcb.parsed.tcb_evaluation_data_number == 15
    assert tcb.parsed.tdx_module_identities == ()
    qe = load_pcs_qe_identity(
        (_tdx(testdata) / GTG / "sample_qeIdentity_response").read_bytes(), chain
    )
    verify_signed_json(qe.signed, _signer(chain))
    assert qe.parsed.issue_date == datetime(2023, 6, 8, 7, 24, 59, tzinfo=UTC)


def test_pcs_body_v5_verifies_with_current_signing_cert(testdata: Path) -> None:
    tcb = load_pcs_tcb_info(
        (_tdx(testdata) / GTG / "sample_tcbinfo_response_v5").read_bytes(), None
    )
    assert tcb.issuer_chain is None
    qvl = load_dcap_qvl_collateral((_tdx(testdata) / QVL_SETS["qvl-90c06f-2026-02"]).read_bytes())
    verify_signed_json(tcb.signed, _signer(qvl.tcb_info_issuer_chain))
    assert tcb.parsed.fmspc == qvl.tcb_info.parsed.fmspc
    assert tcb.parsed.tcb_evaluation_data_number == 18
    # The 2025-2032 certificate re-issued the 2018-2025 one with the same key, so the old
    # certificate's key verifies too: only the (lead's) chain/validity check tells them apart.
    old_chain, new_chain = _old_signing_chain(testdata), qvl.tcb_info_issuer_chain
    assert new_chain is not None
    old = x509.load_pem_x509_certificates(old_chain)[0]
    new = x509.load_pem_x509_certificates(new_chain)[0]
    assert old.public_key() == new.public_key()
    assert old.not_valid_after_utc.year == 2025 and new.not_valid_after_utc.year == 2032
    verify_signed_json(tcb.signed, _signer(old_chain))


def test_flipped_byte_in_signed_json_fails(testdata: Path) -> None:
    c = load_dcap_qvl_collateral((_tdx(testdata) / QVL_SETS["qvl-b0c06f-2025-06"]).read_bytes())
    key = _signer(c.tcb_info_issuer_chain)
    for signed in (c.tcb_info.signed, c.qe_identity.signed):
        body = bytearray(signed.body)
        body[len(body) // 2] ^= 0x01
        with pytest.raises(SignatureError) as err:
            verify_signed_json(SignedJson(bytes(body), signed.signature), key)
        assert err.value.exit_code is ExitCode.SIGNATURE_INVALID
        sig = bytearray(signed.signature)
        sig[5] ^= 0x80
        with pytest.raises(SignatureError):
            verify_signed_json(SignedJson(signed.body, bytes(sig)), key)
    # A re-serialised document (same content, other bytes) must not verify either.
    reserialised = json.dumps(json.loads(c.tcb_info.signed.body), indent=1).encode()
    with pytest.raises(SignatureError):
        verify_signed_json(SignedJson(reserialised, c.tcb_info.signed.signature), key)


def test_signer_key_must_be_p256(testdata: Path) -> None:
    c = load_dcap_qvl_collateral((_tdx(testdata) / QVL_SETS["qvl-b0c06f-2025-06"]).read_bytes())
    p384 = ec.generate_private_key(ec.SECP384R1()).public_key()
    with pytest.raises(SignatureError, match="P-256"):
        verify_signed_json(c.tcb_info.signed, p384)
    with pytest.raises(SignatureError, match="64"):
        verify_signed_json(
            SignedJson(c.tcb_info.signed.body, b"\1" * 63), _signer(c.tcb_info_issuer_chain)
        )


# --------------------------------------------------------------------------- windows


def test_windows_at_pinned_times(testdata: Path) -> None:
    c = load_dcap_qvl_collateral((_tdx(testdata) / QVL_SETS["qvl-b0c06f-2025-06"]).read_bytes())
    c.check_current(_at("2025-06-19T10:32:27Z"))  # PROVENANCE pinned time
    c.check_current(_at("2025-07-19T10:00:35Z"))  # end of the common window
    with pytest.raises(ChainError, match=r"TCBInfo: not current at 2025-07-20") as err:
        c.check_current(_at("2025-07-20T00:00:00Z"))
    assert "expired" in str(err.value) and err.value.hint
    assert err.value.exit_code is ExitCode.CHAIN_UNTRUSTED
    with pytest.raises(ChainError, match=r"TCBInfo: not current at 2025-06-01.*not issued yet"):
        c.check_current(_at("2025-06-01T00:00:00Z"))
    # The QE identity was issued 16 minutes after the TCB info.
    c.tcb_info.parsed.check_current(_at("2025-06-19T10:20:00Z"))
    with pytest.raises(ChainError, match="QEIdentity: not current"):
        c.check_current(_at("2025-06-19T10:20:00Z"))
    # Naive datetimes are taken as UTC.
    c.check_current(datetime(2025, 6, 20))


@pytest.mark.parametrize(
    ("name", "pinned"),
    [
        ("qvl-90c06f-2026-02", "2026-02-18T10:58:51Z"),
        ("qvl-20a06f-2025-09", "2025-09-02T07:41:59Z"),
    ],
)
def test_other_sets_current_at_pinned_time(testdata: Path, name: str, pinned: str) -> None:
    load_dcap_qvl_collateral((_tdx(testdata) / QVL_SETS[name]).read_bytes()).check_current(
        _at(pinned)
    )


def test_gtg_set_current_at_pinned_time(testdata: Path) -> None:
    c = load_collateral_dir(_tdx(testdata) / GTG)
    c.check_current(_at("2023-06-18T08:42:58Z"))
    with pytest.raises(ChainError, match="QEIdentity"):
        c.check_current(_at("2023-07-09T00:00:00Z"))


# --------------------------------------------------------------------------- directory / headers


def test_directory_with_go_tdx_guest_names(testdata: Path) -> None:
    c = load_collateral_dir(_tdx(testdata) / GTG)
    assert c.tcb_info.parsed.fmspc.hex() == "50806f000000"  # not the _v5 file
    assert c.qe_identity.parsed.tcb_evaluation_data_number == 15
    assert c.pck_crl == (_tdx(testdata) / GTG / "pckcrl").read_bytes()
    assert c.root_ca_crl == (_tdx(testdata) / GTG / "rootcrl.der").read_bytes()
    assert c.tcb_info_issuer_chain is None and c.pck_crl_issuer_chain is None


def test_directory_with_cairn_names(testdata: Path, tmp_path: Path) -> None:
    src = _tdx(testdata) / GTG
    shutil.copy(src / "sample_tcbInfo_response", tmp_path / "tcb_info.json")
    shutil.copy(src / "sample_qeIdentity_response", tmp_path / "qe_identity.json")
    shutil.copy(src / "rootcrl.der", tmp_path / "root_ca_crl.der")
    pem_crl = x509.load_der_x509_crl((src / "pckcrl").read_bytes()).public_bytes(Encoding.PEM)
    (tmp_path / "pck_crl.pem").write_bytes(pem_crl)
    chain = _old_signing_chain(testdata)
    (tmp_path / "tcb_info_issuer_chain.pem").write_bytes(chain)
    (tmp_path / "qe_identity_issuer_chain.pem").write_bytes(chain)
    c = load_collateral_path(tmp_path)
    assert c.pck_crl == (src / "pckcrl").read_bytes()  # PEM normalised to the same DER
    assert c.tcb_info_issuer_chain == chain
    verify_signed_json(c.tcb_info.signed, _signer(c.tcb_info_issuer_chain))
    verify_signed_json(c.qe_identity.signed, _signer(c.qe_identity_issuer_chain))


def test_directory_missing_files(tmp_path: Path, testdata: Path) -> None:
    with pytest.raises(MalformedInputError, match=r"tcb_info\.json, qe_identity\.json"):
        load_collateral_dir(tmp_path)
    with pytest.raises(MalformedInputError, match="not a directory"):
        load_collateral_dir(tmp_path / "absent")
    shutil.copy(_tdx(testdata) / GTG / "sample_tcbInfo_response", tmp_path / "tcb_info.json")
    with pytest.raises(MalformedInputError, match=r"lacks qe_identity\.json"):
        load_collateral_dir(tmp_path)


def test_load_collateral_path_file(testdata: Path) -> None:
    c = load_collateral_path(_tdx(testdata) / QVL_SETS["qvl-20a06f-2025-09"])
    assert isinstance(c, TdxCollateral) and c.tcb_info.parsed.fmspc.hex() == "20a06f000000"


def test_issuer_chain_header_round_trip(testdata: Path) -> None:
    c = load_dcap_qvl_collateral((_tdx(testdata) / QVL_SETS["qvl-b0c06f-2025-06"]).read_bytes())
    chain = c.tcb_info_issuer_chain
    assert chain is not None
    header = urllib.parse.quote(chain.decode(), safe="")
    assert "%0A" in header and "-----" in header
    assert decode_issuer_chain_header(header) == chain
    assert len(x509.load_pem_x509_certificates(decode_issuer_chain_header(header))) == 2
    with pytest.raises(MalformedInputError, match="no PEM certificate"):
        decode_issuer_chain_header("not%20a%20chain")
    with pytest.raises(MalformedInputError, match="URL-encoded"):
        decode_issuer_chain_header("%FF%FE")


def test_crl_forms(testdata: Path) -> None:
    der = (_tdx(testdata) / GTG / "rootcrl.der").read_bytes()
    assert crl_to_der(der, "crl") == der
    assert crl_to_der(der.hex().encode() + b"\n", "crl") == der
    with pytest.raises(MalformedInputError):
        crl_to_der(b"hello", "crl")
    with pytest.raises(MalformedInputError):
        crl_to_der(b"-----BEGIN X509 CRL-----\n!!\n-----END X509 CRL-----\n", "crl")


# --------------------------------------------------------------------------- malformed input


def _tcb_info_doc(testdata: Path) -> dict[str, Any]:
    doc = json.loads((_tdx(testdata) / QVL_SETS["qvl-b0c06f-2025-06"]).read_text())
    info: dict[str, Any] = json.loads(doc["tcb_info"])
    return info


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("fmspc"), r"tcbInfo\.fmspc: missing"),
        (lambda d: d.update(fmspc="B0C06F00"), r"tcbInfo\.fmspc: must be 12 hex digits"),
        (lambda d: d.update(issueDate="yesterday"), r"issueDate: not an ISO 8601 date"),
        (lambda d: d.update(nextUpdate="2025-07-19T10:16:03"), "without a time zone"),
        (lambda d: d.update(tcbType=1), "tcbType 1 is not supported"),
        (lambda d: d.update(tcbLevels=[]), "tcbLevels is empty"),
        (lambda d: d["tcbLevels"].append(d["tcbLevels"][0]), "duplicated TCB levels"),
        (lambda d: d["tcbLevels"][0].update(tcbStatus="Fine"), "unrecognised TCB status 'Fine'"),
        (lambda d: d["tcbLevels"][0]["tcb"]["sgxtcbcomponents"].pop(), "expected 16 components"),
        (lambda d: d["tcbLevels"][0]["tcb"].update(pcesvn=True), "pcesvn: must be an integer"),
        (lambda d: d["tcbLevels"][0]["tcb"].update(pcesvn=-1), "outside 0..65535"),
        (
            lambda d: d["tcbLevels"][0]["tcb"]["tdxtcbcomponents"][0].update(svn=256),
            r"tdxtcbcomponents\[0\]\.svn: 256 is outside 0\.\.255",
        ),
        (lambda d: d.pop("tdxModule"), "tdxModule: missing"),
        (
            lambda d: d["tdxModuleIdentities"][0]["tcbLevels"][0].update(
                tcbStatus="SWHardeningNeeded"
            ),
            "unrecognised TCB status",
        ),
        (lambda d: d.update(tdxModuleIdentities={}), "must be an array"),
        (lambda d: d["tcbLevels"][0].update(advisoryIDs=[1]), "array of strings"),
    ],
)
def test_malformed_tcb_info_is_typed(
    testdata: Path, mutate: Callable[[Any], object], message: str
) -> None:
    info = _tcb_info_doc(testdata)
    mutate(info)
    with pytest.raises(MalformedInputError, match=message) as err:
        TcbInfo.parse(json.dumps(info).encode())
    assert err.value.exit_code is ExitCode.MALFORMED_INPUT


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"[]",
        b"{",
        b'{"tcbInfo":{}}',
        b'{"signature":"00"}',
        b"\xff\xfe",
        b'{"tcbInfo":1,"tcbInfo":2}',
    ],
)
def test_malformed_pcs_bodies_are_typed(data: bytes) -> None:
    with pytest.raises(MalformedInputError):
        load_pcs_tcb_info(data, None)


def test_malformed_dcap_qvl_json_is_typed(testdata: Path) -> None:
    doc = json.loads((_tdx(testdata) / QVL_SETS["qvl-b0c06f-2025-06"]).read_text())
    for key in ("tcb_info", "tcb_info_signature", "qe_identity_issuer_chain", "qe_identity"):
        broken = dict(doc)
        del broken[key]
        with pytest.raises(MalformedInputError, match=key):
            load_dcap_qvl_collateral(json.dumps(broken).encode())
    broken = dict(doc, pck_crl="zz")
    with pytest.raises(MalformedInputError, match="pck_crl"):
        load_dcap_qvl_collateral(json.dumps(broken).encode())
    # Older samples lack the CRL fields: still loadable.
    for key in ("pck_crl", "root_ca_crl", "pck_crl_issuer_chain"):
        del doc[key]
    c = load_dcap_qvl_collateral(json.dumps(doc).encode())
    assert c.pck_crl is None and c.root_ca_crl is None and c.pck_crl_issuer_chain is None


def test_every_truncation_of_a_pcs_body_is_typed(testdata: Path) -> None:
    body = (_tdx(testdata) / GTG / "sample_qeIdentity_response").read_bytes()
    for end in range(len(body)):
        with pytest.raises(MalformedInputError):
            load_pcs_qe_identity(body[:end], None)


# --------------------------------------------------------------------------- the raw slicer


def test_slicer_is_string_aware() -> None:
    text = b' { "a" : "x}\\"{" , "b":{"c":[1,{"d":"]"}]} ,"e":null}  '
    assert slice_json_member(text, "a") == b'"x}\\"{"'
    assert slice_json_member(text, "b") == b'{"c":[1,{"d":"]"}]}'
    assert slice_json_member(text, "e") == b"null"
    with pytest.raises(MalformedInputError, match="no 'z' member"):
        slice_json_member(text, "z")
    with pytest.raises(MalformedInputError, match="duplicate"):
        slice_json_member(b'{"a":1,"a":2}', "a")
    with pytest.raises(MalformedInputError, match="trailing"):
        slice_json_member(b'{"a":1} x', "a")


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    doc=st.dictionaries(st.text(min_size=1, max_size=6), _json_values, min_size=1, max_size=4),
    indent=st.sampled_from([None, 0, 2]),
    ascii_only=st.booleans(),
)
def test_slicer_matches_json_parser(
    doc: dict[str, object], indent: int | None, ascii_only: bool
) -> None:
    text = json.dumps(doc, indent=indent, ensure_ascii=ascii_only).encode()
    for key, value in doc.items():
        assert json.loads(slice_json_member(text, key)) == value


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=200))
def test_slicer_arbitrary_bytes_only_typed_errors(data: bytes) -> None:
    with contextlib.suppress(MalformedInputError):
        slice_json_member(data, "tcbInfo")


@settings(max_examples=120, deadline=None)
@given(data=st.data())
def test_mutated_pcs_body_only_typed_errors(testdata: Path, data: st.DataObject) -> None:
    body = bytearray((_tdx(testdata) / GTG / "sample_tcbInfo_response").read_bytes())
    for _ in range(data.draw(st.integers(1, 3))):
        body[data.draw(st.integers(0, len(body) - 1))] = data.draw(st.integers(0, 255))
    with contextlib.suppress(MalformedInputError):
        tcb = load_pcs_tcb_info(bytes(body), None)
        assert len(tcb.signed.signature) == 64 and tcb.parsed.id == "TDX"


@pytest.mark.parametrize(
    "data",
    [
        b'{"tcbInfo":' + b"[" * 100_000 + b"]" * 100_000 + b',"signature":"00"}',
        b'{"tcbInfo":{"version":' + b"9" * 5000 + b'},"signature":"00"}',
    ],
    ids=["deep-nesting", "huge-integer"],
)
def test_hostile_json_is_typed(data: bytes) -> None:
    with pytest.raises(MalformedInputError):
        load_pcs_tcb_info(data, None)


def test_lone_surrogate_in_dcap_qvl_json_is_typed(testdata: Path) -> None:
    text = (_tdx(testdata) / QVL_SETS["qvl-b0c06f-2025-06"]).read_text()
    assert '"tcb_info": "{' in text
    broken = text.replace('"tcb_info": "{', '"tcb_info": "\\ud800{', 1)
    assert json.loads(broken)["tcb_info"].startswith("\ud800")
    with pytest.raises(MalformedInputError, match="not valid Unicode"):
        load_dcap_qvl_collateral(broken.encode())
