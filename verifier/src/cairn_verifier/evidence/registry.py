"""One protocol for the verifier of each kind of TEE evidence, and the registry that maps a kind
to its verifier (as trustee's ``Verifier`` trait and ``to_verifier(tee)``).

The evidence pipeline (:mod:`.verify`) does not know any kind: it looks ``tee.kind`` up here and
hands the verifier its part of the bundle and a :class:`TeeJob` (the expected REPORT_DATA, the
request, the check log and the warnings). A verifier returns the result of its pipeline, and
may record checks of its own first (``tee-kind`` for simulated evidence). A kind without a
verifier is refused as malformed input (exit 10).

To add a kind: its model in :mod:`.models` (a ``TeeEvidence`` subclass with ``kind:
Literal[...]``, added to ``AnyTeeEvidence``), its name in :data:`.kinds.TeeKind`, a class with
``verify`` and ``check_unsigned``, and one :func:`entry` in ``TEE_VERIFIERS``
(:mod:`.tee_verifiers`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from ..checks import CheckLog, VerificationResult
from ..errors import MalformedInputError
from ..x509.cert import Certificate
from .models import TeeEvidence
from .request import EvidenceVerifyRequest

EvidenceT = TypeVar("EvidenceT", bound=TeeEvidence)
EvidenceT_contra = TypeVar("EvidenceT_contra", bound=TeeEvidence, contravariant=True)


@dataclass(frozen=True)
class TeeJob:
    """What a TEE verifier is given beside its evidence, and where it records what it found."""

    report_data: bytes
    """The REPORT_DATA the evidence must carry (v1 of the bundle's claims): the binding."""
    request: EvidenceVerifyRequest
    log: CheckLog
    """The evidence pipeline's checks, for the checks a verifier adds itself."""
    warnings: list[str]
    """Warnings that stand before those of the verifier's result."""
    trusted_root: Certificate | None = None
    """The root a simulated chain must end in, once the user's ``--trust-simulated-root``
    verifiably issued it; None for real evidence (only vendor roots)."""


class TeeVerifier(Protocol[EvidenceT_contra]):
    """Verifies the TEE evidence of one kind."""

    def verify(self, evidence: EvidenceT_contra, job: TeeJob) -> VerificationResult | None:
        """The result of the kind's pipeline, whose ``report-data`` check must compare with
        ``job.report_data``; None when it could not run (a failed check in ``job.log`` says
        why)."""
        ...

    def check_unsigned(self, evidence: EvidenceT_contra, log: CheckLog) -> None:
        """Record checks of the parts no verified signature covers (after the TPM quote)."""
        ...


class ChainedTeeVerifier(TeeVerifier[EvidenceT_contra], Protocol):
    """A TEE verifier whose evidence carries an X.509 chain to a root."""

    def chain(self, evidence: EvidenceT_contra) -> list[Certificate]:
        """The certificates the evidence carries, leaf first (CairnError if unreadable)."""
        ...


@dataclass(frozen=True)
class Entry:
    """One row of a registry: a kind and its verifier."""

    kind: str
    verifier: TeeVerifier[Any]


def entry(model: type[EvidenceT], verifier: TeeVerifier[EvidenceT]) -> Entry:
    """The row for ``model``'s kind (its ``kind`` default), checked to take that model."""
    kind = model.model_fields["kind"].default
    if not isinstance(kind, str):
        raise TypeError(f"{model.__name__}.kind needs its Literal value as default")
    return Entry(kind, verifier)


class VerifierRegistry:
    """Kind → verifier; an unknown kind is a :class:`MalformedInputError` (exit 10)."""

    def __init__(self, *entries: Entry):
        self._verifiers: dict[str, TeeVerifier[Any]] = {}
        for row in entries:
            if row.kind in self._verifiers:
                raise ValueError(f"two verifiers for TEE evidence of kind {row.kind!r}")
            self._verifiers[row.kind] = row.verifier

    @property
    def kinds(self) -> tuple[str, ...]:
        """The kinds with a verifier, in registration order."""
        return tuple(self._verifiers)

    def verifier_for(self, kind: str) -> TeeVerifier[Any]:
        """The verifier of ``kind``; MalformedInputError when there is none."""
        verifier = self._verifiers.get(kind)
        if verifier is None:
            raise MalformedInputError(
                f"TEE evidence of kind {kind!r:.40} has no verifier "
                f"(this version of Cairn knows {', '.join(self._verifiers)})",
                component="TEE",
                hint="the evidence comes from a newer or foreign agent: upgrade cairn-verifier, "
                "or request evidence of a known kind",
            )
        return verifier
