"""Shell completion scripts, run in the real shells: the words they offer at each position."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from cairn_verifier.cli.main import main


def _script(shell: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Path:
    assert main(["completion", shell]) == 0
    path = tmp_path / f"cairn.{shell}"
    path.write_text(capsys.readouterr().out)
    return path


def _bash_complete(script: Path, line: str, cwd: Path) -> list[str]:
    """COMPREPLY of the generated function for ``line`` (the cursor at its end)."""
    program = f"""
source {script}
read -r -a COMP_WORDS <<< "$LINE"
[[ "$LINE" == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
_cairn
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    done = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", program],
        env={"LINE": line, "PATH": "/usr/bin:/bin"},
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stderr == ""
    return sorted(w for w in done.stdout.splitlines() if w)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    (work / "report.bin").write_bytes(b"")
    (work / "certs").mkdir()
    return work


def test_bash(capsys: pytest.CaptureFixture[str], tmp_path: Path, workdir: Path) -> None:
    script = _script("bash", capsys, tmp_path)
    assert "completion" in _bash_complete(script, "cairn ", workdir)
    assert _bash_complete(script, "cairn ver", workdir) == ["verify"]
    verify_kinds = ["azure", "evidence", "gpu", "response", "snp", "tdx"]
    assert _bash_complete(script, "cairn verify ", workdir) == verify_kinds
    options = _bash_complete(script, "cairn verify snp --c", workdir)
    assert options == ["--cache-dir", "--certs", "--collateral", "--crl"]
    assert "--certs" not in _bash_complete(script, "cairn verify tdx --", workdir)
    assert _bash_complete(script, "cairn verify snp --certs c", workdir) == ["certs"]
    assert _bash_complete(script, "cairn verify snp r", workdir) == ["report.bin"]
    assert _bash_complete(script, "cairn verify snp --report-data ", workdir) == []
    assert _bash_complete(script, "cairn completion ", workdir) == ["bash", "fish", "zsh"]
    # an option value that happens to be a command name does not change the command
    assert "--root" in _bash_complete(script, "cairn tree verify --json --", workdir)


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
def test_fish(capsys: pytest.CaptureFixture[str], tmp_path: Path, workdir: Path) -> None:
    script = _script("fish", capsys, tmp_path)

    def complete(line: str) -> list[str]:
        done = subprocess.run(
            ["fish", "--no-config", "-c", f"source {script}; complete -C {line!r}"],
            cwd=workdir,
            capture_output=True,
            text=True,
            check=True,
        )
        assert done.stderr == ""
        return sorted(row.split("\t")[0] for row in done.stdout.splitlines())

    assert complete("cairn verify ") == ["azure", "evidence", "gpu", "response", "snp", "tdx"]
    assert "--certs" in complete("cairn verify snp --c")
    assert "--certs" not in complete("cairn verify tdx --c")
    assert complete("cairn show snp r") == ["report.bin"]
    assert complete("cairn completion ") == ["bash", "fish", "zsh"]


ZSH_DRIVER = r"""
zmodload zsh/zpty
zpty z 'zsh -f -i'
zpty -w z "PS1='> '; fpath=($1 \$fpath); cairn() { : }"
zpty -w z "autoload -U compinit; compinit -u -d $1/dump"
zpty -w -n z $'cairn verify \t'
zpty -r z out '*verify an Intel TDX DCAP quote*' || exit 1
print -r -- "$out" | tr -d '\r' | sed 's/\x1b\[[0-9;?]*[a-zA-Z]//g' | grep -- ' -- '
zpty -w -n z $'snp --ce\t'
zpty -r z out '*--certs*' || exit 2
zpty -d z
"""


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_zsh(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """An interactive zsh (in a pseudo-terminal) completes with the script installed in $fpath:
    TAB after `cairn verify ` lists the subcommands with their descriptions, and `--ce` TAB
    becomes `--certs`. Each read waits for its expected text; the timeout only stops a hang."""
    functions = tmp_path / "functions"
    functions.mkdir()
    (functions / "_cairn").write_text(_script("zsh", capsys, tmp_path).read_text())
    driver = tmp_path / "drive.zsh"
    driver.write_text(ZSH_DRIVER)
    done = subprocess.run(
        ["zsh", "-f", str(driver), str(functions)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done
    listed = [line.split(" -- ")[0].strip() for line in done.stdout.splitlines()]
    assert listed == ["azure", "evidence", "gpu", "response", "snp", "tdx"]
    assert "verify an SEV-SNP attestation report" in done.stdout
