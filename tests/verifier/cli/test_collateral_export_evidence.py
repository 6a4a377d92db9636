"""`cairn collateral export --evidence BUNDLE`: the collateral a Cairn evidence bundle needs, from
the bundle itself, local files, a fake KDS/PCS replaying real bytes, or nothing for a simulated
agent — and `cairn verify evidence BUNDLE --collateral EXPORTED --offline` then reaches the result
it reaches with the same collateral handed over by hand.

The bundles are the committed real-vector bundles of tests/verifier/evidence/bundles (a real Milan
report and VCEK, a real TDX quote, real Azure HCL reports), bundles built around the real GPU
vector of go-nvattest-tools, and bundles of a real agent (swtpm, simulated SEV-SNP and GPUs)
served over loopback HTTP.
"""

from __future__ import annotations

import base64
import copy
import json
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from fakes.agent_server import ServerThread, start_agent
from fakes.http_server import RecordedServer, Reply
from fakes.pcs import load_qvl_pcs_set, serve_pcs

from cairn_agent.app import make_app
from cairn_agent.swtpm import running_swtpm
from cairn_verifier.api import dump_evidence
from cairn_verifier.cli.main import main
from cairn_verifier.snp.kds import vcek_url_path
from cairn_verifier.snp.product import ProductLine
from cairn_verifier.snp.report import peek_signing_fields
from cairn_verifier.snp.tcb import TcbVersion
from cairn_verifier.x509.cert import pem_blocks

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "snp"))
from vectors import by_name

pytest_plugins = ["fakes.fixtures"]

REPO = Path(__file__).resolve().parents[3]
BUNDLES = REPO / "tests/verifier/evidence/bundles"
MILAN_CRL = REPO / "examples/snp/milan-crl.pem"
SNP_AT = "2025-06-01T00:00:00Z"  # inside the Milan CRL's window and the VCEK's validity
TDX_AT = "2025-06-19T10:32:27Z"  # inside the dcap-qvl sample collateral's windows
AZURE_AT = "2025-01-29T16:26:55Z"  # inside the Genoa CRL's window
GPU_AT = "2025-10-24T12:00:00Z"  # the stored OCSP responses' time, inside the Milan CRL's window
GPU_FETCHED = "2025-10-24T11:30:00Z"
GNAT = "gpu/go-nvattest-tools/testing/testdata"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code = main([*argv, "--json"])
    return code, json.loads(capsys.readouterr().out)


def _document(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((BUNDLES / name).read_bytes())
    return doc


def _write(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(json.dumps(document, indent=1))
    return path


def _outcomes(doc: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    return [(c["name"], c["component"], c["outcome"], c["summary"]) for c in doc["checks"]]


def _check(doc: dict[str, Any], name: str) -> dict[str, str]:
    return next(c for c in doc["checks"] if c["name"] == name)


def _verify_offline(
    capsys: pytest.CaptureFixture[str], bundle: Path, at: str, *collateral: str
) -> tuple[int, dict[str, Any]]:
    nonce = json.loads(bundle.read_bytes())["claims"]["nonce"]
    argv = ["verify", "evidence", str(bundle), "--nonce", nonce, "--offline", "--no-cache"]
    return _run(capsys, *argv, "--at", at, *collateral)


def _vcek_key(report: bytes, product: ProductLine) -> str:
    peek = peek_signing_fields(report)
    tcb = TcbVersion.decode(peek.reported_tcb, product).components()
    return "kds:" + vcek_url_path(product.value, peek.chip_id, tcb)


# -- simulated kinds: nothing to fetch, said out loud --------------------------------------------


@pytest.fixture(scope="module")
def simulated_agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A real agent (swtpm, simulated SEV-SNP, one simulated H100) over loopback HTTP, and one
    bundle it collected, saved as a file."""
    workdir = tmp_path_factory.mktemp("simulated-agent")
    with running_swtpm(workdir / "swtpm") as swtpm:
        gpu = {"provider": "simulated", "simulated_count": 1}
        state, _ = start_agent(workdir, swtpm.tcti, "simulated-snp", gpu)
        assert state.self_check["status"] == "passed", state.self_check
        bundle = workdir / "evidence.json"
        collected = state.source.collect(secrets.token_bytes(32), state.inventory.current())
        bundle.write_bytes(dump_evidence(collected))
        with ServerThread(make_app(state)) as url:
            yield url, bundle


def test_a_simulated_bundle_needs_no_vendor_collateral_and_nothing_is_fetched(
    simulated_agent: tuple[str, Path],
    recorded_server: RecordedServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, bundle = simulated_agent
    services = ["--kds-url", recorded_server.base_url, "--pccs", recorded_server.base_url]
    services += ["--rim-url", recorded_server.base_url, "--ocsp-url", recorded_server.base_url]
    for source, name in ((str(bundle), str(bundle)), (url, f"{url}/v1/evidence")):
        out = tmp_path / f"{secrets.token_hex(4)}.json"
        code, doc = _run(
            capsys,
            "collateral",
            "export",
            "--evidence",
            source,
            *services,
            "--no-cache",
            "-o",
            str(out),
        )
        assert code == 0, doc
        assert doc["entries"] == []
        assert doc["not_bundled"] == [
            f"{name}: gpu.devices[0]: its chain ends in 'Cairn SIMULATED NVIDIA Device Identity "
            "CA', not NVIDIA's Device Identity CA (a simulated GPU, trusted only with "
            "--trust-simulated-root), so it needs no NVIDIA collateral, and none was fetched for "
            "it",
            f"{name}: its sev-snp-simulated evidence is simulated: its chain is the agent's own "
            "(trusted only with --trust-simulated-root), so it needs no AMD collateral, and none "
            "was fetched for it",
        ]
        assert json.loads(out.read_bytes())["entries"] == []
    assert recorded_server.count() == 0  # neither AMD's, Intel's nor NVIDIA's services asked


# -- a real SEV-SNP report and VCEK ---------------------------------------------------------------


def test_a_real_snp_bundle_exports_its_vcek_and_the_crl_and_verifies_as_by_hand(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """sev-snp.json: the real Milan report and VCEK of virtee-sev. The VCEK comes from the
    bundle's tee.certificates, the CRL from --crl, nothing from the network."""
    bundle = BUNDLES / "sev-snp.json"
    tee = _document("sev-snp.json")["tee"]
    report = base64.b64decode(tee["report"])
    exported = tmp_path / "exported.json"
    argv = ["collateral", "export", "--crl", str(MILAN_CRL), "--offline", "--no-cache"]
    code, doc = _run(capsys, *argv, "--evidence", str(bundle), "--at", SNP_AT, "-o", str(exported))
    assert code == 0, doc
    assert doc["sources"] == [
        {"entry": _vcek_key(report, ProductLine.MILAN), "from": f"tee.certificates of {bundle}"},
        {"entry": "kds:/vcek/v1/Milan/crl", "from": f"--crl {MILAN_CRL}"},
    ]
    assert doc["not_bundled"] == []

    # The same collateral taken apart by hand: the report and the VCEK as files.
    (tmp_path / "report.bin").write_bytes(report)
    (tmp_path / "vcek.der").write_bytes(base64.b64decode(tee["certificates"][0]))
    by_hand = tmp_path / "by-hand.json"
    code, _ = _run(
        capsys,
        *argv,
        "--snp",
        str(tmp_path / "report.bin"),
        "--certs",
        str(tmp_path / "vcek.der"),
        "--product",  # a version 2 report does not name it; the bundle's VCEK does
        "Milan",
        "--at",
        SNP_AT,
        "-o",
        str(by_hand),
    )
    assert code == 0
    code, with_export = _verify_offline(capsys, bundle, SNP_AT, "--collateral", str(exported))
    code_by_hand, with_files = _verify_offline(capsys, bundle, SNP_AT, "--collateral", str(by_hand))
    assert (code, _outcomes(with_export)) == (code_by_hand, _outcomes(with_files))
    assert code == 1  # a real report made for other claims: the binding rejects it, nothing else
    assert _check(with_export, "report-data")["outcome"] == "fail"
    assert _check(with_export, "revocation")["outcome"] == "pass"
    assert "CRL from bundle" in _check(with_export, "revocation")["summary"]

    _, without = _verify_offline(capsys, bundle, SNP_AT)
    assert _check(without, "revocation")["outcome"] != "pass"  # the export is what supplied it


def test_a_bundle_without_certificates_gets_its_vcek_and_crl_from_kds(
    testdata: Path,
    recorded_server: RecordedServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A bundle around oak's real Milan report (version 3: it names its product line), without
    certificates. The VCEK request is the report's own (CHIP_ID, REPORTED_TCB): the fake KDS
    serves the real VCEK and CRL only there."""
    vector = by_name(testdata, "oak/milan_oc_release")
    vcek, report = vector.leaf, vector.report
    document = _document("sev-snp.json")
    document["tee"]["report"] = base64.b64encode(report).decode()
    document["tee"]["certificates"] = []
    bundle = _write(tmp_path / "bare.json", document)
    vcek_target = _vcek_key(report, ProductLine.MILAN).removeprefix("kds:")
    recorded_server.script(vcek_target, Reply(200, vcek, {}))
    recorded_server.script(
        "/vcek/v1/Milan/crl", Reply(200, _pem_to_der(MILAN_CRL.read_bytes()), {})
    )
    exported = tmp_path / "exported.json"
    kds = ["--kds-url", recorded_server.base_url, "--no-cache", "--at", SNP_AT]
    code, doc = _run(
        capsys, "collateral", "export", "--evidence", str(bundle), *kds, "-o", str(exported)
    )
    assert code == 0, doc
    assert [(row["entry"], row["from"]) for row in doc["sources"]] == [
        ("kds:/vcek/v1/Milan/crl", "network"),
        (f"kds:{vcek_target}", "network"),
    ]
    assert sorted(r.target for r in recorded_server.requests) == sorted(
        ["/vcek/v1/Milan/crl", vcek_target]
    )
    code, result = _verify_offline(capsys, bundle, SNP_AT, "--collateral", str(exported))
    assert code == 1, result  # the binding, as above
    assert _check(result, "leaf-certificate")["summary"].endswith("from bundle")
    assert _check(result, "revocation")["outcome"] == "pass"


def _pem_to_der(pem: bytes) -> bytes:
    (der,) = pem_blocks(pem, "X509 CRL")
    return der


def test_an_azure_snp_bundle_exports_the_vcek_of_the_report_inside_the_hcl_report(
    testdata: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """azure-sev-snp-vtpm.json: Azure's real HCL report (Genoa). Its VCEK, given with --certs,
    is filed under the embedded report's chip and TCB — a VCEK of another report would not be."""
    bundle = BUNDLES / "azure-sev-snp-vtpm.json"
    text = (testdata / "snp/openpcc/sev_certificates.txt").read_bytes()
    crl = tmp_path / "genoa-crl.pem"
    crl.write_bytes(text.split(b"-- test_amd_genoa_crl.pem --")[1].split(b"\n-- ")[0])
    vcek = testdata / "snp/trustee/az-snp-vtpm_vcek-genoa.pem"
    exported = tmp_path / "exported.json"
    argv = ["collateral", "export", "--evidence", str(bundle), "--certs", str(vcek)]
    argv += ["--crl", str(crl), "--offline", "--no-cache", "--at", AZURE_AT]
    code, doc = _run(capsys, *argv, "-o", str(exported))
    assert code == 0, doc
    assert [row["from"] for row in doc["sources"]] == [f"--certs {vcek}", f"--crl {crl}"]
    assert doc["entries"][1] == "kds:/vcek/v1/Genoa/crl"
    code, result = _verify_offline(capsys, bundle, AZURE_AT, "--collateral", str(exported))
    assert _check(result, "leaf-certificate")["summary"].endswith("from bundle")
    assert _check(result, "revocation")["outcome"] == "pass"

    other = REPO / "examples/snp/genoa-v5-oak-containers/vcek.pem"  # a Genoa VCEK, another chip
    argv[argv.index(str(vcek))] = str(other)
    code = main([*argv, "-o", str(tmp_path / "other.json")])
    assert code == 5
    assert f"the VCEK from --certs {other} is for another chip or TCB than {bundle}" in (
        capsys.readouterr().err
    )


# -- a real TDX quote -----------------------------------------------------------------------------


def test_a_real_tdx_bundle_exports_the_pcs_collateral_and_verifies_as_with_the_file(
    testdata: Path,
    recorded_server: RecordedServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """tdx.json without its embedded collateral: the real dcap-qvl sample quote. The fake PCS
    serves the sample's real collateral; verifying with the export is verifying with the
    dcap-qvl file given directly."""
    document = _document("tdx.json")
    document["tee"]["collateral"] = None
    bundle = _write(tmp_path / "tdx.json", document)
    serve_pcs(recorded_server, load_qvl_pcs_set(testdata))
    exported = tmp_path / "exported.json"
    pcs = ["--pccs", recorded_server.base_url, "--no-cache", "--at", TDX_AT]
    code, doc = _run(
        capsys, "collateral", "export", "--evidence", str(bundle), *pcs, "-o", str(exported)
    )
    assert code == 0, doc
    assert sorted(doc["entries"]) == [
        "pcs:/sgx/certification/v4/pckcrl?ca=platform&encoding=der",
        "pcs:/sgx/certification/v4/rootcacrl",
        "pcs:/tdx/certification/v4/qe/identity",
        "pcs:/tdx/certification/v4/tcb?fmspc=B0C06F000000",
    ]
    assert {row["from"] for row in doc["sources"]} == {"network"}
    assert recorded_server.count() == 4

    direct = str(testdata / "tdx/dcap-qvl/sample/tdx_quote_collateral.json")
    code, with_export = _verify_offline(capsys, bundle, TDX_AT, "--collateral", str(exported))
    code_direct, with_file = _verify_offline(capsys, bundle, TDX_AT, "--collateral", direct)
    assert code == code_direct == 1  # the binding rejects the sample's REPORT_DATA
    passed = {"pck-crl", "root-ca-crl", "tcb-status"}
    for doc in (with_export, with_file):
        assert {c["name"] for c in doc["checks"] if c["outcome"] == "pass"} >= passed
    differing = [
        (a, b) for a, b in zip(_outcomes(with_export), _outcomes(with_file), strict=True) if a != b
    ]
    # Only where the collateral came from is said differently.
    assert all(a[:3] == b[:3] for a, b in differing), differing


def test_collateral_embedded_in_a_tdx_bundle_seeds_the_export(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = BUNDLES / "tdx.json"
    exported = tmp_path / "exported.json"
    argv = ["collateral", "export", "--evidence", str(bundle), "--offline", "--no-cache"]
    code, doc = _run(capsys, *argv, "--at", TDX_AT, "-o", str(exported))
    assert code == 0, doc
    assert len(doc["entries"]) == 4
    assert {row["from"] for row in doc["sources"]} == {f"tee.collateral of {bundle}"}
    quote = tmp_path / "quote.bin"
    quote.write_bytes(base64.b64decode(_document("tdx.json")["tee"]["report"]))
    offline = ["--collateral", str(exported), "--offline", "--no-cache", "--at", TDX_AT]
    code, result = _run(capsys, "verify", "tdx", str(quote), *offline)
    assert code == 0, result


def test_an_azure_tdx_bundle_asks_for_the_collateral_of_the_td_quote_after_the_hcl_report(
    testdata: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No collateral of that FMSPC is stored here: offline, the export must fail exactly as
    exporting the TD quote of tests/vectors/tdx/trustee-azure on its own does."""
    offline = ["--offline", "--no-cache", "--at", TDX_AT, "-o", str(tmp_path / "x.json")]
    bundle = str(BUNDLES / "azure-tdx-vtpm.json")
    assert main(["collateral", "export", "--evidence", bundle, *offline]) == 5
    from_bundle = capsys.readouterr().err
    quote = str(testdata / "tdx/trustee-azure/td-quote.bin")
    assert main(["collateral", "export", "--tdx", quote, *offline]) == 5
    assert from_bundle == capsys.readouterr().err
    assert "the TDX TCB info for FMSPC 00806F050000 was not supplied" in from_bundle


# -- GPU evidence in a bundle ---------------------------------------------------------------------


def _gpu_argv(testdata: Path) -> list[str]:
    gpu = testdata / GNAT
    argv = ["--rim", str(gpu / "rim/NV_GPU_DRIVER_GH100_550.90.07.xml")]
    argv += ["--rim", str(gpu / "rim/NV_GPU_VBIOS_1010_0200_882_96009F0001.xml")]
    argv += ["--rim-fetched-at", GPU_FETCHED]
    for response in sorted((gpu / "ocsp").glob("*.dat")):
        argv += ["--ocsp", str(response)]
    return [*argv, "--offline", "--no-cache", "--at", GPU_AT]


def test_gpu_evidence_in_a_bundle_exports_the_rims_and_ocsp_responses_as_with_gpu(
    testdata: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """sev-snp.json with the real H100 report and chain of go-nvattest-tools as its `gpu`."""
    gpu = testdata / GNAT
    chain = x509.load_pem_x509_certificates(
        (gpu / "test_gpu_attestation_certificate_chain.dat").read_bytes()
    )
    report = (gpu / "test_raw_gpu_attestation_report.dat").read_bytes()
    document = copy.deepcopy(_document("sev-snp.json"))
    document["gpu"] = {
        "devices": [
            {
                "report": base64.b64encode(report).decode(),
                "certificates": [
                    base64.b64encode(c.public_bytes(Encoding.DER)).decode() for c in chain
                ],
            }
        ]
    }
    bundle = _write(tmp_path / "with-gpu.json", document)
    code, with_gpu = _run(
        capsys,
        "collateral",
        "export",
        "--gpu",
        str(gpu / "test_raw_gpu_attestation_report.dat"),
        "--gpu-certs",
        str(gpu / "test_gpu_attestation_certificate_chain.dat"),
        *_gpu_argv(testdata),
        "-o",
        str(tmp_path / "gpu.json"),
    )
    assert code == 0, with_gpu
    code, with_evidence = _run(
        capsys,
        "collateral",
        "export",
        "--evidence",
        str(bundle),
        "--crl",
        str(MILAN_CRL),
        *_gpu_argv(testdata),
        "-o",
        str(tmp_path / "evidence.json"),
    )
    assert code == 0, with_evidence
    nvidia = [e for e in with_evidence["sources"] if not e["entry"].startswith("kds:")]
    assert nvidia == with_gpu["sources"]
    assert len(nvidia) == 9  # 2 RIMs and 7 OCSP responses
    assert {e["entry"] for e in with_evidence["sources"]} - {e["entry"] for e in nvidia} == {
        _vcek_key(base64.b64decode(document["tee"]["report"]), ProductLine.MILAN),
        "kds:/vcek/v1/Milan/crl",
    }
    assert with_evidence["not_bundled"] == with_gpu["not_bundled"] == []


# -- malformed bundles ----------------------------------------------------------------------------


def _truncated_report(doc: dict[str, Any]) -> None:
    doc["tee"]["report"] = base64.b64encode(base64.b64decode(doc["tee"]["report"])[:600]).decode()


def _not_an_hcl_report(doc: dict[str, Any]) -> None:
    doc["tee"]["report"] = base64.b64encode(b"\x00" * 2600).decode()


def _unknown_member(doc: dict[str, Any]) -> None:
    doc["tee"]["vcek"] = "AAAA"


def _quote_without_pck_chain(doc: dict[str, Any]) -> None:
    quote = bytearray(base64.b64decode(doc["tee"]["report"]))
    doc["tee"]["report"] = base64.b64encode(bytes(quote[:700])).decode()


@pytest.mark.parametrize(
    ("source", "change"),
    [
        ("sev-snp.json", _truncated_report),
        ("azure-sev-snp-vtpm.json", _not_an_hcl_report),
        ("sev-snp.json", _unknown_member),
        ("tdx.json", _quote_without_pck_chain),
        ("tdx.json", None),
    ],
    ids=["truncated report", "not an HCL report", "unknown member", "cut quote", "not JSON"],
)
def test_a_malformed_bundle_is_exit_10_naming_it(
    source: str, change: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "broken-bundle.json"
    if change is None:
        path.write_bytes((BUNDLES / source).read_bytes()[:-40])
    else:
        document = _document(source)
        change(document)
        _write(path, document)
    out = tmp_path / "out.json"
    argv = ["collateral", "export", "--evidence", str(path), "--offline", "--no-cache"]
    code, doc = _run(capsys, *argv, "-o", str(out))
    assert code == 10, doc
    assert str(path) in doc["error"]["message"]
    assert "Traceback" not in json.dumps(doc)
    assert not out.exists()
