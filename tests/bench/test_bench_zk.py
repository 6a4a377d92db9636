"""Zero-knowledge membership proofs as the CLI runs them (docs/performance.md, docs/zk.md).

Real inputs: an agent (simulated SEV-SNP, real swtpm) attests two services whose key we hold,
gives REPORT_DATA v2 evidence and a tree proof; a response is signed like echo-rust signs it.
Measured, each in fresh processes unless said otherwise, with the INSECURE development CRS (the
Ignition CRS costs the same: same sizes, one more 8 MiB hash when proving):

- ``cairn zk prove`` and ``cairn zk verify`` end to end (what a user waits for);
- the Node driver alone: ``execute`` (witness), ``prove``, ``verify`` cold (a new process) and
  warm (more proofs in the same process, the wasm already started);
- ``cairn verify evidence`` on the same evidence: the part of ``zk verify`` that is not zk, and
  ``cairn --version``: the interpreter and imports every cairn command pays;
- peak RSS of each (maximum resident set of the process tree, from the kernel's rusage);
- the gate count and circuit size of the compiled circuit, and whether a native ``bb`` runs.

Run with ``./dev bench -- tests/bench/test_bench_zk.py``; this costs about a minute of CPU.
Under ``./dev test`` (benchmarks disabled) each case runs once and the extra runs that only
measure (peak RSS, one thread) are left out, so the suite proves three times, not eight.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, decode_dss_signature

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fakes.agent_server import SERVICES, ServerThread, start_agent

from cairn_agent.app import make_app
from cairn_agent.swtpm import running_swtpm
from cairn_verifier.binding.echo_signature import echo_digest
from cairn_verifier.binding.proof_document import read_proof_document
from cairn_verifier.evidence.models import load_evidence
from cairn_verifier.zk import dev_crs, native, node
from cairn_verifier.zk.witness import membership_inputs

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
REQUEST, PAYLOAD = "bench-1", "hello from the benchmark"
CAIRN = str(Path(sys.executable).with_name("cairn"))
USAGE_WRAPPER = (
    "import json, resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode\n"
    "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "print(json.dumps([u.ru_maxrss, u.ru_utime + u.ru_stime]))\n"
    "sys.exit(code)\n"
)


@dataclass(frozen=True)
class ZkRun:
    """Files for one prove/verify: evidence, tree proof, signature, a proof, the dev CRS."""

    workdir: Path
    evidence: Path
    tree_proof: Path
    signature: str
    nonce: str
    root: Path
    crs: Path
    circuits: Path

    def prove_args(self, output: Path) -> list[str]:
        return [
            CAIRN, "zk", "prove", "--evidence", str(self.evidence), "--proof",
            str(self.tree_proof), "--request-id", REQUEST, "--payload", PAYLOAD,
            "--signature", self.signature, "--insecure-dev-crs", "-o", str(output), "--force",
            "--json",
        ]  # fmt: skip

    def verify_args(self, proof: Path) -> list[str]:
        return [
            CAIRN, "zk", "verify", str(proof), "--evidence", str(self.evidence), "--nonce",
            self.nonce, "--request-id", REQUEST, "--payload", PAYLOAD, "--offline",
            "--trust-simulated-root", str(self.root), "--insecure-dev-crs",
        ]  # fmt: skip

    def driver(self, *args: str) -> list[str]:
        return ["node", str(self.circuits / "driver" / "cairn-zk.mjs"), *args]


def _sign(key: ec.EllipticCurvePrivateKey, digest: bytes) -> str:
    r, s = decode_dss_signature(key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256()))))
    return (r.to_bytes(32, "big") + min(s, SECP256K1_N - s).to_bytes(32, "big")).hex()


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, capture_output=True, text=True, check=False, timeout=600)
    assert done.returncode in (0, 1), f"{args}\n{done.stdout}\n{done.stderr}"
    return done


def _usage(benchmark: Any, args: list[str]) -> dict[str, float] | None:
    """One more run of ``args``: peak resident set of it and its descendants (MB; Linux reports
    KiB) and their CPU time (user + system, s: what the load on a shared machine inflates less
    than wall time). None when benchmarks are disabled (the test suite runs each case once)."""
    if benchmark.disabled:
        return None
    done = subprocess.run(
        [sys.executable, "-c", USAGE_WRAPPER, *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    rss, cpu = json.loads(done.stdout.strip().splitlines()[-1])
    return {"peak_rss_mb": round(rss / 1024, 1), "cpu_s": round(cpu, 2)}


@pytest.fixture(scope="module")
def zk_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ZkRun]:
    circuits = node.check_toolchain()
    workdir = tmp_path_factory.mktemp("bench-zk")
    key = ec.generate_private_key(ec.SECP256K1())
    public = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
    )
    for name in SERVICES:  # the agent reads these instead of writing keys of its own
        (workdir / f"{name}.pub").write_text(public.hex() + "\n")
    nonce = secrets.token_hex(32)
    with running_swtpm(workdir / "swtpm") as swtpm:
        state, _ = start_agent(workdir, swtpm.tcti, "simulated-snp")
        assert state.self_check["status"] == "passed", state.self_check
        with ServerThread(make_app(state)) as url:
            evidence = workdir / "evidence.json"
            evidence.write_bytes(httpx.get(f"{url}/v1/evidence?nonce={nonce}", timeout=60).content)
            tree_proof = workdir / "tree-proof.json"
            tree_proof.write_bytes(httpx.get(f"{url}/v1/services/echo-rust/proof").content)
        root = workdir / "root.pem"
        state.source.provider.export_trust_root(root)  # type: ignore[attr-defined]
    signature = _sign(key, echo_digest(REQUEST, PAYLOAD))
    yield ZkRun(
        workdir, evidence, tree_proof, signature, nonce, root, dev_crs.ensure_dev_crs(), circuits
    )


@pytest.fixture(scope="module")
def proof(zk_run: ZkRun) -> Path:
    path = zk_run.workdir / "zk-proof.json"
    _run(zk_run.prove_args(path))
    return path


def _record(benchmark: Any, **info: object) -> None:
    benchmark.extra_info.update(info)
    print(json.dumps({"bench": benchmark.name, **info}))


def test_zk_circuit_size(benchmark: Any, zk_run: ZkRun) -> None:
    sizes = json.loads(_run(zk_run.driver("gates")).stdout)
    benchmark.group = "zk"
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    found = native.detect()
    _record(
        benchmark,
        gates=sizes["gates"],
        circuit_size=sizes["subgroup_size"],
        native_bb=found.usable,
        native_bb_note=found.reason,
        load_average=os.getloadavg()[0],
        cpus=os.cpu_count(),
    )


def test_zk_prove_cli(benchmark: Any, zk_run: ZkRun) -> None:
    output = zk_run.workdir / "bench-proof.json"
    benchmark.group = "zk"
    done: list[subprocess.CompletedProcess[str]] = []
    benchmark.pedantic(lambda: done.append(_run(zk_run.prove_args(output))), rounds=3)
    driver = [json.loads(d.stdout or "{}") for d in done]
    _record(
        benchmark,
        load_average=os.getloadavg()[0],
        usage=_usage(benchmark, zk_run.prove_args(output)),
        wall_s=None if benchmark.disabled else [round(r, 2) for r in benchmark.stats.stats.data],
        driver=[d.get("claims", {}).get("zk", {}) for d in driver],
    )


def test_zk_verify_cli(benchmark: Any, zk_run: ZkRun, proof: Path) -> None:
    benchmark.group = "zk"
    benchmark.pedantic(lambda: _run(zk_run.verify_args(proof)), rounds=5)
    _record(
        benchmark,
        load_average=os.getloadavg()[0],
        usage=_usage(benchmark, zk_run.verify_args(proof)),
    )


def test_zk_verify_evidence_only_cli(benchmark: Any, zk_run: ZkRun) -> None:
    """``cairn verify evidence`` on the same bundle: the part of zk verify that is not zk."""
    args = [
        CAIRN, "verify", "evidence", str(zk_run.evidence), "--nonce", zk_run.nonce, "--offline",
        "--trust-simulated-root", str(zk_run.root),
    ]  # fmt: skip
    benchmark.group = "zk"
    benchmark.pedantic(lambda: _run(args), rounds=5)
    _record(benchmark, load_average=os.getloadavg()[0], usage=_usage(benchmark, args))


def test_zk_cli_startup_floor(benchmark: Any) -> None:
    """``cairn --version``: what any cairn command pays before it does anything (imports)."""
    benchmark.group = "zk"
    benchmark.pedantic(lambda: _run([CAIRN, "--version"]), rounds=5)
    _record(
        benchmark, load_average=os.getloadavg()[0], usage=_usage(benchmark, [CAIRN, "--version"])
    )


def test_zk_witness_driver(benchmark: Any, zk_run: ZkRun, proof: Path) -> None:
    inputs = zk_run.workdir / "inputs.json"
    if not inputs.exists():  # the prover's input map, as cairn zk prove writes it
        _write_inputs(zk_run, inputs)
    benchmark.group = "zk"
    results: list[dict[str, Any]] = []
    benchmark.pedantic(
        lambda: results.append(json.loads(_run(zk_run.driver("execute", str(inputs))).stdout)),
        rounds=3,
    )
    _record(
        benchmark, load_average=os.getloadavg()[0], witness_ms=[r["witness_ms"] for r in results]
    )


def test_zk_prove_driver(benchmark: Any, zk_run: ZkRun) -> None:
    inputs = zk_run.workdir / "inputs.json"
    if not inputs.exists():
        _write_inputs(zk_run, inputs)
    output = zk_run.workdir / "driver-proof.json"
    args = zk_run.driver(
        "prove", str(inputs), "--crs", str(zk_run.crs), "--insecure-dev-crs", "-o", str(output)
    )
    benchmark.group = "zk"
    results: list[dict[str, Any]] = []
    benchmark.pedantic(lambda: results.append(json.loads(_run(args).stdout)), rounds=3)
    single = zk_run.driver(
        "prove", str(inputs), "--crs", str(zk_run.crs), "--insecure-dev-crs", "--threads", "1",
        "-o", str(output),
    )  # fmt: skip
    started = time.perf_counter()
    one_thread = {} if benchmark.disabled else json.loads(_run(single).stdout)
    _record(
        benchmark,
        load_average=os.getloadavg()[0],
        prove_ms=[r["prove_ms"] for r in results],
        witness_ms=[r["witness_ms"] for r in results],
        threads=results[0]["threads"],
        one_thread_prove_ms=one_thread.get("prove_ms"),
        one_thread_wall_s=round(time.perf_counter() - started, 2),
        usage=_usage(benchmark, args),
    )


def test_zk_verify_driver_cold(benchmark: Any, zk_run: ZkRun, proof: Path) -> None:
    args = zk_run.driver("verify", str(proof), "--crs", str(zk_run.crs), "--insecure-dev-crs")
    benchmark.group = "zk"
    results: list[dict[str, Any]] = []
    benchmark.pedantic(lambda: results.append(json.loads(_run(args).stdout)), rounds=5)
    _record(
        benchmark,
        load_average=os.getloadavg()[0],
        setup_ms=[r["setup_ms"] for r in results],
        verify_ms=[r["verify_ms"] for r in results],
        usage=_usage(benchmark, args),
    )


def test_zk_verify_driver_warm(benchmark: Any, zk_run: ZkRun, proof: Path) -> None:
    """Ten proofs in one driver process: the first pays the wasm start-up, the rest do not."""
    args = zk_run.driver(
        "verify", *[str(proof)] * 10, "--crs", str(zk_run.crs), "--insecure-dev-crs"
    )
    benchmark.group = "zk"
    results: list[dict[str, Any]] = []
    benchmark.pedantic(lambda: results.append(json.loads(_run(args).stdout)), rounds=3)
    per_proof = [r["verify_ms"] for run in results for r in run["results"]]
    _record(
        benchmark,
        load_average=os.getloadavg()[0],
        first_verify_ms=[run["results"][0]["verify_ms"] for run in results],
        warm_verify_ms_min=min(per_proof[1:]),
        warm_verify_ms_median=sorted(per_proof)[len(per_proof) // 2],
    )


def _write_inputs(zk_run: ZkRun, path: Path) -> None:
    """The circuit inputs cairn zk prove builds, through the same Python code."""
    bundle = load_evidence(zk_run.evidence.read_bytes())
    service, tree_proof, _ = read_proof_document(json.loads(zk_run.tree_proof.read_text()))
    inputs = membership_inputs(
        bundle.report_data_inputs(),
        service,
        tree_proof,
        echo_digest(REQUEST, PAYLOAD),
        bytes.fromhex(zk_run.signature),
    )
    path.write_text(json.dumps(inputs))


def test_native_bb_is_detected_not_assumed() -> None:
    """Whether a native bb that matches bb.js 0.82.2 runs here (recorded, never required)."""
    found = native.detect()
    assert found.usable is (found.path is not None and found.version == native.REQUIRED_VERSION)
    assert found.reason
    assert shutil.which("node") is not None
