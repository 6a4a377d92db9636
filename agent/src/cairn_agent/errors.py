"""``cairn-agent``'s exit codes (sysexits.h values), the start-up error that carries one, and the
base of the errors the hardware raises.

    Exception
    ├── StartupError        the agent cannot start; carries its ExitCode
    └── HardwareError       the TEE or the TPM could not do what was asked (/v1/evidence: 503)
        ├── ProviderError   a TEE evidence provider (tee/base.py); ``retryable`` when busy
        └── TpmError        the TPM (tpm.py)
            ├── TpmUnavailable    no TPM answers (device, permission, TCTI)
            └── TpmCommandError   a TPM command failed (its response code)
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """What ``cairn-agent`` exits with; documented in docs/agent.md and ``--help``."""

    OK = 0
    USAGE = 64
    """EX_USAGE: wrong command line, or an output file that exists or cannot be written."""
    UNAVAILABLE = 69
    """EX_UNAVAILABLE: a required device or service is missing at start-up (TEE, TPM, port)."""
    INTERNAL = 70
    """EX_SOFTWARE: a bug in cairn-agent."""
    CONFIG = 78
    """EX_CONFIG: the configuration, or a file it names, is missing or invalid."""


class StartupError(Exception):
    """The agent cannot start (or a command cannot run); the message says why and what to do."""

    def __init__(self, message: str, code: ExitCode):
        super().__init__(message)
        self.message = message
        self.code = code


class HardwareError(Exception):
    """The TEE or the TPM could not do what was asked; ``hint`` says what to do about it."""

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
