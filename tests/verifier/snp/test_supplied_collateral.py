"""A collateral bundle supplied without the CRL must not silently pass revocation (issue 11 item
3, the SEV-SNP side). No collateral source at all (``--certs`` and ``--offline``) still skips
revocation, as documented; a supplied bundle that lacks the CRL fails it unless the policy sets
``allow_collateral_without_crl``. Real Milan report, AMD chain and AMD's Milan VCEK CRL."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cairn_verifier.cli.main import main
from cairn_verifier.collateral.bundle import BundleEntry, export_bundle
from cairn_verifier.snp.kds import NAMESPACE, crl_url_path
from cairn_verifier.x509.crl import load_crl

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "snp" / "milan-v3-oak-containers"
CRL = ROOT / "examples" / "snp" / "milan-crl.pem"
AT = "2025-12-01T00:00:00Z"  # inside the CRL's thisUpdate..nextUpdate (docs/policy.md)


def _verify(capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, dict[str, object]]:
    argv = ["verify", "snp", str(EXAMPLE / "report.bin"), "--certs", str(EXAMPLE), "--offline"]
    code = main([*argv, "--no-cache", "--at", AT, "--json", *extra])
    return code, json.loads(capsys.readouterr().out)


def _revocation(doc: dict[str, object]) -> dict[str, str]:
    checks = doc["checks"]
    assert isinstance(checks, list)
    check: dict[str, str] = next(c for c in checks if c["name"] == "revocation")
    return check


def _bundle(path: Path, *, with_crl: bool) -> Path:
    entries = []
    if with_crl:
        der = load_crl(CRL.read_bytes()).der
        entries.append(
            BundleEntry(
                namespace=NAMESPACE,
                key=crl_url_path("Milan", "vcek"),
                fetched_at=datetime(2025, 11, 30, tzinfo=UTC),
                expires_at=None,
                data_b64=base64.b64encode(der).decode(),
            )
        )
    export_bundle(entries, path, created_at=datetime(2025, 11, 30, tzinfo=UTC))
    return path


def test_no_collateral_source_at_all_still_skips_revocation(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, doc = _verify(capsys)
    assert code == 0
    assert _revocation(doc)["outcome"] == "skipped"


def test_a_bundle_without_the_crl_fails_revocation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = _bundle(tmp_path / "bundle.json", with_crl=False)
    code, doc = _verify(capsys, "--collateral", str(bundle))
    revocation = _revocation(doc)
    assert code == 5, doc
    assert revocation["outcome"] == "fail"
    assert "supplied collateral bundle lacks it" in revocation["summary"]
    assert "allow_collateral_without_crl" in revocation["hint"]


def test_the_policy_can_accept_a_bundle_without_the_crl(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = _bundle(tmp_path / "bundle.json", with_crl=False)
    policy = tmp_path / "policy.toml"
    policy.write_text("[snp]\nallow_collateral_without_crl = true\n")
    code, doc = _verify(capsys, "--collateral", str(bundle), "--policy", str(policy))
    assert code == 0
    revocation = _revocation(doc)
    assert revocation["outcome"] == "skipped"
    assert "allow_collateral_without_crl = true" in revocation["summary"]
    strict = tmp_path / "strict.toml"
    strict.write_text("[snp]\nallow_collateral_without_crl = true\nrequire_crl = true\n")
    code, doc = _verify(capsys, "--collateral", str(bundle), "--policy", str(strict))
    assert code == 5


def test_a_bundle_with_the_crl_checks_revocation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = _bundle(tmp_path / "bundle.json", with_crl=True)
    code, doc = _verify(capsys, "--collateral", str(bundle))
    assert code == 0, doc
    assert _revocation(doc)["outcome"] == "pass"
