#!/usr/bin/env python3
"""Rebuild the zk circuit artefacts and the pins that make cairn trust them.

    python3 scripts/zk_build.py              # after changing the circuits/ Noir sources
    python3 scripts/zk_build.py --pins-only  # after changing only the driver (no rebuild)
    python3 scripts/zk_build.py --check      # only verify that the pins match the files (tests)

Steps: make sure the insecure development CRS exists (cairn_verifier.zk.dev_crs), run
``node circuits/driver/cairn-zk.mjs build`` (compile the Noir sources with the pinned noir_wasm,
size the circuit with bb.js, write ``circuits/artifacts/cairn_membership.json`` and the
development-CRS verification key ``circuits/artifacts/cairn_membership.insecure-dev.vk``), then
write ``verifier/src/cairn_verifier/zk/pins.py``: the SHA-256 of every driver file, artefact and
npm manifest. Reinstall cairn afterwards (the pins are part of the package). The same inputs
give the same bytes: ``tests/zk/test_zk_artifacts.py`` rebuilds both and compares.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CIRCUITS = ROOT / "circuits"
PINS = ROOT / "verifier" / "src" / "cairn_verifier" / "zk" / "pins.py"
PINNED_GLOBS = ("driver/*.mjs", "artifacts/*", "package.json", "package-lock.json")

HEADER = '''"""SHA-256 of the circuits/ files that cairn runs or trusts (generated: do not edit).

Written by ``scripts/zk_build.py`` from the checkout; :func:`.circuits.check_pinned_files`
refuses a circuits directory whose driver, compiled artefacts or npm manifests differ.
"""

from __future__ import annotations

from typing import Final

PINNED_FILES: Final[dict[str, str]] = {
'''


def pinned_files() -> dict[str, str]:
    files = sorted({p for pattern in PINNED_GLOBS for p in CIRCUITS.glob(pattern) if p.is_file()})
    return {str(p.relative_to(CIRCUITS)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def render(pins: dict[str, str]) -> str:
    lines = "".join(f'    "{name}": "{digest}",\n' for name, digest in pins.items())
    return HEADER + lines + "}\n"


def build() -> None:
    sys.path.insert(0, str(ROOT / "verifier" / "src"))
    from cairn_verifier.zk import dev_crs  # from this checkout, not installed

    crs = dev_crs.ensure_dev_crs()
    done = subprocess.run(
        ["node", str(CIRCUITS / "driver" / "cairn-zk.mjs"), "build", "--crs", str(crs),
         "--insecure-dev-crs"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        sys.exit(f"zk_build: the driver's build failed:\n{done.stderr}")
    print(json.dumps(json.loads(done.stdout.splitlines()[-1]), indent=1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only compare the pins with the files")
    parser.add_argument("--pins-only", action="store_true", help="write the pins, do not rebuild")
    args = parser.parse_args()
    if args.check:
        if PINS.read_text() != render(pinned_files()):
            print(f"zk_build: {PINS} is out of date; run scripts/zk_build.py", file=sys.stderr)
            return 1
        return 0
    if not args.pins_only:
        build()
    PINS.write_text(render(pinned_files()))
    print(f"zk_build: wrote {PINS.relative_to(ROOT)}; reinstall cairn to use it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
