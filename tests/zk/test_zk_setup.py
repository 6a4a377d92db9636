"""What `cairn zk` needs and how it says so, without proving: the circuits directory, Node.js,
the pinned npm packages, the CRS (Ignition, development, refused), the output file, progress.

Setup problems are exit 64 with the command to run, never 70 ("a bug in Cairn")."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fuzz import corpus
from fuzz.targets import Fixtures

from cairn_verifier.cli.main import main
from cairn_verifier.errors import (
    CairnError,
    ExitCode,
    MalformedInputError,
    SetupError,
    UsageError,
)
from cairn_verifier.zk import circuits as circuits_module
from cairn_verifier.zk import dev_crs, node
from cairn_verifier.zk.circuits import ENV_VAR, find_circuits_dir, install_command
from cairn_verifier.zk.progress import Progress

REPO = Path(__file__).resolve().parents[2]
CIRCUITS = REPO / "circuits"
Q = dev_crs.Q
# The BN254 scalar field order r (the order of G1 and G2).
R = 21888242871839275222246405745257275088548364400416034343698204186575808495617
PROVE_ARGS = ["--request-id", "r", "--payload", "x", "--signature", "00"]


def _fake_checkout(root: Path) -> Path:
    """A directory laid out like a Cairn checkout's circuits/ (driver + package.json only)."""
    circuits = root / "circuits"
    (circuits / "driver").mkdir(parents=True)
    (circuits / "driver" / "cairn-zk.mjs").write_text("// the driver\n")
    shutil.copy(CIRCUITS / "package.json", circuits / "package.json")
    return circuits


# --- finding circuits/ -----------------------------------------------------------------------


def test_circuits_are_found_from_a_subdirectory_like_git_finds_dot_git(tmp_path: Path) -> None:
    circuits = _fake_checkout(tmp_path / "checkout")
    nested = tmp_path / "checkout" / "docs" / "deep"
    nested.mkdir(parents=True)
    elsewhere = tmp_path / "site-packages" / "cairn_verifier" / "zk"
    assert find_circuits_dir(cwd=nested, package=elsewhere) == circuits.resolve()
    # Not below the working directory: the installed package's location is tried next.
    inside = circuits.parent / ".venv" / "lib" / "cairn_verifier" / "zk"
    assert find_circuits_dir(cwd=tmp_path, package=inside) == circuits.resolve()


def test_the_environment_variable_wins_and_is_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    circuits = _fake_checkout(tmp_path / "other")
    monkeypatch.setenv(ENV_VAR, str(circuits))
    assert find_circuits_dir(cwd=REPO) == circuits.resolve()
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    with pytest.raises(SetupError, match=f"{ENV_VAR}=.* is not a Cairn circuits directory"):
        find_circuits_dir(cwd=REPO)


@pytest.mark.parametrize("action", ["prove", "verify"])
def test_no_circuits_directory_is_a_setup_error_not_a_bug(
    action: str,
    testdata: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # `pip install ./verifier`, then cairn run outside any checkout, with well-formed inputs
    # (malformed ones are refused first, exit 10, before the set-up is looked at).
    inputs = Fixtures.write(corpus.build(testdata), tmp_path / "inputs")
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(circuits_module, "PACKAGE_DIR", tmp_path / "site-packages" / "zk")
    evidence, nonce = str(inputs.evidence), corpus.NONCE.hex()
    if action == "prove":
        args = ["zk", "prove", "--evidence", evidence, "--proof", str(inputs.proof)]
        args += ["--request-id", "r", "--payload", "x", "--signature", "11" * 64]
        args += ["-o", "out.json", "--json"]
    else:
        zk_proof = tmp_path / "zk-proof.json"
        zk_proof.write_bytes(corpus.zk_proof_document())
        args = ["zk", "verify", str(zk_proof), "--evidence", evidence, "--nonce", nonce]
        args += ["--json"]
    assert main(args) == ExitCode.USAGE_OR_SETUP
    doc = json.loads(capsys.readouterr().out)
    assert doc["error"]["type"] == "SetupError"
    assert "cannot find Cairn's circuits/ directory" in doc["error"]["message"]
    assert ENV_VAR in doc["error"]["hint"]


# --- Node.js and the npm packages ------------------------------------------------------------


def _bin_dir(tmp_path: Path, *, node_script: str | None = None, real_node: bool = False) -> Path:
    """A PATH directory with a chosen `node` (a script, the real one, or none) and no npm."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    if node_script is not None:
        (bin_dir / "node").write_text(f"#!/bin/sh\n{node_script}\n")
        (bin_dir / "node").chmod(0o755)
    elif real_node:
        real = shutil.which("node")
        assert real is not None, "the zk tests need Node.js (./dev setup zk)"
        (bin_dir / "node").symlink_to(real)
    return bin_dir


def test_missing_node_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    circuits = _fake_checkout(tmp_path)
    monkeypatch.setenv("PATH", str(_bin_dir(tmp_path)))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(node.ZkToolchainError, match=r"Node\.js") as info:
        node.check_toolchain(circuits)
    assert info.value.exit_code == ExitCode.USAGE_OR_SETUP
    assert info.value.hint is not None
    assert "apt-get install nodejs npm" in info.value.hint
    assert "npm ci --prefix circuits" in info.value.hint


def test_too_old_node_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    circuits = _fake_checkout(tmp_path)
    monkeypatch.setenv("PATH", str(_bin_dir(tmp_path, node_script="echo v16.20.2")))
    with pytest.raises(node.ZkToolchainError, match=r"not Node\.js >= 18"):
        node.check_toolchain(circuits)


def test_missing_npm_packages_hint_is_the_exact_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    circuits = _fake_checkout(tmp_path / "checkout")
    monkeypatch.chdir(tmp_path / "checkout")
    with pytest.raises(node.ZkToolchainError) as info:
        node.check_toolchain(circuits)
    assert info.value.exit_code == ExitCode.USAGE_OR_SETUP
    assert "@aztec/bb.js missing (pinned 0.82.2)" in info.value.message
    assert info.value.hint is not None
    assert info.value.hint.endswith("run `npm ci --prefix circuits`")
    # From outside the checkout the command names the directory itself.
    monkeypatch.chdir(tmp_path)
    assert install_command(circuits) == "npm ci --prefix checkout/circuits"
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert install_command(circuits) == f"npm ci --prefix {circuits.resolve()}"


def test_missing_npm_is_named_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    circuits = _fake_checkout(tmp_path)
    monkeypatch.setenv("PATH", str(_bin_dir(tmp_path, real_node=True)))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(node.ZkToolchainError) as info:
        node.check_toolchain(circuits)
    assert info.value.hint == (
        "install npm (Debian/Ubuntu: sudo apt-get install npm), then run `npm ci --prefix circuits`"
    )


def test_wrong_package_versions_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    circuits = _fake_checkout(tmp_path)
    pinned = json.loads((CIRCUITS / "package.json").read_text())["dependencies"]
    for package, version in pinned.items():
        installed = "0.80.0" if package == "@aztec/bb.js" else version
        target = circuits / "node_modules" / package
        target.mkdir(parents=True)
        (target / "package.json").write_text(json.dumps({"name": package, "version": installed}))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(node.ZkToolchainError, match=r"@aztec/bb.js 0.80.0 \(pinned 0.82.2\)"):
        node.check_toolchain(circuits)


# --- the driver process: progress, timeout, error mapping ------------------------------------


def test_progress_lines_are_shown_and_the_rest_of_stderr_is_kept() -> None:
    script = (
        "import json, sys\n"
        "sys.stderr.write(json.dumps({'progress': 'proving'}) + '\\n')\n"
        "sys.stderr.write('some warning\\n')\n"
        "print(json.dumps({'ok': True}))\n"
    )
    shown = io.StringIO()
    code, out, err = node._run([sys.executable, "-c", script], 60, Progress(shown), "prove")
    assert (code, json.loads(out), err) == (0, {"ok": True}, "some warning\n")
    assert shown.getvalue().startswith("cairn zk [") and shown.getvalue().endswith("] proving\n")


def test_progress_only_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    quiet = Progress.for_stderr()  # pytest captures stderr: not a terminal
    quiet.step("compiling")
    assert not quiet.enabled and capsys.readouterr().err == ""

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    loud = Progress.for_stderr()
    loud.step("compiling")
    assert loud.enabled and terminal.getvalue().endswith("] compiling\n")


def test_a_driver_that_runs_too_long_is_stopped() -> None:
    sleeper = [sys.executable, "-c", "import time; time.sleep(120)"]
    with pytest.raises(node.ZkToolchainError, match="did not finish within 1 s") as info:
        node._run(sleeper, 1, None, "prove")
    assert info.value.hint is not None and "--timeout" in info.value.hint


@pytest.mark.parametrize(
    ("returncode", "kind", "reason", "error", "code"),
    [
        (node.EXIT_CRS, "crs", "missing", SetupError, 64),
        (node.EXIT_CRS, "crs", "too-small", SetupError, 64),
        (node.EXIT_CRS, "crs", "insecure-refused", UsageError, 64),
        (node.EXIT_CRS, "crs", "proof-insecure", UsageError, 64),
        (node.EXIT_CRS, "crs", "proof-production", UsageError, 64),
        (node.EXIT_CRS, "crs", "unknown", MalformedInputError, 10),
        (node.EXIT_CRS, "crs", "malformed", MalformedInputError, 10),
        (node.EXIT_INPUT, "input", None, MalformedInputError, 10),
        (node.EXIT_UNSATISFIED, "unsatisfied", None, node.ConstraintError, 2),
        (node.EXIT_USAGE, "usage", None, node.ZkDriverError, 70),
        (node.EXIT_COMPILE, "compile", None, node.ZkDriverError, 70),
        (7, "internal", None, node.ZkDriverError, 70),
    ],
)
def test_driver_failures_map_onto_exit_codes(
    returncode: int, kind: str, reason: str | None, error: type[CairnError], code: int
) -> None:
    mapped = node.driver_error(returncode, node.DriverFailure("what went wrong", kind, reason))
    assert type(mapped) is error and int(mapped.exit_code) == code
    assert "what went wrong" in mapped.message


# --- the CRS, through the real driver --------------------------------------------------------


def _g1_powers(tau: int, count: int) -> bytes:
    def add(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
        if a == b:
            slope = 3 * a[0] * a[0] * pow(2 * a[1], -1, Q) % Q
        else:
            slope = (b[1] - a[1]) * pow(b[0] - a[0], -1, Q) % Q
        x = (slope * slope - a[0] - b[0]) % Q
        return x, (slope * (a[0] - x) - a[1]) % Q

    def mul(k: int, point: tuple[int, int]) -> tuple[int, int]:
        acc: tuple[int, int] | None = None
        while k:
            if k & 1:
                acc = point if acc is None else add(acc, point)
            point, k = add(point, point), k >> 1
        assert acc is not None
        return acc

    points = [(1, 2)]
    for _ in range(count - 1):
        points.append(mul(tau, points[-1]))
    return b"".join(x.to_bytes(32, "big") + y.to_bytes(32, "big") for x, y in points)


def _ignition_g2_hex() -> str:
    """IGNITION_G2_HEX as the driver exports it (crs.mjs needs no npm package)."""
    url = (CIRCUITS / "driver" / "crs.mjs").as_uri()
    script = f"import {{ IGNITION_G2_HEX }} from {json.dumps(url)}; console.log(IGNITION_G2_HEX);"
    done = subprocess.run(
        ["node", "--input-type=module", "-e", script],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout.strip()


def test_the_ignition_g2_point_is_a_g2_point() -> None:
    raw = bytes.fromhex(_ignition_g2_hex())
    x0, x1, y0, y1 = (int.from_bytes(raw[i : i + 32], "big") for i in range(0, 128, 32))
    point = ((x0, x1), (y0, y1))
    b = dev_crs._f2_mul((3, 0), dev_crs._f2_inv((9, 1)))  # the twist's b' = 3 / (9 + u)
    lhs = dev_crs._f2_mul(point[1], point[1])
    cube = dev_crs._f2_mul(dev_crs._f2_mul(point[0], point[0]), point[0])
    assert lhs == ((cube[0] + b[0]) % Q, (cube[1] + b[1]) % Q)
    # In the order-r subgroup: [r - 1]P = -P.
    acc, base, k = None, point, R - 1
    while k:
        if k & 1:
            acc = base if acc is None else dev_crs._g2_add(acc, base)
        base, k = dev_crs._g2_add(base, base), k >> 1
    assert acc == (point[0], (-y0 % Q, -y1 % Q))
    assert point != (dev_crs.G2_X, dev_crs.G2_Y) and dev_crs.g2_bytes() != raw


@pytest.fixture(scope="module")
def crs_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Small CRS directories: development, Ignition-shaped, unknown, missing."""
    base = tmp_path_factory.mktemp("crs")
    dirs = {"dev": dev_crs.ensure_dev_crs(base / "dev", points=8), "missing": base / "missing"}
    other_g1 = _g1_powers(5, 8)
    for name, g2 in (
        ("ignition", bytes.fromhex(_ignition_g2_hex())),
        ("unknown", dev_crs.g2_bytes()),
    ):
        (base / name).mkdir()
        (base / name / "bn254_g1.dat").write_bytes(other_g1)
        (base / name / "bn254_g2.dat").write_bytes(g2)
        dirs[name] = base / name
    return dirs


def _proof_doc(tmp_path: Path, *, insecure: bool) -> Path:
    doc = {
        "format": "cairn-zk-proof",
        "version": 1,
        "circuit": "cairn_membership",
        "bytecode_sha256": "00" * 32,
        "vk_sha256": "00" * 32,
        "insecure_dev_crs": insecure,
        "public_inputs": [f"0x{0:064x}"] * 97,
        "proof": "00" * 32,
    }
    path = tmp_path / "proof.json"
    path.write_text(json.dumps(doc))
    return path


def test_the_development_crs_is_refused_without_the_flag(
    zk_toolchain: Path, crs_dirs: dict[str, Path], tmp_path: Path
) -> None:
    inputs = tmp_path / "inputs.json"
    inputs.write_text("{}")
    prove = ["prove", str(inputs), "-o", str(tmp_path / "p.json"), "--crs"]
    with pytest.raises(UsageError, match="INSECURE development CRS") as info:
        node.run_driver([*prove, str(crs_dirs["dev"])])
    assert info.value.hint is not None and "--insecure-dev-crs" in info.value.hint

    with pytest.raises(SetupError, match="no CRS in") as missing:
        node.run_driver([*prove, str(crs_dirs["missing"])])
    assert missing.value.hint is not None and "Ignition" in missing.value.hint

    with pytest.raises(MalformedInputError, match="neither the Aztec Ignition CRS"):
        node.run_driver([*prove, str(crs_dirs["unknown"])])


def test_a_proof_and_a_crs_of_different_kinds_are_a_usage_error(
    zk_toolchain: Path, crs_dirs: dict[str, Path], tmp_path: Path
) -> None:
    insecure_proof = _proof_doc(tmp_path, insecure=True)
    with pytest.raises(UsageError, match="made with the INSECURE development CRS"):
        node.run_driver(["verify", str(insecure_proof), "--crs", str(crs_dirs["ignition"])])
    production_proof = _proof_doc(tmp_path, insecure=False)
    with pytest.raises(UsageError, match="made with a production CRS") as info:
        node.run_driver(
            ["verify", str(production_proof), "--crs", str(crs_dirs["dev"]), "--insecure-dev-crs"]
        )
    assert info.value.hint is not None and "drop --insecure-dev-crs" in info.value.hint


def test_an_ignition_crs_too_small_for_the_circuit_says_so(
    zk_toolchain: Path, crs_dirs: dict[str, Path], tmp_path: Path
) -> None:
    # Accepted as Ignition's (its G2 point), then measured against the compiled circuit.
    proof = _proof_doc(tmp_path, insecure=False)
    with pytest.raises(SetupError, match="has 8 G1 points, the circuit needs 131073"):
        node.run_driver(["verify", str(proof), "--crs", str(crs_dirs["ignition"])])


# --- the CLI: output file, dev-crs -----------------------------------------------------------


def test_prove_refuses_to_overwrite_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "zk-proof.json"
    output.write_text("Alice's earlier proof")
    args = ["zk", "prove", "--evidence", "e.json", "--proof", "p.json", *PROVE_ARGS]
    assert main([*args, "-o", str(output), "--insecure-dev-crs"]) == 64
    err = capsys.readouterr().err
    assert "already exists; not overwriting it" in err and "--force" in err
    assert output.read_text() == "Alice's earlier proof"


def test_dev_crs_command_warns_and_follows_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "dev-crs"
    assert main(["zk", "dev-crs", "--dir", str(target), "--points", "8", "--json"]) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert doc == {"crs": str(target), "tau": 3, "g1_points": 8, "insecure": True}
    assert "INSECURE development CRS" in captured.err

    assert main(["zk", "dev-crs", "--dir", str(target), "--points", "8"]) == 0
    assert f"--crs {target} --insecure-dev-crs" in capsys.readouterr().out

    # A directory holding another CRS is never overwritten.
    other = tmp_path / "ignition"
    other.mkdir()
    (other / "bn254_g1.dat").write_bytes(b"\1" * 128)
    assert main(["zk", "dev-crs", "--dir", str(other), "--points", "8"]) == 64
    assert (other / "bn254_g1.dat").read_bytes() == b"\1" * 128
    assert os.listdir(other) == ["bn254_g1.dat"]
