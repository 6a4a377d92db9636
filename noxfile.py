"""Nox sessions for Cairn: tests, lint, typecheck, bench, fuzz, the demo and the wheels.

Run them through ``./dev <command>`` (which bootstraps nox and uv), or with ``nox -s <session>``.
Every tool version is pinned in ``requirements/*.txt``.
"""

from __future__ import annotations

import os
from pathlib import Path

import nox
from nox.command import CommandFailed

ROOT = Path(__file__).resolve().parent
REQUIREMENTS = ROOT / "requirements"
VERIFIER = ROOT / "verifier"
AGENT = ROOT / "agent"
TDX_EXAMPLES = ROOT / "examples" / "tdx"
SNP_EXAMPLES = ROOT / "examples" / "snp"
LINT_TARGETS = ("verifier", "agent", "tests", "scripts", "noxfile.py")
VM_TOOLS = ROOT / "scripts" / "vm"

IN_CI = bool(os.environ.get("CI"))
CIRCUITS_ENV = {"CAIRN_CIRCUITS_DIR": str(ROOT / "circuits")}
"""Sessions install cairn non-editably, so they name the checkout's circuits/ (docs/zk.md)."""

nox.options.default_venv_backend = "uv|venv"
nox.options.reuse_venv = "no" if IN_CI else "yes"
nox.options.error_on_missing_interpreters = True
nox.options.sessions = ["lint", "typecheck", "tests"]

# Never let uv fetch its own interpreter: sessions use the Python that runs nox.
os.environ.setdefault("UV_PYTHON_DOWNLOADS", "never")


def _requirements(name: str) -> str:
    """Path of a pinned requirements file, as an installer argument."""
    return str(REQUIREMENTS / f"{name}.txt")


def _install_packages(session: nox.Session, requirements: str, *, agent: bool = True) -> None:
    """Install the pinned requirements and fresh (non-editable) builds of ./verifier (+ ./agent)."""
    session.install("-r", _requirements(requirements))
    packages = [str(VERIFIER), str(AGENT)] if agent else [str(VERIFIER)]
    # A reused venv already holds version 0.1.0; force a rebuild so edits are picked up.
    if session.venv_backend == "uv":
        names = ["cairn-verifier", "cairn-agent"] if agent else ["cairn-verifier"]
        reinstall = [arg for name in names for arg in ("--reinstall-package", name)]
    else:
        reinstall = ["--force-reinstall", "--no-deps"]
    session.install(*reinstall, *packages)


def _install_circuit_toolchain(session: nox.Session) -> None:
    """The pinned Noir/Barretenberg npm packages (circuits/package-lock.json) for tests/zk."""
    if not (ROOT / "circuits" / "node_modules" / ".package-lock.json").is_file() or IN_CI:
        session.run(
            "npm",
            "ci",
            "--prefix",
            str(ROOT / "circuits"),
            "--no-audit",
            "--no-fund",
            external=True,
        )


def _pytest_args(session: nox.Session, default_path: str) -> list[str]:
    """Posargs for pytest, adding ``default_path`` unless they already name a path."""
    args = list(session.posargs)
    names_path = any(Path(arg.split("::")[0]).exists() for arg in args if not arg.startswith("-"))
    return args if names_path else [*args, default_path]


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite (extra arguments go to pytest); benchmarks run once, untimed."""
    _install_packages(session, "test")
    _install_circuit_toolchain(session)
    session.run(
        "pytest",
        "-p",
        "no:cacheprovider",
        "--benchmark-disable",
        *_pytest_args(session, "tests"),
        env=CIRCUITS_ENV,
    )


@nox.session
def services(session: nox.Session) -> None:
    """Build the echo services and run their own tests (ctest, cargo test) and the Python ones."""
    build_dir = ROOT / ".build" / "services"
    session.run(
        "bash",
        str(ROOT / "scripts" / "build_services.sh"),
        "--build-dir",
        str(build_dir),
        external=True,
    )
    _install_packages(session, "test")
    session.run(
        "pytest",
        "-p",
        "no:cacheprovider",
        "tests/services",
        env={"CAIRN_SERVICES_BUILD_DIR": str(build_dir)},
    )


@nox.session
def lint(session: nox.Session) -> None:
    """Check style and formatting with ruff (no files are modified), and the GitHub workflows
    against the workflow JSON Schema (check-jsonschema's bundled copy: no network)."""
    session.install("-r", _requirements("lint"))
    targets = session.posargs or list(LINT_TARGETS)
    session.run("ruff", "check", *targets)
    session.run("ruff", "format", "--check", *targets)
    workflows = sorted(str(p) for p in (ROOT / ".github" / "workflows").glob("*.yml"))
    session.run("check-jsonschema", "--builtin-schema", "vendor.github-workflows", *workflows)


@nox.session
def typecheck(session: nox.Session) -> None:
    """Type-check the verifier and agent packages with mypy in strict mode (mypy.ini)."""
    # mypy.ini's mypy_path finds both packages in their src/; only dependencies are installed.
    session.install("-r", _requirements("typecheck"))
    targets = session.posargs or ["verifier/src", "agent/src", "scripts/vm/cairnvm"]
    session.run("mypy", "--config-file", str(ROOT / "mypy.ini"), *targets)


@nox.session
def bench(session: nox.Session) -> None:
    """Run the benchmarks in tests/bench and save their JSON under .benchmarks/."""
    _install_packages(session, "test")
    # pip compiles bytecode when it installs a wheel, uv does not: without this, where
    # PYTHONDONTWRITEBYTECODE is set (or site-packages is read-only), every timed `cairn` run
    # would compile its modules again (~60-80 ms of an offline verify) — not what users pay.
    session.run(
        "python",
        "-c",
        "import compileall, sysconfig; compileall.compile_dir(sysconfig.get_paths()['purelib'],"
        " quiet=1, workers=1)",
        silent=True,
    )
    _install_circuit_toolchain(session)
    (ROOT / ".benchmarks").mkdir(exist_ok=True)
    session.run(
        "pytest",
        "-p",
        "no:cacheprovider",
        "--benchmark-only",
        "--benchmark-autosave",
        "--benchmark-storage=.benchmarks",
        "--benchmark-json=.benchmarks/latest.json",
        *_pytest_args(session, "tests/bench"),
        env=CIRCUITS_ENV,
    )


@nox.session
def fuzz(session: nox.Session) -> None:
    """Fuzz every parser and cairn subcommand over mutated real inputs for a bounded time
    (tests/fuzz; arguments go to it, e.g. ``-- --seconds 60 --seed 1``); fails on any crash."""
    _install_packages(session, "fuzz")
    session.run(
        "python",
        "-m",
        "fuzz.run",
        *session.posargs,
        env={"PYTHONPATH": str(ROOT / "tests"), **CIRCUITS_ENV},
    )


@nox.session
def wheels(session: nox.Session) -> None:
    """Build sdists and wheels of cairn-verifier and cairn-agent into dist/ (python -m build),
    install the wheels into a fresh venv in a temporary directory and run the README's examples,
    an agent and the container smoke test with them there (scripts/check_wheels.py)."""
    session.install("-r", _requirements("wheels"))
    session.run("python", str(ROOT / "scripts" / "check_wheels.py"), *session.posargs)


@nox.session
def vm(session: nox.Session) -> None:
    """A Cairn VM without Nix: build the Debian guest image (cached by its inputs), boot it under
    QEMU with swtpm and attest it from the host, three boots end to end (scripts/vm; README, "Run
    a Cairn VM without Nix"). Arguments after -- go to it: ``./dev vm -- --help``."""
    _install_packages(session, "agent")
    session.install("-r", _requirements("vm"))
    session.run("python", "-m", "cairnvm", *session.posargs, env={"PYTHONPATH": str(VM_TOOLS)})


def _snp_examples() -> list[Path]:
    """Bundled example directories (each holds report.bin and its certificates)."""
    if not SNP_EXAMPLES.is_dir():
        return []
    return sorted(p for p in SNP_EXAMPLES.iterdir() if (p / "report.bin").is_file())


@nox.session
def demo(session: nox.Session) -> None:
    """The main job: a full local attestation (swtpm + cairn-agent with a simulated SEV-SNP and
    TDX + cairn verify evidence), then every bundled real SEV-SNP report and TDX quote."""
    examples = _snp_examples()
    tdx_examples = sorted(p.parent for p in TDX_EXAMPLES.glob("*/quote.bin"))
    if not examples or not tdx_examples:
        session.error(f"no examples found under {SNP_EXAMPLES} and {TDX_EXAMPLES}")
    _install_packages(session, "agent")
    script = str(ROOT / "scripts" / "local_attestation.py")
    commands: list[tuple[str, list[str]]] = [
        (f"local attestation, simulated {tee.upper()}", ["python", script, "--tee", tee])
        for tee in ("snp", "tdx")
    ]
    for example in examples:
        rel = example.relative_to(ROOT)
        args = [f"{rel}/report.bin", "--certs", f"{rel}/", "--offline"]
        commands.append((f"real report {rel}", ["cairn", "verify", "snp", *args]))
    for example in tdx_examples:
        rel = example.relative_to(ROOT)
        at = (example / "verify-at").read_text().strip()
        args = [f"{rel}/quote.bin", "--collateral", f"{rel}/collateral.json", "--offline"]
        commands.append((f"real quote {rel}", ["cairn", "verify", "tdx", *args, "--at", at]))
    failed: list[str] = []
    for title, argv in commands:
        session.log(f"=== {title} ===")
        try:
            session.run(*argv)
        except CommandFailed as exc:
            failed.append(f"{title} (exit {exc.return_code})")
    if failed:
        session.error(f"{len(failed)} of {len(commands)} steps failed: {', '.join(failed)}")
    session.log(f"all {len(commands)} steps verified")
