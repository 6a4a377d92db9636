"""The GPU verification pipeline: every device's report, chain, nonce, FWID, revocation, RIMs.

Per device, in order (docs/gpu.md, "The checks"): the report's structure (``spdm-format``);
its chain — four levels below the pinned NVIDIA Device Identity CA, each link, CA flag and
validity (``device-chain``, ``device-root-pinned``, ``device-family``, ``device-certificate``,
``validity``); the ECDSA P-384/SHA-384 signature over exactly the signed bytes
(``spdm-signature``); the nonce (``spdm-nonce``, constant time); then, the report being
authentic, its opaque fields (``opaque-data``), the FWID against the leaf's (``fwid``),
revocation (``device-revocation``), versions against the policy and the RIMs and measurements
(:mod:`.rim_checks`). A device that is not authentic stops there; the others go on. Then the
devices together: no device twice (``distinct-devices``) and the counts the policy names
(``device-count``). The first failure decides the exit code.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Final, TypeVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from ..check_names import GpuCheck
from ..checks import PipelineRun, StepMemo, StopError, VerificationResult, VerifyRequest
from ..ecdsa import raw_to_der
from ..errors import CairnError, ChainError, ExitCode, ParseError
from ..timefmt import iso_time
from ..x509.cert import Certificate, parse_certificate
from .chain import DEVICE_RULES, check_shape, links, split_root
from .evidence import DeviceEvidence
from .families import DeviceFamily, DeviceKind, family_of_architecture, leaf_family
from .fwid import certificate_fwid
from .policy import GpuPolicy, driver_key, firmware_key
from .report import DeviceReport, decode_report
from .revocation import RevocationSources, check_revocation
from .rim_checks import RimAppraisal, RimSources
from .rim_ids import rim_plan
from .roots import NvidiaRoot, pinned_root
from .spdm import SpdmReport, parse_spdm_report

T = TypeVar("T")
KIND: Final = "NVIDIA GPU evidence"
CHAIN: Final = ExitCode.CHAIN_UNTRUSTED
POLICY: Final = ExitCode.POLICY_REJECTED
CC_MODE_WARNING: Final = (
    "the GPUs' confidential-computing mode is not in the signed evidence (NVIDIA's tools read it "
    "from NVML): a pass proves genuine devices and authentic reports, not that CC mode is on"
)
SIMULATED_ROOT_SUMMARY: Final = (
    "device root from --trust-simulated-root: NOT NVIDIA's — nothing here is hardware-backed"
)
SIMULATED_ROOT_WARNING: Final = (
    "SIMULATED: the GPU evidence chains to a root you trusted with --trust-simulated-root, not to "
    "the NVIDIA Device Identity CA; nothing in it is hardware-backed"
)


@dataclass(frozen=True)
class GpuVerifyRequest(VerifyRequest[GpuPolicy]):
    """Everything a GPU verification needs besides the devices' evidence.

    ``nonce`` is the SPDM nonce the reports must carry (None: not checked, and the result says
    freshness is unproven). ``trusted_root`` is a simulated device root (never NVIDIA's).
    """

    policy: GpuPolicy = field(default_factory=GpuPolicy)
    subject: str = "GPU evidence"
    nonce: bytes | None = None
    rims: RimSources = field(default_factory=RimSources)
    revocation: RevocationSources = field(default_factory=RevocationSources)


@dataclass(frozen=True)
class VerifiedDevice:
    """What an authentic device's report says (for the multi-device checks and the claims)."""

    label: str
    family: DeviceFamily
    leaf: Certificate
    report: DeviceReport
    spdm: SpdmReport


_STEPS = StepMemo(maxsize=256)
"""Recorded steps (``checks.StepMemo``): a device's chain checks (by its certificates and the
policy; not its validity, which reads the time) and, without an OCSP lookup, its revocation
check (by the chain, the CRLs, the time and the policy) give the same checks every time, so a
warm verifier replays them."""


@dataclass
class _Run(PipelineRun):
    replayed_state: ClassVar[tuple[str, ...]] = ("simulated",)
    req: GpuVerifyRequest
    simulated: bool = False
    compared: int = 0
    devices_claims: list[dict[str, object]] = field(default_factory=list)

    def attempt(
        self,
        name: str,
        component: str,
        step: Callable[[], T],
        *,
        catch: type[CairnError] = CairnError,
    ) -> T:
        """Run one step; on its typed failure (``catch``) record it and stop (a pass is
        recorded by the caller, with what the step found)."""
        try:
            return step()
        except catch as error:
            self.log.failed_with(name, error, component=component)
            raise StopError from error

    # -- one device ---------------------------------------------------------------------------

    def device(self, number: int, evidence: DeviceEvidence) -> VerifiedDevice:
        component = _label(number, evidence)
        spdm = self.attempt(
            GpuCheck.SPDM_FORMAT, component, lambda: parse_spdm_report(evidence.report)
        )
        self._describe_format(spdm, component)
        chain, root, family = self.recorded(
            _STEPS,
            self._chain_key(evidence, component),
            (self.req.policy,),
            lambda: self._chain_step(evidence, component),
        )
        self._validity([*chain, root], component)
        self._signature(spdm, chain[0], component)
        self._nonce(spdm, evidence, component)
        report = self.attempt(
            GpuCheck.OPAQUE_DATA, component, lambda: decode_report(spdm, family.kind)
        )
        self._describe_report(report, component)
        self._fwid(report, chain[0], family, component)
        self.recorded(
            _STEPS,
            self._revocation_key(chain, root, component),
            (self.req.policy,),
            lambda: self._revocation(chain, root, component),
        )
        self._versions(report, family, component)
        appraisal = RimAppraisal(
            self.log,
            self.warnings,
            self.req.at,
            self.req.policy,
            self.req.rims,
            self.req.revocation,
        )
        comparison, rims = appraisal.appraise(
            component, family, spdm, report, rim_plan(family, report)
        )
        if comparison is not None and comparison.ok:
            self.compared += 1
        claims = _claims(component, evidence, family, chain[0], spdm=spdm, report=report)
        claims["rims"] = rims
        claims["measurements_match"] = comparison is not None and comparison.ok
        self.devices_claims.append(claims)
        return VerifiedDevice(component, family, chain[0], report, spdm)

    def _chain_key(self, evidence: DeviceEvidence, component: str) -> tuple[object, ...]:
        """Everything :meth:`_chain_step` reads (the policy by identity: an anchor)."""
        trusted = self.req.trusted_root
        return (
            "device-chain",
            component,
            evidence.certificates,
            evidence.architecture,
            None if trusted is None else trusted.der,
            id(self.req.policy),
        )

    def _chain_step(
        self, evidence: DeviceEvidence, component: str
    ) -> tuple[list[Certificate], Certificate, DeviceFamily]:
        """The chain, its root and the family: every check that reads only the certificates
        and the policy, not the time (recorded and replayed, :data:`_STEPS`; validity, which
        reads the time, is checked after it every time)."""
        chain, root = self._chain(evidence, component)
        family = self._family(chain[0], evidence, component)
        self._links(chain, root, component)
        return chain, root, family

    def _revocation_key(
        self, chain: list[Certificate], root: Certificate, component: str
    ) -> tuple[object, ...] | None:
        """Everything :meth:`_revocation` reads; None when an OCSP lookup is configured (a
        cache or the network may answer differently next time). Without CRLs either, nothing
        it reads depends on the time (every status is missing)."""
        sources = self.req.revocation
        if sources.ocsp is not None:
            return None
        return (
            "device-revocation",
            component,
            tuple(cert.der for cert in chain),
            root.der,
            tuple(crl.der for crl in sources.crls),
            self.req.at if sources.crls else None,
            id(self.req.policy),
        )

    def _revocation(self, chain: list[Certificate], root: Certificate, component: str) -> bool:
        check_revocation(
            list(zip(chain[1:], [*chain[2:], root], strict=True)),
            self.req.revocation,
            at=self.req.at,
            policy=self.req.policy,
            allow_hold=False,
            log=self.log,
            name=GpuCheck.DEVICE_REVOCATION,
            component=component,
            warnings=self.warnings,
        )
        return True

    def _describe_format(self, spdm: SpdmReport, component: str) -> None:
        summary = (
            f"SPDM 1.1 GET_MEASUREMENTS, {len(spdm.blocks)} measurement blocks, "
            f"{len(spdm.opaque)} bytes of opaque data, signature at byte {spdm.signature_offset}"
        )
        if spdm.trailing:
            summary += f"; {len(spdm.trailing)} zero bytes after it (not signed, not read)"
            self.warnings.append(
                f"{component}: {len(spdm.trailing)} zero bytes follow the report's signature; "
                "they are not signed and were not read"
            )
        self.log.passed(GpuCheck.SPDM_FORMAT, component, summary)

    def _chain(
        self, evidence: DeviceEvidence, component: str
    ) -> tuple[list[Certificate], Certificate]:
        if not evidence.certificates:
            self.log.failed(
                GpuCheck.DEVICE_CHAIN,
                component,
                ExitCode.MALFORMED_INPUT,
                "the evidence carries no certificate chain for this report",
                hint="pass the device's certificate chain (PEM, as NVML returns it) with --certs",
            )
            raise StopError
        supplied = self.attempt(
            GpuCheck.DEVICE_CHAIN,
            component,
            lambda: [parse_certificate(der) for der in evidence.certificates],
        )
        root = pinned_root(NvidiaRoot.DEVICE_IDENTITY)
        trusted = self.req.trusted_root
        if trusted is not None and supplied and supplied[-1].der == trusted.der:
            root = trusted
            self.simulated = True
            self.log.passed(GpuCheck.DEVICE_ROOT_PINNED, component, SIMULATED_ROOT_SUMMARY)
        try:
            chain = split_root(supplied, root, DEVICE_RULES)
        except ChainError as error:
            self.log.failed_with(GpuCheck.DEVICE_ROOT_PINNED, error, component=component)
            raise StopError from None
        if root is not trusted:
            sent = (
                "the chain's own copy is identical"
                if len(chain) < len(supplied)
                else ("the chain does not carry it")
            )
            self.log.passed(
                GpuCheck.DEVICE_ROOT_PINNED,
                component,
                f"NVIDIA Device Identity CA pinned by SHA-256 "
                f"{root.fingerprint_sha256.hex()[:16]}… ({sent})",
            )
        self.stop_on(
            GpuCheck.DEVICE_CHAIN,
            component,
            lambda: check_shape(chain, DEVICE_RULES),
            f"{len(chain)} certificates below the root: "
            + ", ".join(f"'{c.display_name}'" for c in chain),
            catch=ChainError,
        )
        return chain, root

    def _family(self, leaf: Certificate, evidence: DeviceEvidence, component: str) -> DeviceFamily:
        family = self.attempt(
            GpuCheck.DEVICE_FAMILY, component, lambda: leaf_family(leaf), catch=ChainError
        )
        allowed = self.req.policy.families
        self.log.check(
            not allowed or family in allowed,
            GpuCheck.DEVICE_FAMILY,
            component,
            POLICY,
            f"{family.value} {family.kind.value} (from the leaf '{leaf.display_name}')",
            expected=" or ".join(allowed) or "any",
            actual=family.value,
            hint="the policy does not accept this device family: add it to [gpu] families",
        )
        declared = evidence.architecture
        if declared is not None and family_of_architecture(declared) is not family:
            self.warnings.append(
                f"{component}: the envelope names architecture {declared!r:.20}, but the signed "
                f"chain is a {family.value} ({family.architecture}); the envelope is ignored"
            )
        return family

    def _links(self, chain: list[Certificate], root: Certificate, component: str) -> None:
        for link in links(chain, root, DEVICE_RULES):
            level = DEVICE_RULES.level_names[link.position]
            self.stop_on(
                GpuCheck.DEVICE_CERTIFICATE,
                f"{component} {level}",
                link.verify,
                f"'{link.label}' signed by '{link.issuer.display_name}'",
                catch=ChainError,
            )

    def _validity(self, certificates: list[Certificate], component: str) -> None:
        at = self.req.at
        valid = True
        for cert in certificates:
            if cert.is_valid_at(at):
                continue
            valid = False
            try:
                cert.check_validity(at, "device chain")
            except ChainError as error:
                self.log.failed(
                    GpuCheck.VALIDITY,
                    f"{component} '{cert.display_name}'",
                    CHAIN,
                    error.message,
                    expected=f"{iso_time(cert.not_before)} .. {iso_time(cert.not_after)}",
                    actual=iso_time(at),
                    hint=error.hint,
                )
        if valid:
            self.log.passed(
                GpuCheck.VALIDITY,
                component,
                f"the {len(certificates)} certificates are valid at {iso_time(at)}",
            )

    def _signature(self, spdm: SpdmReport, leaf: Certificate, component: str) -> None:
        key = leaf.public_key()
        if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp384r1":
            self.log.failed(
                GpuCheck.SPDM_SIGNATURE,
                component,
                CHAIN,
                f"the leaf '{leaf.display_name}' does not hold an ECDSA P-384 key",
            )
            raise StopError
        try:
            key.verify(raw_to_der(spdm.signature), spdm.signed_bytes, ec.ECDSA(hashes.SHA384()))
        except (InvalidSignature, ValueError):
            self.log.failed(
                GpuCheck.SPDM_SIGNATURE,
                component,
                ExitCode.SIGNATURE_INVALID,
                f"the ECDSA P-384/SHA-384 signature over bytes 0..{spdm.signature_offset - 1} "
                f"does not verify with the key of '{leaf.display_name}'",
                hint="the report was altered, or the certificate chain belongs to another device",
            )
            raise StopError from None
        self.log.passed(
            GpuCheck.SPDM_SIGNATURE,
            component,
            f"ECDSA P-384/SHA-384 over bytes 0..{spdm.signature_offset - 1} (request and "
            "response) by the leaf's key",
        )

    def _nonce(self, spdm: SpdmReport, evidence: DeviceEvidence, component: str) -> None:
        expected = self.req.nonce
        declared = evidence.declared_nonce
        if declared is not None and not hmac.compare_digest(declared, spdm.nonce):
            self.warnings.append(
                f"{component}: the envelope's nonce {declared.hex()} is not the one the signed "
                f"request carries ({spdm.nonce.hex()})"
            )
        if expected is None:
            self.log.skipped(
                GpuCheck.SPDM_NONCE,
                component,
                f"no nonce expected (the report carries {spdm.nonce.hex()}): freshness is not "
                "proven",
                hint="pass --nonce with the 32-byte nonce the report was requested with",
            )
            return
        self.log.check(
            hmac.compare_digest(expected, spdm.nonce),
            GpuCheck.SPDM_NONCE,
            component,
            ExitCode.CONTENT_MISMATCH,
            "the signed request carries the expected nonce",
            expected=expected.hex(),
            actual=spdm.nonce.hex(),
            hint="stale or replayed evidence: request fresh evidence with a new nonce",
        )

    def _describe_report(self, report: DeviceReport, component: str) -> None:
        parts = []
        if report.driver_version is not None:
            parts.append(f"driver {report.driver_version}")
        if report.firmware_version is not None:
            name = "BIOS" if report.kind is DeviceKind.SWITCH else "VBIOS"
            parts.append(f"{name} {report.firmware_version}")
        if report.project is not None:
            parts.append(f"board {report.project}_{report.project_sku}_{report.chip_sku}")
        if report.nvdec0 is not None:
            parts.append(f"NVDEC0 {report.nvdec0.value}")
        parts.append(f"{len(report.opaque.fields)} fields")
        self.log.passed(GpuCheck.OPAQUE_DATA, component, ", ".join(parts))

    def _fwid(
        self, report: DeviceReport, leaf: Certificate, family: DeviceFamily, component: str
    ) -> None:
        try:
            certified = certificate_fwid(leaf, family.fwid_layout)
        except ParseError as error:
            self.log.failed(GpuCheck.FWID, component, CHAIN, error.message)
            return
        if report.fwid is None:
            message = "the report carries no FWID (firmware before FWID reporting)"
            if self.req.policy.require_fwid:
                self.log.failed(
                    GpuCheck.FWID,
                    component,
                    POLICY,
                    message,
                    hint="update the GPU firmware, or unset require_fwid",
                )
            else:
                self.log.skipped(
                    GpuCheck.FWID,
                    component,
                    message,
                    hint="set require_fwid = true in [gpu] to make this fatal",
                )
            return
        self.log.check(
            certified is not None and hmac.compare_digest(certified, report.fwid),
            GpuCheck.FWID,
            component,
            CHAIN,
            f"the report's FWID equals the leaf's {family.fwid_layout.value} extension",
            expected=certified.hex() if certified is not None else "(no FWID extension)",
            actual=report.fwid.hex(),
            hint="the leaf certificate was issued to other firmware than the one that signed "
            "the report",
        )

    def _versions(self, report: DeviceReport, family: DeviceFamily, component: str) -> None:
        policy = self.req.policy
        if family.kind is DeviceKind.GPU:
            self._version(
                GpuCheck.DRIVER_VERSION,
                component,
                "driver",
                report.driver_version,
                allowed=policy.driver_versions,
                minimum=policy.minimum_driver_version,
                key=driver_key,
            )
            allowed, minimum, name = policy.vbios_versions, policy.minimum_vbios_version, "VBIOS"
        else:
            allowed = policy.switch_bios_versions
            minimum = policy.minimum_switch_bios_version
            name = "switch BIOS"
        self._version(
            GpuCheck.FIRMWARE_VERSION,
            component,
            name,
            report.firmware_version,
            allowed=allowed,
            minimum=minimum,
            key=firmware_key,
        )

    def _version(
        self,
        check: GpuCheck,
        component: str,
        what: str,
        version: str | None,
        *,
        allowed: Sequence[str],
        minimum: str | None,
        key: Callable[[str], tuple[int, ...]],
    ) -> None:
        if not allowed and minimum is None:
            return
        problems = []
        if version is None:
            problems.append(f"the report states no {what} version")
        else:
            if allowed and version.upper() not in {a.upper() for a in allowed}:
                problems.append(f"{what} {version} is not among {', '.join(allowed)}")
            try:
                if minimum is not None and key(version) < key(minimum):
                    problems.append(f"{what} {version} is older than {minimum}")
            except ValueError as error:
                problems.append(str(error))
        self.log.check(
            not problems,
            check,
            component,
            POLICY,
            f"{what} {version} is accepted" if not problems else "; ".join(problems),
            expected=", ".join([*allowed, *([f">= {minimum}"] if minimum else [])]),
            actual=version or "(none)",
            hint=f"update the {what}, or accept this version in the [gpu] policy",
        )

    # -- all devices --------------------------------------------------------------------------

    def together(self, devices: list[VerifiedDevice], total: int) -> None:
        if total > 1:
            seen: dict[tuple[bytes, int], str] = {}
            duplicates = []
            for device in devices:
                identity = (device.leaf.issuer.der, device.leaf.serial)
                if identity in seen:
                    duplicates.append(f"{device.label} is {seen[identity]} again")
                seen.setdefault(identity, device.label)
            self.log.check(
                not duplicates,
                GpuCheck.DISTINCT_DEVICES,
                "evidence",
                ExitCode.CONTENT_MISMATCH,
                f"{len(seen)} distinct devices (by leaf certificate)"
                if not duplicates
                else "; ".join(duplicates) + " (same leaf certificate)",
                hint="each device must be reported once: the evidence repeats a device, which "
                "would let one device stand in for several",
            )
        wanted = self.req.policy.device_counts
        if wanted:
            counts = {family: 0 for family in DeviceFamily}
            for device in devices:
                counts[device.family] += 1
            differ = [
                f"{family.value}: {counts[family]} (expected {wanted.get(family, 0)})"
                for family in DeviceFamily
                if counts[family] != wanted.get(family, 0)
            ]
            self.log.check(
                not differ and len(devices) == total,
                GpuCheck.DEVICE_COUNT,
                "evidence",
                POLICY,
                "device counts are the policy's"
                if not differ and len(devices) == total
                else "; ".join(differ) or f"{total - len(devices)} devices did not verify",
                expected=", ".join(f"{f.value}={n}" for f, n in wanted.items()),
                actual=", ".join(f"{f.value}={n}" for f, n in counts.items() if n),
            )


def _label(number: int, evidence: DeviceEvidence) -> str:
    """``GPU 0`` / ``NVSwitch 1`` as the (not yet verified) leaf names it, else ``device 0``."""
    try:
        family = leaf_family(parse_certificate(evidence.certificates[0]))
    except (CairnError, IndexError):
        return f"device {number}"
    return f"{family.kind.value} {number}"


def _claims(
    component: str,
    evidence: DeviceEvidence,
    family: DeviceFamily,
    leaf: Certificate,
    *,
    spdm: SpdmReport,
    report: DeviceReport,
) -> dict[str, object]:
    claims: dict[str, object] = {
        "device": component,
        "input": evidence.label,
        "family": family.value,
        "kind": family.kind.value,
        "leaf_serial": f"{leaf.serial:x}",
        "nonce": spdm.nonce.hex(),
        "driver_version": report.driver_version,
        "firmware_version": report.firmware_version,
        "fwid": None if report.fwid is None else report.fwid.hex(),
        "measurements": {str(b.index): b.value.hex() for b in spdm.blocks},
    }
    if report.project is not None:
        claims["board"] = f"{report.project}_{report.project_sku}_{report.chip_sku}"
    if evidence.uuid is not None:
        claims["uuid"] = evidence.uuid
    return claims


def verify_gpu_evidence(
    devices: Sequence[DeviceEvidence], request: GpuVerifyRequest
) -> VerificationResult:
    """Verify every device; the result lists every check (never raises on bad evidence)."""
    run = _Run(req=request)
    verified: list[VerifiedDevice] = []
    for number, device in enumerate(devices):
        try:
            verified.append(run.device(number, device))
        except StopError:
            continue
        except CairnError as error:  # a defect no step expected: reported, never raised
            run.log.failed_with(GpuCheck.SPDM_FORMAT, error, component=f"device {number}")
    run.together(verified, len(devices))
    if run.simulated:
        run.warnings.insert(0, SIMULATED_ROOT_WARNING)
        run.claims["simulated"] = True
    if request.nonce is None:
        run.warnings.append(
            "no nonce expected: freshness is not proven; the reports may be replays (pass "
            "--nonce with your nonce)"
        )
    if any(d.family.kind is DeviceKind.GPU for d in verified):
        run.warnings.append(CC_MODE_WARNING)
    if verified and run.compared < len(verified):
        run.warnings.append(
            f"{len(verified) - run.compared} of {len(verified)} devices were not compared with "
            "NVIDIA's RIMs: this proves genuine NVIDIA devices, not WHICH firmware and driver "
            "they run (supply RIMs, or set require_rim_match)"
        )
    run.claims["devices"] = run.devices_claims
    return run.result(KIND, request)
