"""Locate Cairn's ``circuits/`` directory and check it is the one this package was built with.

The directory holds the Noir sources, the compiled circuit and verification key
(``artifacts/``), the Node driver (``driver/``) and the pinned npm toolchain (``node_modules``,
installed by ``npm ci``). It is found in exactly two places, never by searching:

1. ``$CAIRN_CIRCUITS_DIR`` when set (it must be a circuits directory, or that is an error);
2. the ``circuits/`` of the checkout this package is imported from (an editable install or
   ``PYTHONPATH=verifier/src``): ``<checkout>/verifier/src/cairn_verifier`` gives
   ``<checkout>/circuits``.

Whichever is used, every file of the driver, the compiled artefacts and the npm manifests must
have the SHA-256 recorded in :mod:`.pins` (written by ``scripts/zk_build.py``): a planted or
modified driver is refused wherever it is found, before Node.js runs anything from it.
"""

from __future__ import annotations

import hashlib
import os
import shlex
from pathlib import Path
from typing import Final

from ..errors import SetupError
from .pins import PINNED_FILES

ENV_VAR: Final = "CAIRN_CIRCUITS_DIR"
DRIVER: Final = Path("driver") / "cairn-zk.mjs"
COMPONENT: Final = "zk"
PACKAGE_DIR: Final = Path(__file__).resolve().parent.parent
MAX_PINNED_BYTES: Final = 16 * 1024 * 1024


class ZkIntegrityError(SetupError):
    """The circuits directory does not hold the driver and artefacts this cairn pins (exit 64)."""


def is_circuits_dir(path: Path) -> bool:
    """True if ``path`` holds the Node driver (``driver/cairn-zk.mjs``)."""
    return (path / DRIVER).is_file()


def checkout_circuits_dir(package: Path = PACKAGE_DIR) -> Path | None:
    """``<checkout>/circuits`` when ``package`` is ``<checkout>/verifier/src/cairn_verifier``."""
    if package.name != "cairn_verifier" or package.parent.name != "src":
        return None
    verifier = package.parent.parent
    if verifier.name != "verifier":
        return None
    candidate = verifier.parent / "circuits"
    return candidate if is_circuits_dir(candidate) else None


def find_circuits_dir(package: Path | None = None) -> Path:
    """The circuits directory (see the module docstring); a SetupError says where it looked."""
    override = os.environ.get(ENV_VAR)
    if override:
        path = Path(override).expanduser()
        if not is_circuits_dir(path):
            raise SetupError(
                f"{ENV_VAR}={override} is not a Cairn circuits directory (no {DRIVER})",
                component=COMPONENT,
                hint=f"point {ENV_VAR} at the circuits/ directory of a Cairn checkout, or unset it",
            )
        return path.resolve()
    package = PACKAGE_DIR if package is None else package
    found = checkout_circuits_dir(package)
    if found is not None:
        return found.resolve()
    raise SetupError(
        f"cairn is installed outside a Cairn checkout ({package}), so it does not know where "
        "the zk circuits and their Node driver are",
        component=COMPONENT,
        hint=f"set {ENV_VAR}=/path/to/cairn/circuits (the checkout this cairn was built from)",
    )


def _sha256(path: Path) -> str | None:
    try:
        if not path.is_file() or path.stat().st_size > MAX_PINNED_BYTES:
            return None
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def check_pinned_files(root: Path) -> None:
    """Refuse ``root`` unless every pinned file has its pinned SHA-256."""
    wrong = []
    for relative, expected in sorted(PINNED_FILES.items()):
        actual = _sha256(root / relative)
        if actual != expected:
            wrong.append(f"{relative} ({'missing' if actual is None else 'sha256 ' + actual})")
    if wrong:
        raise ZkIntegrityError(
            f"{root} is not the circuits directory this cairn was built with: "
            + ", ".join(wrong)
            + " differ from the SHA-256 recorded in the package; refusing to run its driver",
            component=COMPONENT,
            hint=f"point {ENV_VAR} at the circuits/ of the checkout cairn was installed from "
            "(git checkout the files above); after changing the circuit or the driver on "
            "purpose, run scripts/zk_build.py and reinstall cairn",
        )


def install_command(circuits: Path, cwd: Path | None = None) -> str:
    """The exact ``npm ci`` command for ``circuits``, relative to the working directory if below."""
    here = (Path.cwd() if cwd is None else cwd).resolve()
    try:
        shown = str(circuits.resolve().relative_to(here)) or "."
    except ValueError:
        shown = str(circuits.resolve())
    return f"npm ci --prefix {shlex.quote(shown)}"
