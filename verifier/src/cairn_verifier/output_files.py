"""Files Cairn writes because the user named them (``-o``/``--save``/``--output``).

Every writer goes through :func:`write_output_file`: the content appears under the name whole or
not at all (a temporary file in the same directory, then ``link`` or ``replace``), and an
existing file is replaced only with ``force`` — without it, not even one that appears while the
file is being written (``link`` never replaces). Refusals are usage errors (exit 64): the user
picks another name or passes ``--force``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from .errors import UsageError

FORCE_HINT = "choose another file name or pass --force to replace it"


def _exists(path: Path, component: str | None) -> UsageError:
    return UsageError(
        f"{path} already exists; not overwriting it", component=component, hint=FORCE_HINT
    )


def check_output_path(path: Path, *, force: bool, component: str | None = None) -> None:
    """Refuse, before any slow work, an output that exists (without ``force``) or cannot be made."""
    if path.is_dir():
        raise UsageError(f"{path} is a directory, not a file to write", component=component)
    if path.exists() and not force:
        raise _exists(path, component)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise UsageError(
            f"cannot write {path}: {parent} is not a writable directory", component=component
        )


def write_output_file(
    path: Path, data: bytes, *, force: bool, what: str, component: str | None = None
) -> None:
    """Write ``data`` to ``path`` atomically; an existing file is replaced only with ``force``."""
    path = Path(path)
    if not force and path.exists():
        raise _exists(path, component)
    directory = path.parent if str(path.parent) else Path(".")
    temporary: str | None = None
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(temporary, 0o644)  # mkstemp makes 0600; what Cairn writes is not secret
        if force:
            os.replace(temporary, path)
        else:
            os.link(temporary, path)
    except FileExistsError:
        raise _exists(path, component) from None
    except OSError as exc:
        raise UsageError(
            f"cannot write {what} {path}: {exc.strerror or exc}", component=component
        ) from None
    finally:
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
