"""The wheels carry every file the code reads at run time (pinned roots, py.typed, …).

Run-time data is read with ``importlib.resources`` from the package, so it must be package data:
each tracked non-Python file under a package's sources is matched by a ``package-data`` glob of
its pyproject.toml, and is present in the installed build (``./dev test`` installs the packages
from fresh non-editable builds). ``./dev wheels`` checks the same in the real wheels, outside the
checkout. Nothing else may find files next to the code: ``__file__`` is used only where the
verifier looks for a checkout's ``circuits/`` (the wheel has none, and ``cairn zk`` says so),
where ``cairn_verifier.__version__`` reads its own ``*.dist-info/METADATA`` beside the
package (installer metadata, not package data; without it ``importlib.metadata`` answers), and
where the SEV-SNP and TDX pipelines read their pinned roots (package data all the same, checked
below; read beside the module because importing ``importlib.resources`` cost every offline
verification about 3 ms, docs/performance.md, and each root is pinned by its fingerprint).
"""

from __future__ import annotations

import ast
import fnmatch
import subprocess
import tomllib
from importlib import resources
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {"cairn_verifier": ROOT / "verifier", "cairn_agent": ROOT / "agent"}
FILE_USERS = {
    "cairn_verifier/zk/circuits.py": "finds circuits/ beside an editable or in-checkout install",
    "cairn_verifier/__init__.py": "reads the version from its own dist-info (fast start-up)",
    "cairn_verifier/snp/roots.py": "reads AMD's pinned roots beside it (fast start-up)",
    "cairn_verifier/tdx/verify.py": "reads Intel's pinned root beside it (fast start-up)",
}


def _tracked_data(package: str) -> list[str]:
    source = PACKAGES[package] / "src" / package
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--", "."], cwd=source, capture_output=True, check=True
    ).stdout.decode()
    return sorted(name for name in listed.split("\0") if name and not name.endswith(".py"))


def _package_data_globs(package: str) -> list[str]:
    pyproject = tomllib.loads((PACKAGES[package] / "pyproject.toml").read_text())
    globs: list[str] = pyproject["tool"]["setuptools"]["package-data"][package]
    return globs


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_every_data_file_is_package_data(package: str) -> None:
    data = _tracked_data(package)
    assert "py.typed" in data
    globs = _package_data_globs(package)
    unmatched = [f for f in data if not any(fnmatch.fnmatchcase(f, g) for g in globs)]
    assert unmatched == [], f"add to [tool.setuptools.package-data] of {package}"


def test_the_pinned_roots_are_package_data() -> None:
    data = _tracked_data("cairn_verifier")
    roots = [f for f in data if f.endswith(".pem")]
    # AMD: ARK, ASK and ASVK for Milan, Genoa, Turin; Intel: the SGX root CA; NVIDIA: the
    # Device Identity CA and the CoRIM root CA.
    assert len(roots) == 12
    assert "tdx/roots/intel_sgx_root_ca.pem" in roots
    assert "gpu/roots/nvidia_device_identity_ca.pem" in roots


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_the_installed_build_holds_every_data_file(package: str) -> None:
    installed = resources.files(package)
    assert not str(installed).startswith(str(PACKAGES[package])), "not an installed build"
    missing = [f for f in _tracked_data(package) if not installed.joinpath(f).is_file()]
    assert missing == []


def _file_users(package: str) -> list[str]:
    source = PACKAGES[package] / "src"
    users = []
    for path in sorted((source / package).rglob("*.py")):
        tree = ast.parse(path.read_text())
        if any(isinstance(n, ast.Name) and n.id == "__file__" for n in ast.walk(tree)):
            users.append(path.relative_to(source).as_posix())
    return users


def test_only_the_circuits_lookup_uses_file_paths_of_the_code() -> None:
    users = _file_users("cairn_verifier") + _file_users("cairn_agent")
    assert users == sorted(FILE_USERS)
