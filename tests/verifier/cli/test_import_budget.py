"""Cheap commands import only what they need: a module-set check, not a timing.

``cairn --version`` and an offline ``cairn verify snp|tdx`` must start fast (issue 16,
docs/performance.md "Start-up"), and what makes them slow is importing what they do not use:
httpx, pydantic and the models built on it, other commands' modules. Each case runs the real
command in a fresh interpreter with a probe on ``sys.meta_path`` that records, for each module
of its forbidden set, where it was first imported from (the innermost Cairn frame), so a failure
names the module and line that broke the budget. A command's own modules load when it runs;
add a subcommand with one row in ``cli/commands.py`` and this stays green.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import cairn_verifier

REPO = Path(__file__).resolve().parents[3]
SNP_EXAMPLE = "examples/snp/milan-v3-oak-containers"
TDX_EXAMPLE = "examples/tdx/dcap-qvl-sample"

HEAVY = {
    "httpx": "the HTTP client: only a command that makes a request needs it",
    "httpcore": "httpx's transport",
    "pydantic": "pydantic: only policy files, evidence and collateral bundles need it",
    "pydantic_core": "pydantic's core",
    "click": "httpx's command line (click)",
    "rich": "httpx's command line (rich)",
    "ssl": "TLS: only a request needs it",
    "email": "e-mail parsing (importlib.metadata, http.client)",
    "asyncio": "asyncio",
    "urllib.request": "urllib's HTTP client",
    "logging": "logging",
    "tomllib": "TOML: only a policy file needs it",
    "uuid": "uuid (with platform): only a certificate table needs it",
    "cryptography.x509": "cryptography's X.509 loader (Cairn reads DER itself)",
    "cairn_verifier.evidence.models": "the evidence bundle's models",
    "cairn_verifier.collateral.bundle": "the collateral bundle's models",
    "cairn_verifier.policy_document": "the policy file's models",
    "cairn_verifier.binding": "REPORT_DATA binding and the service tree (evidence bundles)",
    "cairn_verifier.tpm": "TPM quotes (evidence bundles)",
    "cairn_verifier.zk": "zero-knowledge proofs",
    "importlib.resources": "importlib.resources (zipfile): pinned roots are read beside the module",
    "_strptime": "strptime (calendar, locale): DER times are read exactly, by hand",
    "cairn_verifier.collateral.http": "the collateral HTTP client: an offline run makes no request",
    "shutil": "shutil (bz2, lzma): argparse's help width is read without it (cli/parser.py)",
    "tempfile": "tempfile (shutil, random): only writing a cache entry needs it",
}
"""Modules no cheap command may import, and why a reader would recognise them."""


@dataclass(frozen=True)
class Case:
    argv: list[str]
    forbidden: dict[str, str]


def _installed_beside_package() -> bool:
    """True when the distribution's dist-info sits beside the package (pip, uv, Nix installs):
    then ``__version__`` is read without importlib.metadata (else it is its fallback)."""
    site = Path(cairn_verifier.__file__).resolve().parent.parent
    return any(site.glob("cairn_verifier-*.dist-info"))


def _version_forbidden() -> dict[str, str]:
    forbidden = {
        **HEAVY,
        "cryptography": "cryptography: printing the version verifies nothing",
        "cairn_verifier.cli.commands": "the command table: --version needs no parser",
        "argparse": "argparse: --version needs no parser",
        "typing": "typing: imported only for annotations (use TYPE_CHECKING); ~8 ms",
        "dataclasses": "dataclasses (and inspect, ast): --version defines no dataclass",
        "inspect": "inspect (dataclasses' import)",
    }
    if _installed_beside_package():
        forbidden["importlib.metadata"] = "importlib.metadata: the version is read from METADATA"
    return forbidden


def _zk_help_forbidden() -> dict[str, str]:
    """`cairn zk verify --help` builds its parser: it may load the zk package's driver runner
    (the defaults it prints) but nothing of what verifying runs."""
    forbidden = {name: why for name, why in HEAVY.items() if name != "cairn_verifier.zk"}
    return {
        **forbidden,
        "cairn_verifier.zk.witness": "the membership circuit's inputs (only a verification)",
        "cairn_verifier.evidence": "the evidence pipeline (only a verification)",
        "cairn_verifier.cli.evidence_cmd": "`verify evidence`'s handler (only a verification)",
        "cairn_verifier.snp.verify": "the SEV-SNP pipeline",
        "cairn_verifier.tdx.verify": "the TDX pipeline",
    }


CASES = {
    "cairn --version": Case(["--version"], _version_forbidden()),
    "cairn zk verify --help": Case(["zk", "verify", "--help"], _zk_help_forbidden()),
    "cairn verify snp --offline": Case(
        ["verify", "snp", f"{SNP_EXAMPLE}/report.bin", "--certs", SNP_EXAMPLE, "--offline"],
        {
            **HEAVY,
            "cairn_verifier.tdx.verify": "the TDX pipeline",
            "cairn_verifier.tdx.collateral": "Intel's collateral documents",
            "cairn_verifier.tdx.quote": "the TDX quote parser",
            "cairn_verifier.inputs.tdx": "the TDX quote reader",
            "cairn_verifier.cli.collateral_files": "--collateral readers (not given)",
            "cairn_verifier.tdx.pcs": "Intel's PCS client",
            "cairn_verifier.tdx.pck": "Intel's PCK certificate extensions",
            "cairn_verifier.collateral.progress": "progress lines (standard error is no terminal)",
        },
    ),
    "cairn verify tdx --offline": Case(
        [
            "verify",
            "tdx",
            f"{TDX_EXAMPLE}/quote.bin",
            "--collateral",
            f"{TDX_EXAMPLE}/collateral.json",
            "--offline",
            "--at",
            "2025-06-19T10:32:27Z",
        ],
        {
            **HEAVY,
            "cairn_verifier.snp.verify": "the SEV-SNP pipeline",
            "cairn_verifier.snp.chain": "AMD's certificate chain",
            "cairn_verifier.snp.default_policy": "the SEV-SNP policy",
            "cairn_verifier.snp.kds": "AMD's KDS client",
            "cairn_verifier.snp.report": "the SEV-SNP report parser",
            "cairn_verifier.inputs.snp": "the SEV-SNP report reader",
            "cairn_verifier.collateral.progress": "progress lines (standard error is no terminal)",
        },
    ),
}

PROBE = r"""
import json, os, sys, traceback

forbidden = json.loads(os.environ["CAIRN_PROBE_FORBIDDEN"])
found = {}
preloaded = sorted(m for m in forbidden if m in sys.modules)  # the probe's own imports


class Probe:
    def find_spec(self, name, path=None, target=None):
        for module in forbidden:
            if (name == module or name.startswith(module + ".")) and module not in found:
                frames = [f for f in traceback.extract_stack() if "cairn_verifier" in f.filename]
                where = frames[-1] if frames else None
                found[module] = (
                    f"{where.filename.rsplit('cairn_verifier', 1)[1]}:{where.lineno} "
                    f"(in {where.name})" if where else "outside Cairn"
                )
        return None


sys.meta_path.insert(0, Probe())
from cairn_verifier.cli.main import main

code = main(sys.argv[1:])
with open(os.environ["CAIRN_PROBE_REPORT"], "w") as out:
    json.dump({"code": code, "found": found, "preloaded": preloaded}, out)
"""


@pytest.mark.parametrize("name", sorted(CASES))
def test_cheap_command_imports_nothing_heavy(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    report = tmp_path / "probe.json"
    env = {
        **os.environ,
        "CAIRN_PROBE_FORBIDDEN": json.dumps(sorted(case.forbidden)),
        "CAIRN_PROBE_REPORT": str(report),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }
    env.pop("PYTHONPATH", None)  # the installed package, as users run it
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *case.argv],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert report.exists(), done.stderr
    result = json.loads(report.read_text())
    assert result["preloaded"] == [], "the probe itself imported these; they cannot be checked"
    assert result["code"] == 0, done.stdout + done.stderr
    broken = [
        f"{module} ({case.forbidden[module]}), first imported at cairn_verifier{where}"
        for module, where in sorted(result["found"].items())
    ]
    assert not broken, f"`{name}` imported:\n  " + "\n  ".join(broken)


def test_the_probe_names_the_module_that_imports_a_forbidden_one(tmp_path: Path) -> None:
    """The check itself: a command known to load pydantic (a policy file) is caught, and the
    message names the Cairn module and line that imported it."""
    policy = tmp_path / "policy.toml"
    policy.write_text("[snp]\nallow_debug = false\n")
    case = CASES["cairn verify snp --offline"]
    report = tmp_path / "probe.json"
    env = {
        **os.environ,
        "CAIRN_PROBE_FORBIDDEN": json.dumps(["pydantic"]),
        "CAIRN_PROBE_REPORT": str(report),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }
    env.pop("PYTHONPATH", None)
    subprocess.run(
        [sys.executable, "-c", PROBE, *case.argv, "--policy", str(policy)],
        cwd=REPO,
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    found = json.loads(report.read_text())["found"]
    assert set(found) == {"pydantic"}
    assert found["pydantic"].startswith("/policy_document.py:"), found
