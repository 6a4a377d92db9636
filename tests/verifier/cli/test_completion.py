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
    assert _bash_complete(script, "cairn verify ", workdir) == ["evidence", "snp", "tdx"]
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

    assert complete("cairn verify ") == ["evidence", "snp", "tdx"]
    assert "--certs" in complete("cairn verify snp --c")
    assert "--certs" not in complete("cairn verify tdx --c")
    assert complete("cairn show snp r") == ["report.bin"]
    assert complete("cairn completion ") == ["bash", "fish", "zsh"]


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_zsh(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    script = _script("zsh", capsys, tmp_path)
    assert subprocess.run(["zsh", "-n", str(script)], check=False).returncode == 0
    # The table and path functions, driven as the completion system would drive them.
    program = f"""
compdef() {{ : }}
source {script}
words=(cairn verify snp --certs x '')
CURRENT=5
_cairn_path; print -r -- "path=$REPLY"
_cairn_value "$REPLY" --certs; print -r -- "value=$REPLY"
_cairn_subcommands verify; print -r -- "subs=${{(j: :)${{(@)reply%%:*}}}}"
_cairn_options 'verify tdx'; print -r -- "tdx-certs=${{(M)reply:#--certs:*}}"
"""
    done = subprocess.run(["zsh", "-f", "-c", program], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines() == [
        "path=verify snp",
        "value=file",
        "subs=snp tdx evidence",
        "tdx-certs=",
    ]
