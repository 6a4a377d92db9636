"""Offline collateral bundles: one JSON document carrying SNP and TDX collateral.

``cairn collateral export`` writes one where the network is reachable; ``--offline`` verification
reads it instead of the network. Layout::

    {"format": "cairn-collateral-bundle", "version": 1, "created_at": "...",
     "entries": [{"namespace": "kds", "key": "...", "url": "...", "fetched_at": "...",
                  "expires_at": "..." | null, "data_b64": "..."}]}
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Annotated, Final, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    field_validator,
    model_validator,
)

from ..documents import reject_constant, unique_members
from ..errors import MalformedInputError
from ..input_files import MAX_INPUT_BYTES, read_input_file
from ..output_files import write_output_file
from ..policy import validation_message
from ..timefmt import iso_time
from .cache import CacheEntry, CollateralCache

BUNDLE_FORMAT: Final = "cairn-collateral-bundle"
BUNDLE_VERSION: Final = 1
MAX_BUNDLE_BYTES = MAX_INPUT_BYTES
COMPONENT = "collateral-bundle"


# Times are written as every Cairn output writes them: UTC, whole seconds, ``Z``.
BundleTime = Annotated[AwareDatetime, PlainSerializer(iso_time, return_type=str)]


def _exact_int(value: object) -> object:
    """``true`` is not the version 1 (``Literal`` compares with ==, and ``True == 1``)."""
    if type(value) is not int:
        raise ValueError(f"must be an integer, got {type(value).__name__}")
    return value


class BundleEntry(BaseModel):
    """One collateral document in a bundle (strict: no coercion, e.g. of a number to a date)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    namespace: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    key: str = Field(min_length=1)
    url: str | None = None
    fetched_at: BundleTime
    expires_at: BundleTime | None = None
    data_b64: str

    @field_validator("data_b64")
    @classmethod
    def _check_base64(cls, value: str) -> str:
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"not valid base64 ({exc})") from None
        return value

    @cached_property
    def data(self) -> bytes:
        return base64.b64decode(self.data_b64, validate=True)

    def is_fresh(self, at: datetime) -> bool:
        return self.expires_at is None or at < self.expires_at

    @classmethod
    def from_cache_entry(cls, entry: CacheEntry) -> BundleEntry:
        return cls(
            namespace=entry.namespace,
            key=entry.key,
            url=entry.url,
            fetched_at=entry.fetched_at,
            expires_at=entry.expires_at,
            data_b64=base64.b64encode(entry.data).decode("ascii"),
        )

    def to_cache_entry(self) -> CacheEntry:
        return CacheEntry(
            namespace=self.namespace,
            key=self.key,
            data=self.data,
            url=self.url,
            fetched_at=self.fetched_at.astimezone(UTC),
            expires_at=None if self.expires_at is None else self.expires_at.astimezone(UTC),
        )


class CollateralBundle(BaseModel):
    """A whole bundle; entries are unique by ``(namespace, key)``."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    format: Literal["cairn-collateral-bundle"] = "cairn-collateral-bundle"
    version: Annotated[Literal[1], BeforeValidator(_exact_int)] = 1
    created_at: BundleTime
    entries: list[BundleEntry]

    @model_validator(mode="after")
    def _unique_keys(self) -> CollateralBundle:
        seen: set[tuple[str, str]] = set()
        for entry in self.entries:
            ident = (entry.namespace, entry.key)
            if ident in seen:
                raise ValueError(f"duplicate entry {entry.namespace}:{entry.key}")
            seen.add(ident)
        return self

    def get(self, namespace: str, key: str) -> BundleEntry | None:
        for entry in self.entries:
            if entry.namespace == namespace and entry.key == key:
                return entry
        return None


def build_bundle(
    entries: Iterable[BundleEntry], *, created_at: datetime | None = None
) -> CollateralBundle:
    """A bundle of ``entries``; a later entry with the same ``(namespace, key)`` wins."""
    unique: dict[tuple[str, str], BundleEntry] = {}
    for entry in entries:
        unique[(entry.namespace, entry.key)] = entry
    return CollateralBundle(
        created_at=created_at or datetime.now(UTC), entries=list(unique.values())
    )


def export_bundle(
    entries: Iterable[BundleEntry],
    path: Path,
    *,
    overwrite: bool = False,
    created_at: datetime | None = None,
) -> CollateralBundle:
    """Write a bundle of ``entries`` to ``path``; refuse to replace a file unless ``overwrite``."""
    bundle = build_bundle(entries, created_at=created_at)
    payload = (bundle.model_dump_json(indent=1) + "\n").encode()
    write_output_file(
        Path(path), payload, force=overwrite, what="collateral bundle", component=COMPONENT
    )
    return bundle


def parse_bundle(raw: bytes, source: str = "collateral bundle") -> CollateralBundle:
    """Parse and validate a bundle document; any defect is a ``MalformedInputError``.

    Strict: unknown or duplicate members, ``NaN``, and values of the wrong JSON type (a number
    for a date, ``true`` for the version) are refused, never coerced.
    """
    try:
        json.loads(raw, object_pairs_hook=unique_members, parse_constant=reject_constant)
    except (ValueError, RecursionError) as exc:  # also bad UTF-8 (UnicodeDecodeError)
        raise MalformedInputError(
            f"{source} is not a valid Cairn collateral bundle: not valid JSON ({exc})",
            component=COMPONENT,
            hint="re-create it with `cairn collateral export`",
        ) from None
    try:
        return CollateralBundle.model_validate_json(raw)
    except ValidationError as exc:
        raise MalformedInputError(
            f"{source} is not a valid Cairn collateral bundle: "
            + validation_message(exc, limit=5, top="(document)"),
            component=COMPONENT,
            hint="re-create it with `cairn collateral export`",
        ) from None


def is_bundle_file(path: Path) -> bool:
    """True when ``path`` is a file that declares itself a Cairn collateral bundle."""
    try:
        with Path(path).open("rb") as handle:
            head = handle.read(4096)
    except OSError:
        return False
    return BUNDLE_FORMAT.encode() in head and head.lstrip().startswith(b"{")


def load_bundle(path: Path) -> CollateralBundle:
    """Read (bounded, :mod:`cairn_verifier.input_files`) and validate the bundle at ``path``."""
    raw = read_input_file(
        Path(path),
        "collateral bundle",
        limit=MAX_BUNDLE_BYTES,
        component=COMPONENT,
        allow_empty=True,  # the parser says what an empty file is not
    )
    return parse_bundle(raw, str(path))


def import_bundle(bundle: CollateralBundle, cache: CollateralCache) -> int:
    """Copy every entry of ``bundle`` into ``cache``; return how many were copied."""
    for entry in bundle.entries:
        cache.put_entry(entry.to_cache_entry())
    return len(bundle.entries)
