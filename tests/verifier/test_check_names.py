"""The check-name registry (check_names.py) and the docs hold each other: every check the docs
name is registered, and every registered check is documented where its pipeline is."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cairn_verifier.check_names import PIPELINES, Pipeline

REPO = Path(__file__).resolve().parents[2]
NAME = r"[a-z][a-z0-9]*(?:-[a-zA-Z0-9]+)*"
# Where each pipeline's checks are documented.
DOCS = {
    "sev-snp": ("docs/snp.md", "docs/policy.md"),
    "tdx": ("docs/tdx.md", "docs/policy.md"),
    "tpm": ("docs/spec/evidence-bundle.md",),
    "evidence": ("docs/spec/evidence-bundle.md", "docs/policy.md"),
    "response": ("services/README.md",),
    "zk": ("docs/zk.md",),
}
ALL_DOCS = sorted(
    {*REPO.glob("*.md"), *REPO.glob("docs/**/*.md"), *REPO.glob("*/README.md")},
)


def documented_checks(text: str) -> set[str]:
    """The check names a Markdown text documents, found where the docs name checks: the first
    column of a table whose first header says "check", the name column of sample output
    (``  PASS  name …``), "at check 'name'", and policy keys' "(`name`, exit)"."""
    found: set[str] = set()
    in_table = check_table = False
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped.startswith("|"):
            in_table = False
        elif not in_table:
            in_table = True
            check_table = bool(re.match(r"\|\s*check\b", stripped, re.IGNORECASE))
        elif check_table and not set(stripped) <= set("|-: "):
            first = stripped.strip("|").split("|")[0]
            for low, high in re.findall(rf"`({NAME})`\s*–\s*`({NAME})`", first):
                found |= _range(low, high)
            found |= set(re.findall(rf"`({NAME})`", first))
        sample = re.match(r"\s+(?:PASS|FAIL|SKIP)  (\S+)", line)
        if sample:
            found.add(sample.group(1))
    found |= set(re.findall(r"at check '([^']+)'", text))
    found |= set(re.findall(rf"\(`({NAME})`, (?:\d+\)|exit \d)", text))
    return found


def _range(low: str, high: str) -> set[str]:
    """`rtmr0`–`rtmr3` documents rtmr0, rtmr1, rtmr2 and rtmr3."""
    start, end = re.fullmatch(r"(.*?)(\d+)", low), re.fullmatch(r"(.*?)(\d+)", high)
    assert start and end and start[1] == end[1], (low, high)
    return {f"{start[1]}{i}" for i in range(int(start[2]), int(end[2]) + 1)}


def _read(relative: str) -> str:
    return (REPO / relative).read_text()


def test_the_extractor_finds_each_form() -> None:
    text = """
| Check (component) | What |
| --- | --- |
| `leaf-signature` (VCEK/VLEK) *stops*, `ark-pinned` | x |
| `rtmr0`–`rtmr2` | y |

| key | meaning |
| --- | --- |
| `allow_smt` | compare (`smt`, 4); not `sha256`, 32 bytes |

  PASS  report-signature   report   ok
Result: NOT VERIFIED: signature invalid at check 'validity' on report (exit 2)
"""
    assert documented_checks(text) == {
        "leaf-signature",
        "ark-pinned",
        "rtmr0",
        "rtmr1",
        "rtmr2",
        "smt",
        "report-signature",
        "validity",
    }


@pytest.mark.parametrize("path", ALL_DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_documented_check_is_registered(path: Path) -> None:
    unknown = {
        name
        for name in documented_checks(path.read_text())
        if not any(pipeline.knows(name) for pipeline in PIPELINES)
    }
    assert unknown == set()


@pytest.mark.parametrize("pipeline", PIPELINES, ids=lambda p: p.name)
def test_every_registered_check_is_documented(pipeline: Pipeline) -> None:
    documented = set().union(*(documented_checks(_read(doc)) for doc in DOCS[pipeline.name]))
    assert {str(check) for check in pipeline.checks} - documented == set()
    for family in pipeline.families:
        assert family.documented_as in documented
        assert any(family.matches(name) and name != family.documented_as for name in documented)


def test_every_pipeline_is_documented_and_every_check_says_what_it_checks() -> None:
    assert set(DOCS) == {pipeline.name for pipeline in PIPELINES}
    for pipeline in PIPELINES:
        for check in pipeline.checks:
            assert check.meaning and "\n" not in check.meaning and len(check.meaning) <= 90, check
        for family in pipeline.families:
            assert family.meaning and "\n" not in family.meaning
