"""A Cairn collateral bundle without the TDX CRLs reaches the policy decision.

The PCS client used to require all four documents, so a bundle that lacks the CRLs (what
`cairn collateral export` makes from CRL-less dcap-qvl JSON) failed the `collateral` check with
exit 5 even under ``allow_collateral_without_crl``. Now the missing CRLs fail `root-ca-crl` /
`pck-crl` (exit 5) by default and are skipped, with a warning naming them, under the policy's
opt-in. Real dcap-qvl sample quote and Intel-signed collateral (tdx PROVENANCE #1).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cairn_verifier.cli.main import main
from cairn_verifier.collateral.bundle import load_bundle
from cairn_verifier.errors import CollateralUnavailableError
from cairn_verifier.tdx.pcs import PcsClient

QUOTE = "tdx/dcap-qvl/sample/tdx_quote"
COLLATERAL = "tdx/dcap-qvl/sample/tdx_quote_collateral.json"
PINNED = "2025-06-19T10:32:27Z"
FMSPC = bytes.fromhex("B0C06F000000")


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code = main([*argv, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out)


def _bundle_without(testdata: Path, tmp_path: Path, *dropped: str) -> Path:
    """`cairn collateral export` of the sample collateral with ``dropped`` fields removed."""
    document = json.loads((testdata / COLLATERAL).read_text())
    for key in dropped:
        del document[key]
    source = tmp_path / "collateral.json"
    source.write_text(json.dumps(document))
    bundle = tmp_path / "bundle.json"
    argv = ["collateral", "export", "--tdx", str(testdata / QUOTE), "--collateral", str(source)]
    main([*argv, "--offline", "--no-cache", "--at", PINNED, "-o", str(bundle), "--json"])
    assert bundle.exists(), "collateral export wrote no bundle"
    return bundle


def _verify(
    capsys: pytest.CaptureFixture[str], testdata: Path, bundle: Path, *extra: str
) -> tuple[int, dict[str, Any]]:
    argv = ["verify", "tdx", str(testdata / QUOTE), "--collateral", str(bundle)]
    return _run(capsys, *argv, "--offline", "--no-cache", "--at", PINNED, *extra)


def _outcomes(doc: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["outcome"] for c in doc["checks"]}


def test_a_bundle_without_crls_fails_revocation_not_collateral(
    testdata: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = _bundle_without(testdata, tmp_path, "root_ca_crl", "pck_crl", "pck_crl_issuer_chain")
    capsys.readouterr()
    code, doc = _verify(capsys, testdata, bundle)
    assert code == 5
    outcomes = _outcomes(doc)
    assert outcomes["collateral"] == "pass"  # TCB info and QE identity are in the bundle
    assert [n for n, o in outcomes.items() if o == "fail"] == ["root-ca-crl", "pck-crl"]
    pck = next(c for c in doc["checks"] if c["name"] == "pck-crl")
    assert "PCK Platform CA CRL" in pck["summary"] and str(bundle) in pck["summary"]
    assert "allow_collateral_without_crl" in pck["hint"]


def test_the_policy_opt_in_accepts_it_with_a_warning(
    testdata: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = _bundle_without(testdata, tmp_path, "root_ca_crl", "pck_crl", "pck_crl_issuer_chain")
    capsys.readouterr()
    policy = tmp_path / "policy.toml"
    policy.write_text("[tdx]\nallow_collateral_without_crl = true\n")
    code, doc = _verify(capsys, testdata, bundle, "--policy", str(policy))
    assert code == 0, doc
    outcomes = _outcomes(doc)
    assert outcomes["root-ca-crl"] == outcomes["pck-crl"] == "skipped"
    warnings = doc["warnings"]
    assert any("Root CA CRL" in w and "not checked" in w for w in warnings), warnings
    assert any("PCK CRL" in w and "not checked" in w for w in warnings), warnings

    strict = tmp_path / "strict.toml"
    strict.write_text("[tdx]\nallow_collateral_without_crl = true\nrequire_crl = true\n")
    code, doc = _verify(capsys, testdata, bundle, "--policy", str(strict))
    assert code == 5


def test_only_the_root_ca_crl_missing(
    testdata: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = _bundle_without(testdata, tmp_path, "root_ca_crl")
    capsys.readouterr()
    code, doc = _verify(capsys, testdata, bundle)
    assert code == 5
    outcomes = _outcomes(doc)
    assert [n for n, o in outcomes.items() if o == "fail"] == ["root-ca-crl"]
    assert outcomes["pck-crl"] == "pass"


def test_the_client_reports_missing_crls_only_for_a_supplied_bundle(
    testdata: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With a bundle, an absent CRL is reported on the collateral (the pipeline decides);
    without any source the client still fails (nothing was supplied to judge)."""
    bundle_path = _bundle_without(testdata, tmp_path, "pck_crl", "pck_crl_issuer_chain")
    at = datetime(2025, 6, 19, 10, 32, 27, tzinfo=UTC)
    client = PcsClient(offline=True, bundle=load_bundle(bundle_path), clock=lambda: at)
    collateral = client.fetch_collateral(FMSPC, "platform")
    assert collateral.pck_crl is None and collateral.root_ca_crl is not None
    assert [name for name, _ in collateral.missing_crls] == ["PCK CRL"]
    with pytest.raises(CollateralUnavailableError):
        PcsClient(offline=True, clock=lambda: at).fetch_collateral(FMSPC, "platform")


def test_export_names_the_crls_it_could_not_bundle(
    testdata: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The bundle is written (the verifier judges it) and the export says what it lacks."""
    document = json.loads((testdata / COLLATERAL).read_text())
    del document["root_ca_crl"]
    source = tmp_path / "collateral.json"
    source.write_text(json.dumps(document))
    argv = ["collateral", "export", "--tdx", str(testdata / QUOTE), "--collateral", str(source)]
    argv += ["--offline", "--no-cache", "--at", PINNED, "-o", str(tmp_path / "b.json")]
    code, doc = _run(capsys, *argv)
    assert code == 0
    assert len(doc["entries"]) == 3
    label = f"{source} (dcap-qvl collateral JSON)"
    assert doc["not_bundled"] == [f"Root CA CRL: not in the collateral ({label})"]
