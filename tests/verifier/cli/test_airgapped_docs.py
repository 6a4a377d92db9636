"""The air-gapped flow exactly as README.md, docs/snp.md and docs/tdx.md document it.

Each document marks its flow with ``<!-- air-gapped flow: run by … -->`` before a ``sh`` block.
The commands are read from the document and run, in order, in a directory where the relative
paths resolve as they do at the repository root (``examples/`` is linked in), with a private
collateral cache and a proxy that cannot be reached: the flow must need no network at all.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from cairn_verifier.cli.main import main

REPO = Path(__file__).resolve().parents[3]
MARKER = "<!-- air-gapped flow: run by tests/verifier/cli/test_airgapped_docs.py -->"
BLOCK = re.compile(re.escape(MARKER) + r"\n```sh\n(.*?)\n```", re.S)


def documented_commands(doc: Path) -> list[str]:
    """The commands of the marked block(s): continuation lines joined, comments dropped."""
    blocks = BLOCK.findall(doc.read_text())
    assert blocks, f"{doc} has no block marked {MARKER!r}"
    commands = []
    for block in blocks:
        text = block.replace("\\\n", " ")
        lines = (line.strip() for line in text.splitlines())
        commands += [line for line in lines if line and not line.startswith("#")]
    return commands


@pytest.mark.parametrize("doc", ["README.md", "docs/snp.md", "docs/tdx.md"])
def test_the_documented_air_gapped_flow_runs_as_written(
    doc: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    commands = documented_commands(REPO / doc)
    assert any(" collateral export " in f" {c} " for c in commands)
    assert any(c.startswith("cairn verify ") for c in commands)

    (tmp_path / "examples").symlink_to(REPO / "examples")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(name, "http://cairn-test.invalid:3128")  # no network, whatever happens
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)

    for command in commands:
        argv = shlex.split(command)
        assert argv[0] == "cairn", command
        code = main(argv[1:])
        out, err = capsys.readouterr()
        assert code == 0, f"{command}\n{out}{err}"
        if argv[1] == "verify":
            assert out.rstrip().endswith("Result: VERIFIED (exit 0)"), out
            assert "SKIP  revocation" not in out  # the CRL came with the collateral
        if argv[1:3] == ["collateral", "export"]:
            assert (tmp_path / argv[argv.index("-o") + 1]).is_file()
