"""End to end through the CLI against local fake AMD KDS and Intel PCS servers serving real
bytes: fetch online, export a bundle, verify offline from it, import it into a cache."""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import sys
from pathlib import Path

import pytest
from fakes.http_server import RecordedServer, Reply
from fakes.pcs import load_qvl_pcs_set, serve_pcs

from cairn_verifier.cli.context import Command, kds_advice, pcs_advice, progress_for
from cairn_verifier.cli.main import build_parser, main
from cairn_verifier.collateral.progress import StreamProgress
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
    assert code == 64  # never overwrites a file without --force (usage error)


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


# -- without network: fail at once, say why, and give hints that fit the command --------------

REPO = Path(__file__).resolve().parents[3]
MILAN = REPO / "examples/snp/milan-v3-oak-containers"
MILAN_CRL = REPO / "examples/snp/milan-crl.pem"
TDX_EXAMPLE = REPO / "examples/tdx/dcap-qvl-sample"
UNRESOLVABLE = "http://cairn-test.invalid"  # RFC 2606: never resolves
PYDANTIC_WORDS = ("Field required", "Extra inputs", "validation error", "pydantic")


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)


def _check(doc: dict[str, object], name: str) -> dict[str, str]:
    checks = doc["checks"]
    assert isinstance(checks, list)
    return next(c for c in checks if c["name"] == name)


def _closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_unresolvable_kds_fails_at_once_with_hints_for_verify_snp(
    snp_case: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["verify", "snp", str(snp_case), "--kds-url", UNRESOLVABLE, "--no-cache"]
    code, doc = _run(capsys, *argv, "--at", SNP_AT)
    assert code == 5
    leaf = _check(doc, "leaf-certificate")
    assert leaf["summary"].startswith("the Milan VCEK: cannot resolve cairn-test.invalid (")
    assert "not retried" in leaf["summary"]
    assert leaf["hint"] == (
        "check the network connection and DNS; or verify without network access: --offline "
        "with the VCEK in --certs and AMD's CRL in --crl, or with --collateral BUNDLE; or use a "
        "reachable KDS mirror with --kds-url URL"
    )
    assert "rate" not in leaf["summary"] + leaf["hint"]


def test_with_certs_a_refused_crl_fetch_is_one_quick_skip(
    snp_case: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kds = _closed_port()
    argv = ["verify", "snp", str(snp_case), "--certs", str(MILAN), "--kds-url", kds]
    code, doc = _run(capsys, *argv, "--no-cache", "--at", SNP_AT)
    assert code == 0  # revocation is skipped unless the policy requires a CRL
    revocation = _check(doc, "revocation")
    assert revocation["outcome"] == "skipped"
    host = kds.removeprefix("http://")
    assert revocation["summary"] == (
        f"not checked: the Milan VCEK CRL: {host} refused the connection (nothing listens "
        f"there); not retried (GET {kds}/vcek/v1/Milan/crl)"
    )


def test_unresolvable_pccs_fails_at_once_with_hints_for_verify_tdx(
    testdata: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    quote = str(testdata / TDX_QUOTE)
    code, doc = _run(capsys, "verify", "tdx", quote, "--pccs", UNRESOLVABLE, "--no-cache")
    assert code == 5
    collateral = _check(doc, "collateral")
    assert "cannot resolve cairn-test.invalid" in collateral["summary"]
    assert "not retried" in collateral["summary"]
    assert collateral["hint"].startswith("check the network connection and DNS; or verify ")
    assert "--collateral" in collateral["hint"] and "--pccs URL" in collateral["hint"]
    assert "--certs" not in collateral["hint"]  # verify tdx has no --certs


def test_retries_show_progress_on_stderr_only_when_asked(
    snp_case: Path,
    testdata: Path,
    recorded_server: RecordedServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    crl = crl_url_path("Milan", "vcek")
    busy = Reply(503, b"busy", {"Retry-After": "0"})
    argv = ["verify", "snp", str(snp_case), "--kds-url", recorded_server.base_url, "--no-cache"]

    recorded_server.script(crl, busy, Reply(200, _milan_crl_der(testdata)))
    code, doc = _run(capsys, *argv, "--at", SNP_AT)  # stderr is not a terminal here
    assert code == 0 and _outcome(doc, "revocation") == "pass"
    assert capsys.readouterr().err == ""

    recorded_server.script(crl, busy, Reply(200, _milan_crl_der(testdata)))
    assert main([*argv, "--at", SNP_AT, "--json", "--progress"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["verified"] is True  # stdout holds the JSON document only
    assert err.splitlines() == [
        f"fetching the Milan VCEK CRL from {recorded_server.url(crl)}: retry 2/4 in 0 s after "
        "HTTP 503: 'busy'"
    ]


def test_export_offline_hint_names_local_files_not_export_itself(
    snp_case: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["collateral", "export", "--snp", str(snp_case), "--offline", "--no-cache"]
    code = main([*argv, "-o", str(tmp_path / "b.json")])
    err = capsys.readouterr().err
    assert code == 5
    assert "the Milan VCEK CRL was not supplied, and offline mode forbids fetching" in err
    assert "seed it from local files: the VCEK with --certs FILE|DIR, AMD's CRL with --crl" in err
    assert "collateral export" not in err
    assert not (tmp_path / "b.json").exists()


# -- air-gapped: bundles seeded from local files; every collateral format recognised ---------


def test_export_from_local_files_alone_then_verify_offline(
    snp_case: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = tmp_path / "milan.json"
    code, doc = _run(
        capsys,
        "collateral",
        "export",
        "--certs",
        str(MILAN),
        "--crl",
        str(MILAN_CRL),
        "--no-cache",
        "-o",
        str(bundle),
    )
    assert code == 0
    assert doc["sources"] == [
        {"entry": "kds:" + vcek_key(snp_case), "from": f"--certs {MILAN}"},
        {"entry": "kds:/vcek/v1/Milan/crl", "from": f"--crl {MILAN_CRL}"},
    ]
    assert doc["not_bundled"] == [
        f"ARK, ASK from --certs {MILAN}: Cairn pins AMD's ARK, ASK and ASVK, so bundles do not "
        "carry them"
    ]
    offline = ["--collateral", str(bundle), "--offline", "--no-cache", "--at", SNP_AT]
    code, doc = _run(capsys, "verify", "snp", str(snp_case), *offline)
    assert code == 0, doc
    assert _check(doc, "leaf-certificate")["summary"].endswith("from bundle")
    assert "CRL from bundle" in _check(doc, "revocation")["summary"]


def vcek_key(report: Path) -> str:
    peek = peek_signing_fields(report.read_bytes())
    tcb = TcbVersion.decode(peek.reported_tcb, ProductLine.MILAN).components()
    return vcek_url_path("Milan", peek.chip_id, tcb)


def test_export_with_an_expired_local_crl_says_how_to_export_for_old_evidence(
    snp_case: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "collateral",
        "export",
        "--snp",
        str(snp_case),
        "--certs",
        str(MILAN),
        "--crl",
        str(MILAN_CRL),
        "--offline",
        "--no-cache",
        "-o",
        str(tmp_path / "b.json"),
    ]
    assert main([*argv, "--at", "2026-06-01T00:00:00Z"]) == 5  # after the CRL's nextUpdate
    err = capsys.readouterr().err
    assert "the only copy of the Milan VCEK CRL (in the local files" in err
    assert "expired at 2026-05-12T00:00:00Z" in err
    assert "pass a current copy (--crl FILE), or export --at a time before it expired" in err
    code, doc = _run(capsys, *argv, "--at", SNP_AT)
    assert code == 0 and len(doc["entries"]) == 2  # type: ignore[arg-type]


def test_export_seeds_what_it_has_and_fetches_the_rest(
    snp_case: Path,
    recorded_server: RecordedServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["collateral", "export", "--snp", str(snp_case), "--crl", str(MILAN_CRL)]
    kds = ["--kds-url", recorded_server.base_url, "--no-cache", "--at", SNP_AT]
    code, doc = _run(capsys, *argv, *kds, "-o", str(tmp_path / "b.json"))
    assert code == 0
    assert [row["from"] for row in doc["sources"]] == [f"--crl {MILAN_CRL}", "network"]
    assert [r.target for r in recorded_server.requests] == [vcek_key(snp_case)]


def test_export_tdx_from_dcap_qvl_json_then_verify_offline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle, quote = tmp_path / "tdx.json", str(TDX_EXAMPLE / "quote.bin")
    code, doc = _run(
        capsys,
        "collateral",
        "export",
        "--tdx",
        quote,
        "--collateral",
        str(TDX_EXAMPLE / "collateral.json"),
        "--offline",
        "--no-cache",
        "--at",
        TDX_AT,
        "-o",
        str(bundle),
    )
    assert code == 0
    assert {row["from"] for row in doc["sources"]} == {
        f"--collateral {TDX_EXAMPLE / 'collateral.json'} (dcap-qvl collateral JSON)"
    }
    assert len(doc["entries"]) == 4  # type: ignore[arg-type]
    offline = ["--collateral", str(bundle), "--offline", "--no-cache", "--at", TDX_AT]
    code, doc = _run(capsys, "verify", "tdx", quote, *offline)
    assert code == 0, doc


def _pcs_directory(testdata: Path, where: Path) -> Path:
    """A directory of Intel PCS responses, as saved from PCS (bodies and decoded chains)."""
    s = load_qvl_pcs_set(testdata)
    where.mkdir()
    for name, data in {
        "tcb_info.json": s.tcb_body,
        "tcb_info_issuer_chain.pem": s.tcb_chain,
        "qe_identity.json": s.qe_body,
        "qe_identity_issuer_chain.pem": s.qe_chain,
        "pck_crl.der": s.pck_crl,
        "pck_crl_issuer_chain.pem": s.pck_chain,
        "root_ca_crl.der": s.root_crl,
    }.items():
        (where / name).write_bytes(data)
    return where


@pytest.mark.parametrize("form", ["dcap-qvl collateral JSON", "directory of Intel PCS responses"])
def test_import_recognises_dcap_qvl_json_and_pcs_directories(
    form: str, testdata: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = (
        TDX_EXAMPLE / "collateral.json"
        if form.startswith("dcap")
        else _pcs_directory(testdata, tmp_path / "pcs")
    )
    cache = ["--cache-dir", str(tmp_path / "cache")]
    code, doc = _run(capsys, "collateral", "import", str(source), *cache)
    assert code == 0
    assert (doc["format"], doc["imported"], doc["not_imported"]) == (form, 4, [])
    quote = str(TDX_EXAMPLE / "quote.bin")
    code, doc = _run(capsys, "verify", "tdx", quote, "--offline", *cache, "--at", TDX_AT)
    assert code == 0, doc
    assert main(["collateral", "import", str(source), *cache]) == 0
    assert capsys.readouterr().out.startswith(f"imported 4 entries from {source} ({form}) into")


@pytest.mark.parametrize(
    ("content", "message", "hint"),
    [
        (
            b'{"hello": 1}',
            "is JSON but not collateral Cairn reads; accepted: a Cairn collateral bundle",
            None,
        ),
        (
            b'{"tcbInfo": {}, "signature": "00"}',
            "is a single Intel PCS response (tcbInfo)",
            "save it as tcb_info.json in a directory with the others",
        ),
        (b"\x30\x82\x01\x00", "(not JSON)", "a DER certificate or CRL is passed with --certs"),
        (
            b'{"format": "cairn-collateral-bundle", "version": 1, "entries": []}',
            "is not a valid Cairn collateral bundle: created_at: ",
            "re-create it with `cairn collateral export`",
        ),
    ],
)
def test_unknown_or_broken_collateral_is_named_without_pydantic_noise(
    content: bytes,
    message: str,
    hint: str | None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "collateral.json"
    path.write_bytes(content)
    for argv in (
        ["collateral", "import", str(path), "--cache-dir", str(tmp_path / "cache")],
        ["verify", "snp", str(MILAN / "report.bin"), "--collateral", str(path), "--offline"],
    ):
        code, doc = _run(capsys, *argv)
        assert code == 10
        error = doc["error"]
        assert isinstance(error, dict)
        assert str(path) in error["message"] and message in error["message"]
        assert error.get("hint") == hint or (hint is not None and hint in error["hint"])
        assert not any(word in json.dumps(doc) for word in PYDANTIC_WORDS[2:])


def test_a_broken_dcap_qvl_file_names_the_format_and_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = json.loads((TDX_EXAMPLE / "collateral.json").read_bytes())
    del doc["qe_identity"]
    path = tmp_path / "qvl.json"
    path.write_text(json.dumps(doc))
    code, out = _run(capsys, "collateral", "import", str(path))
    assert code == 10
    error = out["error"]
    assert isinstance(error, dict)
    assert error["message"] == (
        f"{path} (dcap-qvl collateral JSON): collateral JSON lacks 'qe_identity'"
    )
    assert not any(word in error["message"] for word in PYDANTIC_WORDS)


def test_verify_snp_with_tdx_collateral_says_what_the_file_holds(
    capsys: pytest.CaptureFixture[str],
) -> None:
    collateral = TDX_EXAMPLE / "collateral.json"
    argv = ["verify", "snp", str(MILAN / "report.bin"), "--collateral", str(collateral)]
    code, doc = _run(capsys, *argv, "--offline", "--no-cache")
    assert code == 5
    assert _check(doc, "leaf-certificate")["summary"].startswith(
        f"the Milan VCEK is not in --collateral {collateral} (dcap-qvl collateral JSON), and "
        "offline mode forbids fetching"
    )


def test_vlek_reports_file_the_crl_as_the_vlek_crl_and_never_bundle_a_vlek(
    snp_case: Path, testdata: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    vlek_report = testdata / "snp/trustee/snp_test-vlek-report.bin"
    vlek = testdata / "snp/trustee/snp_test-vlek.der"
    argv = ["collateral", "export", "--crl", str(MILAN_CRL), "--certs", str(vlek), "--no-cache"]
    code, doc = _run(
        capsys,
        *argv,
        "--snp",
        str(vlek_report),
        "--offline",
        "--at",
        SNP_AT,
        "-o",
        str(tmp_path / "vlek.json"),
    )
    assert code == 0
    assert doc["entries"] == ["kds:/vlek/v1/Milan/crl"]
    assert doc["not_bundled"] == [
        f"VLEK from --certs {vlek}: AMD KDS does not serve VLEKs, so a bundle cannot stand in for "
        "one; pass it with --certs when verifying"
    ]
    both = [*argv, "--snp", str(vlek_report), "--snp", str(snp_case), "-o", str(tmp_path / "x")]
    code, doc = _run(capsys, *both)
    assert code == 10
    assert "cannot tell whether this Milan CRL is AMD's VCEK or VLEK CRL" in str(doc["error"])


def test_export_merges_bundles_given_as_collateral(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    snp, tdx, merged = tmp_path / "snp.json", tmp_path / "tdx.json", tmp_path / "all.json"
    assert main(["collateral", "export", "--crl", str(MILAN_CRL), "-o", str(snp)]) == 0
    qvl = str(TDX_EXAMPLE / "collateral.json")
    assert main(["collateral", "export", "--collateral", qvl, "-o", str(tdx)]) == 0
    capsys.readouterr()
    code, doc = _run(
        capsys,
        "collateral",
        "export",
        "--collateral",
        str(snp),
        "--collateral",
        str(tdx),
        "-o",
        str(merged),
    )
    assert code == 0 and len(doc["entries"]) == 5  # type: ignore[arg-type]
    assert doc["sources"][0] == {
        "entry": "kds:/vcek/v1/Milan/crl",
        "from": f"--collateral {snp} (Cairn collateral bundle)",
    }


def test_export_needs_something_to_export(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["collateral", "export", "-o", "x.json"]) == 64
    assert "--certs, --crl and --collateral" in capsys.readouterr().err


def test_progress_is_on_for_a_terminal_and_with_the_option_only(tmp_path: Path) -> None:
    quiet, forced = argparse.Namespace(progress=False), argparse.Namespace(progress=True)
    leader, follower = os.openpty()
    with os.fdopen(leader, "rb"), open(follower, "w") as terminal:
        assert isinstance(progress_for(quiet, terminal), StreamProgress)
    with (tmp_path / "log").open("w") as file:
        assert progress_for(quiet, file) is None
        assert isinstance(progress_for(forced, file), StreamProgress)


def _subparser(parser: argparse.ArgumentParser, *path: str) -> argparse.ArgumentParser:
    for name in path:
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = action.choices[name]
    return parser


@pytest.mark.parametrize(
    ("command", "path"),
    [
        (Command.VERIFY_SNP, ("verify", "snp")),
        (Command.VERIFY_TDX, ("verify", "tdx")),
        (Command.VERIFY_EVIDENCE, ("verify", "evidence")),
        (Command.VERIFY_EVIDENCE, ("zk", "verify")),
        (Command.EXPORT, ("collateral", "export")),
    ],
)
def test_every_option_a_hint_names_exists_on_that_command(
    command: Command, path: tuple[str, ...]
) -> None:
    assert Command.of(build_parser().parse_args(_minimal_args(path))) is command
    for advice in (kds_advice(command), pcs_advice(command)):
        for text in (advice.offline, advice.stale, advice.unreachable, advice.unavailable):
            # Options in the text belong to this command; in a quoted `cairn …` to that one.
            quoted = re.findall(r"`cairn ([a-z]+ [a-z]+)([^`]*)`", text)
            spans = [(path, re.sub(r"`[^`]*`", "", text))]
            spans += [(tuple(name.split()), rest) for name, rest in quoted]
            for where, span in spans:
                parser = _subparser(build_parser(), *where)
                options = {o for action in parser._actions for o in action.option_strings}
                named = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", span))
                assert named <= options, (where, named - options, text)


def _minimal_args(path: tuple[str, ...]) -> list[str]:
    required = {
        ("verify", "snp"): ["r.bin"],
        ("verify", "tdx"): ["q.bin"],
        ("verify", "evidence"): ["e.json"],
        ("zk", "verify"): ["p.json", "--evidence", "e.json", "--nonce", "00"],
        ("collateral", "export"): ["-o", "b.json"],
    }
    return [*path, *required[path]]


def test_export_with_the_vcek_of_another_chip_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    genoa = REPO / "examples/snp/genoa-v5-oak-containers/vcek.pem"
    report = MILAN / "report.bin"
    argv = ["collateral", "export", "--snp", str(report), "--certs", str(genoa)]
    argv += ["--crl", str(MILAN_CRL), "--offline", "--no-cache", "--at", SNP_AT]
    code = main([*argv, "-o", str(tmp_path / "b.json")])
    err = capsys.readouterr().err
    assert code == 5
    assert "the Milan VCEK is not in the local files (--certs, --crl, --collateral)" in err
    assert (
        f"what to do: the VCEK from --certs {genoa} is for another chip or TCB than {report}"
    ) in err


def test_a_pcs_directory_without_issuer_chains_says_which_file_is_missing(
    testdata: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = testdata / "tdx/go-tdx-guest/testdata"  # PCS bodies and CRLs, no chain files
    code, doc = _run(capsys, "collateral", "import", str(directory), "--cache-dir", str(tmp_path))
    assert code == 10
    assert doc["error"] == {
        "type": "MalformedInputError",
        "component": "pcs",
        "message": f"{directory} (directory of Intel PCS responses): the TCB info has no issuer "
        "chain, so it cannot be bundled",
        "hint": "Intel PCS sends it in the TCB-Info-Issuer-Chain header: save it with the "
        "document (in a directory of PCS responses: tcb_info_issuer_chain.pem)",
    }


def test_export_reads_evidence_in_its_envelope(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`collateral export --tdx` takes the quote in any format `verify tdx` reads (here hex
    inside a JSON member, as dstack's GetQuote answers), not only the raw bytes."""
    quote = (TDX_EXAMPLE / "quote.bin").read_bytes()
    wrapped = tmp_path / "get_quote.json"
    wrapped.write_text(json.dumps({"quote": quote.hex(), "event_log": "[]"}))
    bundle = tmp_path / "tdx.json"
    local = ["--collateral", str(TDX_EXAMPLE / "collateral.json"), "--offline", "--no-cache"]
    args = ["collateral", "export", "--tdx", str(wrapped), *local, "--at", TDX_AT]
    code, doc = _run(capsys, *args, "-o", str(bundle))
    assert code == 0, doc
    assert len(doc["entries"]) == 4  # type: ignore[arg-type]
    offline = ["--collateral", str(bundle), "--offline", "--no-cache", "--at", TDX_AT]
    code, doc = _run(capsys, "verify", "tdx", str(wrapped), *offline)
    assert code == 0, doc
