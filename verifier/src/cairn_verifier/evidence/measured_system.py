"""The system claim, checked against the measured kernel command line.

The agent claims a NixOS system: the store path its configuration names (``/run/booted-system``
on Cairn's images). REPORT_DATA binds that claim to the report, but it is still the guest's own
word. What the TEE measures is the command line the VM was launched with, and Cairn's images
boot ``init=<toplevel>/init``. A reference-values file (``cairn reference-values``, ``nix build
.#reference-values``) records, for each launch measurement, the command line it was computed
from. So when the report's authenticated MEASUREMENT is an entry of the reference values, that
entry's ``init=`` names the system that booted, and the claim must be that system.

Without reference values, for TDX evidence (no RTMR reference values yet), or when the entry
records no ``init=``, nothing links the claim to a measurement: the check is skipped and the
result carries a warning that the system claim is self-reported.
"""

from __future__ import annotations

from typing import Final

from ..binding.system_hash import validate_store_path
from ..check_names import EvidenceCheck
from ..checks import CheckLog, VerificationResult
from ..errors import ExitCode, MalformedInputError
from ..snp.reference_values import ReferenceValues
from .kinds import TeeKind
from .models import tee_model

CHECK: Final = EvidenceCheck.SYSTEM_MEASURED
COMPONENT: Final = "claims"
INIT_SUFFIX: Final = "/init"


def init_toplevel(cmdline: str) -> str | None:
    """The store path whose ``init`` a kernel command line runs, or None when it names none.

    Linux parses parameters up to a lone ``--`` (the rest goes to init), and a later ``init=``
    replaces an earlier one (init/main.c, ``init_setup``). Only ``init=<store path>/init`` names
    a NixOS system; any other init (or none) gives None.
    """
    words = cmdline.split()
    if "--" in words:
        words = words[: words.index("--")]
    inits = [word.removeprefix("init=") for word in words if word.startswith("init=")]
    if not inits or not inits[-1].endswith(INIT_SUFFIX):
        return None
    toplevel = inits[-1].removesuffix(INIT_SUFFIX)
    try:
        return validate_store_path(toplevel, "init= directory")
    except MalformedInputError:
        return None


def self_reported(claimed: str, why: str) -> str:
    """The warning for a system claim nothing measured backs."""
    return (
        f"SELF-REPORTED SYSTEM: the claimed NixOS system {claimed} is the agent's word only "
        f"({why}); pass the image's reference values (--reference-values) to check it against "
        "the measured command line"
    )


def check_measured_system(
    claimed: str,
    tee_kind: TeeKind,
    tee_result: VerificationResult | None,
    reference: ReferenceValues | None,
    log: CheckLog,
) -> str | None:
    """Record the ``system-measured`` check; return a warning when the claim is self-reported."""
    if reference is None:
        log.skipped(CHECK, COMPONENT, "no reference values: the system claim is not checked")
        return self_reported(claimed, "no reference values were given")
    if not tee_model(tee_kind).measures_command_line:
        log.skipped(
            CHECK,
            COMPONENT,
            f"reference values describe SEV-SNP launches; {tee_kind} evidence is not linked to "
            "a measured command line by this version of Cairn",
        )
        return self_reported(claimed, f"no measured command line is checked for {tee_kind}")
    if tee_result is None or not tee_result.ok or "measurement" not in tee_result.claims:
        log.skipped(
            CHECK, COMPONENT, "the TEE evidence did not verify, so its measurement proves nothing"
        )
        return None
    measurement = bytes.fromhex(str(tee_result.claims["measurement"]))
    entries = [entry for entry in reference.inputs if entry.measurement == measurement]
    if not entries:
        if measurement in reference.measurements:
            log.skipped(
                CHECK,
                COMPONENT,
                "the reference values list this launch measurement without the command line "
                "it was computed from",
            )
            return self_reported(claimed, "the reference values do not record the command line")
        log.failed(
            CHECK,
            COMPONENT,
            ExitCode.CONTENT_MISMATCH,
            "the launch measurement is not one of the reference values, so nothing links it "
            "to a system",
            expected=" or ".join(m.hex() for m in reference.measurements),
            actual=measurement.hex(),
            hint="the VM was launched with other firmware, kernel, initrd, command line or vCPU "
            "setup than the reference values were computed for",
        )
        return None
    toplevels = {init_toplevel(entry.cmdline or "") for entry in entries}
    if len(toplevels) > 1:
        log.failed(
            CHECK,
            COMPONENT,
            ExitCode.MALFORMED_INPUT,
            "the reference values give different command lines for one launch measurement",
            actual=" | ".join(sorted(str(t) for t in toplevels)),
            hint="regenerate the reference-values file; a measurement covers exactly one "
            "command line",
        )
        return None
    (toplevel,) = toplevels
    if toplevel is None:
        log.skipped(
            CHECK,
            COMPONENT,
            "the measured command line names no system (no init=<store path>/init)",
        )
        return self_reported(claimed, "the measured command line has no init=<toplevel>/init")
    log.check(
        claimed == toplevel,
        CHECK,
        COMPONENT,
        ExitCode.CONTENT_MISMATCH,
        "the claimed system is the one the measured command line boots (init=)"
        if claimed == toplevel
        else "the claimed system is not the one the measured command line boots (init=)",
        expected=toplevel,
        actual=claimed,
        hint="the agent reports another system than the VM booted: its system link was "
        "re-pointed or it is misconfigured; do not trust this VM's claims",
    )
    return None
