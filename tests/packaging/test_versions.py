"""One release version: each component writes it once, they all agree, the installed packages
report it, the agent requires the verifier of the same release and the CHANGELOG describes it.

Where each version is written (docs/development.md, "Releases"): verifier/pyproject.toml and
agent/pyproject.toml ([project] version; ``__version__`` reads the installed metadata),
services/echo-cpp/CMakeLists.txt (project VERSION), services/echo-rust/Cargo.toml (and the
Cargo.lock cargo writes from it), circuits/package.json (and package-lock.json)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import cairn_agent
import cairn_verifier

ROOT = Path(__file__).resolve().parents[2]
CHANGELOG = ROOT / "CHANGELOG.md"
RELEASE_HEADING = re.compile(r"^## \[(\d+\.\d+\.\d+)\] - (\d{4}-\d\d-\d\d)$", re.MULTILINE)


def _project(package: str) -> dict[str, Any]:
    pyproject: dict[str, Any] = tomllib.loads((ROOT / package / "pyproject.toml").read_text())
    project: dict[str, Any] = pyproject["project"]
    return project


def release_version() -> str:
    return str(_project("verifier")["version"])


def component_versions() -> dict[str, str]:
    cargo_lock = tomllib.loads((ROOT / "services/echo-rust/Cargo.lock").read_text())
    (rust_locked,) = [p["version"] for p in cargo_lock["package"] if p["name"] == "echo-rust"]
    cmake = (ROOT / "services/echo-cpp/CMakeLists.txt").read_text()
    (cpp,) = re.findall(r"project\(cairn_echo_cpp VERSION ([0-9.]+) ", cmake)
    npm_lock = json.loads((ROOT / "circuits/package-lock.json").read_text())
    return {
        "verifier/pyproject.toml": str(_project("verifier")["version"]),
        "agent/pyproject.toml": str(_project("agent")["version"]),
        "services/echo-cpp/CMakeLists.txt": cpp,
        "services/echo-rust/Cargo.toml": tomllib.loads(
            (ROOT / "services/echo-rust/Cargo.toml").read_text()
        )["package"]["version"],
        "services/echo-rust/Cargo.lock": rust_locked,
        "circuits/package.json": json.loads((ROOT / "circuits/package.json").read_text())[
            "version"
        ],
        "circuits/package-lock.json": npm_lock["packages"][""]["version"],
    }


def test_every_component_carries_the_release_version() -> None:
    versions = component_versions()
    assert set(versions.values()) == {release_version()}, versions


def test_the_agent_requires_the_verifier_of_its_release() -> None:
    requires = [d for d in _project("agent")["dependencies"] if d.startswith("cairn-verifier")]
    assert requires == [f"cairn-verifier=={release_version()}"]


def test_the_installed_packages_report_the_pyproject_version() -> None:
    # `./dev test` installs fresh builds of ./verifier and ./agent: __version__ is their metadata.
    assert cairn_verifier.__version__ == release_version()
    assert cairn_agent.__version__ == str(_project("agent")["version"])


def test_cairn_agent_version_is_the_release() -> None:
    agent = Path(sys.executable).with_name("cairn-agent")
    done = subprocess.run([str(agent), "--version"], capture_output=True, text=True, check=False)
    expected = (0, f"cairn-agent {release_version()}\n", "")
    assert (done.returncode, done.stdout, done.stderr) == expected


def test_the_changelog_describes_the_release() -> None:
    text = CHANGELOG.read_text()
    sections = re.split(r"^## ", text, flags=re.MULTILINE)
    assert sections[1].startswith("[Unreleased]\n"), "the first section is [Unreleased]"
    releases = RELEASE_HEADING.findall(text)
    assert releases, "no release section '## [X.Y.Z] - YYYY-MM-DD'"
    versions = [tuple(int(n) for n in v.split(".")) for v, _ in releases]
    dates = [d for _, d in releases]
    assert versions == sorted(versions, reverse=True) and dates == sorted(dates, reverse=True)
    assert releases[0][0] == release_version(), "the newest release section is this version"
    for section in sections[2:]:
        assert re.search(r"^- ", section, re.MULTILINE), f"empty section: {section[:40]!r}"
