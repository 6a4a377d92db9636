"""What every `cairn` command has in common: usage errors (exit 64, JSON under --json), one
error document, one `show` shape, lowercase hex without 0x, whole-second UTC times, kebab-case
check names, the exit-code table; and the file-based evidence commands (show evidence, tree)."""

from __future__ import annotations

import ast
import base64
import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

import cairn_verifier
from cairn_verifier.binding.services import ServiceEntry, build_service_tree
from cairn_verifier.binding.system_hash import system_hash
from cairn_verifier.check_names import PIPELINES
from cairn_verifier.cli.main import main
from cairn_verifier.errors import ExitCode

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "snp"))
from vectors import SnpVector, by_name

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = REPO / "examples"
TURIN = EXAMPLES / "snp/turin-v5-oak-containers/report.bin"
TDX_QUOTE = EXAMPLES / "tdx/dcap-qvl-sample/quote.bin"
NONCE = bytes(range(32))
SYSTEM = "/nix/store/0c1i4g9kq7bhm8lcjj8h4pyf1r6b6nh9-nixos-system-cairn-25.11"
SERVICES = {
    "echo-cpp": "/nix/store/1g6cq2ic1x7alnmpmzb7nl8xg3c9y7m5-echo-cpp-0.1.0",
    "echo-rust": "/nix/store/2j3nqrz5kbyy0m1q3yqdqzq1m1xw8w8k-echo-rust-0.1.0",
}
ISO_SECONDS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def _json(capsys: pytest.CaptureFixture[str]) -> Any:
    return json.loads(capsys.readouterr().out)


# --- usage errors and the error document ------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["tree", "verify", "proof.json", "--json"],  # --root missing
        ["verify", "snp", "--json"],  # REPORT missing
        ["show", "snp", "r.bin", "--product", "Rome", "--json"],  # bad --product value
        ["verify", "evidence", "x.json", "--no-such-option", "--json"],
        ["completion", "tcsh", "--json"],
    ],
)
def test_usage_errors_are_exit_64_and_a_json_document(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 64
    out = capsys.readouterr()
    doc = json.loads(out.out)
    assert set(doc) == {"verified", "exit_code", "result", "error"}
    assert doc["verified"] is False and doc["exit_code"] == 64
    assert doc["result"] == ExitCode.USAGE_OR_SETUP.meaning
    error = doc["error"]
    assert error["type"] == "UsageError"
    assert error["message"] and error["usage"].startswith("cairn ")
    assert error["hint"].startswith("see `cairn ") and error["hint"].endswith(" --help`")
    assert out.err == ""  # nothing but the document


def test_usage_errors_in_text_keep_argparse_form(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tree", "verify", "proof.json"]) == 64
    out = capsys.readouterr()
    assert out.out == ""
    lines = out.err.splitlines()
    assert lines[0].startswith("usage: cairn tree verify")
    assert "cairn tree verify: error: the following arguments are required: --root" in lines
    assert lines[-1] == f"({ExitCode.USAGE_OR_SETUP.meaning}; exit 64)"


def test_json_after_double_dash_is_an_operand(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tree", "verify", "--", "--json"]) == 64  # --root missing; text, not JSON
    assert capsys.readouterr().out == ""


def test_help_and_version_exit_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"cairn {cairn_verifier.__version__}"


def test_errors_have_one_shape_across_commands(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = str(tmp_path / "missing")
    for argv in (
        ["show", "snp", missing],
        ["show", "evidence", missing],
        ["tree", "proof", missing, "echo-rust"],
        ["verify", "snp", missing, "--offline"],
    ):
        assert main([*argv, "--json"]) == 10
        doc = _json(capsys)
        assert set(doc) == {"verified", "exit_code", "result", "error"}, argv
        assert doc["error"]["type"] == "MalformedInputError"


# --- help topics and the exit-code contract --------------------------------------------------


def test_readme_exit_code_table_is_the_contract(capsys: pytest.CaptureFixture[str]) -> None:
    readme = (REPO / "README.md").read_text()
    table = dict(re.findall(r"^\| +(\d+) \| (.+) \|$", readme, re.MULTILINE))
    assert {int(code) for code in table} == {int(code) for code in ExitCode}
    assert main(["help", "exit-codes"]) == 0
    text = capsys.readouterr().out
    for code in (*ExitCode, 130, 141):
        assert re.search(rf"^ +{int(code)}  \S", text, re.MULTILINE), code


def test_help_topics_and_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["help"]) == 0
    index = capsys.readouterr().out
    for topic in ("exit-codes", "json", "evidence", "policy", "snp", "tdx", "offline"):
        assert f"  {topic} " in index
        assert main(["help", topic]) == 0
        assert capsys.readouterr().out.strip()
    assert main(["help", "verify", "snp"]) == 0
    assert capsys.readouterr().out.startswith("usage: cairn verify snp")
    assert main(["help", "no-such-topic"]) == 64
    assert "topics: exit-codes, json" in capsys.readouterr().err


# --- show: one shape, certificates summarised, hex and time conventions ------------------------


def _hex_strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _hex_strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _hex_strings(v)]
    return [value] if isinstance(value, str) else []


def _cn(name: str) -> str:
    match = re.search(r"(?:^|,)CN=([^,]+)", name)
    assert match, name
    return match.group(1)


SHOW_KEYS = {"kind", "source", "container", "verified", "note", "fields", "certificates"}


def test_show_snp_and_tdx_share_one_shape(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "snp", str(TURIN), "--json"]) == 0
    snp = _json(capsys)
    assert main(["show", "tdx", str(TDX_QUOTE), "--json"]) == 0
    tdx = _json(capsys)
    assert set(snp) == set(tdx) == SHOW_KEYS
    assert snp["verified"] is tdx["verified"] is False
    assert "nothing was verified" in snp["note"] and "`cairn verify tdx`" in tdx["note"]
    assert snp["fields"]["measurement"] == TURIN.read_bytes()[0x90:0xC0].hex()
    assert snp["fields"]["policy"]["raw"] == "0000000000030000"
    for doc in (snp, tdx):
        assert not [s for s in _hex_strings(doc) if s.startswith("0x")]


def test_show_tdx_summarises_the_pck_chain(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "tdx", str(TDX_QUOTE), "--json"]) == 0
    doc = _json(capsys)
    assert "BEGIN CERTIFICATE" not in json.dumps(doc)
    subjects = [_cn(c["subject"]) for c in doc["certificates"]]
    assert subjects == [
        "Intel SGX PCK Certificate",
        "Intel SGX PCK Platform CA",
        "Intel SGX Root CA",
    ]
    root = doc["certificates"][2]
    pinned = REPO / "verifier/src/cairn_verifier/tdx/roots"
    pinned_der = [
        base64.b64decode("".join(pem.split("-----")[2].split()))
        for path in pinned.glob("*.pem")
        for pem in [path.read_text()]
    ]
    assert root["sha256"] in {hashlib.sha256(der).hexdigest() for der in pinned_der}
    assert root["issuer"] == root["subject"]
    for cert in doc["certificates"]:
        assert ISO_SECONDS.fullmatch(cert["not_before"]) and ISO_SECONDS.fullmatch(
            cert["not_after"]
        )

    assert main(["show", "tdx", str(TDX_QUOTE)]) == 0
    text = capsys.readouterr().out
    assert "BEGIN CERTIFICATE" not in text
    assert f"sha256            {root['sha256']}" in text
    headings = [line for line in text.splitlines() if line.endswith(":")]
    assert headings == ["Header:", "TD report:", "Signature:", "QE report:", "Certificates:"]


def test_show_snp_text_layout(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "snp", str(TURIN)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"SEV-SNP attestation report: {TURIN} (raw > snp-report)"
    assert lines[1].startswith("decoded only: nothing was verified")
    assert lines[-1] == "  certificates          (none in the input)"
    assert "  cpuid                 family 1a model 02 stepping 01 (hex)" in lines
    assert not [line for line in lines if "0x" in line]


def test_verified_at_has_whole_seconds(capsys: pytest.CaptureFixture[str]) -> None:
    certs = TURIN.parent
    assert main(["verify", "snp", str(TURIN), "--certs", str(certs), "--offline", "--json"]) == 0
    assert ISO_SECONDS.fullmatch(_json(capsys)["verified_at"])
    assert main(["verify", "snp", str(TURIN), "--certs", str(certs), "--offline"]) == 0
    assert ISO_SECONDS.fullmatch(capsys.readouterr().out.splitlines()[1].removeprefix("as of "))


# --- check names ------------------------------------------------------------------------------

CHECK_METHODS = {"passed": 0, "failed": 0, "skipped": 0, "failed_with": 0, "check": 1, "stop_on": 0}
KEBAB = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
# Which registry each part of the verifier names its checks from (check_names.py).
REGISTRY_OF = {
    # `link.check` is typed SnpCheck (snp/chain.py ChainLink: the AMD chain's links as data)
    "snp": {"SnpCheck", "link"},
    "tdx": {"TdxCheck"},
    "tpm": {"TpmCheck"},
    "evidence": {"EvidenceCheck", "PCR_CHECK", "SERVICE_CHECK"},
    "cli/response_cmd.py": {"ResponseCheck"},
    "cli/zk_cmd.py": {"ZkCheck"},
}


def test_every_check_name_is_kebab_case() -> None:
    names = [str(check) for pipeline in PIPELINES for check in pipeline.checks]
    assert len(names) > 90
    assert [n for n in names if not KEBAB.fullmatch(n)] == []
    families = [f for pipeline in PIPELINES for f in pipeline.families]
    assert [f.prefix for f in families if not KEBAB.fullmatch(f.name("sha256", 7))] == []


def _registry(arg: ast.expr) -> str | None:
    """The registry a check-name argument comes from (``SnpCheck.X``, ``PCR_CHECK.name(…)``)."""
    if isinstance(arg, ast.Call):
        arg = arg.func
    if isinstance(arg, ast.Attribute) and isinstance(arg.value, ast.Name):
        return arg.value.id
    return None


def test_pipelines_take_check_names_from_their_registry() -> None:
    source = Path(cairn_verifier.__file__).parent
    literal: list[tuple[str, int]] = []
    used: dict[str, set[str]] = {}
    for path in sorted(source.rglob("*.py")):
        module = path.relative_to(source).as_posix()
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            index = CHECK_METHODS.get(node.func.attr)
            if index is None or len(node.args) <= index:
                continue
            arg = node.args[index]
            if isinstance(arg, ast.Constant | ast.JoinedStr | ast.BinOp):
                literal.append((module, node.lineno))
            registry = _registry(arg)
            if registry is not None:
                part = next((p for p in REGISTRY_OF if module.startswith(p)), module)
                used.setdefault(part, set()).add(registry)
    assert literal == []  # a name written out in a pipeline is not in the registry
    assert set(used) == set(REGISTRY_OF)  # the walk found every pipeline
    for part, registries in used.items():  # each names its checks from its own registry only
        assert registries <= REGISTRY_OF[part], part


def _check_names(doc: dict[str, Any]) -> set[str]:
    return {check["name"] for check in doc["checks"]}


def _known(names: set[str], *pipelines: str) -> set[str]:
    """The names no registry of ``pipelines`` knows."""
    registries = [p for p in PIPELINES if p.name in pipelines]
    return {name for name in names if not any(p.knows(name) for p in registries)}


def test_real_runs_name_only_registered_checks(
    bundle_file: Path, testdata: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    snp_argv = ["verify", "snp", str(TURIN), "--certs", str(TURIN.parent), "--offline"]
    assert main([*snp_argv, "--json"]) == 0
    snp = _check_names(_json(capsys))
    assert "report-signature" in snp and _known(snp, "sev-snp") == set()
    collateral = TDX_QUOTE.parent / "collateral.json"
    tdx_argv = ["verify", "tdx", str(TDX_QUOTE), "--collateral", str(collateral), "--offline"]
    assert main([*tdx_argv, "--at", "2025-07-01T00:00:00Z", "--json"]) == 0
    tdx = _check_names(_json(capsys))
    assert "tcb-status" in tdx and _known(tdx, "tdx") == set()
    at = by_name(testdata, "oak/genoa_oc").at
    assert at is not None
    evidence_argv = ["verify", "evidence", str(bundle_file), "--nonce", NONCE.hex(), "--offline"]
    assert main([*evidence_argv, "--at", at.isoformat(), "--json"]) == 1  # REPORT_DATA differs
    evidence = _check_names(_json(capsys))
    assert {"nonce", "tpm-quote", "report-data"} <= evidence
    assert _known(evidence, "evidence", "sev-snp", "tpm") == set()


# --- show evidence and tree proofs on a bundle file ---------------------------------------------


def _public_key(seed: int) -> bytes:
    key = ec.derive_private_key(seed, ec.SECP256K1())
    return key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
    )


def _bundle(vector: SnpVector) -> dict[str, Any]:
    services = [
        {"name": name, "store_path": path, "public_key": _public_key(i + 1).hex()}
        for i, (name, path) in enumerate(sorted(SERVICES.items()))
    ]
    entries = [
        ServiceEntry(s["name"], s["store_path"], bytes.fromhex(s["public_key"])) for s in services
    ]
    return {
        "format": "cairn-evidence",
        "version": 1,
        "tee": {
            "kind": "sev-snp",
            "report": base64.b64encode(vector.report).decode(),
            "certificates": [base64.b64encode(c).decode() for c in vector.certs],
        },
        "tpm": None,
        "claims": {
            "nonce": NONCE.hex(),
            "system": {"store_path": SYSTEM, "hash": system_hash(SYSTEM).hex()},
            "services": services,
            "tree_root": f"{build_service_tree(entries).root:064x}",
            "gpu_digest": None,
            "report_data_version": 1,
        },
        "agent": {"version": "test", "simulated": False},
    }


@pytest.fixture
def bundle_file(testdata: Path, tmp_path: Path) -> Path:
    path = tmp_path / "evidence.json"
    path.write_text(json.dumps(_bundle(by_name(testdata, "oak/genoa_oc"))))
    return path


def test_show_evidence_decodes_without_verifying(
    bundle_file: Path, testdata: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = json.loads(bundle_file.read_text())
    assert main(["show", "evidence", str(bundle_file), "--json"]) == 0
    doc = _json(capsys)
    assert set(doc) == SHOW_KEYS and doc["verified"] is False
    assert "`cairn verify evidence`" in doc["note"]
    fields = doc["fields"]
    assert fields["claims"] == document["claims"]
    assert fields["tee"]["kind"] == "sev-snp" and fields["tpm"] is None
    report = by_name(testdata, "oak/genoa_oc").report
    assert fields["tee"]["report"]["measurement"] == report[0x90:0xC0].hex()
    assert fields["tee"]["report"]["product"] == "Genoa"
    assert [_cn(c["subject"]) for c in doc["certificates"]] == [
        "SEV-VCEK",
        "SEV-Genoa",
        "ARK-Genoa",
    ]

    assert main(["show", "evidence", str(bundle_file)]) == 0
    text = capsys.readouterr().out
    assert "  tree root   " in text and document["claims"]["tree_root"] in text
    for name, path in SERVICES.items():
        assert f"  {name}" in text and path in text
    assert re.search(r"^  tpm +none in the bundle$", text, re.MULTILINE)


def test_show_evidence_rejects_a_malformed_bundle(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "cairn-evidence", "version": 1, "tee": {}}')
    assert main(["show", "evidence", str(bad), "--json"]) == 10
    assert "not a valid Cairn evidence bundle" in _json(capsys)["error"]["message"]


def test_tree_proof_to_a_file_and_a_strict_root(
    bundle_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proof = tmp_path / "proof.json"
    argv = ["tree", "proof", str(bundle_file), "echo-rust", "-o", str(proof)]
    assert main([*argv, "--json"]) == 0
    summary = _json(capsys)
    root = json.loads(bundle_file.read_text())["claims"]["tree_root"]
    assert summary == {"output": str(proof), "service": "echo-rust", "root": root}
    assert json.loads(proof.read_text())["root"] == root

    before = proof.read_bytes()
    assert main([*argv, "--json"]) == 64  # never replaced without --force (usage error)
    assert "already exists" in _json(capsys)["error"]["message"]
    proof.write_text("keep me")
    assert main(argv) == 64
    assert proof.read_text() == "keep me"
    capsys.readouterr()
    assert main([*argv, "--force"]) == 0
    assert proof.read_bytes() == before

    verify = ["tree", "verify", str(proof), "--root"]
    assert main([*verify, root]) == 0
    assert main([*verify, "0x" + root]) == 0
    capsys.readouterr()
    for bad in ("abc", root[:-1], root + "0", root[:-2], "zz" + root[2:]):
        assert main([*verify, bad, "--json"]) == 10, bad
        error = _json(capsys)["error"]
        assert "64 hex digits" in error["message"] and "claims.tree_root" in error["hint"]
    assert main([*verify, "", "--json"]) == 10  # an unset $TREE_ROOT
    error = _json(capsys)["error"]
    assert "--root is empty" in error["message"]
    assert "$TREE_ROOT" in error["hint"] and "claims.tree_root" in error["hint"]


def test_tree_proof_without_output_prints_the_document(
    bundle_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for extra in ([], ["--json"]):
        assert main(["tree", "proof", str(bundle_file), "echo-cpp", *extra]) == 0
        assert _json(capsys)["format"] == "cairn-service-proof"
    assert main(["tree", "proof", str(bundle_file), "redis", "--json"]) == 10
    assert "services: echo-cpp, echo-rust" in _json(capsys)["error"]["message"]


def test_save_needs_an_agent(
    bundle_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["verify", "evidence", str(bundle_file), "--nonce", NONCE.hex(), "--offline"]
    assert main([*argv, "--save", str(tmp_path / "copy.json"), "--json"]) == 64
    assert "--save keeps evidence fetched from an agent" in _json(capsys)["error"]["message"]
    assert not (tmp_path / "copy.json").exists()


def test_an_existing_file_named_like_host_port_is_a_file(
    bundle_file: Path,
    testdata: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("agent:8080").write_bytes(bundle_file.read_bytes())
    at = by_name(testdata, "oak/genoa_oc").at
    assert at is not None
    argv = ["verify", "evidence", "agent:8080", "--nonce", NONCE.hex(), "--offline", "--json"]
    assert main([*argv, "--at", at.isoformat()]) == 1  # verified as a file: REPORT_DATA differs
    out = capsys.readouterr()
    assert json.loads(out.out)["subject"] == "agent:8080" and out.err == ""
