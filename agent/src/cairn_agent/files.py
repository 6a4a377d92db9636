"""Reading the agent's small input files (configuration, services manifest, key files)."""

from __future__ import annotations

from pathlib import Path


def read_limited(
    path: Path, *, limit: int, what: str, missing: str, error: type[Exception]
) -> bytes:
    """At most ``limit`` bytes of ``path``; ``error`` says why not: "{what} does not exist
    ({missing})", "cannot read {what}: …", or "{what} is larger than {limit} bytes"."""
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except FileNotFoundError:
        raise error(f"{what} does not exist ({missing})") from None
    except OSError as exc:
        raise error(f"cannot read {what}: {exc.strerror}") from exc
    if len(data) > limit:
        raise error(f"{what} is larger than {limit} bytes")
    return data
