"""Run the Node driver (``circuits/driver/cairn-zk.mjs``) with a timeout and typed errors.

The driver compiles the Noir circuits with noir_wasm, executes them with noir_js and proves or
verifies with bb.js; it prints one JSON object on stdout and exits with a code this module maps
onto Cairn's errors. What it needs and may be missing (Node.js, the pinned npm packages, the
circuits directory, a CRS) is a :class:`~cairn_verifier.errors.SetupError` or
:class:`~cairn_verifier.errors.UsageError` (exit 64) whose hint is the command to run.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from ..errors import (
    CairnError,
    MalformedInputError,
    SetupError,
    SignatureError,
    UsageError,
)
from .circuits import check_pinned_files, find_circuits_dir, install_command
from .progress import Progress

COMPONENT: Final = "zk"
NODE_INSTALL: Final = (
    "install Node.js >= 18 and npm (Debian/Ubuntu: sudo apt-get install nodejs npm)"
)
NPM_INSTALL: Final = "install npm (Debian/Ubuntu: sudo apt-get install npm)"
MIN_NODE_MAJOR: Final = 18
DEFAULT_TIMEOUT: Final = 300.0
CRS_DOCS: Final = "docs/zk.md, section 'The CRS'"
VERIFY_NODE_OPTIONS: Final = ("--liftoff-only",)
"""V8 options for ``verify``: run bb's wasm with its baseline compiler only. A verification
is ~25 ms of wasm; optimising it in background threads (V8's default tier-up) cost ~0.1 s of CPU
on the core the evidence verification runs on, and no proof verified faster
(docs/performance.md). Proving keeps the default: there optimised code pays."""

# Exit codes of cairn-zk.mjs (EXIT there).
EXIT_INVALID: Final = 1
EXIT_USAGE: Final = 2
EXIT_UNSATISFIED: Final = 3
EXIT_INPUT: Final = 4
EXIT_CRS: Final = 5
EXIT_COMPILE: Final = 6


class ZkToolchainError(SetupError):
    """Node, npm, the pinned npm packages or the circuits directory are missing (exit 64)."""


class ZkDriverError(CairnError):
    """The driver failed in a way Cairn does not expect (a bug: exit 70)."""


class ConstraintError(SignatureError):
    """The inputs do not satisfy the circuit: the statement to be proven is false."""


@dataclass(frozen=True, slots=True)
class DriverResult:
    """Parsed JSON output of a successful (or verify-invalid) driver run."""

    returncode: int
    output: dict[str, Any]


def _node_major(node: str) -> int | None:
    try:
        done = subprocess.run(
            [node, "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.fullmatch(r"v(\d+)\.\d+\.\d+\S*", done.stdout.strip())
    return int(match.group(1)) if match else None


def _pinned_packages(root: Path) -> dict[str, str]:
    """``dependencies`` of ``circuits/package.json``: name -> exact pinned version."""
    try:
        manifest = json.loads((root / "package.json").read_text())
        deps = manifest["dependencies"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ZkToolchainError(
            f"cannot read the pinned npm packages from {root / 'package.json'}: {exc}",
            component=COMPONENT,
            hint="restore circuits/package.json from the Cairn repository",
        ) from exc
    if not isinstance(deps, dict) or not all(isinstance(v, str) for v in deps.values()):
        raise ZkToolchainError(
            f"{root / 'package.json'} has no valid dependencies", component=COMPONENT
        )
    return {str(name): version for name, version in deps.items()}


def _installed_version(root: Path, package: str) -> str | None:
    try:
        version = json.loads((root / "node_modules" / package / "package.json").read_text())
    except (OSError, ValueError):
        return None
    found = version.get("version") if isinstance(version, dict) else None
    return found if isinstance(found, str) else None


def check_toolchain(circuits: Path | None = None) -> Path:
    """Return the circuits dir after checking its pinned files, Node.js and the npm packages."""
    root = find_circuits_dir() if circuits is None else circuits
    check_pinned_files(root)  # before anything in it is read or run
    install = install_command(root)
    import shutil  # here, not at import: `cairn zk verify --help` loads no shutil

    node = shutil.which("node")
    if node is None:
        raise ZkToolchainError(
            "Node.js (node) is not installed; cairn zk runs the Noir/Barretenberg toolchain on it",
            component=COMPONENT,
            hint=f"{NODE_INSTALL}, then run `{install}`",
        )
    major = _node_major(node)
    if major is None or major < MIN_NODE_MAJOR:
        raise ZkToolchainError(
            f"{node} is not Node.js >= {MIN_NODE_MAJOR} "
            + (f"(major version {major})" if major is not None else "(`node --version` failed)"),
            component=COMPONENT,
            hint=NODE_INSTALL,
        )
    wrong = []
    for package, pinned in _pinned_packages(root).items():
        installed = _installed_version(root, package)
        if installed != pinned:
            wrong.append(f"{package} {installed or 'missing'} (pinned {pinned})")
    if wrong:
        npm_hint = "" if shutil.which("npm") else f"{NPM_INSTALL}, then "
        raise ZkToolchainError(
            f"the pinned npm packages are not installed in {root / 'node_modules'}: "
            + ", ".join(wrong),
            component=COMPONENT,
            hint=f"{npm_hint}run `{install}`",
        )
    return root


def run_driver(
    args: list[str],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    progress: Progress | None = None,
    circuits: Path | None = None,
) -> DriverResult:
    """Run ``node cairn-zk.mjs ARGS``; typed error unless it succeeded (or verify said no).

    ``circuits``: the directory :func:`check_toolchain` returned (else it is checked here)."""
    with DriverRun(args, timeout=timeout, progress=progress, circuits=circuits) as run:
        return run.result()


class DriverRun:
    """A driver run started now and collected later, so Python can work meanwhile (e.g. verify
    the evidence while Node verifies the proof). Leaving the ``with`` block kills an unfinished
    driver; :meth:`result` waits for it (up to the timeout) and returns or raises like
    :func:`run_driver`."""

    def __init__(
        self,
        args: list[str],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        progress: Progress | None = None,
        circuits: Path | None = None,
        node_options: tuple[str, ...] = (),
    ) -> None:
        root = check_toolchain() if circuits is None else circuits
        command = ["node", *node_options, str(root / "driver" / "cairn-zk.mjs"), *args]
        if progress is not None and progress.enabled:
            command.append("--progress")
        self._args = args
        self._runner = _Runner(command, timeout, progress, args[0])

    def __enter__(self) -> DriverRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self._runner.kill()

    def result(self) -> DriverResult:
        returncode, stdout, stderr = self._runner.wait()
        return _driver_result(self._args, returncode, stdout, stderr)


def _driver_result(args: list[str], returncode: int, stdout: str, stderr: str) -> DriverResult:
    if returncode == 0 or (returncode == EXIT_INVALID and args[:1] == ["verify"]):
        lines = stdout.strip().splitlines()
        try:
            output = json.loads(lines[-1]) if lines else None
        except ValueError:
            output = None
        if not isinstance(output, dict):
            raise ZkDriverError(
                f"the zk driver printed no JSON result: {stdout[-300:]!r}", component=COMPONENT
            )
        return DriverResult(returncode, output)
    raise driver_error(returncode, _parse_error(stderr), stderr)


class _Runner:
    """``command`` running: progress lines forwarded, stdout and the rest of stderr collected by
    threads, killed at the timeout (or by :meth:`kill`)."""

    def __init__(
        self, command: list[str], timeout: float, progress: Progress | None, step: str
    ) -> None:
        self._step, self._timeout = step, timeout
        self._stdout: list[str] = []
        self._stderr: list[str] = []
        self._timed_out = threading.Event()
        self._process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert self._process.stdout is not None and self._process.stderr is not None
        out, err = self._process.stdout, self._process.stderr

        def pump_stderr() -> None:
            for line in err:
                message = _progress_message(line)
                if message is None:
                    self._stderr.append(line)
                elif progress is not None:
                    progress.step(message)

        def pump_stdout() -> None:
            self._stdout.append(out.read())

        self._readers = [
            threading.Thread(target=pump_stderr, daemon=True),
            threading.Thread(target=pump_stdout, daemon=True),
        ]
        self._timer = threading.Timer(timeout, self._expire)
        for thread in (*self._readers, self._timer):
            thread.start()

    def _expire(self) -> None:
        self._timed_out.set()
        self._process.kill()

    def kill(self) -> None:
        """Stop the process if it still runs (never leave a prover behind) and reap it."""
        self._timer.cancel()
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()
        for thread in self._readers:
            thread.join(timeout=10)
        for stream in (self._process.stdout, self._process.stderr):
            if stream is not None:
                stream.close()

    def wait(self) -> tuple[int, str, str]:
        try:
            self._process.wait()
        finally:
            self.kill()
        if self._timed_out.is_set():
            raise ZkToolchainError(
                f"the zk driver's {self._step} did not finish within {self._timeout:.0f} s and "
                "was stopped",
                component=COMPONENT,
                hint="give it more time with --timeout SECONDS; proving needs about 0.4 GB of "
                "memory and a few seconds on 2 cores",
            )
        return self._process.returncode, "".join(self._stdout), "".join(self._stderr)


def _progress_message(line: str) -> str | None:
    if not line.startswith('{"progress"'):
        return None
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    message = obj.get("progress") if isinstance(obj, dict) else None
    return message if isinstance(message, str) else None


@dataclass(frozen=True, slots=True)
class DriverFailure:
    """The ``{"error", "kind", "reason"}`` line a failing driver prints on stderr."""

    message: str
    kind: str | None = None
    reason: str | None = None


def _parse_error(stderr: str) -> DriverFailure | None:
    for line in reversed(stderr.strip().splitlines()):
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if not isinstance(obj, dict) or not isinstance(obj.get("error"), str):
            continue
        kind, reason = obj.get("kind"), obj.get("reason")
        return DriverFailure(
            obj["error"],
            kind if isinstance(kind, str) else None,
            reason if isinstance(reason, str) else None,
        )
    return None


def driver_error(returncode: int, failure: DriverFailure | None, stderr: str = "") -> CairnError:
    """The typed error for a failed driver run (exit code and its error line)."""
    message = failure.message if failure else stderr.strip()[-500:] or f"exit code {returncode}"
    if returncode == EXIT_UNSATISFIED:
        return ConstraintError(
            f"the inputs do not satisfy the membership circuit: {message}", component=COMPONENT
        )
    if returncode == EXIT_CRS:
        return crs_error(failure.reason if failure else None, message)
    if returncode == EXIT_INPUT:
        return MalformedInputError(message, component=COMPONENT)
    return ZkDriverError(
        f"the zk driver failed (exit {returncode}): {message}", component=COMPONENT
    )


def crs_error(reason: str | None, message: str) -> CairnError:
    """Map the driver's CRS refusal reasons onto setup, usage and input errors."""
    fetch = f"download the Aztec Ignition CRS into a directory and pass --crs DIR ({CRS_DOCS})"
    if reason == "missing":
        return SetupError(
            message,
            component=COMPONENT,
            hint=f"{fetch}; for tests only, --insecure-dev-crs uses a CRS with a public secret",
        )
    if reason == "too-small":
        return SetupError(message, component=COMPONENT, hint=fetch)
    if reason == "insecure-refused":
        return UsageError(
            message,
            component=COMPONENT,
            hint=f"for tests only, add --insecure-dev-crs; for real proofs, {fetch}",
        )
    if reason == "proof-insecure":
        return UsageError(
            message,
            component=COMPONENT,
            hint="ask for a proof made with the Ignition CRS; to check the pipeline only, "
            "verify with --insecure-dev-crs",
        )
    if reason == "proof-production":
        return UsageError(
            message,
            component=COMPONENT,
            hint=f"drop --insecure-dev-crs and {fetch}",
        )
    return MalformedInputError(
        message,
        component=COMPONENT,
        hint=f"the files in that directory are not a usable CRS; {fetch}",
    )
