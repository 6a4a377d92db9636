"""What `cairn zk` needs and how it says so, without proving: the circuits directory, Node.js,
the pinned npm packages, the CRS (Ignition, development, refused), the output file, progress.

Setup problems are exit 64 with the command to run, never 70 ("a bug in Cairn")."""

from __future__ import annotations

import hashlib
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
from cairn_verifier.zk.pins import PINNED_FILES
from cairn_verifier.zk.progress import Progress

REPO = Path(__file__).resolve().parents[2]
CIRCUITS = REPO / "circuits"
Q = dev_crs.Q
# The BN254 scalar field order r (the order of G1 and G2).
R = 21888242871839275222246405745257275088548364400416034343698204186575808495617
PROVE_ARGS = ["--request-id", "r", "--payload", "x", "--signature", "00"]


PINNED_GLOBS = ("driver/*.mjs", "artifacts/*", "package.json", "package-lock.json")


def _fake_checkout(root: Path) -> Path:
    """A copy of the checkout's circuits/ files that cairn pins (no node_modules)."""
    circuits = root / "circuits"
    for pattern in PINNED_GLOBS:
        for source in CIRCUITS.glob(pattern):
            target = circuits / source.relative_to(CIRCUITS)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, target)
    return circuits


def _planted_driver(circuits: Path, marker: Path) -> None:
    """Replace the driver with one that says every proof is valid (and leaves a marker)."""
    (circuits / "driver" / "cairn-zk.mjs").write_text(
        "import { writeFileSync } from 'node:fs';\n"
        f"writeFileSync({json.dumps(str(marker))}, 'ran');\n"
        "console.log(JSON.stringify({ valid: true, insecure_dev_crs: false }));\n"
    )


# --- finding circuits/ -----------------------------------------------------------------------


def test_circuits_are_those_of_the_checkout_the_package_comes_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    circuits = _fake_checkout(tmp_path / "checkout")
    package = tmp_path / "checkout" / "verifier" / "src" / "cairn_verifier"
    package.mkdir(parents=True)
    assert find_circuits_dir(package=package) == circuits.resolve()
    assert circuits_module.checkout_circuits_dir(package) == circuits


def test_a_circuits_dir_in_a_parent_directory_is_never_searched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before: the working directory and the installed package's parents were searched, and the
    # first circuits/driver/cairn-zk.mjs met was run. A directory planted there is not used.
    planted = _fake_checkout(tmp_path)
    nested = tmp_path / "work" / "deep"
    nested.mkdir(parents=True)
    monkeypatch.chdir(nested)
    monkeypatch.delenv(ENV_VAR, raising=False)
    installed = tmp_path / "venv" / "lib" / "site-packages" / "cairn_verifier"
    with pytest.raises(SetupError, match="installed outside a Cairn checkout") as info:
        find_circuits_dir(package=installed)
    assert info.value.hint is not None and ENV_VAR in info.value.hint
    assert planted.is_dir()


def test_the_environment_variable_wins_and_is_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    circuits = _fake_checkout(tmp_path / "other")
    monkeypatch.setenv(ENV_VAR, str(circuits))
    assert find_circuits_dir() == circuits.resolve()
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    with pytest.raises(SetupError, match=f"{ENV_VAR}=.* is not a Cairn circuits directory"):
        find_circuits_dir()


def test_the_pins_match_the_checkout() -> None:
    # scripts/zk_build.py writes pins.py from these files; --check compares without building.
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "zk_build.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert set(PINNED_FILES) == {
        str(p.relative_to(CIRCUITS)) for g in PINNED_GLOBS for p in CIRCUITS.glob(g)
    }
    circuits_module.check_pinned_files(CIRCUITS)


@pytest.mark.parametrize("tamper", ["planted driver", "modified artefact", "foreign vk"])
def test_a_planted_or_modified_circuits_dir_is_refused_before_anything_runs(
    tamper: str,
    zk_toolchain: Path,
    testdata: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    circuits = _fake_checkout(tmp_path / "planted")
    (circuits / "node_modules").symlink_to(zk_toolchain / "node_modules")
    marker = tmp_path / "driver-ran"
    if tamper == "planted driver":
        _planted_driver(circuits, marker)
        named = "driver/cairn-zk.mjs"
    elif tamper == "modified artefact":
        artifact = circuits / "artifacts" / "cairn_membership.json"
        artifact.write_text(artifact.read_text().replace('"gates"', '"gates" ', 1))
        named = "artifacts/cairn_membership.json"
    else:
        # A verification key of another circuit (here: the bytes of a different key file).
        vk = circuits / "artifacts" / "cairn_membership.insecure-dev.vk"
        vk.write_bytes(vk.read_bytes()[:-32] + bytes(32))
        named = "artifacts/cairn_membership.insecure-dev.vk"
    monkeypatch.setenv(ENV_VAR, str(circuits))
    with pytest.raises(circuits_module.ZkIntegrityError, match=named) as info:
        node.check_toolchain()
    assert info.value.exit_code == ExitCode.USAGE_OR_SETUP
    assert info.value.hint is not None and "scripts/zk_build.py" in info.value.hint
    # Through the CLI: zk verify refuses it (64) and never runs the planted driver.
    inputs = Fixtures.write(corpus.build(testdata), tmp_path / "inputs")
    zk_proof = tmp_path / "zk-proof.json"
    zk_proof.write_bytes(corpus.zk_proof_document())
    args = ["zk", "verify", str(zk_proof), "--evidence", str(inputs.evidence)]
    args += ["--nonce", corpus.NONCE.hex(), "--any-response", "--insecure-dev-crs", "--json"]
    assert main(args) == ExitCode.USAGE_OR_SETUP
    doc = json.loads(capsys.readouterr().out)
    assert doc["error"]["type"] == "ZkIntegrityError" and named in doc["error"]["message"]
    assert not marker.exists()
    # The unmodified files are accepted (the check refuses changes, not everything).
    _fake_checkout(tmp_path / "planted")
    circuits_module.check_pinned_files(circuits)


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
        args += ["--any-response", "--json"]
    assert main(args) == ExitCode.USAGE_OR_SETUP
    doc = json.loads(capsys.readouterr().out)
    assert doc["error"]["type"] == "SetupError"
    assert "installed outside a Cairn checkout" in doc["error"]["message"]
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
    runner = node._Runner([sys.executable, "-c", script], 60, Progress(shown), "prove")
    code, out, err = runner.wait()
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
        node._Runner(sleeper, 1, None, "prove").wait()
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


def _known_crs() -> dict[str, dict[str, str]]:
    """KNOWN_CRS as the driver exports it (crs.mjs needs no npm package)."""
    url = (CIRCUITS / "driver" / "crs.mjs").as_uri()
    script = f"import {{ KNOWN_CRS }} from {json.dumps(url)}; "
    script += "console.log(JSON.stringify(KNOWN_CRS));"
    done = subprocess.run(
        ["node", "--input-type=module", "-e", script],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    known: dict[str, dict[str, str]] = json.loads(done.stdout)
    return known


IGNITION = _known_crs()["aztec-ignition"]
DEV = _known_crs()["insecure-dev"]


def _g2_in_subgroup(raw: bytes) -> bool:
    x0, x1, y0, y1 = (int.from_bytes(raw[i : i + 32], "big") for i in range(0, 128, 32))
    point = ((x0, x1), (y0, y1))
    b = dev_crs._f2_mul((3, 0), dev_crs._f2_inv((9, 1)))  # the twist's b' = 3 / (9 + u)
    lhs = dev_crs._f2_mul(point[1], point[1])
    cube = dev_crs._f2_mul(dev_crs._f2_mul(point[0], point[0]), point[0])
    if lhs != ((cube[0] + b[0]) % Q, (cube[1] + b[1]) % Q):
        return False
    acc, base, k = None, point, R - 1  # in the order-r subgroup: [r - 1]P = -P
    while k:
        if k & 1:
            acc = base if acc is None else dev_crs._g2_add(acc, base)
        base, k = dev_crs._g2_add(base, base), k >> 1
    return acc == (point[0], (-y0 % Q, -y1 % Q))


def test_the_pinned_ignition_points_are_curve_points() -> None:
    # The values are barretenberg's (bn254_crs_data.hpp); the G2 point also matches the one
    # zkVerify's verifier embeds. Here: they are points of the right groups.
    assert _g2_in_subgroup(bytes.fromhex(IGNITION["g2"]))
    second = bytes.fromhex(IGNITION["secondG1"])
    x, y = int.from_bytes(second[:32], "big"), int.from_bytes(second[32:], "big")
    assert (y * y - x**3 - 3) % Q == 0  # G1 has cofactor 1: on the curve means in the group
    assert len(IGNITION["chunk0Sha256"]) == 64


def test_the_pinned_development_values_are_those_of_tau_3() -> None:
    assert bytes.fromhex(DEV["g2"]) == dev_crs.g2_bytes()
    assert bytes.fromhex(DEV["secondG1"]) == dev_crs.g1_powers(2)[64:]
    crs = dev_crs.ensure_dev_crs()  # the default size holds the whole 8 MiB chunk
    with (crs / "bn254_g1.dat").open("rb") as g1:
        chunk = g1.read(131072 * 64)
    assert hashlib.sha256(chunk).hexdigest() == DEV["chunk0Sha256"]


def _crs_dir(base: Path, name: str, g1: bytes, g2: bytes) -> Path:
    (base / name).mkdir()
    (base / name / "bn254_g1.dat").write_bytes(g1)
    (base / name / "bn254_g2.dat").write_bytes(g2)
    return base / name


@pytest.fixture(scope="module")
def crs_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """CRS directories: development, unknown (tau = 5), forged halves of Ignition, missing."""
    base = tmp_path_factory.mktemp("crs")
    ignition_g2 = bytes.fromhex(IGNITION["g2"])
    ignition_head = _g1_powers(1, 1) + bytes.fromhex(IGNITION["secondG1"])
    tau5 = _g1_powers(5, 8)
    # 2^17 points that start like Ignition's; the rest is not (repeats of the generator).
    fake_chunk = ignition_head + _g1_powers(1, 1) * (131072 - 2)
    return {
        "dev": dev_crs.ensure_dev_crs(base / "dev", points=8),
        "missing": base / "missing",
        "tau 5, dev G2": _crs_dir(base, "tau5-dev-g2", tau5, dev_crs.g2_bytes()),
        "tau 5, Ignition G2": _crs_dir(base, "tau5-ignition-g2", tau5, ignition_g2),
        "Ignition G1, forged G2": _crs_dir(base, "forged-g2", ignition_head, dev_crs.g2_bytes()),
        "Ignition head, too small": _crs_dir(base, "small", ignition_head, ignition_g2),
        "Ignition head, wrong chunk": _crs_dir(base, "chunk", fake_chunk, ignition_g2),
    }


def _proof_doc(tmp_path: Path, *, insecure: bool) -> Path:
    doc = {
        "format": "cairn-zk-proof",
        "version": 2,
        "circuit": "cairn_membership",
        "bytecode_sha256": "00" * 32,
        "crs": "insecure-dev" if insecure else "aztec-ignition",
        "insecure_dev_crs": insecure,
        "public_inputs": [f"0x{0:064x}"] * 6,
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
    with pytest.raises(UsageError, match="INSECURE Cairn development CRS") as info:
        node.run_driver([*prove, str(crs_dirs["dev"])])
    assert info.value.hint is not None and "--insecure-dev-crs" in info.value.hint

    with pytest.raises(SetupError, match="no CRS in") as missing:
        node.run_driver([*prove, str(crs_dirs["missing"])])
    assert missing.value.hint is not None and "Ignition" in missing.value.hint


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("tau 5, dev G2", "neither the Aztec Ignition CRS nor the Cairn development CRS"),
        ("tau 5, Ignition G2", "neither the Aztec Ignition CRS nor the Cairn development CRS"),
        ("Ignition G1, forged G2", "not its G2 point"),
        ("Ignition head, wrong chunk", "not the published 3718ffbe"),
    ],
)
@pytest.mark.parametrize("flag", [[], ["--insecure-dev-crs"]])
def test_an_unpinned_crs_is_refused_even_when_named_insecure(
    zk_toolchain: Path,
    crs_dirs: dict[str, Path],
    tmp_path: Path,
    name: str,
    message: str,
    flag: list[str],
) -> None:
    inputs = tmp_path / "inputs.json"
    inputs.write_text("{}")
    prove = ["prove", str(inputs), "-o", str(tmp_path / "p.json"), "--crs", str(crs_dirs[name])]
    with pytest.raises(MalformedInputError, match=message):
        node.run_driver([*prove, *flag])
    assert not (tmp_path / "p.json").exists()


def test_a_proof_and_a_crs_of_different_kinds_are_a_usage_error(
    zk_toolchain: Path, crs_dirs: dict[str, Path], tmp_path: Path
) -> None:
    insecure_proof = _proof_doc(tmp_path, insecure=True)
    ignition_like = crs_dirs["Ignition head, too small"]
    with pytest.raises(UsageError, match="made with the INSECURE development CRS"):
        node.run_driver(["verify", str(insecure_proof), "--crs", str(ignition_like)])
    production_proof = _proof_doc(tmp_path, insecure=False)
    with pytest.raises(UsageError, match="made with a production CRS") as info:
        node.run_driver(
            ["verify", str(production_proof), "--crs", str(crs_dirs["dev"]), "--insecure-dev-crs"]
        )
    assert info.value.hint is not None and "drop --insecure-dev-crs" in info.value.hint


def test_an_ignition_crs_too_small_for_its_hash_check_says_so(
    zk_toolchain: Path, crs_dirs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Recognised as Ignition's (second G1 point and G2 point); its G1 prefix cannot be checked
    # against the published 8 MiB hash, so no verification key is derived from it.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    proof = _proof_doc(tmp_path, insecure=False)
    with pytest.raises(SetupError, match="has 2 G1 points; Cairn needs the first 131072"):
        node.run_driver(["verify", str(proof), "--crs", str(crs_dirs["Ignition head, too small"])])
    assert not (tmp_path / "cache").exists()


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
