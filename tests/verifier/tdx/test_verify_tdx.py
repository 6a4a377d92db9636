"""The TDX pipeline on every PROVENANCE vector and negative, through library and CLI."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from tdx_vectors import (
    HISTORY,
    QVL_90,
    QVL_B0,
    TRUSTEE4,
    VECTORS,
    collateral_set,
    load_quote,
    qvl_collateral,
    tdx_dir,
)

from cairn_verifier.checks import Outcome, VerificationResult
from cairn_verifier.cli.main import main
from cairn_verifier.errors import ExitCode, MalformedInputError
from cairn_verifier.tdx.collateral import TdxCollateral, load_dcap_qvl_collateral
from cairn_verifier.tdx.policy import TdxPolicy
from cairn_verifier.tdx.quote import parse_quote
from cairn_verifier.tdx.tcb_info import TcbStatus
from cairn_verifier.tdx.verify import TdxVerifyRequest, verify_tdx_quote

CRYPTO_CHECKS = {
    "qe-vendor",
    "pck-root-pinned",
    "pck-ca-signature",
    "pck-leaf-signature",
    "qe-report-signature",
    "qe-report-binding",
    "quote-signature",
}
NO_COLLATERAL = [
    "go-tdx-guest/testdata/ccel/cos-113-tdx-quote.dat",
    "trustee/test_data/tdx_quote_5.dat",
    "trustee/test_data/az-tdx-vtpm/td-quote.bin",
]
QVL_SETS = {"qvl-b0c06f-2025-06": QVL_B0, "qvl-90c06f-2026-02": QVL_90}


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _verify(
    testdata: Path, quote_rel: str, collateral: TdxCollateral | None, at: str, **kw: object
) -> VerificationResult:
    request = TdxVerifyRequest(at=_at(at), collateral=collateral, **kw)  # type: ignore[arg-type]
    return verify_tdx_quote(load_quote(testdata, quote_rel), request)


def _failed(result: VerificationResult) -> list[str]:
    return [c.name for c in result.checks if c.outcome is Outcome.FAIL]


def _status(result: VerificationResult) -> str:
    return next(c.actual for c in result.checks if c.name == "tcb-status") or ""


@pytest.mark.parametrize(
    ("quote_rel", "set_name", "pinned", "expected"),
    [row[1:] for row in VECTORS],
    ids=[f"#{row[0]}" for row in VECTORS],
)
def test_vector_outcome(
    testdata: Path, quote_rel: str, set_name: str, pinned: str, expected: TcbStatus
) -> None:
    result = _verify(testdata, quote_rel, collateral_set(testdata, set_name), pinned)
    passed = {c.name for c in result.checks if c.outcome is Outcome.PASS}
    assert CRYPTO_CHECKS | {"tcb-info-signature", "qe-identity-signature"} <= passed
    assert {
        "tcb-info-matches-pck",
        "tcb-info-current",
        "qe-identity-current",
        "root-ca-crl",
        "pck-crl",
    } <= passed
    assert _status(result) == expected.value
    if expected is TcbStatus.NOT_SUPPORTED:
        assert result.exit_code is ExitCode.POLICY_REJECTED
        assert _failed(result)[0] == "tcb-status"
    elif quote_rel == TRUSTEE4:  # the DEBUG TD: UpToDate, but the default policy rejects it
        assert result.exit_code is ExitCode.POLICY_REJECTED
        assert _failed(result) == ["debug-disabled", "sept-ve-disable"] or _failed(result) == [
            "debug-disabled"
        ]
    else:
        assert result.exit_code is ExitCode.OK, result.to_json()


@pytest.mark.parametrize("quote_rel", NO_COLLATERAL)
def test_quotes_without_collateral_pass_signatures_and_chain(
    testdata: Path, quote_rel: str
) -> None:
    result = _verify(testdata, quote_rel, None, "2026-01-01T00:00:00Z")
    passed = {c.name for c in result.checks if c.outcome is Outcome.PASS}
    assert passed >= CRYPTO_CHECKS
    assert _failed(result)[0] == "collateral"
    assert result.exit_code is ExitCode.COLLATERAL_UNAVAILABLE
    # The quote is authentic, so the TD is still appraised; only the TCB status is not.
    skipped = {c.name for c in result.checks if c.outcome is Outcome.SKIP}
    assert "tcb-status" in skipped
    assert "debug-disabled" in {c.name for c in result.checks}
    if quote_rel.endswith("az-tdx-vtpm/td-quote.bin"):  # PROVENANCE: SEPT_VE_DISABLE clear
        assert _failed(result) == ["collateral", "sept-ve-disable"]


def test_pck_crl_from_the_wrong_ca_is_rejected(testdata: Path) -> None:
    """PROVENANCE negative: the history collateral's PCK CRL comes from the Processor CA."""
    history = json.loads((tdx_dir(testdata) / HISTORY).read_text())
    good = qvl_collateral(testdata, QVL_B0)
    wrong = dataclasses.replace(good, pck_crl=bytes.fromhex(history["pck_crl"]))
    result = _verify(testdata, "dstack/ra-tls/assets/tdx_quote", wrong, "2025-06-19T10:32:27Z")
    assert _failed(result)[0] == "pck-crl"
    assert result.exit_code is ExitCode.CHAIN_UNTRUSTED


def test_sgx_tcb_info_is_not_tdx_collateral(testdata: Path) -> None:
    with pytest.raises(MalformedInputError, match="not a TDX v3 structure"):
        load_dcap_qvl_collateral((tdx_dir(testdata) / HISTORY).read_bytes())


def test_fmspc_mismatch(testdata: Path) -> None:
    other = qvl_collateral(testdata, QVL_90)
    result = _verify(testdata, "dcap-qvl/sample/tdx_quote", other, "2026-02-18T10:58:51Z")
    assert _failed(result)[0] == "tcb-info-matches-pck"
    assert result.exit_code is ExitCode.COLLATERAL_UNAVAILABLE


@pytest.mark.parametrize("moment", ["2025-07-20T00:00:00Z", "2025-06-01T00:00:00Z"])
def test_collateral_outside_its_window(testdata: Path, moment: str) -> None:
    result = _verify(
        testdata, "dcap-qvl/sample/tdx_quote", qvl_collateral(testdata, QVL_B0), moment
    )
    failed = _failed(result)
    assert failed[0] == "tcb-info-current"
    assert "not current at" in next(c.summary for c in result.checks if c.name == failed[0])
    assert result.exit_code is ExitCode.CHAIN_UNTRUSTED


@pytest.mark.parametrize(
    ("moment", "crl_problem"),
    [("2025-07-20T00:00:00Z", "stale"), ("2025-06-01T00:00:00Z", "not yet valid")],
)
def test_stale_collateral_lists_every_problem(
    testdata: Path, moment: str, crl_problem: str
) -> None:
    """Issue 10 item 13: the run used to stop at tcb-info-current. Now each stale document is
    a FAIL of its own, the TCB status and the TD are still evaluated, and the exit code is that
    of the first failure."""
    result = _verify(
        testdata, "dcap-qvl/sample/tdx_quote", qvl_collateral(testdata, QVL_B0), moment
    )
    assert _failed(result) == ["tcb-info-current", "qe-identity-current", "pck-crl"]
    assert crl_problem in next(c.summary for c in result.checks if c.name == "pck-crl")
    status = next(c for c in result.checks if c.name == "tcb-status")
    assert status.outcome is Outcome.PASS and "not current at this time" in status.summary
    assert {"debug-disabled", "sept-ve-disable", "mr-td"} <= {c.name for c in result.checks}
    assert result.exit_code is ExitCode.CHAIN_UNTRUSTED


def test_signing_cert_not_valid_at_the_collateral_time(testdata: Path) -> None:
    """PROVENANCE negative: 2023 collateral presented with the re-issued (2025) signing cert."""
    old = collateral_set(testdata, "gtg-50806f-2023-06")
    reissued_chain = qvl_collateral(testdata, QVL_90).tcb_info_issuer_chain
    mixed = dataclasses.replace(old, tcb_info=old.tcb_info.replace(issuer_chain=reissued_chain))
    result = _verify(testdata, TRUSTEE4, mixed, "2023-06-18T08:42:58Z")
    # The 2018 and 2025 signing certificates share a key: the signature verifies, and only the
    # validity of the certificate carried in the chain tells them apart.
    failures = [c for c in result.checks if c.outcome is Outcome.FAIL]
    assert (failures[0].name, failures[0].component) == ("validity", "Intel SGX TCB Signing")
    assert "not yet valid" in failures[0].summary
    assert [c.name for c in failures[1:]] == ["debug-disabled"]  # still appraised: a DEBUG TD
    assert result.exit_code is ExitCode.CHAIN_UNTRUSTED


def test_policy_can_accept_a_debug_td_and_pin_measurements(testdata: Path) -> None:
    quote = load_quote(testdata, TRUSTEE4)
    policy = TdxPolicy(
        allow_debug=True,
        require_sept_ve_disable=quote.body.td_attributes.sept_ve_disable,
        mr_td=(quote.body.mr_td,),
        rtmr0=quote.body.rtmrs[0],
        report_data=quote.body.report_data,
        require_crl=True,
    )
    collateral = collateral_set(testdata, "gtg-50806f-2023-06")
    result = _verify(testdata, TRUSTEE4, collateral, "2023-06-18T08:42:58Z", policy=policy)
    assert result.exit_code is ExitCode.OK, result.to_json()
    wrong = policy.model_copy(update={"rtmr0": bytes(48)})
    result = _verify(testdata, TRUSTEE4, collateral, "2023-06-18T08:42:58Z", policy=wrong)
    assert _failed(result) == ["rtmr0"]
    assert result.exit_code is ExitCode.CONTENT_MISMATCH


def test_collateral_without_crls_fails_revocation_unless_the_policy_allows_it(
    testdata: Path,
) -> None:
    """Issue 11 item 3: whoever supplies the collateral must not switch revocation off by leaving
    the CRLs out. It used to be skipped, and the quote verified under the default policy."""
    bare = dataclasses.replace(qvl_collateral(testdata, QVL_B0), pck_crl=None, root_ca_crl=None)
    pinned = "2025-06-19T10:32:27Z"
    result = _verify(testdata, "dcap-qvl/sample/tdx_quote", bare, pinned)
    assert _failed(result) == ["root-ca-crl", "pck-crl"]
    assert result.exit_code is ExitCode.COLLATERAL_UNAVAILABLE
    hint = next(c.hint for c in result.checks if c.name == "pck-crl") or ""
    assert "allow_collateral_without_crl" in hint
    allowed = TdxPolicy(allow_collateral_without_crl=True)
    result = _verify(testdata, "dcap-qvl/sample/tdx_quote", bare, pinned, policy=allowed)
    skipped = {c.name for c in result.checks if c.outcome is Outcome.SKIP}
    assert {"root-ca-crl", "pck-crl"} <= skipped
    assert result.exit_code is ExitCode.OK
    strict = TdxPolicy(allow_collateral_without_crl=True, require_crl=True)
    result = _verify(testdata, "dcap-qvl/sample/tdx_quote", bare, pinned, policy=strict)
    assert _failed(result) == ["root-ca-crl", "pck-crl"]
    assert result.exit_code is ExitCode.COLLATERAL_UNAVAILABLE


@pytest.mark.parametrize(
    ("quote_rel", "pinned"),
    [
        ("dcap-qvl/sample/tdx_quote", "2025-06-19T10:32:27Z"),
        # PROVENANCE #9; its PCK certificate is valid only from 2026-01-27.
        ("go-tdx-guest/testdata/quote_v5_sample.dat", "2026-02-18T11:00:00Z"),
    ],
)
def test_every_byte_flip_of_the_signed_material_is_rejected(
    testdata: Path, quote_rel: str, pinned: str
) -> None:
    raw = (tdx_dir(testdata) / quote_rel).read_bytes()
    quote = parse_quote(raw)
    request = TdxVerifyRequest(at=_at(pinned))
    assert verify_tdx_quote(quote, request).exit_code is ExitCode.COLLATERAL_UNAVAILABLE
    signed = len(quote.signed_bytes)
    sig_data = signed + 4  # u32 signature-data length
    cert_data = sig_data + 128 + 6  # signature + attestation key, then type + size
    regions = {
        "header+body": range(0, signed),
        "signature+attestation key": range(sig_data, sig_data + 128),
        "QE report+signature": range(cert_data, cert_data + 384 + 64),
    }
    for region, offsets in regions.items():
        for offset in offsets:
            tampered = bytearray(raw)
            tampered[offset] ^= 0x10
            try:
                flipped = parse_quote(bytes(tampered))
            except MalformedInputError:
                continue  # structure broken: a typed parse error is the rejection
            code = verify_tdx_quote(flipped, request).exit_code
            assert code in (ExitCode.SIGNATURE_INVALID, ExitCode.CHAIN_UNTRUSTED), (
                f"{region} offset {offset}: {code.name}"
            )
            if code is ExitCode.CHAIN_UNTRUSTED:
                assert 12 <= offset < 28, offset  # only the QE vendor id check says 3


@pytest.mark.parametrize(("set_name", "rel"), sorted(QVL_SETS.items()))
def test_cli_with_dcap_qvl_collateral(
    testdata: Path, capsys: pytest.CaptureFixture[str], set_name: str, rel: str
) -> None:
    rows = [row for row in VECTORS if row[2] == set_name]
    assert rows
    for _, quote_rel, _, pinned, expected in rows:
        argv = ["verify", "tdx", str(tdx_dir(testdata) / quote_rel)]
        argv += ["--collateral", str(tdx_dir(testdata) / rel), "--at", pinned, "--json"]
        code = main(argv)
        doc = json.loads(capsys.readouterr().out)
        assert doc["exit_code"] == code
        assert doc["claims"]["tcb_status"] == expected.value
        assert code == (ExitCode.OK if expected is TcbStatus.UP_TO_DATE else 4)


def test_cli_show_tdx_hex_quote(testdata: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["show", "tdx", str(tdx_dir(testdata) / "dcap-qvl/sample/tdx-quote.hex")])
    assert code == 0
    assert "\n  mr td    " in capsys.readouterr().out
