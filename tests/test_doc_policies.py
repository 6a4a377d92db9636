"""Every policy example in the docs parses and does what the text around it says (issue 10
item 4: docs/policy.md's ``[evidence]`` example used to reject its own second required service).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes.swtpm import running_swtpm
from fuzz.corpus import NONCE, TpmQuoteParts, evidence_document, policy_examples

from cairn_verifier.cli.main import main
from cairn_verifier.documents import parse_json
from cairn_verifier.policy_document import load_policy

REPO = Path(__file__).resolve().parents[1]
POLICY_MD = REPO / "docs" / "policy.md"
MILAN = REPO / "examples" / "snp" / "milan-v3-oak-containers"
MILAN_CRL = REPO / "examples" / "snp" / "milan-crl.pem"
TDX = REPO / "examples" / "tdx" / "dcap-qvl-sample"
EXAMPLES = policy_examples()


def _example(section: str, language: str = "toml") -> str:
    """The one example of ``language`` in docs/policy.md whose first table is ``[section]``."""
    found = [
        text
        for name, lang, text in EXAMPLES
        if name.startswith("policy.md") and lang == language and _first_section(text) == section
    ]
    assert len(found) == 1, f"expected one {language} example of [{section}], found {len(found)}"
    return found[0]


def _first_section(text: str) -> str:
    match = re.search(r"^\[([a-z]+)", text, re.M) or re.search(r'^\s*\{\s*"([a-z]+)"', text)
    assert match is not None, text
    return match[1]


def _write(tmp_path: Path, text: str, name: str = "policy.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, str]]:
    code = main([*argv, "--json"])
    document = json.loads(capsys.readouterr().out)
    return code, {check["name"]: check["outcome"] for check in document.get("checks", [])}


def test_the_docs_have_policy_examples() -> None:
    sections = {(name.split("#")[0], _first_section(text)) for name, _, text in EXAMPLES}
    assert {
        ("policy.md", "snp"),
        ("policy.md", "tdx"),
        ("policy.md", "azure"),
        ("policy.md", "evidence"),
    } <= sections


@pytest.mark.parametrize(("name", "language", "text"), EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_every_policy_example_parses(tmp_path: Path, name: str, language: str, text: str) -> None:
    load_policy(_write(tmp_path, text, f"policy.{language}"))


def test_every_example_policy_file_parses() -> None:
    files = sorted(REPO.glob("examples/**/*.toml")) + [
        path
        for path in sorted(REPO.glob("examples/**/*.json"))
        if isinstance(doc := parse_json(path.read_bytes(), str(path)), dict)
        and {"snp", "tdx", "evidence"} & set(doc)
    ]
    for path in files:
        load_policy(path)


def test_the_json_production_policy_is_the_toml_one(tmp_path: Path) -> None:
    toml = load_policy(_write(tmp_path, _example("snp"), "production.toml"))
    assert load_policy(_write(tmp_path, _example("snp", "json"), "production.json")) == toml


# ------------------------------------------------------------------ [snp]: the console blocks

SNP = [
    "verify",
    "snp",
    str(MILAN / "report.bin"),
    "--certs",
    str(MILAN),
    "--offline",
    "--no-cache",
]


def _documented_outcomes() -> dict[str, str]:
    """Check name → outcome of the run docs/policy.md shows for production.toml."""
    text = POLICY_MD.read_text()
    block = text.split("### Checking it against the example report")[1].split("```console")[1]
    block = block.split("```")[0]
    return {
        name: outcome.lower().replace("skip", "skipped")
        for outcome, name in re.findall(r"^\s+(PASS|FAIL|SKIP)\s+(\S+)", block, re.M)
    }


def test_the_production_policy_verifies_the_milan_example_as_shown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = _write(tmp_path, _example("snp"), "production.toml")
    argv = [*SNP, "--crl", str(MILAN_CRL), "--policy", str(policy), "--at", "2025-12-01T00:00:00Z"]
    code, outcomes = _run(capsys, *argv)
    assert code == 0
    documented = _documented_outcomes()
    assert len(documented) >= 10
    assert {name: outcomes.get(name) for name in documented} == documented


@pytest.mark.parametrize(
    ("change", "exit_code", "failing"),
    [
        (("195b01b7", "095b01b7"), 1, "measurement"),  # "a different image"
        (("microcode = 219", "microcode = 220"), 4, "minimum-tcb"),  # "a host behind"
    ],
)
def test_the_failing_variants_fail_as_shown(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    change: tuple[str, str],
    exit_code: int,
    failing: str,
) -> None:
    text = _example("snp")
    assert change[0] in text
    policy = _write(tmp_path, text.replace(*change), "variant.toml")
    argv = [*SNP, "--crl", str(MILAN_CRL), "--policy", str(policy), "--at", "2025-12-01T00:00:00Z"]
    code, outcomes = _run(capsys, *argv)
    assert code == exit_code
    assert [name for name, outcome in outcomes.items() if outcome == "fail"] == [failing]


def test_require_crl_makes_a_missing_crl_fatal_as_shown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = _write(tmp_path, _example("snp"), "production.toml")
    code, outcomes = _run(capsys, *SNP, "--policy", str(policy), "--at", "2025-12-01T00:00:00Z")
    assert code == 5
    assert outcomes["revocation"] == "fail"


# ------------------------------------------------------------------ [tdx]


def test_the_tdx_example_accepts_the_example_quote(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = _write(tmp_path, _example("tdx"))
    at = (TDX / "verify-at").read_text().strip()
    code, outcomes = _run(
        capsys,
        *("verify", "tdx", str(TDX / "quote.bin"), "--collateral", str(TDX / "collateral.json")),
        *("--offline", "--no-cache", "--at", at, "--policy", str(policy)),
    )
    assert code == 0
    assert outcomes["mr-td"] == "pass"
    assert outcomes["tcb-status"] == "pass"


# ------------------------------------------------------------------ [evidence]


@pytest.fixture(scope="module")
def evidence_bundle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Real parts: the Milan example report and chain, a swtpm quote over NONCE (PCR 7 all
    zero), claims naming the docs' system and both echo services."""
    work = tmp_path_factory.mktemp("doc-evidence")
    with running_swtpm(work / "tpm") as tpm:
        ak = tpm.create_key("ak", "ecc256:ecdsa-sha256:null")
        quote = tpm.quote(ak, "sha256:0,1,2,7", NONCE)
    parts = TpmQuoteParts(quote.attest, quote.signature, quote.ak_public, quote.pcr_values)
    path = work / "evidence.json"
    path.write_text(json.dumps(evidence_document(parts)))
    yield path


def test_the_evidence_example_accepts_both_required_services(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], evidence_bundle: Path
) -> None:
    text = _example("evidence")
    policy = _write(tmp_path, text)
    code, outcomes = _run(
        capsys,
        *("verify", "evidence", str(evidence_bundle), "--nonce", NONCE.hex(), "--offline"),
        *("--no-cache", "--at", "2025-12-01T00:00:00Z", "--policy", str(policy)),
    )
    for check in (
        "system-store-path",
        "required-services",
        "service-echo-cpp",
        "service-echo-rust",
        "pcr-sha256-7",
    ):
        assert outcomes.get(check) == "pass", (check, outcomes)
    # The real Milan report was made for someone else's REPORT_DATA: only the binding fails.
    assert [name for name, outcome in outcomes.items() if outcome == "fail"] == ["report-data"]
    assert code == 1


# ------------------------------------------------------------------ [azure]

AZURE_V1 = REPO / "tests" / "vectors" / "snp" / "trustee" / "az-snp-vtpm_evidence-v1.json"
AZURE = [
    *("verify", "azure", str(AZURE_V1), "--nonce", b"challenge".hex()),
    *("--offline", "--no-cache", "--at", "2025-01-29T16:26:55Z"),
]


def test_the_azure_example_accepts_the_trustee_vector_as_said(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = _example("azure")
    code, outcomes = _run(capsys, *AZURE, "--policy", str(_write(tmp_path, text)))
    assert code == 0
    for check in ("azure-console", "azure-vm-id", "azure-user-data", "measurement"):
        assert outcomes[check] == "pass", check
    # "one VM only": another vmUniqueId is refused; and the default refuses the console
    other = text.replace("26F8BC30", "36F8BC30")
    code, outcomes = _run(capsys, *AZURE, "--policy", str(_write(tmp_path, other, "other.toml")))
    assert (code, outcomes["azure-vm-id"]) == (4, "fail")
    code, outcomes = _run(capsys, *AZURE)
    assert (code, outcomes["azure-console"]) == (4, "fail")
