"""Named check results shared by every verification pipeline (SNP, TDX, evidence), and the
shapes the TEE pipelines share.

A pipeline records one :class:`Check` per thing it verified: it passed, failed (with the
category that decides the exit code and a remediation hint) or was skipped with a reason.
The :class:`VerificationResult` is what the CLI renders as text or JSON.

The SEV-SNP and TDX pipelines take a :class:`VerifyRequest` (the fields every TEE request has),
collect checks, claims and warnings in a :class:`PipelineRun`, stop with :class:`StopError`
when nothing after a failure can be evaluated, and say what a pass does not prove with
:meth:`Unpinned.warnings`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from .errors import CairnError, ExitCode
from .records import Record
from .timefmt import iso_time

if TYPE_CHECKING:
    from .x509.cert import Certificate

PolicyT = TypeVar("PolicyT")
T = TypeVar("T")


class Outcome(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    SKIP = "skipped"


_set = object.__setattr__
"""Sets a field of a record being built (its own ``__setattr__`` refuses: records are frozen)."""


class Check(Record):
    """The outcome of one named check on one component."""

    name: str
    component: str
    outcome: Outcome
    summary: str
    expected: str | None
    actual: str | None
    hint: str | None
    category: ExitCode | None

    __slots__ = (
        "actual",
        "category",
        "component",
        "expected",
        "hint",
        "name",
        "outcome",
        "summary",
    )

    def __init__(  # noqa: PLR0917
        self,
        name: str,
        component: str,
        outcome: Outcome,
        summary: str,
        expected: str | None = None,
        actual: str | None = None,
        hint: str | None = None,
        category: ExitCode | None = None,
    ) -> None:
        # Pipelines name checks with registry members (check_names.py); keep the plain name.
        _set(self, "name", str(name))
        _set(self, "component", component)
        _set(self, "outcome", outcome)
        _set(self, "summary", summary)
        _set(self, "expected", expected)
        _set(self, "actual", actual)
        _set(self, "hint", hint)
        _set(self, "category", category)

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "name": self.name,
            "component": self.component,
            "outcome": self.outcome.value,
            "summary": self.summary,
        }
        if self.expected is not None:
            doc["expected"] = self.expected
        if self.actual is not None:
            doc["actual"] = self.actual
        if self.hint is not None:
            doc["hint"] = self.hint
        if self.category is not None:
            doc["exit_code"] = int(self.category)
            doc["category"] = self.category.name.lower()
        return doc


@dataclass
class CheckLog:
    """Collects checks in pipeline order; the first failure decides the exit code."""

    checks: list[Check] = field(default_factory=list)

    def passed(
        self,
        name: str,
        component: str,
        summary: str,
        *,
        expected: str | None = None,
        actual: str | None = None,
    ) -> Check:
        return self._add(Check(name, component, Outcome.PASS, summary, expected, actual))

    def failed(
        self,
        name: str,
        component: str,
        category: ExitCode,
        summary: str,
        *,
        expected: str | None = None,
        actual: str | None = None,
        hint: str | None = None,
    ) -> Check:
        return self._add(
            Check(name, component, Outcome.FAIL, summary, expected, actual, hint, category)
        )

    def failed_with(self, name: str, error: CairnError, *, component: str | None = None) -> Check:
        """Record a failure from a typed error (its exit code, component and hint)."""
        return self.failed(
            name,
            component or error.component or "-",
            error.exit_code,
            error.message,
            hint=error.hint,
        )

    def skipped(self, name: str, component: str, reason: str, *, hint: str | None = None) -> Check:
        return self._add(Check(name, component, Outcome.SKIP, reason, hint=hint))

    def check(
        self,
        ok: bool,
        name: str,
        component: str,
        category: ExitCode,
        summary: str,
        *,
        expected: str | None = None,
        actual: str | None = None,
        hint: str | None = None,
    ) -> bool:
        """Record a pass or a failure depending on ``ok``; return ``ok``."""
        if ok:
            self.checks.append(Check(name, component, Outcome.PASS, summary, expected, actual))
        else:
            self.checks.append(
                Check(name, component, Outcome.FAIL, summary, expected, actual, hint, category)
            )
        return ok

    def _add(self, check: Check) -> Check:
        self.checks.append(check)
        return check

    def __iter__(self) -> Iterator[Check]:
        return iter(self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.outcome is Outcome.FAIL]

    def has_failed(self, *names: str) -> bool:
        return any(c.outcome is Outcome.FAIL and c.name in names for c in self.checks)


@dataclass(frozen=True)
class VerificationResult:
    """Everything a verification found: the checks in order and what was attested."""

    kind: str
    subject: str
    verified_at: datetime
    checks: tuple[Check, ...]
    claims: Mapping[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    container: str | None = None
    """The input formats the evidence was read from (``hex > azure-hcl (…)``), when a file was
    read (docs/inputs.md)."""

    @property
    def ok(self) -> bool:
        return not any(c.outcome is Outcome.FAIL for c in self.checks)

    @property
    def exit_code(self) -> ExitCode:
        for check in self.checks:
            if check.outcome is Outcome.FAIL:
                return check.category or ExitCode.INTERNAL_ERROR
        return ExitCode.OK

    def to_json(self) -> dict[str, Any]:
        return self.head_json() | {"checks": [c.to_json() for c in self.checks], **self.tail_json()}

    def head_json(self) -> dict[str, Any]:
        """The members of :meth:`to_json` before ``checks``, in order."""
        doc: dict[str, Any] = {"kind": self.kind, "subject": self.subject}
        if self.container is not None:
            doc["container"] = self.container
        code = self.exit_code
        return doc | {
            "verified": code is ExitCode.OK,
            "exit_code": int(code),
            "result": code.meaning,
            "verified_at": iso_time(self.verified_at),
        }

    def tail_json(self) -> dict[str, Any]:
        """The members of :meth:`to_json` after ``checks``, in order."""
        return {"claims": dict(self.claims), "warnings": list(self.warnings)}


# --------------------------------------------------------------------------- TEE pipelines


@dataclass(frozen=True)
class VerifyRequest(Generic[PolicyT]):
    """What every TEE verification request holds besides the evidence and its collateral."""

    at: datetime
    """The time to verify at: certificate validity, CRL and collateral windows."""
    policy: PolicyT
    report_data: bytes | None = None
    """The expected REPORT_DATA (64 bytes); None: the policy's value, else not checked."""
    subject: str = "evidence"
    """What the result names as verified (a file name, an agent's URL)."""
    trusted_root: Certificate | None = None
    """A simulated root the user trusts explicitly (``--trust-simulated-root``) in place of the
    vendor's pinned root. Never hardware: the result says so."""


class StopError(Exception):
    """A pipeline cannot go on; the failed check that says why is already in its log."""


class Recorded(Record):
    """What a pipeline step recorded, to replay for the next evidence with the same inputs: its
    checks (immutable), the claims it set, what it added to the run's ``replayed_state``, and
    what it returned (None: it stopped the pipeline). ``anchors`` are the objects its key names
    by identity, kept alive here so that their ids cannot be reused while the entry exists."""

    checks: tuple[Check, ...]
    claims: tuple[tuple[str, object], ...]
    warnings: tuple[str, ...]
    state: tuple[tuple[str, object], ...]
    returned: object
    anchors: tuple[object, ...]

    __slots__ = ("anchors", "checks", "claims", "returned", "state", "warnings")

    def __init__(  # noqa: PLR0917
        self,
        checks: tuple[Check, ...],
        claims: tuple[tuple[str, object], ...],
        warnings: tuple[str, ...],
        state: tuple[tuple[str, object], ...],
        returned: object,
        anchors: tuple[object, ...],
    ) -> None:
        object.__setattr__(self, "checks", checks)
        object.__setattr__(self, "claims", claims)
        object.__setattr__(self, "warnings", warnings)
        object.__setattr__(self, "state", state)
        object.__setattr__(self, "returned", returned)
        object.__setattr__(self, "anchors", anchors)


class StepMemo:
    """Recorded pipeline steps by the exact inputs they read (bounded, least recently used).

    A step whose outcome depends only on what is the same for many pieces of evidence — a
    certificate chain, collateral, the time, the policy — is run once and replayed after: a warm
    verifier then redoes per report or quote only what depends on it (its signature, its
    fields). Keys hold bytes and values; what they name by identity is an anchor.
    """

    def __init__(self, maxsize: int) -> None:
        self._entries: OrderedDict[Hashable, Recorded] = OrderedDict()
        self.maxsize = maxsize

    def get(self, key: Hashable, anchors: tuple[object, ...]) -> Recorded | None:
        entry = self._entries.get(key)
        if entry is None or any(a is not b for a, b in zip(entry.anchors, anchors, strict=True)):
            return None
        self._entries.move_to_end(key)
        return entry

    def put(self, key: Hashable, entry: Recorded) -> None:
        self._entries[key] = entry
        self._entries.move_to_end(key)
        if len(self._entries) > self.maxsize:
            self._entries.popitem(last=False)


_ABSENT = object()


@dataclass
class PipelineRun:
    """What one run of a TEE pipeline collects: checks in order, claims and warnings."""

    replayed_state: ClassVar[tuple[str, ...]] = ()
    """Attributes a recorded step may change (a set it adds to, a flag it raises)."""

    log: CheckLog = field(default_factory=CheckLog, kw_only=True)
    claims: dict[str, object] = field(default_factory=dict, kw_only=True)
    warnings: list[str] = field(default_factory=list, kw_only=True)

    def stop_on(
        self,
        name: str,
        component: str,
        step: Callable[[], T],
        ok: str,
        *,
        catch: type[CairnError] = CairnError,
    ) -> T:
        """Run one step; record a pass, or its typed failure (``catch``) and stop."""
        try:
            value = step()
        except catch as error:
            self.log.failed_with(name, error, component=component)
            raise StopError from error
        self.log.passed(name, component, ok)
        return value

    def recorded(
        self,
        memo: StepMemo,
        key: Hashable | None,
        anchors: tuple[object, ...],
        step: Callable[[], T],
    ) -> T:
        """``step()``, or the replay of what it recorded for the same ``key`` before: its checks,
        claims and state, and StopError again if it stopped. ``key`` None: just run it."""
        if key is None:
            return step()
        entry = memo.get(key, anchors)
        if entry is None:
            entry = self._record(step, anchors)
            memo.put(key, entry)
        else:
            self.log.checks.extend(entry.checks)
            self.warnings.extend(entry.warnings)
            for name, value in entry.claims:
                self.claims[name] = list(value) if isinstance(value, list) else value
            for name, added in entry.state:
                current = getattr(self, name)
                if isinstance(current, set) and isinstance(added, frozenset):
                    current |= added
                else:
                    setattr(self, name, added)
        if entry.returned is None:
            raise StopError
        return entry.returned  # type: ignore[return-value]

    def _record(self, step: Callable[[], object], anchors: tuple[object, ...]) -> Recorded:
        start, claims_before = len(self.log.checks), dict(self.claims)
        warnings_start = len(self.warnings)
        before = {name: getattr(self, name) for name in self.replayed_state}
        before = {n: set(v) if isinstance(v, set) else v for n, v in before.items()}
        try:
            returned = step()
        except StopError:
            returned = None
        state = []
        for name, old in before.items():
            new = getattr(self, name)
            if isinstance(new, set):
                state.append((name, frozenset(new - old)))
            elif new != old:
                state.append((name, new))
        return Recorded(
            checks=tuple(self.log.checks[start:]),
            warnings=tuple(self.warnings[warnings_start:]),
            claims=tuple(
                (k, v) for k, v in self.claims.items() if claims_before.get(k, _ABSENT) != v
            ),
            state=tuple(state),
            returned=returned,
            anchors=anchors,
        )

    def result(self, kind: str, request: VerifyRequest[Any]) -> VerificationResult:
        return VerificationResult(
            kind=kind,
            subject=request.subject,
            verified_at=request.at,
            checks=tuple(self.log.checks),
            claims=self.claims,
            warnings=tuple(self.warnings),
        )


class Unpinned(Record):
    """How a TEE's warnings name what a pass proves when the policy pins nothing about the guest.

    ``measurement`` is the launch register (``launch measurement``, ``MRTD``), ``guest`` what it
    identifies, ``genuine``/``simulated`` what a pass proves instead, ``pin`` where to pin it;
    ``report_data`` and ``evidence`` name the nonce field and the signed document.
    """

    measurement: str
    guest: str
    genuine: str
    simulated: str
    pin: str
    report_data: str
    evidence: str

    __slots__ = ("evidence", "genuine", "guest", "measurement", "pin", "report_data", "simulated")

    def __init__(  # noqa: PLR0917
        self,
        measurement: str,
        guest: str,
        genuine: str,
        simulated: str,
        pin: str,
        report_data: str,
        evidence: str,
    ) -> None:
        object.__setattr__(self, "measurement", measurement)
        object.__setattr__(self, "guest", guest)
        object.__setattr__(self, "genuine", genuine)
        object.__setattr__(self, "simulated", simulated)
        object.__setattr__(self, "pin", pin)
        object.__setattr__(self, "report_data", report_data)
        object.__setattr__(self, "evidence", evidence)

    def warnings(
        self, *, measurement_pinned: bool, report_data_expected: bool, simulated: bool
    ) -> list[str]:
        """Say plainly what a pass does not prove: WHICH guest, and that the evidence is fresh."""
        warnings = []
        if not measurement_pinned:
            what = self.simulated if simulated else self.genuine
            warnings.append(
                f"no {self.measurement} pinned: this proves {what}, not WHICH {self.guest} "
                f"({self.pin})"
            )
        if not report_data_expected:
            warnings.append(
                f"no {self.report_data} expected: freshness is not proven; the {self.evidence} "
                "may be a replay (pass --report-data with your nonce)"
            )
        return warnings
