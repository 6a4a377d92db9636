"""Appraise an authenticated SEV-SNP report against an :class:`SnpPolicy`.

Content checks (measurement, host data, REPORT_DATA, key digests) fail with exit code 1;
platform and guest-configuration checks (TCB, debug, VMPL, ABI, product, chip) with exit code 4.
"""

from __future__ import annotations

from ..check_names import SnpCheck
from ..checks import CheckLog
from ..errors import ExitCode
from .policy import SnpPolicy
from .product import ProductLine
from .report import AttestationReport, SigningKey

CONTENT = ExitCode.CONTENT_MISMATCH
POLICY = ExitCode.POLICY_REJECTED


def _one_of(values: tuple[bytes, ...]) -> str:
    return " or ".join(v.hex() for v in values)


def appraise_content(
    report: AttestationReport, policy: SnpPolicy, log: CheckLog, *, report_data: bytes | None
) -> None:
    """Measurement, host data, REPORT_DATA and identity-key digests."""
    if policy.measurements:
        log.check(
            report.measurement in policy.measurements,
            SnpCheck.MEASUREMENT,
            "report",
            CONTENT,
            "launch measurement is one the policy accepts",
            expected=_one_of(policy.measurements),
            actual=report.measurement.hex(),
            hint="the guest's firmware, kernel, initrd or command line differ from the reference "
            "values; rebuild the reference values (sev-snp-measure) or launch the expected image",
        )
    else:
        log.skipped(
            SnpCheck.MEASUREMENT,
            "report",
            f"no expected measurement in the policy (reported {report.measurement.hex()})",
            hint="pin the launch measurement with `measurements = [...]` in the [snp] policy",
        )
    expected_rd = report_data if report_data is not None else policy.report_data
    if expected_rd is not None:
        log.check(
            report.report_data == expected_rd,
            SnpCheck.REPORT_DATA,
            "report",
            CONTENT,
            "REPORT_DATA equals the expected value",
            expected=expected_rd.hex(),
            actual=report.report_data.hex(),
            hint="the report was made for another nonce/key, or it is a replay: request a fresh "
            "report with your nonce",
        )
    else:
        log.skipped(SnpCheck.REPORT_DATA, "report", "no expected REPORT_DATA given (--report-data)")
    if policy.host_data is not None:
        log.check(
            report.host_data == policy.host_data,
            SnpCheck.HOST_DATA,
            "report",
            CONTENT,
            "HOST_DATA equals the policy's value",
            expected=policy.host_data.hex(),
            actual=report.host_data.hex(),
            hint="the host launched the guest with different HOST_DATA",
        )
    _digest_check(log, SnpCheck.ID_KEY_DIGEST, report.id_key_digest, policy.id_key_digests)
    _digest_check(
        log, SnpCheck.AUTHOR_KEY_DIGEST, report.author_key_digest, policy.author_key_digests
    )


def _digest_check(log: CheckLog, name: str, actual: bytes, allowed: tuple[bytes, ...]) -> None:
    if not allowed:
        return
    log.check(
        actual in allowed,
        name,
        "report",
        CONTENT,
        f"{name.replace('-', ' ')} is one the policy accepts",
        expected=_one_of(allowed),
        actual=actual.hex(),
        hint="the guest was launched with a different ID block / author key",
    )


def appraise_platform(
    report: AttestationReport,
    policy: SnpPolicy,
    log: CheckLog,
    *,
    product: ProductLine,
) -> None:
    """Guest policy bits, VMPL, ABI, TCB minimums, product line, chip allowlist, signing key."""
    gp = report.policy
    log.check(
        policy.allow_debug or not gp.debug,
        SnpCheck.DEBUG_DISABLED,
        "guest policy",
        POLICY,
        "guest policy forbids debugging" if not gp.debug else "guest policy ALLOWS debugging",
        expected="DEBUG=0",
        actual=f"DEBUG={int(gp.debug)}",
        hint="a debuggable guest's memory can be read by the host; relaunch with DEBUG=0 or set "
        "allow_debug = true in the policy (never in production)",
    )
    log.check(
        policy.allow_migration_agent or not gp.migrate_ma,
        SnpCheck.MIGRATION_AGENT,
        "guest policy",
        POLICY,
        "migration agent association is acceptable",
        expected="MIGRATE_MA=0" if not policy.allow_migration_agent else "any",
        actual=f"MIGRATE_MA={int(gp.migrate_ma)}",
        hint="relaunch without a migration agent or set allow_migration_agent = true",
    )
    log.check(
        policy.allow_smt or not gp.smt,
        SnpCheck.SMT,
        "guest policy",
        POLICY,
        "SMT setting is acceptable",
        expected="SMT=0",
        actual=f"SMT={int(gp.smt)}",
        hint="relaunch with SMT disallowed in the guest policy or set allow_smt = true",
    )
    if policy.minimum_abi is not None:
        have = (gp.abi_major, gp.abi_minor)
        log.check(
            have >= policy.minimum_abi,
            SnpCheck.MINIMUM_ABI,
            "guest policy",
            POLICY,
            "guest policy ABI meets the minimum",
            expected=f">= {policy.minimum_abi[0]}.{policy.minimum_abi[1]}",
            actual=f"{have[0]}.{have[1]}",
            hint="launch the guest with a newer minimum firmware ABI in its policy",
        )
    log.check(
        report.vmpl in policy.allowed_vmpls,
        SnpCheck.VMPL,
        "report",
        POLICY,
        f"report requested at VMPL {report.vmpl}",
        expected=f"one of {list(policy.allowed_vmpls)}",
        actual=str(report.vmpl),
        hint="request the report from an allowed VMPL or extend allowed_vmpls",
    )
    if policy.minimum_guest_svn is not None:
        log.check(
            report.guest_svn >= policy.minimum_guest_svn,
            SnpCheck.GUEST_SVN,
            "report",
            POLICY,
            "guest SVN meets the minimum",
            expected=f">= {policy.minimum_guest_svn}",
            actual=str(report.guest_svn),
            hint="launch a newer guest image (its ID block carries the SVN)",
        )
    _tcb_minimum(report, policy, log, product)
    if policy.allowed_products:
        log.check(
            product in policy.allowed_products,
            SnpCheck.PRODUCT_ALLOWED,
            "platform",
            POLICY,
            f"product line {product.value} is allowed",
            expected=" or ".join(p.value for p in policy.allowed_products),
            actual=product.value,
            hint="run the guest on an allowed AMD EPYC generation or extend allowed_products",
        )
    key = "vlek" if report.signing_key is SigningKey.VLEK else "vcek"
    log.check(
        key in policy.allowed_signing_keys,
        SnpCheck.SIGNING_KEY_ALLOWED,
        "report",
        POLICY,
        f"report signed with a {key.upper()}",
        expected=" or ".join(policy.allowed_signing_keys),
        actual=key,
        hint="extend allowed_signing_keys if reports signed by this key kind are acceptable",
    )
    if policy.allowed_chip_ids:
        log.check(
            report.chip_id in policy.allowed_chip_ids,
            SnpCheck.CHIP_ID_ALLOWED,
            "platform",
            POLICY,
            "chip is on the allowlist",
            expected=f"one of {len(policy.allowed_chip_ids)} allowed chip ids",
            actual=report.chip_id.hex(),
            hint="run on an allowed host or add the chip id to allowed_chip_ids",
        )


_TCB_REMEDIATION = {
    "bootloader": "update the host's PSP bootloader (AMD platform firmware / BIOS)",
    "tee": "update the host's PSP TEE OS (AMD platform firmware / BIOS)",
    "snp": "update the host's SEV-SNP firmware",
    "microcode": "update the host CPU microcode (BIOS or OS microcode package)",
    "fmc": "update the host's PSP FMC firmware (AMD platform firmware / BIOS)",
}


def _tcb_minimum(
    report: AttestationReport, policy: SnpPolicy, log: CheckLog, product: ProductLine
) -> None:
    required = policy.minimum_tcb.required()
    if not required:
        return
    reported = report.reported_tcb.components()
    behind = []
    for name, minimum in required.items():
        if name not in reported:
            if product is ProductLine.TURIN or name != "fmc":
                behind.append(f"{name}: not reported by this platform, policy minimum {minimum}")
            continue
        if reported[name] < minimum:
            behind.append(
                f"reported TCB {name}={reported[name]} < policy minimum {minimum}: "
                + _TCB_REMEDIATION[name]
            )
    log.check(
        not behind,
        SnpCheck.MINIMUM_TCB,
        "platform",
        POLICY,
        "reported TCB meets the policy minimum" if not behind else "; ".join(behind),
        expected=", ".join(f"{k}>={v}" for k, v in required.items()),
        actual=str(report.reported_tcb),
        hint=behind[0].split(": ", 1)[1] if behind and ": " in behind[0] else None,
    )
