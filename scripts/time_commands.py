"""Whole-process timing of ``cairn`` commands, hyperfine-like: runs, median, spread, budget.

Each command is started as a new process, ``--runs`` times after ``--warmup`` untimed runs,
the commands interleaved round by round so that a change in the machine's load affects them
alike. Wall time is taken around the process (start to exit); CPU time (user + system) from the
kernel's accounting of the child. The load average is printed before and after: on a shared
machine a load above the core count inflates every wall time, so read the figures with it.

    python scripts/time_commands.py                     # the start-up set of docs/performance.md
    python scripts/time_commands.py --runs 30 --json out.json
    python scripts/time_commands.py -- cairn show tdx examples/tdx/dcap-qvl-sample/quote.bin

Exit status: 0, or 1 when ``--check`` is given and a median is over its budget.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SNP_EXAMPLE = ROOT / "examples" / "snp" / "milan-v3-oak-containers"
TDX_EXAMPLE = ROOT / "examples" / "tdx" / "dcap-qvl-sample"


@dataclass(frozen=True)
class Case:
    """A command to time and the median wall time it should stay under (None: no budget)."""

    name: str
    argv: list[str]
    budget_ms: float | None = None


@dataclass(frozen=True)
class Timing:
    name: str
    argv: list[str]
    runs: int
    exit_codes: list[int]
    wall_ms: list[float]
    cpu_ms: list[float]
    budget_ms: float | None

    @property
    def median_ms(self) -> float:
        return statistics.median(self.wall_ms)

    def summary(self) -> dict[str, object]:
        walls, cpus = sorted(self.wall_ms), sorted(self.cpu_ms)
        quartiles = statistics.quantiles(walls, n=4) if len(walls) > 1 else [walls[0]] * 3
        return {
            "name": self.name,
            "command": " ".join(self.argv),
            "runs": self.runs,
            "exit_codes": sorted(set(self.exit_codes)),
            "wall_ms": {
                "min": walls[0],
                "median": statistics.median(walls),
                "max": walls[-1],
                "iqr": quartiles[2] - quartiles[0],
                "stdev": statistics.stdev(walls) if len(walls) > 1 else 0.0,
            },
            "cpu_ms": {"min": cpus[0], "median": statistics.median(cpus)},
            "budget_ms": self.budget_ms,
            "within_budget": None if self.budget_ms is None else self.median_ms <= self.budget_ms,
        }


def default_cases(cairn: str) -> list[Case]:
    """The start-up set of docs/performance.md (issue 16, goal 1) with its budgets."""
    at = (TDX_EXAMPLE / "verify-at").read_text().strip()
    return [
        Case("cairn --version", [cairn, "--version"], 60.0),
        Case(
            "cairn verify snp --offline",
            [
                cairn, "verify", "snp", str(SNP_EXAMPLE / "report.bin"),
                "--certs", str(SNP_EXAMPLE), "--offline",
            ],
            150.0,
        ),
        Case(
            "cairn verify tdx --offline",
            [
                cairn, "verify", "tdx", str(TDX_EXAMPLE / "quote.bin"),
                "--collateral", str(TDX_EXAMPLE / "collateral.json"), "--offline", "--at", at,
            ],
            150.0,
        ),
        Case("cairn --help", [cairn, "--help"]),
        Case("python -c pass (interpreter floor)", [sys.executable, "-c", "pass"]),
    ]  # fmt: skip


def run_once(argv: list[str], env: dict[str, str]) -> tuple[int, float, float]:
    """(exit code, wall ms, CPU ms) of one run; output is discarded."""
    start = time.perf_counter()
    process = subprocess.Popen(
        argv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    _, status, usage = os.wait4(process.pid, 0)
    wall = (time.perf_counter() - start) * 1000
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, wall, (usage.ru_utime + usage.ru_stime) * 1000


def time_cases(cases: list[Case], runs: int, warmup: int, env: dict[str, str]) -> list[Timing]:
    results = {case.name: ([], [], []) for case in cases}  # type: dict[str, tuple[list[int], list[float], list[float]]]
    for _ in range(warmup):
        for case in cases:
            run_once(case.argv, env)
    for _ in range(runs):
        for case in cases:
            code, wall, cpu = run_once(case.argv, env)
            codes, walls, cpus = results[case.name]
            codes.append(code)
            walls.append(wall)
            cpus.append(cpu)
    return [
        Timing(case.name, case.argv, runs, *results[case.name], budget_ms=case.budget_ms)
        for case in cases
    ]


def load_average() -> tuple[float, float, float]:
    return os.getloadavg()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="timed runs per command (20)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs first (3)")
    parser.add_argument("--cairn", default=shutil.which("cairn") or "cairn", help="cairn to run")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results here")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when a median is over its budget"
    )
    parser.add_argument("command", nargs="*", help="time this command instead of the default set")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    cases = (
        [Case(" ".join(args.command), args.command)] if args.command else default_cases(args.cairn)
    )
    env = dict(os.environ)
    env.pop("CAIRN_DEBUG", None)
    env["XDG_CACHE_HOME"] = env.get("XDG_CACHE_HOME") or str(Path("/tmp") / "cairn-timing-cache")
    if env.get("PYTHONDONTWRITEBYTECODE"):
        print(
            "note: PYTHONDONTWRITEBYTECODE is set: a cairn installed without bytecode (uv pip "
            "install) compiles its modules on every run; run `python -m compileall` on its "
            "environment first (nox -s bench does)",
            file=sys.stderr,
        )
    load_before = load_average()
    timings = time_cases(cases, args.runs, args.warmup, env)
    load_after = load_average()
    summaries = [t.summary() for t in timings]
    print(
        f"load average before: {load_before[0]:.2f}, after: {load_after[0]:.2f} "
        f"({os.cpu_count()} CPUs); {args.runs} runs each after {args.warmup} warm-up runs"
    )
    width = max(len(t.name) for t in timings)
    print(
        f"{'command':<{width}}  {'median':>8}  {'min':>8}  {'max':>8}  {'IQR':>7}  "
        f"{'CPU med':>8}  {'CPU min':>8}  budget"
    )
    for summary in summaries:
        wall = summary["wall_ms"]
        cpu = summary["cpu_ms"]
        assert isinstance(wall, dict) and isinstance(cpu, dict)
        budget = summary["budget_ms"]
        verdict = (
            ""
            if budget is None
            else f"{budget:.0f} ms {'ok' if summary['within_budget'] else 'OVER'}"
        )
        codes = summary["exit_codes"]
        note = "" if codes == [0] else f"  (exit {codes})"
        print(
            f"{summary['name']:<{width}}  {wall['median']:>6.1f}ms  {wall['min']:>6.1f}ms  "
            f"{wall['max']:>6.1f}ms  {wall['iqr']:>5.1f}ms  {cpu['median']:>6.1f}ms  "
            f"{cpu['min']:>6.1f}ms  {verdict}{note}"
        )
    if args.json:
        document = {
            "load_average_before": load_before,
            "load_average_after": load_after,
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            "results": summaries,
            "raw": [asdict(t) for t in timings],
        }
        args.json.write_text(json.dumps(document, indent=2) + "\n")
    over = [s["name"] for s in summaries if s["within_budget"] is False]
    return 1 if args.check and over else 0


if __name__ == "__main__":
    sys.exit(main())
