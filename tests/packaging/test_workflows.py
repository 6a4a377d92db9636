"""The GitHub workflows do what README.md and docs/development.md say: `bash .ci/run` on
ubuntu-latest and in a debian:12 container, the Nix job, read-only tokens, bounded time.

(`./dev lint` validates the files against the GitHub workflow JSON Schema with check-jsonschema;
this test checks what the schema cannot: which jobs run what.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"


def _load(name: str) -> dict[Any, Any]:
    document = yaml.safe_load((WORKFLOWS / name).read_text())
    assert isinstance(document, dict)
    return document


def _runs(job: dict[str, Any]) -> list[str]:
    return [step["run"] for step in job["steps"] if "run" in step]


def test_the_workflows_are_ci_and_nix() -> None:
    assert sorted(p.name for p in WORKFLOWS.iterdir()) == ["ci.yml", "nix.yml"]


@pytest.mark.parametrize("name", ["ci.yml", "nix.yml"])
def test_every_workflow_runs_on_main_and_pull_requests_with_a_read_only_token(name: str) -> None:
    workflow = _load(name)
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as true
    assert triggers == {"push": {"branches": ["main"]}, "pull_request": None}
    assert workflow["permissions"] == {"contents": "read"}
    for job in workflow["jobs"].values():
        assert isinstance(job["timeout-minutes"], int) and job["timeout-minutes"] <= 180
        for step in job["steps"]:
            uses = step.get("uses")
            assert uses is None or uses.rsplit("@", 1)[1].startswith("v"), uses


def test_ci_runs_the_ci_script_on_ubuntu_and_debian() -> None:
    jobs = _load("ci.yml")["jobs"]
    ubuntu, debian = jobs["ubuntu"], jobs["debian"]
    assert ubuntu["runs-on"] == "ubuntu-latest" and "container" not in ubuntu
    assert _runs(ubuntu)[-1] == "sudo --preserve-env=CI,GITHUB_ACTIONS bash .ci/run"
    assert debian["container"] == "debian:12"
    assert _runs(debian)[-1] == "bash .ci/run"
    for job in (ubuntu, debian):
        uses = [step.get("uses") for step in job["steps"]]
        assert "actions/checkout@v4" in uses


def test_the_nix_job_checks_the_flake() -> None:
    (job,) = _load("nix.yml")["jobs"].values()
    assert any(run.startswith("nix flake check") for run in _runs(job))
