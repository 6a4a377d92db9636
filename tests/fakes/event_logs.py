"""A real TCG event log for tests, and a software TPM whose PCRs that log built.

keylime's CentOS Stream 9 Secure Boot log (``tests/vectors/eventlog/keylime``) is the real log;
:func:`extend_pcrs` replays its events into a swtpm with ``tpm2_pcrextend``, as the firmware
extended the real TPM, so a quote of that swtpm covers PCRs the log reproduces.
"""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

from cairn_verifier.eventlog import parse_tcg_log


def keylime_log(testdata: Path) -> bytes:
    """The raw bytes of keylime's real CentOS Stream 9 Secure Boot TCG log."""
    text = (testdata / "eventlog" / "keylime" / "mb_log.b64").read_text()
    return base64.b64decode("".join(text.split()))


def extend_pcrs(tcti: str, raw_log: bytes) -> None:
    """Extend the TPM's SHA-256 PCRs with every event of the log, as the firmware did."""
    args = [
        f"{event.register}:sha256={event.digests['sha256'].hex()}"
        for event in parse_tcg_log(raw_log).events
        if event.extends
    ]
    for start in range(0, len(args), 20):
        subprocess.run(
            ["tpm2_pcrextend", *args[start : start + 20]],
            check=True,
            env={"TPM2TOOLS_TCTI": tcti, "PATH": "/usr/bin:/bin"},
            capture_output=True,
            timeout=60,
        )
