"""Regression tests of issue 11 items 4, 6 and 8 through the CLI: every file input is read with a
cap, every malformed input exits 10 with a message naming the problem, empty hex options are
refused. Each case crashed (exit 70, MemoryError/ValueError/RecursionError/OverflowError/
KeyError/PermissionError) or silently changed a check before."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fuzz import corpus
from fuzz.targets import Crash, Fixtures, no_zk_toolchain, run_cli

from cairn_verifier import input_files
from cairn_verifier.cli.main import main

ZERO = "/dev/zero"
MILAN = corpus.MILAN
TDX = corpus.TDX
REPORT = str(MILAN / "report.bin")
QUOTE = str(TDX / "quote.bin")
TDX_COLLATERAL = str(TDX / "collateral.json")
TDX_AT = (TDX / "verify-at").read_text().strip()
SNP = ["verify", "snp", REPORT, "--certs", str(MILAN), "--offline", "--no-cache"]
NONCE = corpus.NONCE.hex()


@pytest.fixture(scope="module")
def fx(testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fixtures]:
    with no_zk_toolchain():
        yield Fixtures.write(corpus.build(testdata), tmp_path_factory.mktemp("input-errors"))


def _cairn(*argv: str) -> tuple[int, str]:
    try:
        return run_cli(argv)
    except Crash as crash:
        pytest.fail(f"cairn {' '.join(argv)}: {crash}")


def _refused(argv: list[str], *fragments: str) -> str:
    code, err = _cairn(*argv)
    assert code == 10, err
    for fragment in fragments:
        assert fragment in err, err
    return err


# ------------------------------------------------------------------ item 4: unbounded reads


def _zero_cases(fx: Fixtures) -> dict[str, list[str]]:
    export = ["-o", str(fx.work / "out.json"), "--offline", "--cache-dir", str(fx.work / "c")]
    zk = ["--request-id", "r", "--payload", "p", "--signature", "11" * 64, "-o", "x", "--crs", "."]
    evidence = ["verify", "evidence", str(fx.evidence), "--nonce", NONCE, "--offline", "--no-cache"]
    return {
        "verify snp --collateral": [*SNP, "--collateral", ZERO],
        "verify snp --policy": [*SNP, "--policy", ZERO],
        "verify snp --reference-values": [*SNP, "--reference-values", ZERO],
        "verify snp --crl": [*SNP, "--crl", ZERO],
        "verify snp --trust-simulated-root": [*SNP, "--trust-simulated-root", ZERO],
        "verify snp --certs FILE": ["verify", "snp", REPORT, "--certs", ZERO, "--offline"],
        "verify snp REPORT": ["verify", "snp", ZERO, "--offline"],
        "show snp": ["show", "snp", ZERO],
        "show tdx": ["show", "tdx", ZERO],
        "verify tdx --collateral": ["verify", "tdx", QUOTE, "--collateral", ZERO, "--offline"],
        "verify tdx --policy": [
            *("verify", "tdx", QUOTE, "--collateral", TDX_COLLATERAL, "--offline"),
            *("--policy", ZERO),
        ],
        "verify evidence FILE": ["verify", "evidence", ZERO, "--nonce", NONCE, "--offline"],
        "verify evidence --collateral": [*evidence, "--collateral", ZERO],
        "verify evidence --policy": [*evidence, "--policy", ZERO],
        "collateral import": ["collateral", "import", ZERO, "--cache-dir", str(fx.work / "c")],
        "collateral export --snp": ["collateral", "export", "--snp", ZERO, *export],
        "collateral export --tdx": ["collateral", "export", "--tdx", ZERO, *export],
        "tree proof": ["tree", "proof", ZERO, "echo-rust"],
        "tree verify": ["tree", "verify", ZERO, "--root", fx.root],
        "zk prove --proof": ["zk", "prove", "--evidence", str(fx.evidence), "--proof", ZERO, *zk],
        "zk prove --evidence": ["zk", "prove", "--evidence", ZERO, "--proof", str(fx.proof), *zk],
        "zk verify": [
            *("zk", "verify", ZERO, "--evidence", str(fx.evidence), "--nonce", NONCE),
            "--any-response",
        ],
    }


ZERO_CASE_NAMES = [
    "verify snp --collateral",
    "verify snp --policy",
    "verify snp --reference-values",
    "verify snp --crl",
    "verify snp --trust-simulated-root",
    "verify snp --certs FILE",
    "verify snp REPORT",
    "show snp",
    "show tdx",
    "verify tdx --collateral",
    "verify tdx --policy",
    "verify evidence FILE",
    "verify evidence --collateral",
    "verify evidence --policy",
    "collateral import",
    "collateral export --snp",
    "collateral export --tdx",
    "tree proof",
    "tree verify",
    "zk prove --proof",
    "zk prove --evidence",
    "zk verify",
]


@pytest.mark.parametrize("case", ZERO_CASE_NAMES)
def test_dev_zero_is_refused_at_the_size_cap(fx: Fixtures, case: str) -> None:
    argv = _zero_cases(fx)[case]
    assert len(ZERO_CASE_NAMES) == len(_zero_cases(fx))
    _refused(argv, "/dev/zero is more than the limit of", "MiB")


def test_a_100_mb_file_in_certs_is_refused_by_size(tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    certs.mkdir()
    for name in ("vcek.pem", "ask.pem", "ark.pem"):
        (certs / name).write_bytes((MILAN / name).read_bytes())
    with (certs / "huge.der").open("wb") as handle:
        handle.truncate(100 * 1024 * 1024)
    _refused(
        ["verify", "snp", REPORT, "--certs", str(certs), "--offline", "--no-cache"],
        "huge.der is 104857600 bytes, more than the limit of 16 MiB",
    )


def test_a_100_mb_file_in_a_pcs_directory_is_refused_by_size(tmp_path: Path) -> None:
    (tmp_path / "qe_identity.json").write_text("{}")
    with (tmp_path / "tcb_info.json").open("wb") as handle:
        handle.truncate(100 * 1024 * 1024)
    _refused(
        ["verify", "tdx", QUOTE, "--collateral", str(tmp_path), "--offline", "--no-cache"],
        "tcb_info.json is 104857600 bytes, more than the limit of 16 MiB",
    )


# ------------------------------------------------------------------ item 6: exit 70 → 10

DEEP_JSON = "[" * 100_000 + "]" * 100_000
BIG_INT = "1" * 5000


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("p.json", '{"snp": {"minimum_guest_svn": ' + BIG_INT + "}}", "integer outside the 64-bit"),
        ("p.json", DEEP_JSON, "nested deeper than 32 levels"),
        ("p.toml", "[snp]\nminimum_guest_svn = " + BIG_INT + "\n", "integer outside the 64-bit"),
        ("p.toml", "x = " + DEEP_JSON + "\n", "nested deeper than 32 levels"),
        ("p.toml", "a." * 100_000 + "b = 1\n", "dotted key of more than 32 parts"),
    ],
)
def test_policy_limits(tmp_path: Path, name: str, text: str, message: str) -> None:
    _refused([*SNP, "--policy", _write(tmp_path, name, text)], message)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"format": "cairn-reference-values", "version": ' + BIG_INT + "}", "64-bit"),
        (DEEP_JSON, "nested deeper than 32 levels"),
    ],
)
def test_reference_values_limits(tmp_path: Path, text: str, message: str) -> None:
    _refused([*SNP, "--reference-values", _write(tmp_path, "r.json", text)], message)


def _proof(fx: Fixtures) -> dict[str, object]:
    document = json.loads(fx.proof.read_text())
    assert isinstance(document, dict)
    return document


@pytest.mark.parametrize("change", ["big-int", "deep", "no-proof", "no-service", "extra"])
def test_proof_document_defects(fx: Fixtures, tmp_path: Path, change: str) -> None:
    document = _proof(fx)
    if change == "big-int":
        text = json.dumps(document).replace('"version": 1', '"version": ' + BIG_INT)
    elif change == "deep":
        text = DEEP_JSON
    else:
        if change == "no-proof":
            del document["proof"]
        elif change == "no-service":
            del document["service"]
        else:
            document["unexpected"] = 1
        text = json.dumps(document)
    path = _write(tmp_path, "proof.json", text)
    message = {
        "big-int": "integer outside the 64-bit range",
        "deep": "nested deeper than 32 levels",
        "no-proof": "invalid service proof document: missing proof",
        "no-service": "invalid service proof document: missing service",
        "extra": "invalid service proof document: unknown 'unexpected'",
    }[change]
    _refused(["tree", "verify", path, "--root", fx.root], message)
    zk = ["--request-id", "r", "--payload", "p", "--signature", "11" * 64, "-o", "x", "--crs", "."]
    _refused(["zk", "prove", "--evidence", str(fx.evidence), "--proof", path, *zk], message)


def test_a_valid_proof_document_still_verifies(fx: Fixtures) -> None:
    assert _cairn("tree", "verify", str(fx.proof), "--root", fx.root)[0] == 0


@pytest.mark.parametrize("text", [DEEP_JSON, '{"public_inputs": ' + BIG_INT + "}"])
def test_zk_proof_document_limits(fx: Fixtures, tmp_path: Path, text: str) -> None:
    path = _write(tmp_path, "zk.json", text)
    _refused(
        ["zk", "verify", path, "--evidence", str(fx.evidence), "--nonce", NONCE, "--any-response"]
    )


@pytest.mark.parametrize(
    "at",
    [
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-14:00",
        "9999-12-31T23:00:00Z",
        "1969-12-31T23:59:59Z",
    ],
)
def test_times_outside_the_supported_range(at: str) -> None:
    _refused([*SNP, "--at", at], f"--at '{at}' is outside the supported range")


def test_the_edges_of_the_time_range_are_accepted() -> None:
    for at in ("1970-01-01T00:00:00Z", "9998-12-31T23:59:59Z"):
        code, err = _cairn(*SNP, "--at", at)
        assert code == 3, err  # the certificates are not valid then: the chain check says so


def test_an_unreadable_certs_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    def denied(path: object) -> object:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(input_files.os, "scandir", denied)
    _refused(
        ["verify", "snp", REPORT, "--certs", str(MILAN), "--offline", "--no-cache"],
        "cannot list certificate directory",
        "Permission denied",
    )


def test_a_certs_path_through_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    _refused(
        ["verify", "snp", REPORT, "--certs", str(tmp_path / "file" / "certs"), "--offline"],
        "no such file or directory",
    )


@pytest.mark.parametrize("url", ["http://[::1", "http://[zz]:8080", "https://"])
def test_a_malformed_agent_url(url: str) -> None:
    _refused(["verify", "evidence", url], f"agent URL {url!r} is not")


@pytest.mark.parametrize("url", ["http://[::1", "ftp://kds.example", ""])
def test_malformed_service_urls(url: str) -> None:
    """--kds-url/--pccs: checked before use, even offline (was: InvalidURL/ValueError, 70)."""
    _refused([*SNP, "--kds-url", url], f"--kds-url {url!r} is not")
    tdx = ["verify", "tdx", QUOTE, "--offline", "--no-cache", "--pccs", url]
    _refused(tdx, f"--pccs {url!r} is not")
    export = ["collateral", "export", "--tdx", QUOTE, "-o", "/nonexistent/x.json", "--offline"]
    _refused([*export, "--pccs", url], f"--pccs {url!r} is not")


# ------------------------------------------------------------------ item 8: empty hex options


@pytest.mark.parametrize("value", ["", "0x", "  ", "0X"])
def test_empty_report_data_is_refused(value: str) -> None:
    err = _refused([*SNP, "--report-data", value], "--report-data is empty", "$NONCE_HEX")
    assert "unset or empty" in err


@pytest.mark.parametrize("value", ["", "0x"])
def test_empty_nonce_is_refused(fx: Fixtures, value: str) -> None:
    _refused(["verify", "evidence", str(fx.evidence), "--nonce", value], "--nonce is empty")


@pytest.mark.parametrize("value", ["", "0x"])
def test_empty_root_is_refused(fx: Fixtures, value: str) -> None:
    _refused(["tree", "verify", str(fx.proof), "--root", value], "--root is empty", "$TREE_ROOT")


def test_a_short_root_is_not_padded(fx: Fixtures) -> None:
    _refused(["tree", "verify", str(fx.proof), "--root", "abc0"], "must be 32 bytes")


def test_empty_signature_is_refused(fx: Fixtures) -> None:
    _refused(
        [
            *("zk", "prove", "--evidence", str(fx.evidence), "--proof", str(fx.proof)),
            *("--request-id", "r", "--payload", "p", "--signature", "", "-o", "x", "--crs", "."),
        ],
        "--signature is empty",
        "$SIG_HEX",
    )


def test_short_report_data_is_still_zero_padded(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*SNP, "--at", corpus.MILAN_AT, "--report-data", "00", "--json"]) == 1
    checks = json.loads(capsys.readouterr().out)["checks"]
    failed = [c for c in checks if c["outcome"] == "fail"]
    assert [c["name"] for c in failed] == ["report-data"]  # compared (and different)
    assert failed[0]["expected"] == "00" * 64


@pytest.mark.parametrize(
    ("envelope", "message"),
    [
        (b'{"format": ' + b"1" * 5000 + b"}", "integer outside the 64-bit range"),
        (b"[" * 100_000, "nested deeper than 32 levels"),
    ],
)
def test_a_pcs_answer_in_a_collateral_bundle_is_parsed_within_limits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], envelope: bytes, message: str
) -> None:
    """The PCS answers a bundle carries are attacker-supplied (was: ValueError, exit 70)."""
    bundle = json.loads(corpus.pcs_collateral_bundle(corpus.REPO / "tests" / "vectors"))
    tcb = next(e for e in bundle["entries"] if "fmspc=" in e["key"])
    tcb["data_b64"] = base64.b64encode(envelope).decode()
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    argv = ["verify", "tdx", QUOTE, "--collateral", str(path), "--offline", "--no-cache"]
    assert main([*argv, "--at", TDX_AT, "--json"]) == 10
    checks = json.loads(capsys.readouterr().out)["checks"]
    failed = [c for c in checks if c["outcome"] == "fail"]
    assert failed[0]["name"] == "collateral" and message in failed[0]["summary"]
