"""Whole-process start-up of cheap `cairn` commands and a 1,000-report batch, in the bench run.

Start-up: `scripts/time_commands.py`'s default set (``cairn --version``, an offline ``verify
snp`` and ``verify tdx``), each started as a new process, runs interleaved; the medians and their
budgets (60 / 150 / 150 ms) are reported in the summary with the load average. Batch: one
``cairn verify snp DIR`` process over 1,000 reports, against 1,000 in-process
``verify_snp_report`` calls in the same round (wall and CPU time). Run with ``nox -s bench``;
written up in docs/performance.md.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import time_commands  # noqa: E402

RUNS = int(os.environ.get("CAIRN_BENCH_STARTUP_RUNS", "20"))
BATCH = 1_000
MILAN = ROOT / "examples" / "snp" / "milan-v3-oak-containers"


def _cairn() -> str:
    found = shutil.which("cairn", path=str(Path(sys.executable).parent)) or shutil.which("cairn")
    if found is None:
        pytest.skip("the cairn command is not installed in this environment")
    return found


def test_startup(benchmark, tmp_path: Path) -> None:
    cases = time_commands.default_cases(_cairn())
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    load_before = os.getloadavg()
    benchmark.group = "startup"
    timings = benchmark.pedantic(
        time_commands.time_cases, args=(cases, RUNS, 3, env), rounds=1, iterations=1
    )
    benchmark.extra_info["load_average"] = [load_before[0], os.getloadavg()[0]]
    benchmark.extra_info["commands"] = [t.summary() for t in timings]
    assert all(set(t.exit_codes) == {0} for t in timings)


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("batch")
    report = (MILAN / "report.bin").read_bytes()
    for index in range(BATCH):
        (directory / f"{index:04d}.bin").write_bytes(report)
    return directory


def test_batch_1000_reports_one_process(benchmark, report_dir: Path, tmp_path: Path) -> None:
    """One ``cairn verify snp DIR --json`` process over 1,000 reports, each round paired with
    1,000 in-process ``verify_snp_report`` calls (certificates loaded once) run just before it,
    so that the ratio compares the two under the same load. CPU time (the process's own, the
    child's from ``wait4``) is recorded beside wall time: on a loaded machine it is the steadier
    comparison."""
    from cairn_verifier.snp.certs import load_cert_collection
    from cairn_verifier.snp.verify import SnpVerifyRequest, verify_snp_report

    at = datetime(2026, 3, 1, tzinfo=UTC)
    argv = [
        _cairn(), "verify", "snp", str(report_dir), "--certs", str(MILAN), "--offline",
        "--no-cache", "--at", "2026-03-01T00:00:00Z", "--json",
    ]  # fmt: skip
    report = (MILAN / "report.bin").read_bytes()
    request = SnpVerifyRequest(at=at, certs=load_cert_collection(MILAN))
    in_process: list[float] = []
    in_process_cpu: list[float] = []
    whole_process: list[float] = []
    whole_process_cpu: list[float] = []
    output = tmp_path / "results.jsonl"

    def run() -> int:
        start, start_cpu = time.perf_counter(), time.process_time()
        for _ in range(BATCH):
            verify_snp_report(report, request)
        in_process.append(time.perf_counter() - start)
        in_process_cpu.append(time.process_time() - start_cpu)
        start = time.perf_counter()
        with output.open("wb") as sink:
            process = subprocess.Popen(argv, stdout=sink, stdin=subprocess.DEVNULL)
            _, status, usage = os.wait4(process.pid, 0)
        whole_process.append(time.perf_counter() - start)
        whole_process_cpu.append(usage.ru_utime + usage.ru_stime)
        assert output.read_bytes().count(b"\n") == BATCH
        return os.waitstatus_to_exitcode(status)

    benchmark.group = "snp-batch"
    assert benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=1) == 0
    benchmark.extra_info["reports"] = BATCH
    benchmark.extra_info["in_process_seconds"] = in_process[1:]  # after the warm-up round
    benchmark.extra_info["whole_process_seconds"] = whole_process[1:]
    benchmark.extra_info["in_process_cpu_seconds"] = in_process_cpu[1:]
    benchmark.extra_info["whole_process_cpu_seconds"] = whole_process_cpu[1:]
