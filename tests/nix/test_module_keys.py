"""The NixOS module writes exactly the agent's configuration keys, never a value the agent
refuses (its enums are the agent's, its ranges within the agent's), and every .nix file parses."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import annotated_types
import pytest
from nix_eval import EVAL_DIR, evaluate_json
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from cairn_agent.config import AgentConfig, ConfigError, config_keys, parse_config

REPO_ROOT = Path(__file__).resolve().parents[2]
AGENT_MODULE = REPO_ROOT / "nixos" / "modules" / "cairn-agent.nix"
SKIPPED_DIRS = {".git", ".nox", "node_modules"}

_OPEN = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*\{$")
_LEAF = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.+);$")
_OPTION = re.compile(r"^cfg\.([A-Za-z0-9_.]+)$")


def module_settings(text: str) -> dict[str, str]:
    """Dotted key → Nix expression of the `settings` attrset between the BEGIN/END
    agent-config-keys markers."""
    try:
        block = text.split("# BEGIN agent-config-keys", 1)[1].split("# END agent-config-keys", 1)[0]
    except IndexError:
        raise AssertionError("agent-config-keys markers not found in the module") from None
    lines = [line.strip() for line in block.splitlines()[1:] if line.strip()]
    if not lines or not _OPEN.match(lines[0]) or lines[-1] != "};":
        raise AssertionError("the marked block must be one `settings = { ... };` attrset")
    keys: dict[str, str] = {}
    path: list[str] = []
    for line in lines[1:-1]:
        if opened := _OPEN.match(line):
            path.append(opened.group(1))
        elif line == "};":
            if not path:
                raise AssertionError("unbalanced braces in the settings block")
            path.pop()
        elif leaf := _LEAF.match(line):
            keys[".".join([*path, leaf.group(1)])] = leaf.group(2)
        else:
            raise AssertionError(f"unexpected line in the settings block: {line!r}")
    if path:
        raise AssertionError(f"unclosed attrsets in the settings block: {path}")
    return keys


def module_settings_keys(text: str) -> set[str]:
    """Dotted keys of the `settings` attrset between the BEGIN/END agent-config-keys markers."""
    return set(module_settings(text))


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


# --- values -------------------------------------------------------------------------------------

PCR_CANDIDATES: list[Any] = [[], [0], [0, 23], [24], [1, 1]]


def _field(key: str) -> FieldInfo:
    model: type[BaseModel] = AgentConfig
    *sections, name = key.split(".")
    for section in sections:
        annotation = model.model_fields[section].annotation
        assert isinstance(annotation, type) and issubclass(annotation, BaseModel)
        model = annotation
    return model.model_fields[name]


def _enum_values(info: FieldInfo) -> tuple[str, ...] | None:
    return get_args(info.annotation) if get_origin(info.annotation) is Literal else None


def _candidates(key: str, info: FieldInfo) -> list[Any]:
    """Values at the edges of what the agent accepts for ``key`` (both sides of each bound)."""
    if key == "tpm.pcrs":
        return PCR_CANDIDATES
    values = _enum_values(info)
    if values is not None:
        return list(values)
    found: list[Any] = []
    step = 0.5 if info.annotation is float else 1
    for bound in info.metadata:
        if isinstance(bound, annotated_types.Ge):
            found += [bound.ge - step, bound.ge]
        elif isinstance(bound, annotated_types.Gt):
            found += [bound.gt, bound.gt + step]
        elif isinstance(bound, annotated_types.Le):
            found += [bound.le, bound.le + step]
        elif isinstance(bound, annotated_types.Lt):
            found += [bound.lt - step, bound.lt]
        elif isinstance(bound, annotated_types.MinLen):
            found += ["", "x" * bound.min_length]
    return found


def _agent_accepts(key: str, value: Any) -> bool:
    *sections, name = key.split(".")
    document: dict[str, Any] = {name: value}
    for section in reversed(sections):
        document = {section: document}
    try:
        parse_config(document)
    except ConfigError:
        return False
    return True


def _module_options(
    module: Path, probes: dict[str, dict[str, Any]], tmp_path: Path
) -> dict[str, Any]:
    """For each probe (option path, candidate values): the option's type name, its enum values
    and which candidates its type accepts, from ``module`` evaluated with the stub lib."""
    probe_file = tmp_path / "probes.json"
    probe_file.write_text(json.dumps(probes))
    options: dict[str, Any] = evaluate_json(
        f"""
        let
          e = import {EVAL_DIR}/modules.nix {{ }};
          evaluated = e.evalModule {{ module = {module}; }};
          options = evaluated.result.options.services.cairn-agent;
          probes = builtins.fromJSON (builtins.readFile {probe_file});
        in
        builtins.mapAttrs (
          key: probe:
          let
            type = (builtins.foldl' (o: name: o.${{name}}) options probe.option).type;
          in
          {{
            name = type.name;
            values = type.functor.payload.values or null;
            accepts = map type.check probe.candidates;
          }}
        ) probes
        """
    )
    return options


def module_value_drift(module: Path, tmp_path: Path) -> list[str]:
    """Where ``module`` would write a value the agent refuses: an enum that is not exactly the
    agent's values, or a candidate at the edge of the agent's range that only the module takes."""
    settings = module_settings(module.read_text(encoding="utf-8"))
    probes: dict[str, dict[str, Any]] = {}
    for key, expression in settings.items():
        option = _OPTION.match(expression)
        candidates = _candidates(key, _field(key))
        if option and candidates:
            probes[key] = {"option": option.group(1).split("."), "candidates": candidates}
    assert {"tee.simulated_product", "tee.provider", "tpm.bank", "tpm.pcrs"} <= set(probes)
    found = _module_options(module, probes, tmp_path)
    drift = []
    for key, probe in probes.items():
        agent_values = _enum_values(_field(key))
        option = found[key]
        if agent_values is not None:
            if option["name"] != "enum" or set(option["values"] or ()) != set(agent_values):
                drift.append(f"{key}: the agent accepts {agent_values}, the module {option}")
            continue
        for value, accepted in zip(probe["candidates"], option["accepts"], strict=True):
            if accepted and not _agent_accepts(key, value):
                drift.append(
                    f"{key}: the module ({option['name']}) accepts {value!r}, the agent not"
                )
    return drift


def test_module_values_are_values_the_agent_accepts(tmp_path: Path) -> None:
    """An enum lists exactly the agent's values; any other option accepts nothing the agent
    refuses at the edges of its ranges (else the agent would fail at start)."""
    drift = module_value_drift(AGENT_MODULE, tmp_path)
    assert drift == [], "\n".join(drift)


def test_the_value_check_sees_drifted_values(tmp_path: Path) -> None:
    text = AGENT_MODULE.read_text(encoding="utf-8")
    drifted = text.replace('"Genoa"\n        ];', '"Genoa"\n          "Turin"\n        ];').replace(
        "pcrs: pcrs != [ ] && lib.allUnique pcrs", "pcrs: true"
    )
    assert drifted.count('"Turin"') == 1 and "pcrs: true" in drifted
    module = tmp_path / "cairn-agent.nix"  # option types read no relative path
    module.write_text(drifted, encoding="utf-8")
    drift = module_value_drift(module, tmp_path)
    assert any(line.startswith("tee.simulated_product: ") and "Turin" in line for line in drift)
    assert "tpm.pcrs: the module (listOf) accepts [], the agent not" in drift
