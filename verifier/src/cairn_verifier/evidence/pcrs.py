"""PCR pins (``[evidence.pcrs]``) against a verified TPM quote: the evidence pipeline's vTPM and
TPM quotes and ``cairn verify azure``'s vTPM quote are appraised the same way."""

from __future__ import annotations

from collections.abc import Mapping

from ..check_names import PCR_CHECK
from ..checks import CheckLog
from ..errors import ExitCode
from ..tpm.quote import TpmQuoteResult, format_pcrs


def appraise_pcrs(
    pins: Mapping[str, Mapping[int, bytes]], quote: TpmQuoteResult, log: CheckLog
) -> None:
    """``pins`` (bank → index → value) against the values the verified quote covers, and
    nothing else.

    A value that the quote does not select is never compared (``tpm-pcr-coverage`` already
    failed on it): only the TPM's signature makes a PCR value evidence.
    """
    trusted = quote.trusted_pcr_values()
    selected = set(quote.selected)
    for bank, expected in pins.items():
        for index, value in expected.items():
            name = PCR_CHECK.name(bank, index)
            if not quote.ok:
                log.skipped(
                    name,
                    "TPM quote",
                    f"not checked: the TPM quote did not verify, so no PCR value is trusted "
                    f"(policy expects {bank}:{index} = {value.hex()})",
                )
                continue
            if (bank, index) not in selected:
                log.failed(
                    name,
                    "TPM quote",
                    ExitCode.POLICY_REJECTED,
                    f"the policy pins PCR {bank}:{index}, but the quote does not select it "
                    f"(quoted: {format_pcrs(quote.selected) or 'none'})",
                    expected=value.hex(),
                    actual="(not quoted)",
                    hint=f"the quote does not select PCR {bank}:{index}; configure the agent's "
                    f"tpm.pcrs (and tpm.bank) to quote it, or remove the pin from the policy",
                )
                continue
            actual = trusted[(bank, index)]
            log.check(
                actual == value,
                name,
                "TPM quote",
                ExitCode.CONTENT_MISMATCH,
                f"PCR {bank}:{index} (covered by the quote) has the policy's value",
                expected=value.hex(),
                actual=actual.hex(),
                hint="the boot chain measured into this PCR differs from the reference",
            )
