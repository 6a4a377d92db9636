"""One protocol for the verifier of each kind of evidence, and the registry that maps a kind to
its verifier (as trustee's ``Verifier`` trait and ``to_verifier(tee)``).

The evidence pipeline (:mod:`.verify`) knows no kind: it looks ``tee.kind`` up in
``TEE_VERIFIERS`` (:mod:`.tee_verifiers`) and hands the verifier its part of the bundle and a
:class:`Job` (the expected REPORT_DATA, the request, the check log and the warnings). A verifier
returns the result of its pipeline, and may record checks of its own first (``tee-kind`` for
simulated evidence). A kind without a verifier is refused as malformed input (exit 10). The
protocol is generic in the part it verifies: GPU evidence, a part of its own, will have a
registry of its own with the same protocol.

To add a TEE kind: its name in :data:`.kinds.TeeKind`, its model in :mod:`.models` (a
``TeeEvidence`` subclass with ``kind: Literal[...]``, added to ``AnyTeeEvidence``), a class with
``verify`` and ``check_unsigned``, and one :func:`entry` in ``TEE_VERIFIERS``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel

from ..checks import CheckLog, VerificationResult
from ..errors import MalformedInputError
from ..x509.cert import Certificate
from .request import EvidenceVerifyRequest

PartT = TypeVar("PartT", bound=BaseModel)
PartT_contra = TypeVar("PartT_contra", bound=BaseModel, contravariant=True)


@dataclass(frozen=True)
class Job:
    """What a verifier is given beside its part of the bundle, and where it records."""

    report_data: bytes
    """The REPORT_DATA the evidence must carry (of the bundle's claims, in the version they
    name): the binding."""
    request: EvidenceVerifyRequest
    log: CheckLog
    """The evidence pipeline's checks, for the checks a verifier adds itself."""
    warnings: list[str]
    """Warnings that stand before those of the verifier's result."""
    trusted_root: Certificate | None = None
    """The root a simulated chain must end in, once the user's ``--trust-simulated-root``
    verifiably issued it; None for real evidence (only vendor roots)."""
    ak_public: bytes | None = None
    """The bundle's TPM attestation key (``tpm.ak_public``), for kinds whose hardware report
    vouches for the key (Azure: it must be HCLAkPub); None without a TPM part."""


class Verifier(Protocol[PartT_contra]):
    """Verifies the evidence of one kind: the bundle part ``evidence`` (``tee`` for TEEs)."""

    def verify(self, evidence: PartT_contra, job: Job) -> VerificationResult | None:
        """The result of the kind's pipeline, whose ``report-data`` check must compare with
        ``job.report_data`` (kinds whose claims travel in the TPM quote instead, Azure's, bind
        the TPM key there); None when it could not run (a failed check in ``job.log`` says
        why)."""
        ...

    def check_unsigned(self, evidence: PartT_contra, log: CheckLog) -> None:
        """Record checks of the parts no verified signature covers (after the TPM quote)."""
        ...


class ChainedVerifier(Verifier[PartT_contra], Protocol):
    """A verifier whose evidence carries an X.509 chain to a root."""

    def chain(self, evidence: PartT_contra) -> list[Certificate]:
        """The certificates the evidence carries, leaf first (CairnError if unreadable)."""
        ...


@dataclass(frozen=True)
class Entry:
    """One row of a registry: a kind and its verifier."""

    kind: str
    verifier: Verifier[Any]


def entry(model: type[PartT], verifier: Verifier[PartT]) -> Entry:
    """The row for ``model``'s kind (its ``kind`` default); typed so the verifier takes it."""
    kind = model.model_fields["kind"].default
    if not isinstance(kind, str):
        raise TypeError(f"{model.__name__}.kind needs its Literal value as default")
    return Entry(kind, verifier)


class VerifierRegistry:
    """Kind → verifier of one bundle part; an unknown kind is a :class:`MalformedInputError`
    (exit 10)."""

    def __init__(self, *entries: Entry, component: str = "TEE"):
        self.component = component
        """The part of the bundle, as checks name it (``TEE``)."""
        self._verifiers: dict[str, Verifier[Any]] = {}
        for row in entries:
            if row.kind in self._verifiers:
                raise ValueError(f"two verifiers for {component} evidence of kind {row.kind!r}")
            self._verifiers[row.kind] = row.verifier

    @property
    def kinds(self) -> tuple[str, ...]:
        """The kinds with a verifier, in registration order."""
        return tuple(self._verifiers)

    def verifier_for(self, kind: str) -> Verifier[Any]:
        """The verifier of ``kind``; MalformedInputError when there is none."""
        verifier = self._verifiers.get(kind)
        if verifier is None:
            raise MalformedInputError(
                f"{self.component} evidence of kind {kind!r:.40} has no verifier "
                f"(this version of Cairn knows {', '.join(self._verifiers)})",
                component=self.component,
                hint="the evidence comes from a newer or foreign agent: upgrade cairn-verifier, "
                "or request evidence of a known kind",
            )
        return verifier
