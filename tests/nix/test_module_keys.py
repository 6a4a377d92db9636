"""The NixOS module writes exactly the agent's configuration keys, and every .nix file parses."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from cairn_agent.config import config_keys

REPO_ROOT = Path(__file__).resolve().parents[2]
AGENT_MODULE = REPO_ROOT / "nixos" / "modules" / "cairn-agent.nix"
SKIPPED_DIRS = {".git", ".nox", "node_modules"}

_OPEN = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*\{$")
_LEAF = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*.+;$")


def module_settings_keys(text: str) -> set[str]:
    """Dotted keys of the `settings` attrset between the BEGIN/END agent-config-keys markers."""
    try:
        block = text.split("# BEGIN agent-config-keys", 1)[1].split("# END agent-config-keys", 1)[0]
    except IndexError:
        raise AssertionError("agent-config-keys markers not found in the module") from None
    lines = [line.strip() for line in block.splitlines()[1:] if line.strip()]
    if not lines or not _OPEN.match(lines[0]) or lines[-1] != "};":
        raise AssertionError("the marked block must be one `settings = { ... };` attrset")
    keys: set[str] = set()
    path: list[str] = []
    for line in lines[1:-1]:
        if opened := _OPEN.match(line):
            path.append(opened.group(1))
        elif line == "};":
            if not path:
                raise AssertionError("unbalanced braces in the settings block")
            path.pop()
        elif leaf := _LEAF.match(line):
            keys.add(".".join([*path, leaf.group(1)]))
        else:
            raise AssertionError(f"unexpected line in the settings block: {line!r}")
    if path:
        raise AssertionError(f"unclosed attrsets in the settings block: {path}")
    return keys


def nix_files() -> list[Path]:
    """Every .nix file of the repository (outside tool and VCS directories)."""
    return sorted(
        path
        for path in REPO_ROOT.rglob("*.nix")
        if not any(part in SKIPPED_DIRS or part.startswith(".venv") for part in path.parts)
    )


def test_module_writes_exactly_the_agent_config_keys() -> None:
    keys = module_settings_keys(AGENT_MODULE.read_text(encoding="utf-8"))
    expected = config_keys()
    missing, unknown = sorted(expected - keys), sorted(keys - expected)
    assert keys == expected, f"missing from the module: {missing}; unknown to the agent: {unknown}"


def test_key_parser_rejects_a_drifted_block() -> None:
    text = AGENT_MODULE.read_text(encoding="utf-8").replace("      vmpl = cfg.tee.vmpl;\n", "")
    assert "tee.vmpl" not in module_settings_keys(text)
    with pytest.raises(AssertionError, match="unexpected line"):
        module_settings_keys(
            "# BEGIN agent-config-keys\nsettings = {\n  oops\n};\n# END agent-config-keys"
        )


def test_nix_files_are_found() -> None:
    names = {path.relative_to(REPO_ROOT).as_posix() for path in nix_files()}
    assert {"flake.nix", "nixos/modules/cairn-agent.nix", "nixos/tests/cvm-qemu.nix"} <= names


@pytest.mark.parametrize("path", nix_files(), ids=lambda p: p.relative_to(REPO_ROOT).as_posix())
def test_nix_file_parses(path: Path) -> None:
    nix_instantiate = shutil.which("nix-instantiate")
    if nix_instantiate is None:
        pytest.fail("nix-instantiate not found: install Nix (`./dev setup nix`) to parse-check")
    result = subprocess.run(
        [nix_instantiate, "--parse", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"{path}: {result.stderr}"
