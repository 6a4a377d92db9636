"""Whether any certificate of an NVIDIA chain is revoked: stored or fetched OCSP, or a CRL.

For each certificate asked about (the device chain's CAs; every certificate below the CoRIM
root of a RIM chain) the sources are, in order: a CRL of its issuer (``--crl``, a bundle),
signed by that issuer; an OCSP response (bundle, cache, NVIDIA's service unless offline). A
response or CRL older than the policy's ``ocsp_max_age_hours`` at the verification time does
not count (it shows the state of then, not now), unless it already says "revoked".

The outcome is one check per chain: PASS when every certificate is known good; FAIL (exit 3)
when one is revoked or unknown to the responder; for a RIM chain a certificate on hold passes
with a warning when the policy allows ``certificate-hold``; SKIP, with what was missing, when
some status could not be had — FAIL (exit 5) instead when the policy sets
``require_revocation``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from ..checks import CheckLog
from ..errors import CairnError, CollateralUnavailableError, ExitCode
from ..timefmt import iso_time
from ..x509.cert import Certificate
from ..x509.crl import Crl
from .ocsp import OcspStatus, check_response
from .policy import GpuPolicy

CLOCK_SKEW: Final = timedelta(minutes=5)
HOLD_REASONS: Final = frozenset({"certificate_hold", "certificateHold"})
OcspLookup = Callable[[Certificate, Certificate], tuple[bytes, str]]
"""(DER response, its source: ``network``, ``bundle``, ``cache``…) for (certificate, issuer);
CollateralUnavailableError when there is none."""


@dataclass(frozen=True)
class RevocationSources:
    """Where statuses come from: an OCSP lookup (None: no OCSP at all) and CRLs."""

    ocsp: OcspLookup | None = None
    crls: tuple[Crl, ...] = ()


@dataclass
class _Outcome:
    good: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    missing: dict[str, list[str]] = field(default_factory=dict)
    """Why a status is missing → the certificates it is missing for."""

    def lack(self, label: str, reason: str) -> None:
        self.missing.setdefault(reason, []).append(f"'{label}'")

    failure: tuple[ExitCode, str, str | None] | None = None


def _crl_status(crl: Crl, cert: Certificate) -> OcspStatus:
    entry = crl.revoked.get(cert.serial)
    return OcspStatus(
        status="revoked" if entry is not None else "good",
        this_update=crl.this_update,
        next_update=crl.next_update,
        produced_at=crl.this_update,
        responder=f"CRL of '{crl.issuer}'",
        revoked_at=None if entry is None else entry.revoked_at,
        reason=None if entry is None else entry.reason,
    )


def _from_crl(crls: Sequence[Crl], cert: Certificate, issuer: Certificate) -> OcspStatus | None:
    for crl in crls:
        if not crl.issuer.matches(issuer.subject):
            continue
        try:
            crl.verify_signed_by(issuer)
        except CairnError:
            continue
        return _crl_status(crl, cert)
    return None


def check_revocation(
    pairs: Sequence[tuple[Certificate, Certificate]],
    sources: RevocationSources,
    *,
    at: datetime,
    policy: GpuPolicy,
    allow_hold: bool,
    log: CheckLog,
    name: str,
    component: str,
    warnings: list[str],
) -> None:
    """Record one ``name`` check about every (certificate, issuer) of ``pairs``."""
    outcome = _Outcome()
    max_age = timedelta(hours=policy.ocsp_max_age_hours)
    for cert, issuer in pairs:
        label = cert.display_name
        status = _from_crl(sources.crls, cert, issuer)
        where = "CRL"
        if status is None and sources.ocsp is not None:
            try:
                der, source = sources.ocsp(cert, issuer)
                where = "fetched OCSP" if source == "network" else "stored OCSP"
                status = check_response(der, cert, issuer)
            except CollateralUnavailableError as error:
                offline = "offline mode forbids" in error.message
                outcome.lack(
                    label, "no OCSP response at hand (offline)" if offline else error.message
                )
                continue
            except CairnError as error:
                outcome.failure = (
                    error.exit_code,
                    f"the OCSP response ({where}) about '{label}' does not hold: {error.message}",
                    error.hint,
                )
                break
        if status is None:
            outcome.lack(label, "no OCSP response or CRL at hand")
            continue
        revoked = status.status == "revoked" and (
            status.revoked_at is None or status.revoked_at <= at
        )
        if not revoked and (at - status.this_update > max_age):
            outcome.lack(
                label,
                f"the {where} answer of {iso_time(status.this_update)} is older than "
                f"ocsp_max_age_hours = {policy.ocsp_max_age_hours} at {iso_time(at)}",
            )
            continue
        if status.this_update > at + CLOCK_SKEW:
            outcome.lack(
                label,
                f"the {where} answer of {iso_time(status.this_update)} is from after the "
                f"verification time {iso_time(at)}",
            )
            continue
        if revoked and status.reason in HOLD_REASONS and allow_hold:
            outcome.held.append(label)
            continue
        if revoked or status.status == "unknown":
            outcome.failure = (
                ExitCode.CHAIN_UNTRUSTED,
                f"'{label}' is {status.describe()}",
                "NVIDIA revoked this certificate: do not trust evidence or RIMs under it"
                if revoked
                else "NVIDIA's responder does not know this certificate: it is not NVIDIA's",
            )
            break
        outcome.good.append(f"{label}: {status.describe()}")
    _record(outcome, log, name, component, policy=policy, warnings=warnings)


def _record(
    outcome: _Outcome,
    log: CheckLog,
    name: str,
    component: str,
    *,
    policy: GpuPolicy,
    warnings: list[str],
) -> None:
    if outcome.failure is not None:
        category, message, hint = outcome.failure
        log.failed(name, component, category, message, hint=hint)
        return
    for label in outcome.held:
        warnings.append(
            f"{component}: '{label}' is on hold (OCSP certificateHold); accepted because the "
            "policy allows certificate-hold"
        )
    checked = outcome.good + [f"{label}: on hold (allowed)" for label in outcome.held]
    if outcome.missing:
        reason = "; ".join(f"{', '.join(labels)}: {why}" for why, labels in outcome.missing.items())
        partial = f" (checked: {'; '.join(checked)})" if checked else ""
        if policy.require_revocation:
            log.failed(
                name,
                component,
                ExitCode.COLLATERAL_UNAVAILABLE,
                f"revocation unknown for {reason}{partial}, and the policy requires it",
                hint="supply current OCSP responses (a `cairn collateral export --gpu` bundle) "
                "or go online, or unset require_revocation",
            )
        else:
            log.skipped(
                name,
                component,
                f"not checked for {reason}{partial}",
                hint="set require_revocation = true in [gpu] to make this fatal",
            )
        return
    log.passed(name, component, "not revoked: " + "; ".join(checked))
