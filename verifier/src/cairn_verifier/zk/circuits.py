"""Find the repository's ``circuits/`` directory (Noir sources, npm toolchain, Node driver).

The circuits are not part of the Python package: they live in a Cairn checkout, with the pinned
npm packages installed beside them by ``npm ci``. The directory is, in this order:

1. ``$CAIRN_CIRCUITS_DIR`` when set (it must be a circuits directory, or that is an error);
2. ``circuits/`` in the working directory or the nearest parent that has one (as git finds
   ``.git``), so ``cairn zk`` works from anywhere inside a checkout;
3. ``circuits/`` beside the installed package, for an editable install or a virtualenv that
   lives inside the checkout.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Final

from ..errors import SetupError

ENV_VAR: Final = "CAIRN_CIRCUITS_DIR"
DRIVER: Final = Path("driver") / "cairn-zk.mjs"
COMPONENT: Final = "zk"


def is_circuits_dir(path: Path) -> bool:
    """True if ``path`` holds the Node driver (``driver/cairn-zk.mjs``)."""
    return (path / DRIVER).is_file()


def _nearest(start: Path) -> Path | None:
    for directory in (start, *start.parents):
        if is_circuits_dir(directory / "circuits"):
            return directory / "circuits"
    return None


PACKAGE_DIR = Path(__file__).resolve().parent


def find_circuits_dir(cwd: Path | None = None, package: Path | None = None) -> Path:
    """The circuits directory (see the module docstring); a SetupError says where it looked."""
    package = PACKAGE_DIR if package is None else package
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
    here = (Path.cwd() if cwd is None else cwd).resolve()
    for start in (here, package):
        found = _nearest(start)
        if found is not None:
            return found
    raise SetupError(
        f"cannot find Cairn's circuits/ directory (with {DRIVER}) in {here} or its parents, "
        f"nor beside the installed package ({package})",
        component=COMPONENT,
        hint=f"run cairn zk from inside a Cairn checkout, or set {ENV_VAR}=/path/to/cairn/circuits",
    )


def install_command(circuits: Path, cwd: Path | None = None) -> str:
    """The exact ``npm ci`` command for ``circuits``, relative to the working directory if below."""
    here = (Path.cwd() if cwd is None else cwd).resolve()
    try:
        shown = str(circuits.resolve().relative_to(here)) or "."
    except ValueError:
        shown = str(circuits.resolve())
    return f"npm ci --prefix {shlex.quote(shown)}"
