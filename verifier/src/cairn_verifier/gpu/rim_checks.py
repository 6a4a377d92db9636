"""A device's RIMs, each checked, then the golden comparison (:mod:`.golden`).

For every RIM the device needs (:mod:`.rim_ids`): ``rim-available`` (a ``--rim`` file whose
product and version fit, else the bundle, the cache or NVIDIA's RIM service), ``rim-signature``
(XML-DSig with the signer's key), ``rim-chain`` (signer to the pinned CoRIM root, every link and
CA flag, every certificate valid **at the RIM's reference time**: when it was fetched — NVIDIA
signs RIMs with two-year certificates, so an old RIM is judged as of when it was obtained, and
the same RIM verified "now" after its signer expired fails), ``rim-revocation`` and
``rim-identity`` (product and version are the device's). ``measurements`` runs when every RIM
passed; otherwise it is skipped with the reason, or fails when the policy requires a match.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from ..check_names import GpuCheck
from ..checks import CheckLog
from ..errors import CairnError, ChainError, CollateralUnavailableError, ExitCode
from ..timefmt import iso_time
from ..x509.cert import Certificate
from .chain import RIM_RULES, check_shape, links, split_root
from .collateral import RimClient
from .families import DeviceFamily
from .golden import GoldenComparison, compare
from .policy import GpuPolicy
from .report import DeviceReport
from .revocation import RevocationSources, check_revocation
from .rim import RimContent, RimDocument, load_rim, verify_rim_signature
from .rim_ids import RIM_PRODUCTS, RimPlan, RimRequest
from .roots import NvidiaRoot, pinned_root
from .spdm import SpdmReport

CONTENT: Final = ExitCode.CONTENT_MISMATCH


@dataclass(frozen=True)
class LocalRim:
    """A RIM from a file: its bytes, when it was fetched (None: the verification time) and
    where it came from."""

    xml: bytes
    fetched_at: datetime | None
    source: str


@dataclass(frozen=True)
class RimSources:
    local: tuple[LocalRim, ...] = ()
    client: RimClient | None = None


@dataclass(frozen=True)
class _Obtained:
    document: RimDocument
    reference_time: datetime
    origin: str


@dataclass
class RimAppraisal:
    """Appraises one device's RIMs and measurements, recording into ``log``."""

    log: CheckLog
    warnings: list[str]
    at: datetime
    policy: GpuPolicy
    sources: RimSources
    revocation: RevocationSources

    def appraise(
        self,
        component: str,
        family: DeviceFamily,
        spdm: SpdmReport,
        report: DeviceReport,
        plan: RimPlan,
    ) -> tuple[GoldenComparison | None, list[dict[str, str]]]:
        """The comparison (None if it could not run) and a description of each RIM used."""
        verified: list[tuple[str, RimContent]] = []
        used: list[dict[str, str]] = []
        why_not: list[str] = list(plan.missing)
        unavailable = bool(plan.missing)
        for request in plan.requests:
            label = f"{component} {request.role.value} RIM"
            obtained = self._obtain(label, family, request)
            if obtained is None:
                why_not.append(f"the {request.role.value} RIM is not at hand")
                unavailable = True
                continue
            content = self._check(label, family, request, obtained)
            used.append(
                {
                    "role": request.role.value,
                    "id": request.rim_id,
                    "sha384": obtained.document.sha384,
                    "fetched_at": iso_time(obtained.reference_time),
                    "from": obtained.origin,
                }
            )
            if content is None:
                why_not.append(f"the {request.role.value} RIM did not verify (see above)")
                continue
            verified.append((f"{request.role.value} RIM {request.rim_id}", content))
        if why_not or not plan.requests:
            reasons = "; ".join(why_not) or "no RIM could be named for this device"
            if unavailable and self.policy.require_rim_match:
                self.log.failed(
                    GpuCheck.MEASUREMENTS,
                    component,
                    ExitCode.COLLATERAL_UNAVAILABLE,
                    f"not compared: {reasons}, and the policy requires a RIM match",
                    hint="supply the RIMs (--rim FILE, a `cairn collateral export --gpu` bundle) "
                    "or go online",
                )
            else:
                self.log.skipped(GpuCheck.MEASUREMENTS, component, f"not compared: {reasons}")
            return None, used
        result = compare(spdm.blocks, verified, report.nvdec0)
        self._record(component, result)
        return result, used

    # -- one RIM ----------------------------------------------------------------------------

    def _obtain(self, label: str, family: DeviceFamily, request: RimRequest) -> _Obtained | None:
        product = RIM_PRODUCTS[family]
        for local in self.sources.local:
            try:
                document = load_rim(local.xml)
            except CairnError:
                continue  # reported when the file was read (cli) or not ours
            content = document.content
            if content.product == product and (
                content.colloquial_version.upper() == request.version.upper()
            ):
                when = local.fetched_at or self.at
                self.log.passed(
                    GpuCheck.RIM_AVAILABLE,
                    label,
                    f"{request.rim_id} from {local.source} (SHA-384 {document.sha384[:16]}…, "
                    f"fetched {iso_time(when)}"
                    + ("" if local.fetched_at else ", taken as the verification time")
                    + ")",
                )
                return self._fresh(label, _Obtained(document, when, local.source))
        client = self.sources.client
        if client is None:
            self._unavailable(label, f"{request.rim_id}: no RIM file fits and fetching is disabled")
            return None
        try:
            found = client.fetch_rim(request.rim_id)
            document = load_rim(found.value)
        except CollateralUnavailableError as error:
            self._unavailable(label, error.message, error.hint)
            return None
        except CairnError as error:
            self.log.failed_with(GpuCheck.RIM_AVAILABLE, error, component=label)
            return None
        origin = f"{found.source.value} ({found.url})"
        self.log.passed(
            GpuCheck.RIM_AVAILABLE,
            label,
            f"{request.rim_id} from {origin} (SHA-384 {document.sha384[:16]}…, fetched "
            f"{iso_time(found.fetched_at)})",
        )
        return self._fresh(label, _Obtained(document, found.fetched_at, origin))

    def _unavailable(self, label: str, reason: str, hint: str | None = None) -> None:
        if self.policy.require_rim_match:
            self.log.failed(
                GpuCheck.RIM_AVAILABLE,
                label,
                ExitCode.COLLATERAL_UNAVAILABLE,
                f"{reason}, and the policy requires a RIM match",
                hint=hint,
            )
        else:
            self.log.skipped(GpuCheck.RIM_AVAILABLE, label, reason, hint=hint)

    def _fresh(self, label: str, obtained: _Obtained) -> _Obtained | None:
        limit = self.policy.rim_max_age_days
        if limit is not None and self.at - obtained.reference_time > timedelta(days=limit):
            self.log.failed(
                GpuCheck.RIM_AVAILABLE,
                label,
                ExitCode.POLICY_REJECTED,
                f"the RIM was fetched {iso_time(obtained.reference_time)}, more than "
                f"rim_max_age_days = {limit} before {iso_time(self.at)}",
                hint="fetch the RIM again (NVIDIA may have revoked or replaced it since)",
            )
            return None
        return obtained

    def _check(
        self, label: str, family: DeviceFamily, request: RimRequest, obtained: _Obtained
    ) -> RimContent | None:
        document = obtained.document
        try:
            content = verify_rim_signature(document)
        except CairnError as error:
            self.log.failed_with(GpuCheck.RIM_SIGNATURE, error, component=label)
            return None
        self.log.passed(
            GpuCheck.RIM_SIGNATURE,
            label,
            f"XML signature (ECDSA P-384/SHA-384) by '{document.signer.display_name}'",
        )
        chain = self._chain(label, document, obtained.reference_time)
        if chain is None:
            return None
        root = pinned_root(NvidiaRoot.CORIM)
        issuers = [*chain[1:], root]
        check_revocation(
            list(zip(chain, issuers, strict=True)),
            self.revocation,
            at=self.at,
            policy=self.policy,
            allow_hold="certificate-hold" in self.policy.allowed_warnings,
            log=self.log,
            name=GpuCheck.RIM_REVOCATION,
            component=label,
            warnings=self.warnings,
        )
        product = RIM_PRODUCTS[family]
        same = (
            content.product == product
            and content.colloquial_version.upper() == request.version.upper()
        )
        self.log.check(
            same,
            GpuCheck.RIM_IDENTITY,
            label,
            CONTENT,
            f"RIM for {content.product} {content.colloquial_version} ({content.edition})",
            expected=f"{product} {request.version}",
            actual=f"{content.product} {content.colloquial_version}",
            hint="this RIM describes another product or version than the device reports: "
            f"use {request.rim_id}",
        )
        return content if same else None

    def _chain(self, label: str, document: RimDocument, when: datetime) -> list[Certificate] | None:
        root = pinned_root(NvidiaRoot.CORIM)
        try:
            chain = split_root(list(document.certificates), root, RIM_RULES)
            check_shape(chain, RIM_RULES)
            for link in links(chain, root, RIM_RULES):
                link.verify()
            for cert in [*chain, root]:
                cert.check_validity(when, "RIM chain")
        except ChainError as error:
            self.log.failed(
                GpuCheck.RIM_CHAIN,
                label,
                ExitCode.CHAIN_UNTRUSTED,
                f"{error.message} (checked as of {iso_time(when)}, when the RIM was fetched)",
                hint="fetch the RIM again from NVIDIA's RIM service (a bundle records when it "
                "was fetched); an expired signer is accepted only as of a fetch time inside "
                "its validity"
                if "expired" in error.message
                else error.hint,
            )
            return None
        names = " → ".join(f"'{c.display_name}'" for c in chain)
        self.log.passed(
            GpuCheck.RIM_CHAIN,
            label,
            f"{names} → pinned CoRIM root, valid at {iso_time(when)} (the RIM's fetch time); "
            f"signer valid until {iso_time(chain[0].not_after)}",
        )
        return chain

    # -- the comparison -----------------------------------------------------------------------

    def _record(self, component: str, result: GoldenComparison) -> None:
        skipped = (
            f"; index {', '.join(map(str, result.skipped))} skipped (NVDEC0 disabled)"
            if result.skipped
            else ""
        )
        if result.ok:
            self.log.passed(
                GpuCheck.MEASUREMENTS,
                component,
                f"{result.matched} of {len(result.compared)} active measurements match"
                f"{skipped}; {result.uncovered} blocks no RIM covers",
            )
            return
        problems: list[str] = [
            f"index {i} is active in two RIMs (conflict)" for i in result.conflicts
        ]
        problems += [m.describe() for m in result.mismatches]
        self.log.failed(
            GpuCheck.MEASUREMENTS,
            component,
            CONTENT,
            f"{len(result.mismatches)} of {len(result.compared)} measurements differ"
            + (f", {len(result.conflicts)} conflicts" if result.conflicts else "")
            + f"{skipped}: "
            + "; ".join(problems),
            expected="the RIMs' golden measurements",
            actual=f"{len(result.mismatches)} mismatches",
            hint="the device runs firmware or a driver other than the RIMs describe: update it, "
            "or check that the RIMs are the current ones for this driver and VBIOS",
        )


def describe_mismatches(result: GoldenComparison) -> Sequence[dict[str, object]]:
    return [
        {
            "index": m.index,
            "rim": m.rim,
            "expected": list(m.expected),
            "actual": m.actual,
        }
        for m in result.mismatches
    ]
