"""The reading procedure shared by the SEV-SNP and TDX evidence readers.

1. The outer layer gives one or more readings (:mod:`.outer`).
2. Every container detector of the platform looks at every reading. A detector returns None
   when the bytes are not its format, a :class:`Found` when they are, and raises when they
   claim to be its format (magic bytes) but are malformed.
3. Exactly one match is the answer; more than one is refused with the candidates named.
4. No match: the input is named if it is the other platform's evidence or another known thing
   (certificate, SGX quote, …); else the first claim error, else a platform-specific
   "not recognised" error with a hint true for the bytes at hand.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..errors import MalformedInputError
from ..records import Record
from .base import Candidate, DeferredError, Layer, Platform, describe, input_error
from .foreign import identify
from .outer import outer_candidates


class Found(Record):
    """What a container detector found: its layer, the evidence bytes and any certificates."""

    layer: Layer
    payload: bytes
    certificates: tuple[bytes, ...]

    __slots__ = ("certificates", "layer", "payload")

    def __init__(self, layer: Layer, payload: bytes, certificates: tuple[bytes, ...] = ()) -> None:
        object.__setattr__(self, "layer", layer)
        object.__setattr__(self, "payload", payload)
        object.__setattr__(self, "certificates", certificates)


Detector = Callable[[bytes], "Found | None"]
Unrecognized = Callable[[Candidate], MalformedInputError]
OtherPlatform = Callable[[bytes], tuple[str, str]]
"""``(what it is, container chain)`` of the other platform's evidence; raises if it is not."""

_OTHER_COMMANDS = {
    Platform.SNP: "`cairn show snp FILE`, `cairn verify snp FILE`",
    Platform.TDX: "`cairn show tdx FILE`, `cairn verify tdx FILE`",
}


class Match(Record):
    candidate: Candidate
    found: Found

    __slots__ = ("candidate", "found")

    def __init__(self, candidate: Candidate, found: Found) -> None:
        object.__setattr__(self, "candidate", candidate)
        object.__setattr__(self, "found", found)

    @property
    def layers(self) -> tuple[Layer, ...]:
        return (*self.candidate.layers, self.found.layer)


def read_evidence(
    data: bytes,
    platform: Platform,
    detectors: Sequence[Detector],
    unrecognized: Unrecognized,
    other: OtherPlatform | None,
) -> Match:
    """Find the one piece of ``platform`` evidence in ``data`` (see the module docstring)."""
    what = platform.evidence
    deferred: MalformedInputError | None = None
    try:
        candidates = outer_candidates(data, platform, what)
    except DeferredError as error:
        candidates, deferred = [], error
    matches: list[Match] = []
    for candidate in candidates:
        for detector in detectors:
            try:
                found = detector(candidate.data)
            except MalformedInputError as error:
                if candidate.primary and deferred is None:
                    deferred = error
                continue
            if found is not None:
                matches.append(Match(candidate, found))
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        readings = "; ".join(describe(m.layers) for m in matches)
        raise input_error(
            f"the input reads as {len(matches)} different {what}s ({readings}); Cairn does not "
            "guess which one is meant",
            what,
            hint="give the evidence in an unambiguous form, e.g. as raw binary",
        )
    if other is not None:
        try:
            elsewhere = other(data)
        except MalformedInputError:
            elsewhere = None
        if elsewhere is not None:
            noun, chain = elsewhere
            target = Platform.TDX if platform is Platform.SNP else Platform.SNP
            raise input_error(
                f"this is {noun}, not {platform.an_evidence} (read as {chain})",
                what,
                hint=f"give it to the {target.evidence.split()[0]} commands: "
                f"{_OTHER_COMMANDS[target]}",
            )
    primary = next((c for c in candidates if c.primary), None)
    if primary is not None:
        named = identify(primary.data, platform, what)
        if named is not None:
            raise named
    if deferred is not None:
        raise deferred
    if primary is None:  # pragma: no cover - outer_candidates returns a reading or raises
        raise input_error("no evidence found", what)
    raise unrecognized(primary)
