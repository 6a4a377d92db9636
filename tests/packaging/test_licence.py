"""Cairn is Apache-2.0: the LICENSE text, the copies the Python packages ship, every package's
licence metadata and the README's statement."""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# SHA-256 of the Apache License 2.0 text as the ASF publishes it (LICENSE-2.0.txt).
APACHE_2_SHA256 = "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"
SPDX = "Apache-2.0"
# nixos/pkgs expressions that are not Cairn's own code, or have no meta at all.
NIX_NOT_OURS = {
    "ovmf-amdsev.nix": "edk2's OVMF firmware: its own licence (lib.licenses.bsd2)",
    "reference-values.nix": "a JSON file `cairn reference-values` computes (runCommand, no meta)",
}


def test_the_licence_is_the_apache_2_text() -> None:
    text = (ROOT / "LICENSE").read_bytes()
    assert hashlib.sha256(text).hexdigest() == APACHE_2_SHA256


@pytest.mark.parametrize("package", ["verifier", "agent"])
def test_each_python_package_ships_the_licence(package: str) -> None:
    # A copy, not a symlink: the sdist and the Nix build (src = ../../verifier) see only the
    # package directory.
    copy = ROOT / package / "LICENSE"
    assert not copy.is_symlink()
    assert copy.read_bytes() == (ROOT / "LICENSE").read_bytes()
    project = tomllib.loads((ROOT / package / "pyproject.toml").read_text())["project"]
    assert project["license"] == SPDX
    assert project["license-files"] == ["LICENSE"]


def test_the_services_and_circuits_declare_apache_2() -> None:
    cargo = tomllib.loads((ROOT / "services/echo-rust/Cargo.toml").read_text())["package"]
    assert cargo["license"] == SPDX
    cmake = (ROOT / "services/echo-cpp/CMakeLists.txt").read_text()
    assert cmake.startswith(f"# SPDX-License-Identifier: {SPDX} ")
    manifest = json.loads((ROOT / "circuits/package.json").read_text())
    lock = json.loads((ROOT / "circuits/package-lock.json").read_text())
    assert manifest["license"] == SPDX
    assert lock["packages"][""]["license"] == SPDX  # as `npm install` writes it


def test_every_nix_package_of_cairn_says_asl20() -> None:
    expressions = sorted((ROOT / "nixos/pkgs").glob("*.nix"))
    assert len(expressions) >= 6
    for path in expressions:
        licences = re.findall(r"license = lib\.licenses\.(\w+);", path.read_text())
        if path.name in NIX_NOT_OURS:
            continue
        assert licences == ["asl20"], f"{path.name}: meta.license {licences}"


def test_the_readme_states_the_licence() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## License\n", 1)[1].split("\n## ", 1)[0]
    assert "Apache License 2.0" in section and "[LICENSE](LICENSE)" in section
