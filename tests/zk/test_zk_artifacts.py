"""The committed artefacts are what the sources give: the compiled circuit and the
development-CRS verification key are rebuilt from circuits/ (a copy) and compared byte for byte;
the compile cache is keyed by the installed compiler's version and the sources."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from cairn_verifier.zk import dev_crs

REPO = Path(__file__).resolve().parents[2]
CIRCUITS = REPO / "circuits"


def _driver(circuits: Path, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        ["node", str(circuits / "driver" / "cairn-zk.mjs"), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


@pytest.fixture(scope="module")
def copy(zk_toolchain: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """circuits/ without artefacts and caches; node_modules is a private copy of the links, so
    one package's manifest can be changed without touching the checkout."""
    target = tmp_path_factory.mktemp("checkout") / "circuits"
    shutil.copytree(
        CIRCUITS,
        target,
        ignore=shutil.ignore_patterns("node_modules", "target", "artifacts"),
    )
    modules = target / "node_modules"
    for entry in (zk_toolchain / "node_modules").iterdir():
        if entry.name == "@noir-lang":
            (modules / "@noir-lang").mkdir(parents=True)
            for package in entry.iterdir():
                (modules / "@noir-lang" / package.name).symlink_to(package)
        else:
            modules.mkdir(exist_ok=True)
            (modules / entry.name).symlink_to(entry)
    return target


def test_the_committed_artefacts_are_rebuilt_from_the_sources(copy: Path) -> None:
    crs = dev_crs.ensure_dev_crs()
    built = _driver(copy, "build", "--crs", str(crs), "--insecure-dev-crs")
    assert (built["gates"], built["circuit_size"], built["public_inputs"]) == (52049, 65536, 6)
    for name in ("cairn_membership.json", "cairn_membership.insecure-dev.vk"):
        rebuilt = (copy / "artifacts" / name).read_bytes()
        assert rebuilt == (CIRCUITS / "artifacts" / name).read_bytes(), name


def test_the_compile_cache_is_keyed_by_the_installed_compiler(copy: Path) -> None:
    first = _driver(copy, "compile", "--circuit", "cairn_probe")
    cache = copy / "cairn_probe" / "target" / "cairn_probe.json"
    key = json.loads(cache.read_text())["cairn_cache_key"]
    assert first["compiler"] == "noir_wasm 1.0.0-beta.3"
    # Another compiler version (here: the same package claiming another version) is a cache
    # miss: the program is compiled again and cached under a new key.
    package = copy / "node_modules" / "@noir-lang" / "noir_wasm"
    real = package.resolve()
    package.unlink()
    shutil.copytree(real, package, symlinks=True)
    manifest = json.loads((package / "package.json").read_text())
    manifest["version"] = "1.0.0-beta.3-other"
    (package / "package.json").write_text(json.dumps(manifest))
    second = _driver(copy, "compile", "--circuit", "cairn_probe")
    assert second["compiler"] == "noir_wasm 1.0.0-beta.3-other"
    assert json.loads(cache.read_text())["cairn_cache_key"] != key
    assert second["bytecode_sha256"] == first["bytecode_sha256"]
    # A source change is a miss too.
    main = copy / "cairn_probe" / "src" / "main.nr"
    main.write_text(main.read_text() + "\n// changed\n")
    _driver(copy, "compile", "--circuit", "cairn_probe")
    assert json.loads(cache.read_text())["cairn_cache_key"] not in (key,)
