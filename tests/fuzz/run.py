"""Time-bounded fuzzing of every parser and ``cairn`` subcommand over mutated real inputs.

    python -m fuzz.run --seconds 60 [--seed N] [--target SUBSTRING] [--crashes DIR]

(run from ``tests/``, or through ``./dev fuzz -- --seconds 60``). Targets take turns, each
input is one to four mutations of a real seed (docs/development.md, "Fuzzing"). Any exit 70,
undocumented exit code, untyped exception or input that runs longer than ``--hang-seconds`` is a
crash: it is saved under ``--crashes`` with a note saying how to replay it, and the run exits 1.
At the end it prints inputs run, inputs/s and crashes, per target and in total.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from . import corpus as corpus_module
from .corpus import REPO, TpmQuoteParts
from .mutate import mutate
from .targets import PARSERS, Crash, Fixtures, Target, cli_targets, no_zk_toolchain


class Hang(BaseException):
    """An input ran longer than the hang limit."""


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    def expire(_signum: int, _frame: FrameType | None) -> None:
        raise Hang(f"no result after {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@dataclass
class Stats:
    inputs: Counter[str] = field(default_factory=Counter)
    crashes: Counter[str] = field(default_factory=Counter)
    outcomes: dict[str, Counter[str]] = field(default_factory=dict)
    seen_crashes: set[tuple[str, str]] = field(default_factory=set)


def _swtpm_quote(work: Path) -> TpmQuoteParts | None:
    """A real quote from a private swtpm when swtpm and tpm2-tools are installed."""
    try:
        from fakes.swtpm import running_swtpm  # optional: needs swtpm

        with running_swtpm(work / "swtpm") as tpm:
            ak = tpm.create_key("ak", "ecc256:ecdsa-sha256:null")
            quote = tpm.quote(ak, "sha256:0,1,2,7", corpus_module.NONCE)
    except Exception as exc:  # no swtpm: fuzz without a TPM quote seed, and say so
        print(f"fuzz: no swtpm quote seed ({type(exc).__name__}: {exc})", file=sys.stderr)
        return None
    return TpmQuoteParts(quote.attest, quote.signature, quote.ak_public, quote.pcr_values)


def _outcome(result: object) -> str:
    """``exit N`` for a CLI run (see targets.cli_targets), else the type the parser returned."""
    return result if isinstance(result, str) else type(result).__name__


def _save(crashes: Path, target: Target, data: bytes, seed_name: str, problem: str) -> Path:
    crashes.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(data).hexdigest()[:16]
    stem = f"{target.name.replace(' ', '_').replace('-', '')}-{digest}"
    (crashes / f"{stem}.input").write_bytes(data)
    note = {"target": target.name, "seed": seed_name, "problem": problem}
    (crashes / f"{stem}.json").write_text(json.dumps(note, indent=2) + "\n")
    return crashes / f"{stem}.input"


def fuzz(
    targets: list[Target],
    seeds: corpus_module.Corpus,
    *,
    seconds: float,
    rng: random.Random,
    crashes: Path,
    hang_seconds: float,
    work: Path,
) -> Stats:
    stats = Stats()
    pool = [t for t in targets if any(seeds.of(kind) for kind in t.kinds)]
    everything = [data for _, data in seeds.all()]
    deadline = time.monotonic() + seconds
    turn = 0
    while time.monotonic() < deadline:
        target = pool[turn % len(pool)]
        turn += 1
        kind = rng.choice([k for k in target.kinds if seeds.of(k)])
        seed_name, seed = rng.choice(seeds.of(kind))
        data = mutate(seed, rng, everything)
        stats.inputs[target.name] += 1
        try:
            with time_limit(hang_seconds):
                result = target.run(data, work)
        except (Crash, Hang) as problem:
            key = (target.name, str(problem).split("\n")[0][:120])
            stats.crashes[target.name] += 1
            if key not in stats.seen_crashes:
                stats.seen_crashes.add(key)
                saved = _save(crashes, target, data, seed_name, str(problem))
                print(f"CRASH {target.name} (seed {seed_name}): {problem}\n  saved: {saved}")
            continue
        stats.outcomes.setdefault(target.name, Counter())[_outcome(result)] += 1
    return stats


def report(stats: Stats, elapsed: float) -> str:
    lines = [f"{'target':<40} {'inputs':>8} {'inputs/s':>9} {'crashes':>8}  outcomes"]
    for name in sorted(stats.inputs):
        count = stats.inputs[name]
        outcomes = ", ".join(
            f"{k} {v}" for k, v in stats.outcomes.get(name, Counter()).most_common(4)
        )
        lines.append(
            f"{name:<40} {count:>8} {count / elapsed:>9.1f} {stats.crashes[name]:>8}  {outcomes}"
        )
    total, crashed = sum(stats.inputs.values()), sum(stats.crashes.values())
    lines.append(f"{'total':<40} {total:>8} {total / elapsed:>9.1f} {crashed:>8}")
    lines.append(
        f"fuzz: {total} inputs in {elapsed:.1f} s ({total / elapsed:.1f} inputs/s), "
        f"{crashed} crashes ({len(stats.seen_crashes)} distinct)"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fuzz", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="total fuzzing time")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: random)")
    parser.add_argument(
        "--target",
        action="append",
        default=[],
        help="only targets whose name contains this (repeatable)",
    )
    parser.add_argument(
        "--crashes",
        type=Path,
        default=REPO / ".fuzz" / "crashes",
        help="where crashing inputs are saved",
    )
    parser.add_argument(
        "--hang-seconds", type=float, default=10.0, help="an input running longer is a crash"
    )
    parser.add_argument("--testdata", type=Path, default=REPO / "tests" / "vectors")
    parser.add_argument("--list", action="store_true", help="list the targets and seed kinds")
    args = parser.parse_args(argv)

    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="cairn-fuzz-") as tmp, no_zk_toolchain():
        work = Path(tmp)
        seeds = corpus_module.build(args.testdata, _swtpm_quote(work))
        targets = [*PARSERS, *cli_targets(Fixtures.write(seeds, work / "fixtures"))]
        if args.target:
            targets = [t for t in targets if any(s in t.name for s in args.target)]
        if args.list or not targets:
            for target in targets:
                print(f"{target.name:<40} {', '.join(target.kinds)}")
            return 0 if targets else 64
        print(
            f"fuzz: {len(targets)} targets, {sum(len(v) for v in seeds.seeds.values())} seeds, "
            f"{args.seconds:g} s, seed {seed}",
            flush=True,
        )
        started = time.monotonic()
        stats = fuzz(
            targets,
            seeds,
            seconds=args.seconds,
            rng=rng,
            crashes=args.crashes,
            hang_seconds=args.hang_seconds,
            work=work,
        )
        print(report(stats, time.monotonic() - started))
    if stats.crashes:
        print(f"fuzz: FAILED; crashing inputs are in {args.crashes} (rerun with --seed {seed})")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
