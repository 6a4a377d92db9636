"""Build cairn-verifier and cairn-agent (sdists, wheels) and check the wheels outside the checkout.

Run by ``./dev wheels`` (nox session ``wheels``, which installs the pinned ``build`` and ``uv``)::

    python scripts/check_wheels.py [--dist DIR] [--keep]

1. ``python -m build`` builds each package's sdist, then its wheel from that sdist (so the
   sdist is complete), into ``dist/``, from a copy of the package's tracked files; the wheels'
   contents and metadata are checked: every data file of the sources (pinned roots,
   ``py.typed``, …), the licence, the version.
2. A fresh virtualenv in a temporary directory gets the two wheels (dependencies at the pins of
   ``requirements/agent.txt``). Every command below runs there: working directory in the
   temporary directory, no ``PYTHONPATH``, no ``CAIRN_*`` variables, the venv first on PATH.
3. The README's verifier examples on copies of ``examples/`` (every SEV-SNP report and the TDX
   quote, ``show``, the air-gapped block as written), with a proxy that cannot be reached; and
   the verifier wheel alone, installed by pip into a second venv (what ``pipx`` does).
4. An agent from the wheel (simulated SEV-SNP, a private swtpm), ``cairn verify evidence``
   against it, ``show evidence``, ``tree proof``, and ``cairn zk prove``, which must stop with
   the documented setup error (exit 64, no traceback): the wheel carries no circuits.
5. The container image (``container/verifier.Containerfile``) built from the wheel and run on
   the examples, where docker or podman can run containers; otherwise skipped, saying why.

Every step runs even after a failure; the exit status is 1 if any failed.
"""

from __future__ import annotations

import argparse
import email.parser
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"cairn-verifier": ROOT / "verifier", "cairn-agent": ROOT / "agent"}
CONSTRAINTS = ROOT / "requirements" / "agent.txt"
RUNTIME_CONSTRAINTS = ROOT / "requirements" / "runtime.txt"
CONTAINERFILE = ROOT / "container" / "verifier.Containerfile"
README_BLOCK = re.compile(r"<!-- air-gapped flow: run by [^>]*-->\n```sh\n(.*?)\n```", re.DOTALL)
UNREACHABLE_PROXY = "http://cairn-wheel-check.invalid:3128"
COMMAND_TIMEOUT = 300


class CheckError(Exception):
    """A step's expectation did not hold."""


class CannotRunHereError(Exception):
    """A step that cannot run here; the message says why."""


@dataclass
class Outcome:
    """One step's result: "ok", "FAILED: …" or "skipped: …"."""

    name: str
    status: str


# --- building -----------------------------------------------------------------------------------


def project(path: Path) -> dict[str, Any]:
    """The [project] table of a package's pyproject.toml (name, version, …)."""
    table: dict[str, Any] = tomllib.loads((path / "pyproject.toml").read_text())["project"]
    return table


def tracked_files(directory: Path) -> list[str]:
    """The files git tracks under ``directory``, relative to it (as in a fresh clone)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--", "."],
        cwd=directory, capture_output=True, check=True, timeout=60,
    ).stdout.decode()  # fmt: skip
    return sorted(name for name in listed.split("\0") if name)


def export(package_dir: Path, into: Path) -> Path:
    """A copy of the package's tracked files (their working-tree content) in ``into``.

    Building from the copy keeps what a fresh clone would not have out of the sdist: untracked
    files, and a stale ``*.egg-info`` whose file list setuptools would reuse (it kept a file in
    the sdist after its package-data glob was removed)."""
    for name in tracked_files(package_dir):
        source = package_dir / name
        if source.is_file():  # a tracked file deleted in the working tree is left out
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, into / name)
    return into


def build(dist: Path, scratch: Path) -> dict[str, Path]:
    """sdist + wheel (built from the sdist) of each package; returns name -> wheel path."""
    dist.mkdir(parents=True, exist_ok=True)
    wheels = {}
    for name, path in PACKAGES.items():
        stem = name.replace("-", "_")
        for old in [*dist.glob(f"{stem}-*.whl"), *dist.glob(f"{stem}-*.tar.gz")]:
            old.unlink()  # only this package's earlier builds
        source = export(path, scratch / path.name)
        build_cmd = [sys.executable, "-m", "build", "--quiet", "--installer", "uv"]
        run([*build_cmd, "--outdir", str(dist), str(source)])
        version = project(path)["version"]
        wheel = dist / f"{stem}-{version}-py3-none-any.whl"
        sdist = dist / f"{stem}-{version}.tar.gz"
        if not wheel.is_file() or not sdist.is_file():
            raise CheckError(f"python -m build did not write {wheel.name} and {sdist.name}")
        wheels[name] = wheel
    return wheels


def data_files(package_dir: Path) -> list[str]:
    """Every tracked file of the package sources that is not Python code, package-relative."""
    return [name for name in tracked_files(package_dir) if not name.endswith(".py")]


def check_wheel(name: str, wheel: Path) -> None:
    """The wheel holds every data file, the licence, and the metadata of pyproject.toml."""
    source = PACKAGES[name]
    stem = name.replace("-", "_")
    meta = project(source)
    with zipfile.ZipFile(wheel) as archive:
        members = set(archive.namelist())
        info = f"{stem}-{meta['version']}.dist-info"
        metadata = email.parser.Parser().parsestr(archive.read(f"{info}/METADATA").decode())
        licence = (
            archive.read(f"{info}/licenses/LICENSE")
            if f"{info}/licenses/LICENSE" in members
            else None
        )
    package_dir = source / "src" / stem
    missing = [f for f in data_files(package_dir) if f"{stem}/{f}" not in members]
    if missing:
        raise CheckError(f"{wheel.name} lacks data files {missing} (add them to package-data)")
    if licence != (ROOT / "LICENSE").read_bytes():
        raise CheckError(f"{wheel.name} does not carry the repository's LICENSE")
    expected = {
        "Name": meta["name"],
        "Version": meta["version"],
        "License-Expression": "Apache-2.0",
        "Requires-Python": meta["requires-python"],
    }
    found = {key: metadata.get(key) for key in expected}
    if found != expected:
        raise CheckError(f"{wheel.name} METADATA {found} != {expected}")
    print(f"{wheel.name}: {len(members)} files, data files and LICENSE present, {found}")


# --- the fresh environment ----------------------------------------------------------------------


@dataclass
class Env:
    """The fresh venv and the environment every command runs in."""

    venv: Path
    work: Path
    environ: dict[str, str]

    def bin(self, tool: str) -> str:
        return str(self.venv / "bin" / tool)


def isolated_environ(venv: Path, cache: Path) -> dict[str, str]:
    """This process's environment without Python, nox, uv or Cairn settings; the venv first."""
    environ = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CAIRN_", "PYTHON", "VIRTUAL_ENV", "NOX_", "UV_"))
    }
    session_bin = str(Path(sys.executable).parent)
    path = [p for p in environ.get("PATH", "").split(os.pathsep) if p and p != session_bin]
    environ.update(
        PATH=os.pathsep.join([str(venv / "bin"), *path]),
        PYTHONNOUSERSITE="1",
        XDG_CACHE_HOME=str(cache),
    )
    return environ


def fresh_env(tmp: Path, wheels: dict[str, Path]) -> Env:
    """Both wheels in a new venv (installed with uv: the agent's tpm2-pytss builds once, cached)."""
    venv = tmp / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    run(
        ["uv", "pip", "install", "--python", str(python), "--constraint", str(CONSTRAINTS),
         *map(str, wheels.values())]
    )  # fmt: skip
    work = tmp / "work"
    work.mkdir()
    shutil.copytree(ROOT / "examples", work / "examples")
    return Env(venv, work, isolated_environ(venv, tmp / "cache"))


def verifier_alone(tmp: Path, wheel: Path) -> None:
    """The verifier wheel alone, installed by pip as pipx does: `cairn` verifies a report."""
    venv = tmp / "verifier-venv"
    run([sys.executable, "-m", "venv", str(venv)])
    run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
         "--disable-pip-version-check", "--constraint", str(RUNTIME_CONSTRAINTS), str(wheel)]
    )  # fmt: skip
    env = Env(venv, tmp / "work", isolated_environ(venv, tmp / "cache-verifier-alone"))
    report = "examples/snp/milan-v3-oak-containers"
    done = cmd(
        env, ["cairn", "verify", "snp", f"{report}/report.bin", "--certs", report, "--offline"]
    )
    print(done.stdout.splitlines()[-1])
    listed = cmd(env, [env.bin("python"), "-m", "pip", "list", "--format", "json"]).stdout
    names = {entry["name"] for entry in json.loads(listed)}
    needed = {"cairn-verifier", "cryptography", "httpx", "pydantic"}
    agent_only = {"cairn-agent", "tpm2-pytss", "aiohttp"}
    if not needed <= names or names & agent_only:
        raise CheckError(f"the verifier wheel alone installed {sorted(names)}")


def check_installed_from_wheels(env: Env) -> None:
    """The modules come from the venv, not from the checkout."""
    code = "import cairn_agent, cairn_verifier as v; print(v.__file__); print(cairn_agent.__file__)"
    done = cmd(env, [env.bin("python"), "-c", code])
    for line in done.stdout.splitlines():
        path = Path(line).resolve()
        if not path.is_relative_to(env.venv.resolve()) or path.is_relative_to(ROOT):
            raise CheckError(f"imported {path}, not from the fresh venv {env.venv}")
    print(done.stdout, end="")


def check_versions(env: Env) -> None:
    version = project(PACKAGES["cairn-verifier"])["version"]
    agent_version = project(PACKAGES["cairn-agent"])["version"]
    expect(cmd(env, ["cairn", "--version"]).stdout, f"cairn {version}\n")
    expect(cmd(env, ["cairn-agent", "--version"]).stdout, f"cairn-agent {agent_version}\n")
    verbose = cmd(env, ["cairn", "--version", "--verbose"]).stdout
    print(verbose, end="")
    for needle in (
        "evidence bundle",
        "cairn-evidence",
        "cairn/report-data/v2",
        "cairn/report-data/v1",
        "cairn-collateral-bundle",
        "cairn/gpu-evidence/v1",
    ):
        if needle not in verbose:
            raise CheckError(f"`cairn --version --verbose` does not name {needle!r}")
    doc = json.loads(cmd(env, ["cairn", "--version", "--json"]).stdout)
    expect(doc["version"], version)


# --- the README's verifier examples -------------------------------------------------------------


def readme_examples(env: Env) -> None:
    """Every example report and quote, show, and the README's air-gapped block as written."""
    offline = dict(env.environ)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        offline[name] = UNREACHABLE_PROXY  # nothing below may need the network
    offline.pop("NO_PROXY", None)
    offline.pop("no_proxy", None)
    commands: list[list[str]] = []
    for report in sorted((env.work / "examples" / "snp").glob("*/report.bin")):
        rel = str(report.parent.relative_to(env.work))
        commands.append(
            ["cairn", "verify", "snp", f"{rel}/report.bin", "--certs", rel, "--offline"]
        )
        commands.append(["cairn", "show", "snp", f"{rel}/report.bin"])
    for quote in sorted((env.work / "examples" / "tdx").glob("*/quote.bin")):
        rel = str(quote.parent.relative_to(env.work))
        at = (quote.parent / "verify-at").read_text().strip()
        commands.append(
            ["cairn", "verify", "tdx", f"{rel}/quote.bin", "--collateral",
             f"{rel}/collateral.json", "--offline", "--at", at]
        )  # fmt: skip
        commands.append(["cairn", "show", "tdx", f"{rel}/quote.bin", "--json"])
    blocks = README_BLOCK.findall((ROOT / "README.md").read_text())
    if not blocks:
        raise CheckError("README.md has no air-gapped flow block")
    for block in blocks:
        for line in block.replace("\\\n", " ").splitlines():
            if line.strip() and not line.strip().startswith("#"):
                commands.append(shlex.split(line))
    for argv in commands:
        done = cmd(env, argv, environ=offline)
        print(f"exit 0  {shlex.join(argv)}  ({done.stdout.count(chr(10))} lines)")


# --- an agent from the wheel --------------------------------------------------------------------


def free_port_pair() -> int:
    """A port P such that P and P+1 were free a moment ago (swtpm uses both)."""
    for _ in range(50):
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port = int(first.getsockname()[1])
            with socket.socket() as second:
                try:
                    second.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
        return port
    raise CheckError("no free pair of TCP ports on 127.0.0.1")


@contextmanager
def background(env: Env, argv: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(argv, cwd=env.work, env=env.environ, stdout=out, stderr=out)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_healthy(port: int, agent: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if agent.poll() is not None:
            raise CheckError(f"cairn-agent exited {agent.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
                print(f"agent healthy: {answer.read().decode().strip()}")
                return
        except urllib.error.HTTPError as exc:
            raise CheckError(f"the agent refuses to serve: {exc.read().decode()}") from None
        except OSError:
            time.sleep(0.1)
    raise CheckError(f"the agent did not become healthy in 60 s:\n{log.read_text()}")


def agent_flow(env: Env) -> None:
    """docs/agent.md's by-hand run with the wheels, then `cairn zk prove` (no circuits: exit 64)."""
    if shutil.which("swtpm", path=env.environ["PATH"]) is None:
        raise CheckError("swtpm is not installed (./dev wheels installs the tpm package group)")
    tpm_port, port = free_port_pair(), free_port_pair()
    cmd(env, ["cairn-agent", "init-demo", "demo", "--port", str(port), "--tpm-port", str(tpm_port)])
    demo = env.work / "demo"
    swtpm = [
        "swtpm", "socket", "--tpm2", "--server", f"type=tcp,port={tpm_port}",
        "--ctrl", f"type=tcp,port={tpm_port + 1}", "--flags", "not-need-init,startup-clear",
        "--tpmstate", f"dir={demo / 'tpm'}",
    ]  # fmt: skip
    agent_log = demo / "agent.log"
    with (
        background(env, swtpm, demo / "swtpm.log"),
        background(
            env, ["cairn-agent", "serve", "--config", "demo/agent.toml"], agent_log
        ) as agent,
    ):
        wait_healthy(port, agent, agent_log)
        cmd(
            env,
            ["cairn-agent", "export-root", "--config", "demo/agent.toml", "-o", "demo/root.pem"],
        )
        nonce = secrets.token_hex(32)
        verified = cmd(
            env,
            ["cairn", "verify", "evidence", f"http://127.0.0.1:{port}", "--nonce", nonce,
             "--trust-simulated-root", "demo/root.pem", "-o", "evidence.json"],
        )  # fmt: skip
        print(verified.stdout, end="")
    cmd(env, ["cairn", "show", "evidence", "evidence.json"])
    cmd(env, ["cairn", "tree", "proof", "evidence.json", "echo-rust", "-o", "tree-proof.json"])
    zk = [
        "cairn", "zk", "prove", "--evidence", "evidence.json", "--proof", "tree-proof.json",
        "--request-id", "req-1", "--payload", "hello", "--signature", "00" * 64,
        "--insecure-dev-crs", "-o", "zk-proof.json",
    ]  # fmt: skip
    text = cmd(env, zk, expect_code=64)
    json_run = cmd(env, [*zk, "--json"], expect_code=64)
    error = json.loads(json_run.stdout)["error"]
    if error["type"] != "SetupError" or "CAIRN_CIRCUITS_DIR" not in error.get("hint", ""):
        raise CheckError(f"cairn zk from the wheel: unexpected error document {error}")
    if "Traceback" in text.stderr + json_run.stderr:
        raise CheckError(f"cairn zk printed a traceback:\n{text.stderr}")
    print(f"cairn zk prove from the wheel: exit 64, {text.stderr.strip()}")


# --- the container image ------------------------------------------------------------------------


def container_runtime() -> str:
    """docker or podman if it can run containers here; CannotRunHereError says why neither can."""
    reasons = []
    for tool in ("podman", "docker"):
        if shutil.which(tool) is None:
            reasons.append(f"{tool} is not installed")
            continue
        try:
            info = subprocess.run(
                [tool, "info"], capture_output=True, text=True, timeout=60, check=False
            )
        except subprocess.TimeoutExpired:
            reasons.append(f"`{tool} info` did not answer in 60 s")
            continue
        if info.returncode == 0:
            return tool
        last = (info.stderr.strip().splitlines() or ["no output"])[-1]
        reasons.append(f"`{tool} info` failed ({last})")
    raise CannotRunHereError("no usable container runtime: " + "; ".join(reasons))


def container_smoke(env: Env, wheels: dict[str, Path]) -> None:
    tool = container_runtime()
    context = env.work.parent / "image"
    context.mkdir()
    shutil.copy2(wheels["cairn-verifier"], context)
    tag = f"cairn-verifier-check:{secrets.token_hex(4)}"
    run([tool, "build", "--pull", "-f", str(CONTAINERFILE), "-t", tag, str(context)])
    try:
        version = project(PACKAGES["cairn-verifier"])["version"]
        done = run([tool, "run", "--rm", tag, "--version"], capture=True)
        expect(done.stdout, f"cairn {version}\n")
        examples = env.work / "examples"
        mount = ["-v", f"{examples}:/data:ro", "--network", "none"]
        report = "/data/snp/turin-v5-oak-containers"
        run([tool, "run", "--rm", *mount, tag, "verify", "snp", f"{report}/report.bin",
             "--certs", report, "--offline"])  # fmt: skip
        quote = "/data/tdx/dcap-qvl-sample"
        at = (examples / "tdx" / "dcap-qvl-sample" / "verify-at").read_text().strip()
        run([tool, "run", "--rm", *mount, tag, "verify", "tdx", f"{quote}/quote.bin",
             "--collateral", f"{quote}/collateral.json", "--offline", "--at", at])  # fmt: skip
    finally:
        subprocess.run([tool, "rmi", "-f", tag], capture_output=True, check=False)


# --- plumbing -----------------------------------------------------------------------------------


def run(argv: list[str], *, capture: bool = False) -> subprocess.CompletedProcess[str]:
    """Run a build-side command (in the checkout's environment); fail on a non-zero exit."""
    print(f"$ {shlex.join(argv)}", flush=True)
    done = subprocess.run(
        argv, text=True, capture_output=capture, timeout=COMMAND_TIMEOUT, check=False
    )
    if done.returncode != 0:
        raise CheckError(
            f"exit {done.returncode}: {shlex.join(argv)}\n{done.stdout or ''}{done.stderr or ''}"
        )
    return done


def cmd(
    env: Env, argv: list[str], *, expect_code: int = 0, environ: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a command in the fresh environment, in its working directory; check its exit code."""
    done = subprocess.run(
        argv, cwd=env.work, env=environ or env.environ, text=True, capture_output=True,
        timeout=COMMAND_TIMEOUT, check=False,
    )  # fmt: skip
    if done.returncode != expect_code:
        raise CheckError(
            f"exit {done.returncode} (expected {expect_code}): {shlex.join(argv)}\n"
            f"{done.stdout}{done.stderr}"
        )
    return done


def expect(found: object, wanted: object) -> None:
    if found != wanted:
        raise CheckError(f"got {found!r}, expected {wanted!r}")


def step(outcomes: list[Outcome], name: str, action: Callable[[], None]) -> None:
    print(f"\n=== {name} ===", flush=True)
    try:
        action()
    except CannotRunHereError as skip:
        status = f"skipped: {skip}"
    except (CheckError, OSError, subprocess.SubprocessError, ValueError, KeyError) as exc:
        status = f"FAILED: {type(exc).__name__}: {exc}"
    else:
        status = "ok"
    print(f"--- {name}: {status}", flush=True)
    outcomes.append(Outcome(name, status))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dist", type=Path, default=ROOT / "dist", help="where to write the builds"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    outcomes: list[Outcome] = []
    tmp = Path(tempfile.mkdtemp(prefix="cairn-wheels-"))
    try:
        run_steps(outcomes, args.dist.resolve(), tmp)
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return report(outcomes)


def run_steps(outcomes: list[Outcome], dist: Path, tmp: Path) -> None:
    """Every step in order; later steps only when what they need was made."""
    wheels: dict[str, Path] = {}
    (tmp / "src").mkdir()
    step(outcomes, "build sdists and wheels", lambda: wheels.update(build(dist, tmp / "src")))
    if len(wheels) != len(PACKAGES):
        return
    for name, wheel in wheels.items():
        step(outcomes, f"contents of {wheel.name}", partial(check_wheel, name, wheel))
    made: list[Env] = []
    step(outcomes, "fresh venv with both wheels", lambda: made.append(fresh_env(tmp, wheels)))
    if not made:
        return
    env = made[0]
    step(outcomes, "modules imported from the venv", lambda: check_installed_from_wheels(env))
    step(outcomes, "--version everywhere", lambda: check_versions(env))
    step(outcomes, "README verifier examples", lambda: readme_examples(env))
    alone = partial(verifier_alone, tmp, wheels["cairn-verifier"])
    step(outcomes, "verifier wheel alone (pip)", alone)
    step(outcomes, "agent from the wheel, verify evidence, zk", lambda: agent_flow(env))
    step(outcomes, "container image smoke test", lambda: container_smoke(env, wheels))


def report(outcomes: list[Outcome]) -> int:
    print("\n=== wheel check summary ===")
    for outcome in outcomes:
        print(f"{outcome.name:<45} {outcome.status}")
    failed = [o for o in outcomes if o.status.startswith("FAILED")]
    print(f"wheel check: {len(outcomes) - len(failed)} of {len(outcomes)} steps ok or skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
