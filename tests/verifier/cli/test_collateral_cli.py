"""End to end through the CLI against local fake AMD KDS and Intel PCS servers serving real
bytes: fetch online, export a bundle, verify offline from it, import it into a cache."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from fakes.http_server import RecordedServer, Reply
from fakes.pcs import load_qvl_pcs_set, serve_pcs

from cairn_verifier.cli.main import main
from cairn_verifier.snp.kds import crl_url_path, vcek_url_path
from cairn_verifier.snp.product import ProductLine
from cairn_verifier.snp.report import peek_signing_fields
from cairn_verifier.snp.tcb import TcbVersion
from cairn_verifier.x509.cert import pem_blocks

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "snp"))
from vectors import by_name

pytest_plugins = ["fakes.fixtures"]

SNP_AT = "2025-06-01T00:00:00Z"  # inside the Milan CRL window and the VCEK's validity
TDX_QUOTE = "tdx/dcap-qvl/sample/tdx_quote"
TDX_AT = "2025-06-19T10:32:27Z"


def _milan_crl_der(testdata: Path) -> bytes:
    text = (testdata / "snp/openpcc/sev_certificates.txt").read_bytes()
    section = text.split(b"-- test_amd_milan_crl.pem --")[1].split(b"\n-- ")[0]
    (der,) = pem_blocks(section, "X509 CRL")
    return der


@pytest.fixture
def snp_case(testdata: Path, tmp_path: Path, recorded_server: RecordedServer) -> Path:
    """A Milan report whose VCEK and CRL the fake KDS serves."""
    vector = by_name(testdata, "oak/milan_oc_release")
    report = tmp_path / "report.bin"
    report.write_bytes(vector.report)
    peek = peek_signing_fields(vector.report)
    tcb = TcbVersion.decode(peek.reported_tcb, ProductLine.MILAN).components()
    recorded_server.script(vcek_url_path("Milan", peek.chip_id, tcb), Reply(200, vector.leaf, {}))
    recorded_server.script(crl_url_path("Milan", "vcek"), Reply(200, _milan_crl_der(testdata), {}))
    return report


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, object]]:
    code = main([*argv, "--json"])
    return code, json.loads(capsys.readouterr().out)


def _outcome(doc: dict[str, object], name: str) -> str:
    checks = doc["checks"]
    assert isinstance(checks, list)
    return next(c["outcome"] for c in checks if c["name"] == name)


def test_snp_online_then_export_and_verify_offline(
    snp_case: Path,
    recorded_server: RecordedServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    kds = ["--kds-url", recorded_server.base_url, "--cache-dir", str(tmp_path / "cache")]
    code, doc = _run(capsys, "verify", "snp", str(snp_case), *kds, "--at", SNP_AT)
    assert code == 0, doc
    assert _outcome(doc, "revocation") == "pass"
    assert recorded_server.count() == 2  # VCEK + CRL

    bundle = tmp_path / "bundle.json"
    export = ["collateral", "export", "--snp", str(snp_case), *kds, "-o", str(bundle)]
    code, doc = _run(capsys, *export)
    assert code == 0 and len(doc["entries"]) == 2  # type: ignore[arg-type]
    # The VCEK comes from the cache (immutable); the CRL, past its nextUpdate today, is refetched.
    assert recorded_server.count() == 3

    offline = ["--collateral", str(bundle), "--offline", "--no-cache", "--at", SNP_AT]
    code, doc = _run(capsys, "verify", "snp", str(snp_case), *offline)
    assert code == 0, doc
    assert _outcome(doc, "revocation") == "pass"

    code, _ = _run(capsys, *export)
    assert code == 10  # never overwrites a file without --force


def test_snp_offline_without_collateral_is_exit_5(
    snp_case: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["verify", "snp", str(snp_case), "--offline", "--cache-dir", str(tmp_path / "empty")]
    code, doc = _run(capsys, *argv, "--at", SNP_AT)
    assert code == 5
    assert _outcome(doc, "leaf-certificate") == "fail"


def test_tdx_online_then_export_and_verify_offline(
    testdata: Path,
    recorded_server: RecordedServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    serve_pcs(recorded_server, load_qvl_pcs_set(testdata))
    quote = str(testdata / TDX_QUOTE)
    pcs = ["--pccs", recorded_server.base_url, "--cache-dir", str(tmp_path / "cache")]
    code, doc = _run(capsys, "verify", "tdx", quote, *pcs, "--at", TDX_AT)
    assert code == 0, doc
    assert {_outcome(doc, "root-ca-crl"), _outcome(doc, "pck-crl")} == {"pass"}
    served = recorded_server.count()
    assert served == 4  # TCB info, QE identity, PCK CRL, Root CA CRL

    bundle = tmp_path / "tdx-bundle.json"
    code, doc = _run(capsys, "collateral", "export", "--tdx", quote, *pcs, "-o", str(bundle))
    assert code == 0 and len(doc["entries"]) == 4  # type: ignore[arg-type]
    served = recorded_server.count()  # export judges freshness now: 2025 collateral is refetched

    offline = ["--collateral", str(bundle), "--offline", "--no-cache", "--at", TDX_AT]
    code, doc = _run(capsys, "verify", "tdx", quote, *offline)
    assert code == 0, doc

    cache = tmp_path / "imported"
    code, doc = _run(capsys, "collateral", "import", str(bundle), "--cache-dir", str(cache))
    assert code == 0 and doc["imported"] == 4
    code, doc = _run(
        capsys, "verify", "tdx", quote, "--offline", "--cache-dir", str(cache), "--at", TDX_AT
    )
    assert code == 0, doc
    assert recorded_server.count() == served


def test_command_line_errors_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "snp"]) == 64
    assert main(["verify", "snp", "x", "--product", "Rome"]) == 64
    assert "Rome" in capsys.readouterr().err


def test_missing_file_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "snp", str(tmp_path / "nope.bin"), "--offline"]) == 10
    err = capsys.readouterr().err
    assert "not found" in err and "Traceback" not in err
