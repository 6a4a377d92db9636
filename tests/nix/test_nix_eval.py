"""`nix flake check`'s structure, evaluated here with a stub nixpkgs (tests/nix/eval/).

Evaluated: no. nixpkgs cannot be fetched on these machines (and needs Nix >= 2.18; Debian has
2.8), so no module is merged with nixpkgs' and nothing is built. What these tests do evaluate
is flake.nix's outputs function and every file it reaches that needs only `lib`-level code:
output shapes as Nix checks them (src/nix/flake.cc), the package expressions of nixos/pkgs with
stub builders, and the harness itself (the stubs must catch what they claim to catch).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from nix_eval import EVAL_DIR, REPO_ROOT, evaluate, evaluate_json

SHAPE = f"import {EVAL_DIR}/flake-shape.nix"


@pytest.fixture(scope="module")
def shape() -> dict:
    result: dict = evaluate_json(f"{SHAPE} {{ }}")
    return result


def test_every_output_has_the_shape_nix_flake_check_requires(shape: dict) -> None:
    assert shape["problems"] == [], shape["summary"]


def test_the_expected_outputs_are_there(shape: dict) -> None:
    checked = shape["checked"]
    for name in (
        "packages.x86_64-linux.cairn-verifier",
        "packages.x86_64-linux.reference-values",
        "packages.x86_64-linux.run-vm",
        "packages.aarch64-linux.cairn-agent",
        "checks.x86_64-linux.cvm-qemu",
        "checks.x86_64-linux.cvm-sev-snp-toplevel",
        "checks.x86_64-linux.cairn-guest-scripts",
        "apps.x86_64-linux.run-vm",
        "devShells.x86_64-linux.default",
        "nixosConfigurations.cvm-sev-snp",
        "nixosConfigurations.cvm-cloud",
        "packages.x86_64-linux.ovmf-inteltdx",
        "packages.x86_64-linux.tdx-reference-values",
        "packages.x86_64-linux.vtpm-reference-values",
        "packages.x86_64-linux.cvm-cloud-azure",
        "packages.x86_64-linux.cvm-cloud-gcp",
        "packages.x86_64-linux.cvm-cloud-aws",
        "packages.x86_64-linux.cvm-cloud-uki",
        "checks.x86_64-linux.cvm-cloud-toplevel",
    ):
        assert name in checked, name
    # Modules are functions (or an attribute set for `default`), never paths.
    for name in ("cairn-agent", "echo-cpp", "echo-rust", "cvm", "luks-tpm"):
        assert checked[f"nixosModules.{name}"] == "module function"
    assert checked["nixosModules.default"] == "module attrset"


def test_apps_point_into_their_packages(shape: dict) -> None:
    apps = shape["apps"]["x86_64-linux"]
    assert apps["verify"].endswith("-cairn-verifier-0.1.0/bin/cairn")
    assert apps["run-vm"].endswith("-cairn-run-vm-0.1.0/bin/cairn-run-vm")


def test_configurations_pin_only_the_platform(shape: dict) -> None:
    for name, modules in shape["modulesOfConfigurations"].items():
        assert modules[0].endswith(f"/nixos/configurations/{name}.nix"), modules
        assert modules[1] == {"nixpkgs": {"hostPlatform": "x86_64-linux"}}


def test_the_vm_test_is_wired_into_checks(shape: dict) -> None:
    assert shape["vmTestName"] == "cairn-cvm-qemu"


BROKEN_FLAKE = """{
  outputs = { self, nixpkgs }: {
    packages.x86_64-linux.not-a-derivation = "text";
    packages.linux.cairn = nixpkgs.legacyPackages.x86_64-linux.bash;
    apps.x86_64-linux.run = { type = "app"; program = "bin/run"; extra = 1; };
    nixosModules.by-path = ./module.nix;
    nixosConfigurations.empty = { config.system.build = { }; };
    checks.x86_64-linux = { };
    devShells.x86_64-linux = { };
    surprise = { };
  };
}
"""


def test_the_shape_check_reports_what_nix_would_reject(tmp_path: Path) -> None:
    flake = tmp_path / "flake.nix"
    flake.write_text(BROKEN_FLAKE)
    (tmp_path / "module.nix").write_text("{ }\n")
    result = evaluate_json(f"{SHAPE} {{ flakeFile = {flake}; }}")
    problems = "\n".join(result["problems"])
    for expected in (
        "packages.x86_64-linux.not-a-derivation: is not a derivation",
        "packages.linux: not a valid system name",
        "apps.x86_64-linux.run: program bin/run is not a path inside a store path",
        "apps.x86_64-linux.run: has no meta.description",
        "apps.x86_64-linux.run: has unsupported attribute extra",
        "nixosModules.by-path: is a path",
        "nixosConfigurations.empty: config.system.build.toplevel is not a derivation",
        "surprise: is not an output this flake is expected to have",
    ):
        assert expected in problems, (expected, problems)


def test_the_stub_lib_rejects_names_nixpkgs_does_not_have() -> None:
    done = evaluate(f"(import {EVAL_DIR}/stub-lib.nix).mkIff true {{ }}")
    assert done.returncode != 0
    assert "mkIff" in done.stderr


def test_the_stub_callpackage_rejects_unknown_arguments(tmp_path: Path) -> None:
    package = tmp_path / "package.nix"
    package.write_text('{ stdenv, no-such-package }: stdenv.mkDerivation { name = "x"; }\n')
    done = evaluate(
        f"(import {EVAL_DIR}/stub-nixpkgs.nix).legacyPackages.x86_64-linux.callPackage "
        f"{package} {{ }}"
    )
    assert done.returncode != 0
    assert "no-such-package" in done.stderr


def test_the_flake_metadata_matches_the_lock() -> None:
    """flake.nix's inputs against flake.lock (the step .ci/run has run since the start)."""
    lock = evaluate_json(
        f"builtins.fromJSON (builtins.readFile {REPO_ROOT}/flake.lock)", cwd=REPO_ROOT
    )
    flake_inputs = evaluate_json(f"(import {REPO_ROOT}/flake.nix).inputs")
    root = lock["nodes"][lock["root"]]["inputs"]
    assert set(flake_inputs) == set(root)
    original = lock["nodes"][root["nixpkgs"]]["original"]
    assert flake_inputs["nixpkgs"]["url"] == (
        f"{original['type']}:{original['owner']}/{original['repo']}/{original['ref']}"
    )
