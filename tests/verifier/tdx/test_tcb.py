"""TDX TCB status (Intel QVL semantics) on every PROVENANCE vector, cross-checked with dcap-qvl.

The vector rows use genuine quotes and Intel-signed collateral. Branches no real vector reaches
(OutOfDate, TD relaunch, QE out of date, revoked, mismatches) are exercised by changing the
*inputs* of ``evaluate_tcb`` (an SVN, a status in an unsigned copy of real TCB info) and checking
the outcome QVL's rules prescribe.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dcap_qvl  # type: ignore[import-untyped]
import pytest
from tdx_vectors import (
    HISTORY,
    NS,
    TRUSTEE4,
    UP,
    V5,
    VECTORS,
    collateral_set,
    load_quote,
    sgx_of,
    tdx_dir,
)

from cairn_verifier.errors import CollateralUnavailableError, ExitCode, MalformedInputError
from cairn_verifier.tdx.collateral import TdxCollateral
from cairn_verifier.tdx.pck import SgxExtensions
from cairn_verifier.tdx.qe_identity import QeIdentity
from cairn_verifier.tdx.quote import Quote
from cairn_verifier.tdx.tcb import (
    QeIdentityMismatchError,
    TcbEvaluation,
    TdxModuleMismatchError,
    evaluate_quote_tcb,
    evaluate_tcb,
)
from cairn_verifier.tdx.tcb_info import TcbInfo, TcbStatus


def _oracle(c: TdxCollateral) -> dcap_qvl.QuoteCollateralV3:
    """The same collateral for dcap-qvl, built from the bytes *our* loaders isolated."""
    assert c.tcb_info_issuer_chain and c.qe_identity_issuer_chain and c.pck_crl_issuer_chain
    assert c.pck_crl and c.root_ca_crl
    return dcap_qvl.QuoteCollateralV3(
        pck_crl_issuer_chain=c.pck_crl_issuer_chain.decode(),
        root_ca_crl=c.root_ca_crl,
        pck_crl=c.pck_crl,
        tcb_info_issuer_chain=c.tcb_info_issuer_chain.decode(),
        tcb_info=c.tcb_info.signed.body.decode(),
        tcb_info_signature=c.tcb_info.signed.signature,
        qe_identity_issuer_chain=c.qe_identity_issuer_chain.decode(),
        qe_identity=c.qe_identity.signed.body.decode(),
        qe_identity_signature=c.qe_identity.signed.signature,
    )


def _seconds(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def _date(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


# --------------------------------------------------------------------------- PROVENANCE vectors


@pytest.mark.parametrize(
    ("quote_rel", "set_name", "pinned", "expected"),
    [row[1:] for row in VECTORS],
    ids=[f"#{row[0]}" for row in VECTORS],
)
def test_vector_status_matches_provenance_and_dcap_qvl(
    testdata: Path, quote_rel: str, set_name: str, pinned: str, expected: TcbStatus
) -> None:
    quote = load_quote(testdata, quote_rel)
    collateral = collateral_set(testdata, set_name)
    collateral.check_current(_date(pinned))
    ev = evaluate_quote_tcb(
        collateral.tcb_info.parsed, collateral.qe_identity.parsed, sgx_of(quote), quote
    )
    assert ev.status is expected
    assert ev.qe_status is UP
    assert ev.explanation

    now = _seconds(pinned)
    policy = dcap_qvl.QuotePolicy.claims_only(now)
    try:
        claims = json.loads(
            dcap_qvl.QuoteVerifier()
            .verify_with_policy(quote.raw, _oracle(collateral), now, policy)
            .to_json()
        )
    except ValueError as exc:
        if expected is NS:
            assert "No matching TCB level" in str(exc)
            assert ev.platform_level is None and ev.tcb_date is None
        else:  # row 8: dcap-qvl refuses the DEBUG TD on policy before giving a status
            assert quote_rel == TRUSTEE4 and "Debug mode" in str(exc)
            assert quote.body.td_attributes.debug
        return
    assert ev.status.value == claims["tcb"]["status"]
    assert list(ev.advisory_ids) == claims["tcb"]["advisory_ids"]
    assert ev.tcb_date == _date(claims["platform"]["tcb_level"]["tcbDate"])
    assert ev.qe_level is not None
    assert ev.qe_level.tcb_date == _date(claims["qe"]["tcb_level"]["tcbDate"])
    assert ev.tcb_evaluation_data_number == claims["tcb"]["eval_data_number"]


def test_outdated_explanation_names_the_component(testdata: Path) -> None:
    """PROVENANCE #2: PCK SGX comp #8 = 3 < 5 in every level."""
    ev = _evaluate(testdata, "dcap-qvl/sample/tdx_quote_outdated", "qvl-90c06f-2026-02")
    assert ev.status is NS
    assert ev.sgx_level is None
    assert any(
        line.startswith(
            "SGX TCB component 8 (SEAMLDR ACM, OS/VMM) is 3, every TCB level "
            "requires >= 5: update the platform BIOS/microcode"
        )
        for line in ev.explanation
    ), ev.explanation
    assert ev.to_json()["status"] == "TCB_NOT_SUPPORTED"


def test_spr_e4_explanation_lists_every_component_behind(testdata: Path) -> None:
    ev = _evaluate(
        testdata, "go-tdx-guest/testdata/tdx_prod_quote_SPR_E4.dat", "gtg-50806f-2023-06"
    )
    behind = [line.split(" is ")[0] for line in ev.explanation[1:]]
    assert behind == [
        "SGX TCB component 1 (Early Microcode Update, BIOS)",
        "SGX TCB component 2 (SGX Late Microcode Update, OS/VMM)",
        "SGX TCB component 5 (BIOS)",
        "SGX TCB component 8 (SEAMLDR ACM, OS/VMM)",
    ]


def test_fmspc_mismatch(testdata: Path) -> None:
    """PROVENANCE negative: dcap-qvl/tdx_quote + 90C06F collateral."""
    with pytest.raises(CollateralUnavailableError) as err:
        _evaluate(testdata, "dcap-qvl/sample/tdx_quote", "qvl-90c06f-2026-02")
    assert "TCB info fmspc/pceId 90C06F000000/0000 != PCK b0c06f000000/0000" in str(err.value)
    assert err.value.exit_code is ExitCode.COLLATERAL_UNAVAILABLE
    assert err.value.hint is not None and "B0C06F000000" in err.value.hint


# --------------------------------------------------------------------------- QVL rule branches


def _inputs(quote: Quote) -> dict[str, Any]:
    qe = quote.certification.qe_report
    return {
        "tee_tcb_svn": quote.body.tee_tcb_svn,
        "mr_signer_seam": quote.body.mr_signer_seam,
        "seam_attributes": quote.body.seam_attributes,
        "tee_tcb_svn2": quote.body.tee_tcb_svn2,
        "qe_isvsvn": qe.isv_svn,
        "qe_mrsigner": qe.mr_signer,
        "qe_isvprodid": qe.isv_prod_id,
        "qe_miscselect": qe.misc_select,
        "qe_attributes": qe.attributes,
    }


def _evaluate(
    testdata: Path,
    quote_rel: str,
    set_name: str,
    *,
    tcb_info: TcbInfo | None = None,
    qe_identity: QeIdentity | None = None,
    sgx: SgxExtensions | None = None,
    **overrides: Any,
) -> TcbEvaluation:
    quote = load_quote(testdata, quote_rel)
    c = collateral_set(testdata, set_name)
    return evaluate_tcb(
        tcb_info or c.tcb_info.parsed,
        sgx or sgx_of(quote),
        qe_identity=qe_identity or c.qe_identity.parsed,
        **(_inputs(quote) | overrides),
    )


def _svn(first: int, *rest: int) -> bytes:
    return bytes([first, *rest]).ljust(16, b"\0")


def _edited_tcb_info(testdata: Path, edit: Any) -> TcbInfo:
    doc = json.loads(collateral_set(testdata, "qvl-90c06f-2026-02").tcb_info.signed.body)
    edit(doc)
    return TcbInfo.parse(json.dumps(doc).encode())


def _edited_qe(testdata: Path, status: str) -> QeIdentity:
    doc = json.loads(collateral_set(testdata, "qvl-90c06f-2026-02").qe_identity.signed.body)
    doc["tcbLevels"][0]["tcbStatus"] = status
    return QeIdentity.parse(json.dumps(doc).encode())


V5_SET = "qvl-90c06f-2026-02"
# quote_v5_sample: TEE_TCB_SVN 0b0104.., TEE_TCB_SVN2 0d0104.. (TDX_01 module, SVN 11 / 13).
OLD_MODULE = _svn(4, 1, 4)


def test_platform_out_of_date(testdata: Path) -> None:
    quote = load_quote(testdata, V5)
    sgx = sgx_of(quote)
    comps = list(sgx.tcb_components)
    comps[0], comps[1], comps[4] = 2, 2, 3
    older = sgx.replace(tcb_components=tuple(comps))
    ev = _evaluate(testdata, V5, V5_SET, sgx=older)
    assert ev.status is TcbStatus.OUT_OF_DATE
    assert ev.tcb_date == datetime(2024, 3, 13, tzinfo=UTC)
    assert ev.advisory_ids[:3] == ("INTEL-SA-01036", "INTEL-SA-01079", "INTEL-SA-01099")
    assert (
        "SGX TCB component 1 (Early Microcode Update, BIOS) is 2 < 3 required for UpToDate: "
        "update the platform BIOS (early microcode)"
    ) in ev.explanation
    assert any(line.startswith("SGX TCB component 5 (BIOS) is 3 < 4") for line in ev.explanation)


def test_tdx10_pcesvn_out_of_date(testdata: Path) -> None:
    sgx = sgx_of(load_quote(testdata, TRUSTEE4)).replace(pce_svn=10)
    ev = _evaluate(testdata, TRUSTEE4, "gtg-50806f-2023-06", sgx=sgx)
    assert ev.status is TcbStatus.OUT_OF_DATE
    assert ev.tcb_date == datetime(2018, 1, 4, tzinfo=UTC)
    assert "INTEL-SA-00106" in ev.advisory_ids
    assert ev.module_status is None and ev.module_identity_id is None
    assert any(
        line.startswith("PCESVN is 10 < 11 required for UpToDate") for line in ev.explanation
    )


def test_tdx10_not_supported_explains_tdx_and_pce(testdata: Path) -> None:
    ev = _evaluate(testdata, TRUSTEE4, "gtg-50806f-2023-06", tee_tcb_svn=_svn(2, 0, 5))
    assert ev.status is NS and ev.sgx_level is not None and ev.platform_level is None
    assert (
        "TDX TCB component 1 (TDX Module, OS/VMM) is 2, every TCB level the platform meets "
        "requires >= 3: update the TDX module"
    ) in ev.explanation
    sgx = sgx_of(load_quote(testdata, TRUSTEE4)).replace(pce_svn=4)
    ev = _evaluate(testdata, TRUSTEE4, "gtg-50806f-2023-06", sgx=sgx)
    assert ev.status is NS
    assert any(
        line.startswith("PCESVN is 4, every TCB level requires >= 5") for line in ev.explanation
    )


def test_module_out_of_date(testdata: Path) -> None:
    ev = _evaluate(testdata, V5, V5_SET, tee_tcb_svn=OLD_MODULE, tee_tcb_svn2=None)
    assert ev.status is TcbStatus.OUT_OF_DATE
    assert ev.platform_status is UP and ev.module_status is TcbStatus.OUT_OF_DATE
    assert ev.module_identity_id == "TDX_01"
    assert ev.advisory_ids == ("INTEL-SA-01036", "INTEL-SA-01099")
    assert (
        "TDX module (TDX_01) SVN 4 < 6 required for UpToDate: update the TDX module"
    ) in ev.explanation


def test_td_relaunch_advised(testdata: Path) -> None:
    # Launched on module SVN 4 (OutOfDate), now runs on SVN 13 (TEE_TCB_SVN2 of the real quote).
    ev = _evaluate(testdata, V5, V5_SET, tee_tcb_svn=OLD_MODULE)
    assert ev.status is TcbStatus.TD_RELAUNCH_ADVISED
    assert any("relaunch the TD" in line for line in ev.explanation)
    # The running module is still old: no relaunch advice, plain OutOfDate.
    ev = _evaluate(testdata, V5, V5_SET, tee_tcb_svn=OLD_MODULE, tee_tcb_svn2=OLD_MODULE)
    assert ev.status is TcbStatus.OUT_OF_DATE
    # TDX microcode (component 3) of the new TCB below the latest level: no relaunch advice.
    ev = _evaluate(testdata, V5, V5_SET, tee_tcb_svn=OLD_MODULE, tee_tcb_svn2=_svn(13, 1, 2))
    assert ev.status is TcbStatus.OUT_OF_DATE
    # QE out of date suppresses the relaunch advice (QVL checkForRelaunch).
    ev = _evaluate(
        testdata, V5, V5_SET, tee_tcb_svn=OLD_MODULE, qe_identity=_edited_qe(testdata, "OutOfDate")
    )
    assert ev.status is TcbStatus.OUT_OF_DATE
    with pytest.raises(TdxModuleMismatchError, match="TDX_02"):
        _evaluate(testdata, V5, V5_SET, tee_tcb_svn=OLD_MODULE, tee_tcb_svn2=_svn(13, 2, 4))


def test_td_relaunch_advised_configuration_needed(testdata: Path) -> None:
    def config_needed(doc: dict[str, Any]) -> None:
        doc["tcbLevels"][0]["tcbStatus"] = "ConfigurationNeeded"

    info = _edited_tcb_info(testdata, config_needed)
    ev = _evaluate(testdata, V5, V5_SET, tcb_info=info)
    assert ev.status is TcbStatus.CONFIGURATION_NEEDED
    assert any("configuration" in line for line in ev.explanation)
    ev = _evaluate(testdata, V5, V5_SET, tcb_info=info, tee_tcb_svn=OLD_MODULE, tee_tcb_svn2=None)
    assert ev.status is TcbStatus.OUT_OF_DATE_CONFIGURATION_NEEDED
    ev = _evaluate(testdata, V5, V5_SET, tcb_info=info, tee_tcb_svn=OLD_MODULE)
    assert ev.status is TcbStatus.TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED


def test_qe_status_convergence(testdata: Path) -> None:
    ev = _evaluate(testdata, V5, V5_SET, qe_identity=_edited_qe(testdata, "OutOfDate"))
    assert (ev.status, ev.qe_status) == (TcbStatus.OUT_OF_DATE, TcbStatus.OUT_OF_DATE)
    ev = _evaluate(testdata, V5, V5_SET, qe_identity=_edited_qe(testdata, "Revoked"))
    assert (ev.status, ev.qe_status) == (TcbStatus.REVOKED, TcbStatus.REVOKED)
    ev = _evaluate(testdata, V5, V5_SET, qe_isvsvn=3)
    assert (ev.status, ev.qe_status, ev.qe_level) == (NS, NS, None)
    assert "QE SVN 3 is below every level (>= 4 required)" in ev.explanation[-1]

    def sw_hardening(doc: dict[str, Any]) -> None:
        doc["tcbLevels"][0]["tcbStatus"] = "ConfigurationAndSWHardeningNeeded"

    info = _edited_tcb_info(testdata, sw_hardening)
    ev = _evaluate(
        testdata, V5, V5_SET, tcb_info=info, qe_identity=_edited_qe(testdata, "OutOfDate")
    )
    assert ev.status is TcbStatus.OUT_OF_DATE_CONFIGURATION_NEEDED


def test_revoked_levels(testdata: Path) -> None:
    def revoke_module(doc: dict[str, Any]) -> None:
        tdx01 = next(m for m in doc["tdxModuleIdentities"] if m["id"] == "TDX_01")
        tdx01["tcbLevels"][1]["tcbStatus"] = "Revoked"

    info = _edited_tcb_info(testdata, revoke_module)
    ev = _evaluate(testdata, V5, V5_SET, tcb_info=info, tee_tcb_svn=OLD_MODULE)
    assert (ev.status, ev.module_status) == (TcbStatus.REVOKED, TcbStatus.REVOKED)

    def revoke_platform(doc: dict[str, Any]) -> None:
        doc["tcbLevels"][0]["tcbStatus"] = "Revoked"

    info = _edited_tcb_info(testdata, revoke_platform)
    ev = _evaluate(
        testdata, V5, V5_SET, tcb_info=info, qe_identity=_edited_qe(testdata, "OutOfDate")
    )
    assert ev.status is TcbStatus.REVOKED
    assert "Intel revoked this TCB level: the platform must be updated" in ev.explanation


def test_module_svn_below_every_level(testdata: Path) -> None:
    ev = _evaluate(testdata, V5, V5_SET, tee_tcb_svn=_svn(1, 1, 4))
    assert (ev.status, ev.module_status, ev.module_level) == (NS, NS, None)
    assert ev.platform_status is UP
    assert any("TDX module (TDX_01) SVN 1 is below every level" in line for line in ev.explanation)


def test_level_order_is_qvl_order_not_served_order(testdata: Path) -> None:
    quote = load_quote(testdata, V5)
    sgx = sgx_of(quote).replace(tcb_components=(2, 2, 2, 2, 3, 1, 0, 5, *[0] * 8))
    expected = _evaluate(testdata, V5, V5_SET, sgx=sgx)
    assert expected.status is TcbStatus.OUT_OF_DATE

    def shuffle(doc: dict[str, Any]) -> None:
        random.Random(7).shuffle(doc["tcbLevels"])
        doc["tcbLevels"].reverse()

    ev = _evaluate(testdata, V5, V5_SET, sgx=sgx, tcb_info=_edited_tcb_info(testdata, shuffle))
    assert ev == expected


# --------------------------------------------------------------------------- identity mismatches


def test_qe_identity_mismatch(testdata: Path) -> None:
    qe = load_quote(testdata, V5).certification.qe_report
    flipped = bytes([qe.mr_signer[0] ^ 1]) + qe.mr_signer[1:]
    with pytest.raises(QeIdentityMismatchError, match="QE identity mismatch: MRSIGNER") as err:
        _evaluate(testdata, V5, V5_SET, qe_mrsigner=flipped)
    assert err.value.exit_code is ExitCode.POLICY_REJECTED
    with pytest.raises(QeIdentityMismatchError, match="ISVPRODID 1 != 2"):
        _evaluate(testdata, V5, V5_SET, qe_isvprodid=1)
    with pytest.raises(QeIdentityMismatchError, match="MISCSELECT"):
        _evaluate(testdata, V5, V5_SET, qe_miscselect=qe.misc_select | 1)
    # ATTRIBUTES byte 0 is masked with 0xFB: bit 2 is ignored, bit 1 (DEBUG) is not.
    assert qe.attributes[0] & 0x02 == 0
    debug = bytes([qe.attributes[0] | 0x02]) + qe.attributes[1:]
    with pytest.raises(QeIdentityMismatchError, match="ATTRIBUTES"):
        _evaluate(testdata, V5, V5_SET, qe_attributes=debug)
    ignored = bytes([qe.attributes[0] ^ 0x04]) + qe.attributes[1:8] + b"\xff" * 8
    assert _evaluate(testdata, V5, V5_SET, qe_attributes=ignored).status is UP


def test_sgx_qe_identity_rejected_for_tdx(testdata: Path) -> None:
    """The SGX QE identity (id QE) of the history collateral is refused when parsed."""
    doc = json.loads((tdx_dir(testdata) / HISTORY).read_text())
    with pytest.raises(MalformedInputError, match="TD_QE v2"):
        QeIdentity.parse(doc["qe_identity"].encode())


def test_tdx_module_mismatch(testdata: Path) -> None:
    with pytest.raises(TdxModuleMismatchError, match="MRSIGNERSEAM") as err:
        _evaluate(testdata, V5, V5_SET, mr_signer_seam=b"\1" * 48)
    assert err.value.exit_code is ExitCode.POLICY_REJECTED
    with pytest.raises(TdxModuleMismatchError, match="SEAMATTRIBUTES"):
        _evaluate(testdata, V5, V5_SET, seam_attributes=b"\0" * 7 + b"\1")
    with pytest.raises(TdxModuleMismatchError, match="no tdxModuleIdentities entry TDX_02"):
        _evaluate(testdata, V5, V5_SET, tee_tcb_svn=_svn(11, 2, 4))
    # TDX 1.0 module (TEE_TCB_SVN[1] = 0) is checked against the top-level tdxModule.
    with pytest.raises(TdxModuleMismatchError, match="tdxModule mrsigner"):
        _evaluate(testdata, TRUSTEE4, "gtg-50806f-2023-06", mr_signer_seam=b"\2" * 48)


def test_input_sizes_are_checked(testdata: Path) -> None:
    with pytest.raises(MalformedInputError, match="TEE_TCB_SVN is 15 bytes"):
        _evaluate(testdata, V5, V5_SET, tee_tcb_svn=bytes(15))
    with pytest.raises(MalformedInputError, match="TEE_TCB_SVN2"):
        _evaluate(testdata, V5, V5_SET, tee_tcb_svn2=bytes(17))


def test_to_json(testdata: Path) -> None:
    ev = _evaluate(testdata, V5, V5_SET, tee_tcb_svn=OLD_MODULE)
    doc = ev.to_json()
    assert doc["status"] == "TDRelaunchAdvised"
    assert doc["tcb_date"] == "2024-11-13T00:00:00Z"
    assert doc["module_identity"] == "TDX_01" and doc["module_status"] == "OutOfDate"
    assert doc["qe_status"] == "UpToDate" and doc["tcb_evaluation_data_number"] == 18
    assert doc["explanation"] == list(ev.explanation)
    json.dumps(doc)
