"""The verifier's container image definition, and how ./dev wheels decides to build it: only
where docker or podman can run containers, and otherwise a skip that says why (real processes:
stand-in `docker`/`podman` executables on PATH answering `info` as the real ones do)."""

from __future__ import annotations

import importlib.util
import re
import stat
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONTAINERFILE = ROOT / "container" / "verifier.Containerfile"
DAEMON_DOWN = (
    "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
    "Is the docker daemon running?"
)


def _check_wheels() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_wheels", ROOT / "scripts/check_wheels.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["check_wheels"] = module
    spec.loader.exec_module(module)
    return module


def _tool(directory: Path, name: str, code: int, stderr: str = "") -> None:
    script = directory / name
    script.write_text(
        f"#!/bin/sh\n[ \"$1\" = info ] || exit 99\nprintf '%s\\n' '{stderr}' >&2\nexit {code}\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)


def test_the_image_is_debian_python_and_the_wheel_as_a_non_root_user() -> None:
    lines = [line for line in CONTAINERFILE.read_text().splitlines() if line and line[0] != "#"]
    assert lines[0] == "FROM debian:12-slim"
    text = "\n".join(lines)
    assert "apt-get install -y --no-install-recommends python3 python3-venv ca-certificates" in text
    assert re.search(r"^COPY cairn_verifier-\*-py3-none-any\.whl ", text, re.MULTILINE)
    assert "pip install --no-cache-dir --disable-pip-version-check /tmp/wheels/*.whl" in text
    assert re.findall(r"^USER (\S+)$", text, re.MULTILINE) == ["cairn"]
    assert 'ENTRYPOINT ["cairn"]' in text


def test_the_readme_builds_the_image_from_dist() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "docker build -f container/verifier.Containerfile -t cairn-verifier dist/" in readme


def test_no_runtime_is_a_skip_that_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    check_wheels = _check_wheels()
    _tool(tmp_path, "docker", 1, DAEMON_DOWN)  # the CLI without a daemon, as on Cairn's CI
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(check_wheels.CannotRunHereError) as skipped:
        check_wheels.container_runtime()
    assert str(skipped.value) == (
        "no usable container runtime: podman is not installed; "
        f"`docker info` failed ({DAEMON_DOWN})"
    )


def test_a_working_runtime_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    check_wheels = _check_wheels()
    _tool(tmp_path, "podman", 125, "Error: cannot connect to Podman")
    _tool(tmp_path, "docker", 0)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert check_wheels.container_runtime() == "docker"
