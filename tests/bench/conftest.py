"""Benchmarks reuse the SNP vector catalogue from the verifier tests; at the end of a run, the
ratios of issue 16's goals are computed from that run's results and printed (and saved to
``.benchmarks/ratios.json`` with the load average), so every figure comes from one run."""

from __future__ import annotations

import json
import os
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "verifier" / "snp"))

ROOT = Path(__file__).resolve().parents[2]
_LOAD_AT_START = os.getloadavg()


def _results(config: Any) -> dict[tuple[str, str], Any]:
    session = getattr(config, "_benchmarksession", None)
    if session is None:
        return {}
    return {(b.group or "", b.name): b for b in session.benchmarks if b}


def _find(results: dict[tuple[str, str], Any], group: str, prefix: str) -> Any:
    for (found_group, name), bench in results.items():
        if found_group == group and name.startswith(prefix):
            return bench
    return None


def ratios(results: dict[tuple[str, str], Any]) -> list[tuple[str, str, str]]:
    """(goal, measured, verdict) for every goal whose benchmarks ran."""
    rows: list[tuple[str, str, str]] = []
    startup = _find(results, "startup", "test_startup")
    if startup is not None:
        for command in startup.extra_info["commands"]:
            median = command["wall_ms"]["median"]
            budget = command["budget_ms"]
            spread = command["wall_ms"]["iqr"]
            verdict = "" if budget is None else ("met" if median <= budget else "NOT met")
            goal = f"start-up: {command['name']}" + ("" if budget is None else f" <= {budget:g} ms")
            cpu = command["cpu_ms"]["median"]
            rows.append(
                (goal, f"median {median:.1f} ms (IQR {spread:.1f}; CPU {cpu:.1f} ms)", verdict)
            )
    batch = _find(results, "snp-batch", "test_batch_1000")
    if batch is not None:
        reports = batch.extra_info["reports"]
        whole = statistics.median(batch.extra_info["whole_process_seconds"])
        per_report = whole / reports
        in_process = statistics.median(batch.extra_info["in_process_seconds"]) / reports
        whole_cpu = statistics.median(batch.extra_info["whole_process_cpu_seconds"]) / reports
        in_cpu = statistics.median(batch.extra_info["in_process_cpu_seconds"]) / reports
        rows.append(
            (
                "batch: 1,000 reports in one process vs in-process",
                f"wall {per_report * 1e6:.0f} us/report (whole process {whole:.2f} s) "
                f"vs {in_process * 1e6:.0f} us in-process: {per_report / in_process:.2f}x; "
                f"CPU {whole_cpu * 1e6:.0f} vs {in_cpu * 1e6:.0f} us: {whole_cpu / in_cpu:.2f}x",
                "",
            )
        )
    for product in ("Milan", "Genoa", "Turin"):
        floor = _find(results, f"snp-{product}", "test_floor_ecdsa_p384_verify")
        cairn = _find(results, f"snp-{product}", "test_verify_report_warm")
        if floor is not None and cairn is not None:
            median = cairn.stats.median / floor.stats.median
            low = cairn.stats.min / floor.stats.min
            verdict = "met" if median <= 1.25 else "NOT met"
            rows.append(
                (f"SEV-SNP {product} warm <= 1.25x one P-384 verify",
                 f"{median:.2f}x median, {low:.2f}x min", verdict)
            )  # fmt: skip
    for case in ("b0c06f", "20a06f"):
        peer = _find(results, f"tdx-{case}", "test_dcap_qvl_verify")
        cairn = _find(results, f"tdx-{case}", "test_cairn_verify_tdx_warm")
        if peer is not None and cairn is not None:
            median = peer.stats.median / cairn.stats.median
            low = peer.stats.min / cairn.stats.min
            verdict = "met" if median >= 3 else "NOT met"
            rows.append(
                (f"TDX {case} warm >= 3x dcap-qvl", f"{median:.2f}x median, {low:.2f}x min",
                 verdict)
            )  # fmt: skip
    paired = _find(results, "agent-paired", "test_evidence_overhead_paired")
    if paired is not None:
        ratio = paired.extra_info["median_ratio"]
        floor = _find(results, "agent-paired", "test_http_floor_paired")
        floor_text = ""
        if floor is not None:
            floor_ratio = floor.extra_info["median_ratio"]
            floor_text = f"; aiohttp doing only the same call in a thread: {floor_ratio:.3f}x"
        rows.append(
            (
                "agent /v1/evidence <= 1.10x raw provider + TPM (paired, client on CPU 1)",
                f"{ratio:.3f}x median of pairs (raw {paired.extra_info['raw_median_ms']:.2f} ms, "
                f"HTTP {paired.extra_info['http_median_ms']:.2f} ms){floor_text}",
                "met" if ratio <= 1.10 else "NOT met",
            )
        )
    tree = _find(results, "tree-build", "test_tree_build[10000]")
    if tree is not None:
        seconds = tree.stats.median
        cpu = tree.extra_info.get("cpu_seconds")
        backend = tree.extra_info.get("backend", "?")
        cpu_text = "" if cpu is None else f", {cpu:.2f} s CPU"
        rows.append(
            ("service tree: 10,000 services < 2 s", f"{seconds:.2f} s wall{cpu_text} ({backend})",
             "met" if seconds < 2 else "NOT met")
        )  # fmt: skip
    return rows


def pytest_terminal_summary(terminalreporter: Any) -> None:
    rows = ratios(_results(terminalreporter.config))
    if not rows:
        return
    load = (_LOAD_AT_START[0], os.getloadavg()[0])
    terminalreporter.write_sep("-", "issue 16 goals, from this run")
    terminalreporter.write_line(
        f"load average (1 min): {load[0]:.2f} at start, {load[1]:.2f} at end, "
        f"{os.cpu_count()} CPUs (above ~1.5 the wall times are inflated)"
    )
    width = max(len(goal) for goal, _, _ in rows)
    for goal, measured, verdict in rows:
        terminalreporter.write_line(f"  {goal:<{width}}  {measured}  {verdict}".rstrip())
    out = ROOT / ".benchmarks"
    if out.is_dir():
        document = {"load_average": load, "goals": [list(row) for row in rows]}
        (out / "ratios.json").write_text(json.dumps(document, indent=2) + "\n")
