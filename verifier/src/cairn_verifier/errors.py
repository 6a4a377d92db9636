"""Typed errors and the stable exit codes of the ``cairn`` CLI.

Every error a user can cause carries the exit code of its category, the component it concerns
and, where there is one, a hint saying what to do about it. A failed check carries a category
the same way (``checks.Check.category``); the first failure decides the exit code.

    code  meaning (README "Exit codes")      raised as
    0     verified                           -
    1     content mismatch                   - (a failed check: measurement, REPORT_DATA, claims)
    2     signature invalid                  SignatureError
    3     chain untrusted, expired, revoked  ChainError
    4     policy rejection                   PolicyError
    5     collateral unavailable             CollateralUnavailableError
    6     evidence unavailable               EvidenceUnavailableError
    10    malformed input                    MalformedInputError
    64    usage or setup error               UsageError, SetupError
    70    internal error (a bug)             any other exception; CairnError itself
    130   interrupted                        KeyboardInterrupt (cli/main.py)
    141   closed pipe                        BrokenPipeError (cli/main.py)

The exception tree, each class with its exit code (classes defined elsewhere name their module;
``tests/verifier/test_errors_tree.py`` keeps this drawing true):

    CairnError                          70
    ├── AuditChainError                  1  [serve.audit]
    ├── Rtmr0MismatchError               1  [refvalues.tdx_rtmr0]
    ├── SignatureError                   2
    │   └── ConstraintError              2  [zk.node]
    ├── ChainError                       3
    ├── PolicyError                      4
    │   ├── QeIdentityMismatchError      4  [tdx.tcb]
    │   └── TdxModuleMismatchError       4  [tdx.tcb]
    ├── CollateralUnavailableError       5
    │   └── FetchError                   5  [collateral.failures]
    │       └── CollateralNotFoundError  5  [collateral.failures]
    ├── EvidenceUnavailableError         6
    ├── MalformedInputError             10
    │   ├── ParseError                  10
    │   ├── PolicyFileError             10
    │   ├── DeferredError               10  [inputs.base]
    │   ├── TreeDepthError              10  [binding.smt]
    │   └── TreeKeyError                10  [binding.smt]
    ├── UsageError                      64
    │   └── CommandLineError            64  [cli.parser]
    ├── SetupError                      64
    │   ├── ZkIntegrityError            64  [zk.circuits]
    │   └── ZkToolchainError            64  [zk.node]
    └── ZkDriverError                   70  [zk.node]
"""

from __future__ import annotations

from enum import IntEnum
from typing import ClassVar


class ExitCode(IntEnum):
    """Stable, documented exit codes (README "Exit codes")."""

    OK = 0
    CONTENT_MISMATCH = 1
    SIGNATURE_INVALID = 2
    CHAIN_UNTRUSTED = 3
    POLICY_REJECTED = 4
    COLLATERAL_UNAVAILABLE = 5
    EVIDENCE_UNAVAILABLE = 6
    MALFORMED_INPUT = 10
    USAGE_OR_SETUP = 64
    INTERNAL_ERROR = 70

    @property
    def meaning(self) -> str:
        return _MEANINGS[self]


_MEANINGS = {
    ExitCode.OK: "verified",
    ExitCode.CONTENT_MISMATCH: "content mismatch (measurement, REPORT_DATA, host data, claims)",
    ExitCode.SIGNATURE_INVALID: "signature invalid",
    ExitCode.CHAIN_UNTRUSTED: "certificate chain not trusted, expired or revoked",
    ExitCode.POLICY_REJECTED: "policy rejection (TCB, debug, VMPL, attributes, ...)",
    ExitCode.COLLATERAL_UNAVAILABLE: "collateral unavailable (offline miss, service unreachable)",
    ExitCode.EVIDENCE_UNAVAILABLE: "evidence unavailable (agent unreachable or answering an error)",
    ExitCode.MALFORMED_INPUT: "malformed input",
    ExitCode.USAGE_OR_SETUP: "usage or setup error (bad command line, or a needed tool is missing)",
    ExitCode.INTERNAL_ERROR: "internal error (a bug in Cairn: please report it)",
}


class CairnError(Exception):
    """Base class of every error Cairn reports to a user."""

    exit_code: ClassVar[ExitCode] = ExitCode.INTERNAL_ERROR

    def __init__(self, message: str, *, component: str | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.component = component
        self.hint = hint

    def __str__(self) -> str:
        prefix = f"{self.component}: " if self.component else ""
        return f"{prefix}{self.message}"


class MalformedInputError(CairnError):
    """The input could not be read: wrong encoding, wrong size, unknown format."""

    exit_code = ExitCode.MALFORMED_INPUT


class ParseError(MalformedInputError):
    """A binary structure (report, quote, certificate, CRL) violates its specification.

    ``offset`` is the byte offset of the offending field when known, ``field`` its name.
    """

    def __init__(
        self,
        message: str,
        *,
        component: str | None = None,
        field: str | None = None,
        offset: int | None = None,
        hint: str | None = None,
    ):
        super().__init__(message, component=component, hint=hint)
        self.field = field
        self.offset = offset

    def __str__(self) -> str:
        where = ""
        if self.field is not None:
            where = (
                f" [{self.field}"
                + (f" @0x{self.offset:03X}" if self.offset is not None else "")
                + "]"
            )
        return super().__str__() + where


class SignatureError(CairnError):
    """A signature does not verify."""

    exit_code = ExitCode.SIGNATURE_INVALID


class ChainError(CairnError):
    """A certificate chain is not trusted, has expired, or is revoked."""

    exit_code = ExitCode.CHAIN_UNTRUSTED


class CollateralUnavailableError(CairnError):
    """Collateral (certificates, CRLs, TCB info) could not be obtained."""

    exit_code = ExitCode.COLLATERAL_UNAVAILABLE


class EvidenceUnavailableError(CairnError):
    """The evidence itself could not be obtained (an agent unreachable or answering an error)."""

    exit_code = ExitCode.EVIDENCE_UNAVAILABLE


class UsageError(CairnError):
    """The command line is wrong: a missing, unknown or contradictory option."""

    exit_code = ExitCode.USAGE_OR_SETUP


class SetupError(CairnError):
    """Something the command needs is not installed or not found; the hint says how to get it."""

    exit_code = ExitCode.USAGE_OR_SETUP


class PolicyError(CairnError):
    """The evidence is authentic but the policy rejects it."""

    exit_code = ExitCode.POLICY_REJECTED


class PolicyFileError(MalformedInputError):
    """A policy file could not be read or does not match the policy schema."""
