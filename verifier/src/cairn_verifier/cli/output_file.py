"""Write a file the user named (``-o``/``--save``) without ever replacing one by accident."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from ..errors import MalformedInputError


def _exists(path: Path) -> MalformedInputError:
    return MalformedInputError(
        f"{path} already exists; not overwriting it",
        hint="choose another file name or pass --force to replace it",
    )


def write_output_file(path: Path, data: bytes, *, force: bool, what: str) -> None:
    """Write ``data`` to ``path`` atomically; an existing file is replaced only with ``force``.

    The content appears under ``path`` whole or not at all; without ``force`` a file that
    appears meanwhile is not replaced either (the final step is ``link``, which never replaces).
    """
    if not force and path.exists():
        raise _exists(path)
    directory = path.parent if str(path.parent) else Path(".")
    temporary: str | None = None
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(temporary, 0o644)  # mkstemp creates 0600; evidence and proofs are not secret
        if force:
            os.replace(temporary, path)
        else:
            os.link(temporary, path)
    except FileExistsError:
        raise _exists(path) from None
    except OSError as exc:
        raise MalformedInputError(f"cannot write {what} {path}: {exc.strerror or exc}") from None
    finally:
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
