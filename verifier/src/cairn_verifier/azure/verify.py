"""The Azure confidential-VM pipeline: HCL report, hardware report, runtime data, vTPM.

On Azure the guest cannot choose REPORT_DATA. Azure's paravisor (the HCL, at VMPL 0 on SEV-SNP,
the L1 of the TD on TDX) asks the hardware for a report whose REPORT_DATA is SHA-256 of its
*runtime data*, a JSON document naming the vTPM's attestation key (HCLAkPub), and writes both
into the vTPM's NV index 0x01400001. The guest's freshness and claims travel in a vTPM quote
signed by that key. The chain this pipeline checks, link by link::

    AMD/Intel root → SEV-SNP report (VMPL 0) / TD quote (= the HCL's TD report)
      → REPORT_DATA[0:32] = SHA-256(runtime data), REPORT_DATA[32:64] = 0
      → runtime data → HCLAkPub (= the AK whose TPMT_PUBLIC is given, if one is)
      → vTPM quote signature → extraData (the nonce; a bundle's claims digest) and PCRs
      → the vTPM's TCG event log, where it replays to those PCRs (``tpm-event-log``)

Order: HCL report (stops when unreadable), runtime data, the SEV-SNP or TDX pipeline with that
expected REPORT_DATA (its ``report-data`` check is the runtime-data binding), ``azure-vmpl`` /
``azure-td-report``, ``azure-ak``, the vTPM quote, its PCR pins and the event log given with it
(``cairn verify azure``; in an evidence bundle the evidence pipeline verifies the bundle's quote
and its ``tpm.event_log``, with the same check), the ``[azure]`` policy.
Never raises on bad evidence.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ..check_names import AzureCheck, SnpCheck, TdxCheck
from ..checks import Check, Outcome, PipelineRun, StopError, VerificationResult, VerifyRequest
from ..errors import CairnError, ExitCode
from ..evidence.pcrs import appraise_pcrs
from ..policy_document import CairnPolicy
from ..snp.certs import CertCollection
from ..snp.kds import KdsClient
from ..snp.verify import SnpVerifyRequest, verify_snp_report
from ..tdx.collateral import TdxCollateral
from ..tdx.quote import parse_quote
from ..tdx.verify import CollateralSource, TdxVerifyRequest, verify_tdx_quote
from ..tpm.quote import TpmQuoteResult, skip_quote_checks, verify_tpm_quote_with_key
from ..tpm.structures import parse_public
from ..x509.crl import Crl
from .binding import expected_report_data
from .hcl import HclReport, HclReportType, parse_hcl_report
from .runtime_data import RuntimeData, parse_runtime_data
from .td_report import parse_td_report

KIND: Final[Mapping[HclReportType, str]] = {
    HclReportType.SEV_SNP: "Azure confidential VM (SEV-SNP, vTPM)",
    HclReportType.TDX: "Azure confidential VM (TDX, vTPM)",
}
UNREAD_KIND: Final = "Azure confidential VM (vTPM)"
CONTENT: Final = ExitCode.CONTENT_MISMATCH
POLICY: Final = ExitCode.POLICY_REJECTED
HCL: Final = "HCL report"
RUNTIME: Final = "runtime data"
VTPM: Final = "vTPM quote"
AK_NOTE: Final = (
    "no TPMT_PUBLIC in this evidence: the AK is HCLAkPub, which the runtime data names and the "
    "hardware report binds; Azure's paravisor creates it in the vTPM as a restricted signing "
    "key (its TPM attributes are not given to check)"
)
MEASUREMENT_WARNING: Final = (
    "on Azure the hardware measurement ({what}) covers Microsoft's paravisor and firmware, not "
    "the guest OS: what the guest booted is measured only into the vTPM's PCRs (pin them in "
    "[evidence.pcrs])"
)
SIMULATED_WARNING: Final = (
    "SIMULATED AZURE: the HCL report comes from a simulated paravisor (its hardware report "
    "chains to a --trust-simulated-root root) and was written into a TPM's NV index by software: "
    "neither it, nor the vTPM, nor the vTPM's attestation key is Azure's; a pass shows that the "
    "links (REPORT_DATA, runtime data, HCLAkPub, vTPM quote, claims) hold, nothing about an "
    "Azure VM"
)
EVENT_LOG_HINT: Final = (
    "give the vTPM's raw TCG log (/sys/kernel/security/tpm0/binary_bios_measurements, or "
    "base64 of it) of the boot the quote was made in"
)
UNREPLAYED_WARNING: Final = (
    "the event log given was not replayed against any quoted PCR, so nothing in it is "
    "verified: {why}"
)
NO_PCR_WARNING: Final = (
    "no vTPM PCR pinned: this proves an Azure confidential VM with this vTPM, not WHICH "
    "operating system it booted (pin PCRs in [evidence.pcrs])"
)


@dataclass(frozen=True)
class VtpmQuote:
    """A vTPM quote as the TPM signed it: ``TPMS_ATTEST``, ``TPMT_SIGNATURE``, PCR values."""

    attest: bytes
    signature: bytes
    pcrs: Mapping[tuple[str, int], bytes]


@dataclass(frozen=True)
class AzureEvidence:
    """What an Azure confidential VM hands out, as far as it is at hand."""

    hcl_report: bytes
    """The vTPM NV index's content: the HCL report, optionally followed by zero padding."""
    td_quote: bytes | None = None
    """TDX: the quote Azure's quote endpoint made from the HCL's TD report."""
    vtpm_quote: VtpmQuote | None = None
    """Verified here (``cairn verify azure``); None in an evidence bundle, whose TPM quote the
    evidence pipeline verifies."""
    ak_public: bytes | None = None
    """The AK's TPMT_PUBLIC, if given: it must hold HCLAkPub (``azure-ak``)."""
    certificates: CertCollection | None = None
    """SEV-SNP: the VCEK (and ASK/ARK) to verify the report with."""
    event_log: bytes | None = None
    """The vTPM's raw TCG event log (``binary_bios_measurements``), replayed against the PCRs of
    ``vtpm_quote`` once HCLAkPub verified it (``tpm-event-log``, as in ``cairn verify
    evidence``)."""


@dataclass(frozen=True)
class AzureVerifyRequest(VerifyRequest[CairnPolicy]):
    """The verifier's side: policy (``[snp]``/``[tdx]``, ``[azure]``, ``[evidence.pcrs]``),
    time, collateral sources, the nonce the vTPM quote must carry, a simulated root."""

    policy: CairnPolicy = field(default_factory=CairnPolicy)
    subject: str = "Azure evidence"
    crl: Crl | None = None
    kds: KdsClient | None = None
    tdx_collateral: TdxCollateral | None = None
    fetch_tdx_collateral: CollateralSource | None = None
    nonce: bytes | None = None
    """The vTPM quote's expected extraData; None: not compared (freshness unproven)."""
    extra_data_name: str = "the nonce"


def passed(checks: tuple[Check, ...] | list[Check], name: str) -> bool:
    return any(c.name == name and c.outcome is Outcome.PASS for c in checks)


@dataclass
class _Run(PipelineRun):
    evidence: AzureEvidence
    req: AzureVerifyRequest
    kind: str = UNREAD_KIND

    # -- the HCL report and its runtime data ---------------------------------------------------

    def hcl_report(self) -> HclReport:
        hcl = self.stop_on(
            AzureCheck.HCL_REPORT,
            HCL,
            lambda: parse_hcl_report(self.evidence.hcl_report),
            "read",
        )
        self.kind = KIND[hcl.report_type]
        padding = f", {hcl.padding} bytes of zero padding" if hcl.padding else ""
        self.log.checks[-1] = self.log.checks[-1].replace(
            summary=f"HCL report v{hcl.version} ({hcl.size} bytes{padding}): "
            f"{hcl.report_type.label} report, {len(hcl.runtime_data)} bytes of runtime data "
            "(the headers are unsigned and only locate the parts)",
        )
        self.claims["platform"] = hcl.report_type.label
        self.claims["hcl_report"] = {
            "version": hcl.version,
            "size": hcl.size,
            "request_type": hcl.request_type,
            "runtime_data_sha256": hashlib.sha256(hcl.runtime_data).hexdigest(),
        }
        return hcl

    def runtime_data(self, hcl: HclReport) -> RuntimeData | None:
        try:
            runtime = parse_runtime_data(hcl.runtime_data)
        except CairnError as error:
            self.log.failed_with(AzureCheck.RUNTIME_DATA, error, component=RUNTIME)
            return None
        present = ", ".join(f"{k}={_stated(v)}" for k, v in runtime.vm_configuration.items())
        self.log.passed(
            AzureCheck.RUNTIME_DATA,
            RUNTIME,
            f"HCLAkPub: {runtime.ak.bits}-bit RSA key; vm-configuration: {present or 'empty'}",
        )
        self.claims["runtime_data"] = runtime.to_json()
        return runtime

    # -- the hardware report -------------------------------------------------------------------

    def hardware(self, hcl: HclReport) -> None:
        expected = expected_report_data(hcl.runtime_data)
        if hcl.report_type is HclReportType.SEV_SNP:
            self._snp(hcl, expected)
        else:
            self._tdx(hcl, expected)

    def _adopt(self, result: VerificationResult, key: str, what: str) -> None:
        """The hardware pipeline's checks, its ``report-data`` check said as the binding of the
        runtime data; its claims under ``key``; its warnings, and what the measurement is."""
        binding = (SnpCheck.REPORT_DATA, TdxCheck.REPORT_DATA)
        self.log.checks.extend(
            _runtime_binding(check) if check.name in binding else check for check in result.checks
        )
        self.claims[key] = dict(result.claims)
        self.warnings.extend(result.warnings)
        self.warnings.append(MEASUREMENT_WARNING.format(what=what))

    def _snp(self, hcl: HclReport, expected: bytes) -> None:
        req = self.req
        request = SnpVerifyRequest(
            at=req.at,
            policy=req.policy.snp,
            subject=req.subject,
            certs=self.evidence.certificates,
            crl=req.crl,
            kds=req.kds,
            report_data=expected,
            trusted_root=req.trusted_root,
        )
        result = verify_snp_report(hcl.hardware_report, request)
        self._adopt(result, "snp", "the SEV-SNP launch measurement")
        vmpl = result.claims.get("vmpl")
        if not isinstance(vmpl, int):
            self.log.skipped(
                AzureCheck.VMPL, "SEV-SNP report", "not checked: the SEV-SNP report did not verify"
            )
            return
        self.log.check(
            vmpl == 0,
            AzureCheck.VMPL,
            "SEV-SNP report",
            ExitCode.CHAIN_UNTRUSTED,
            "requested at VMPL 0: by Azure's paravisor, which alone writes the HCL report"
            if vmpl == 0
            else f"requested at VMPL {vmpl}, not by the paravisor (VMPL 0): software in the "
            "guest chose its REPORT_DATA, so nothing it says about the vTPM key is trusted",
            expected="0",
            actual=str(vmpl),
            hint="this is not an HCL report the paravisor made: do not trust it",
        )

    def _tdx(self, hcl: HclReport, expected: bytes) -> None:
        raw = self.evidence.td_quote
        if raw is None:
            self.log.failed(
                AzureCheck.TD_QUOTE,
                "TD quote",
                ExitCode.MALFORMED_INPUT,
                "no TD quote: the HCL report holds a TD report, which only the CPU can check; "
                "the TD quote Azure's quote endpoint makes from it is what verifies",
                hint="give the TD quote (trustee's td_quote; the agent fetches it from "
                "http://169.254.169.254/acc/tdquote)",
            )
            return
        try:
            quote = parse_quote(raw)
        except CairnError as error:
            self.log.failed_with(AzureCheck.TD_QUOTE, error, component="TD quote")
            return
        if any(quote.trailing):
            self.log.failed(
                AzureCheck.TD_QUOTE,
                "TD quote",
                ExitCode.MALFORMED_INPUT,
                f"{len(quote.trailing)} bytes after the TD quote are not all zero",
                hint="give the quote as Azure's quote endpoint returned it",
            )
            return
        trailing = f" (+{len(quote.trailing)} zero bytes)" if quote.trailing else ""
        self.log.passed(
            AzureCheck.TD_QUOTE,
            "TD quote",
            f"TDX quote v{quote.header.version}, {len(quote.raw)} bytes{trailing}",
        )
        req = self.req
        request = TdxVerifyRequest(
            at=req.at,
            policy=req.policy.tdx,
            subject=req.subject,
            collateral=req.tdx_collateral,
            fetch_collateral=req.fetch_tdx_collateral,
            report_data=expected,
            trusted_root=req.trusted_root,
        )
        result = verify_tdx_quote(quote, request)
        self._adopt(result, "tdx", "MRTD, and RTMRs the paravisor extends")
        if not passed(result.checks, TdxCheck.QUOTE_SIGNATURE):
            self.log.skipped(
                AzureCheck.TD_REPORT,
                "TD report",
                "not compared: the TD quote's signature did not verify",
            )
            return
        try:
            td_report = parse_td_report(hcl.hardware_report)
        except CairnError as error:
            self.log.failed_with(AzureCheck.TD_REPORT, error, component="TD report")
            return
        problems = td_report.hash_problems()
        differing = td_report.differences(quote.body)
        if differing:
            problems.append(f"differs from the quote's body in {', '.join(differing)}")
        self.log.check(
            not problems,
            AzureCheck.TD_REPORT,
            "TD report",
            CONTENT,
            "the HCL's TD report is the body of the TD quote (every field), and its "
            "TEE_TCB_INFO and TDINFO hashes hold"
            if not problems
            else "the HCL's TD report is not the one the quote was made from: "
            + "; ".join(problems),
            hint=None
            if not problems
            else "the HCL report and the TD quote come from two requests (or were altered): "
            "read both again",
        )

    # -- the vTPM ------------------------------------------------------------------------------

    def attestation_key(self, runtime: RuntimeData | None) -> None:
        given = self.evidence.ak_public
        if runtime is None:
            self.log.skipped(
                AzureCheck.ATTESTATION_KEY, "vTPM", "not checked: the runtime data names no key"
            )
            return
        if given is None:
            self.log.skipped(
                AzureCheck.ATTESTATION_KEY,
                "vTPM",
                "no TPMT_PUBLIC in the evidence: the vTPM quote is verified with HCLAkPub itself "
                "(tpm-quote-signature)",
            )
            return
        try:
            ak = parse_public(given)
        except CairnError as error:
            self.log.failed_with(AzureCheck.ATTESTATION_KEY, error, component="vTPM")
            return
        same = runtime.ak.same_key(ak.public_key)
        self.log.check(
            same,
            AzureCheck.ATTESTATION_KEY,
            "vTPM",
            CONTENT,
            "the vTPM attestation key is HCLAkPub, the key the hardware report vouches for"
            if same
            else "the vTPM attestation key given is not HCLAkPub: no hardware report vouches "
            "for it, so its quote proves nothing about this VM",
            expected=f"HCLAkPub ({runtime.ak.bits}-bit RSA)",
            actual=_key_label(ak.public_key),
            hint=None
            if same
            else "the quote was made by another TPM (or the key was swapped): read the evidence "
            "from the VM's own vTPM (persistent AK 0x81000003)",
        )

    def vtpm_quote(self, runtime: RuntimeData | None) -> None:
        quote = self.evidence.vtpm_quote
        if quote is None:
            self.event_log(None)  # a log without a quote to compare it with proves nothing
            return
        if runtime is None:
            skip_quote_checks(
                self.log, "not checked: the runtime data names no attestation key", VTPM
            )
            self.event_log(None)
            return
        try:
            result = verify_tpm_quote_with_key(
                quote.attest,
                quote.signature,
                runtime.ak.public_key(),
                expected_extra_data=self.req.nonce,
                pcr_values=quote.pcrs,
                extra_data_name=self.req.extra_data_name,
                ak_note=AK_NOTE,
            )
        except CairnError as error:
            self.log.failed_with(AzureCheck.VTPM_QUOTE, error, component=VTPM)
            skip_quote_checks(self.log, "not checked: the vTPM quote cannot be read", VTPM)
            self.event_log(None)
            return
        result.record(self.log, VTPM)
        pins = self.req.policy.evidence.pcrs
        appraise_pcrs(pins, result, self.log)
        if not pins:
            self.warnings.append(NO_PCR_WARNING)
        self.claims["vtpm"] = {
            "extra_data": result.attest.extra_data.hex(),
            "pcrs": {
                f"{bank}:{index}": value.hex()
                for (bank, index), value in result.trusted_pcr_values().items()
            },
        }
        self.event_log(result)

    def event_log(self, quote: TpmQuoteResult | None) -> None:
        """``tpm-event-log``: the evidence pipeline's replay, against this vTPM quote's PCRs
        (only once it verified); a log that proves nothing is also said in the warnings."""
        raw = self.evidence.event_log
        if raw is None:
            return
        from ..evidence.event_log import check_event_log  # only when a log is given

        measured_boot = check_event_log(
            raw, quote, self.log, component=VTPM, unreadable_hint=EVENT_LOG_HINT
        )
        if measured_boot is not None:
            self.claims["measured_boot"] = measured_boot
            return
        check = self.log.checks[-1]
        if check.outcome is Outcome.SKIP:
            self.warnings.append(UNREPLAYED_WARNING.format(why=check.summary))

    # -- the [azure] policy --------------------------------------------------------------------

    def vm_configuration(self, runtime: RuntimeData | None) -> None:
        if runtime is None:
            return
        policy = self.req.policy.azure
        for required, name, flag, what in (
            (policy.require_secure_boot, AzureCheck.SECURE_BOOT, "secure-boot", "Secure Boot"),
            (policy.require_tpm_enabled, AzureCheck.TPM_ENABLED, "tpm-enabled", "the vTPM"),
        ):
            value = runtime.flag(flag)
            if not required:
                self.log.skipped(name, RUNTIME, f"not required by the policy ({flag} = {value})")
                continue
            self.log.check(
                value is True,
                name,
                RUNTIME,
                POLICY,
                f"{flag} is true" if value is True else f"{flag} is {_stated(value)}",
                expected="true",
                actual=_stated(value),
                hint=f"deploy the VM with {what} enabled, or waive it in [azure]",
            )
        self._console(runtime, policy.allow_console)
        if policy.tpm_persisted is not None:
            value = runtime.flag("tpm-persisted")
            self.log.check(
                value is policy.tpm_persisted,
                AzureCheck.TPM_PERSISTED,
                RUNTIME,
                POLICY,
                f"tpm-persisted is {_stated(value)}",
                expected=str(policy.tpm_persisted).lower(),
                actual=_stated(value),
            )
        if policy.vm_unique_ids:
            value = runtime.flag("vmUniqueId")
            accepted = {v.upper() for v in policy.vm_unique_ids}
            self.log.check(
                isinstance(value, str) and value.upper() in accepted,
                AzureCheck.VM_ID,
                RUNTIME,
                POLICY,
                "the VM is one the policy accepts",
                expected=" or ".join(policy.vm_unique_ids),
                actual=_stated(value),
                hint="the evidence comes from another Azure VM",
            )
        if policy.user_data is not None:
            actual = runtime.user_data
            self.log.check(
                actual == policy.user_data,
                AzureCheck.USER_DATA,
                RUNTIME,
                CONTENT,
                "user-data is the policy's value",
                expected=policy.user_data.hex(),
                actual="(absent)" if actual is None else actual.hex(),
            )

    def _console(self, runtime: RuntimeData, allowed: bool) -> None:
        attached = [
            name
            for name in ("console-enabled", "interactive-console-enabled")
            if runtime.flag(name) is True
        ]
        if not attached:
            self.log.passed(AzureCheck.CONSOLE, RUNTIME, "the serial console is not attached")
        elif allowed:
            self.log.passed(
                AzureCheck.CONSOLE,
                RUNTIME,
                f"{' and '.join(attached)}: allowed by the policy (allow_console)",
            )
        else:
            self.log.failed(
                AzureCheck.CONSOLE,
                RUNTIME,
                POLICY,
                f"{' and '.join(attached)}: the Azure serial console is attached, a way into "
                "the VM for whoever manages it in Azure",
                expected="false",
                actual="true",
                hint="disable the serial console (boot diagnostics) for the VM, or set "
                "allow_console = true in [azure] if its login is locked down",
            )


def _runtime_binding(check: Check) -> Check:
    """The hardware pipeline's REPORT_DATA check, worded as the binding of the runtime data."""
    if check.outcome is Outcome.PASS:
        return check.replace(
            summary="REPORT_DATA = SHA-256(HCL runtime data) ‖ 32 zero bytes: the hardware "
            "report vouches for the vTPM key and the VM configuration",
        )
    if check.outcome is Outcome.FAIL:
        return check.replace(
            summary="REPORT_DATA is not SHA-256 of the HCL runtime data ‖ 32 zero bytes: the "
            "runtime data (vTPM key, VM configuration) is not the one the hardware signed",
            hint="the HCL report was altered, or its parts come from two reports: read it "
            "from the vTPM NV index again",
        )
    return check


def _stated(value: object) -> str:
    if value is None:
        return "not stated"
    return str(value).lower() if isinstance(value, bool) else str(value)


def _key_label(key: object) -> str:
    if isinstance(key, rsa.RSAPublicKey):
        return f"{key.key_size}-bit RSA, another modulus"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"ECC {key.curve.name}"
    return type(key).__name__


def verify_azure(evidence: AzureEvidence, request: AzureVerifyRequest) -> VerificationResult:
    """Verify an Azure confidential VM's evidence; the result lists every check (never raises
    on bad evidence)."""
    run = _Run(evidence=evidence, req=request)
    if request.trusted_root is not None:
        run.warnings.append(SIMULATED_WARNING)
    try:
        hcl = run.hcl_report()
        runtime = run.runtime_data(hcl)
        run.hardware(hcl)
        run.attestation_key(runtime)
        run.vtpm_quote(runtime)
        run.vm_configuration(runtime)
    except StopError:
        pass
    return run.result(run.kind, request)
