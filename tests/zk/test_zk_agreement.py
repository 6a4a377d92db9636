"""The circuit's primitives compute exactly what the Python reference computes.

The test-only ``cairn_probe`` circuit returns its Poseidon2 sponge outputs, a public-key hash,
a tree root recomputed from a real inclusion path, the REPORT_DATA v2 claims commitment and the
bytes of a 128-bit-halves value; each is compared with binding/poseidon2.py, smt.py, services.py
and report_data.py, and the committed v2 vectors (docs/spec/vectors/report-data-v2.json) are
reproduced in the circuit.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from zk_helpers import execute_batch, make_scenario

from cairn_verifier.binding import poseidon2
from cairn_verifier.binding.report_data import (
    ABSENT,
    ReportDataInputs,
    claims_commitment,
    split_128,
)
from cairn_verifier.binding.services import pubkey_hash, public_key_coordinates, service_leaf
from cairn_verifier.binding.smt import MAX_DEPTH, leaf_hash, leaf_value

H00 = 0x0B63A53787021A4A962A452C2921B3663AFF1FFD8D5510540F8E659E782956F1
H12 = 0x038682AA1CB5AE4E0A3F13DA432A95C77C5C111F6F030FAF9CAD641CE1ED7383
VECTORS = Path(__file__).resolve().parents[2] / "docs" / "spec" / "vectors"


def _hex(value: int) -> str:
    return f"0x{value:064x}"


def _probe_inputs(a: list[int], report: ReportDataInputs) -> dict[str, Any]:
    scenario = make_scenario()
    key, value = service_leaf(scenario.service)
    x, y = public_key_coordinates(scenario.service.public_key)
    siblings = list(scenario.proof.siblings) + [0] * (MAX_DEPTH - scenario.proof.depth)
    return {
        "a": [_hex(v) for v in a],
        "key": _hex(key),
        "value": _hex(value),
        "siblings": [_hex(s) for s in siblings],
        "depth": scenario.proof.depth,
        "pubkey_x": list(x.to_bytes(32, "big")),
        "pubkey_y": list(y.to_bytes(32, "big")),
        "nonce": _halves(report.nonce),
        "system_hash": _halves(report.system_hash),
        "tree_root": _hex(report.tree_root),
        "gpu_digest": _halves(report.gpu_digest or ABSENT),
        "ak_digest": _halves(report.ak_digest or ABSENT),
    }


def _halves(value: bytes) -> list[str]:
    return [_hex(half) for half in split_128(value)]


def _expected(a: list[int], report: ReportDataInputs) -> list[Any]:
    scenario = make_scenario()
    key, value = service_leaf(scenario.service)
    hashes = [poseidon2.hash(a[:n]) for n in range(1, 6)]
    hashes += [poseidon2.hash2(a[0], a[1]), leaf_hash(a[0], a[1]), leaf_value(a[0], a[1])]
    return [
        [_hex(h) for h in hashes],
        _hex(pubkey_hash(scenario.service.public_key)),
        _hex(scenario.report.tree_root),
        _hex(leaf_hash(key, value)),
        _hex(claims_commitment(report)),
        [f"0x{b:02x}" for b in report.nonce],
    ]


def _normalise(value: Any) -> Any:
    """noir_js returns fields as 0x hex of varying width; make them comparable."""
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    if isinstance(value, str) and value.startswith("0x"):
        number = int(value, 16)
        return f"0x{number:02x}" if number < 256 and len(value) <= 4 else _hex(number)
    return value


FIELD = st.integers(min_value=0, max_value=poseidon2.P - 1)
DIGEST = st.binary(min_size=32, max_size=32)


@st.composite
def cases(draw: st.DrawFn) -> tuple[list[int], ReportDataInputs]:
    a = draw(st.lists(FIELD, min_size=5, max_size=5))
    report = ReportDataInputs(
        nonce=draw(DIGEST),
        system_hash=draw(DIGEST),
        tree_root=draw(FIELD),
        gpu_digest=draw(st.none() | DIGEST.filter(lambda d: d != ABSENT)),
        ak_digest=draw(st.none() | DIGEST.filter(lambda d: d != ABSENT)),
    )
    return a, report


def _collect(n: int) -> list[tuple[list[int], ReportDataInputs]]:
    found: list[tuple[list[int], ReportDataInputs]] = []

    @settings(max_examples=n, deadline=None, database=None)
    @given(cases())
    def gather(case: tuple[list[int], ReportDataInputs]) -> None:
        found.append(case)

    gather()
    return found[:n]


@pytest.fixture(scope="module")
def cases_and_results(
    zk_toolchain: Path, tmp_path_factory: pytest.TempPathFactory
) -> list[tuple[list[Any], Any]]:
    fixed = make_scenario().report
    batch = [([0, 0, 0, 0, 0], fixed), ([1, 2, 3, 4, 5], fixed), *_collect(6)]
    batch += [([0, 0, 0, 0, 0], _vector_inputs(v["inputs"])) for v in _v2_vectors()]
    outcomes = execute_batch(
        tmp_path_factory.mktemp("probe"), "cairn_probe", [_probe_inputs(a, r) for a, r in batch]
    )
    return [(_expected(a, r), o) for (a, r), o in zip(batch, outcomes, strict=True)]


def _v2_vectors() -> list[dict[str, Any]]:
    vectors: list[dict[str, Any]] = json.loads((VECTORS / "report-data-v2.json").read_text())[
        "vectors"
    ]
    return vectors


def _vector_inputs(doc: dict[str, Any]) -> ReportDataInputs:
    def opt(value: str | None) -> bytes | None:
        return None if value is None else bytes.fromhex(value)

    return ReportDataInputs(
        nonce=bytes.fromhex(doc["nonce"]),
        system_hash=bytes.fromhex(doc["system_hash"]),
        tree_root=int(doc["tree_root"], 16),
        gpu_digest=opt(doc["gpu_digest"]),
        ak_digest=opt(doc["ak_digest"]),
    )


def test_reference_vectors_from_the_toolchain_notes() -> None:
    assert poseidon2.hash2(0, 0) == H00
    assert poseidon2.hash2(1, 2) == H12


def test_circuit_poseidon2_matches_published_vectors(
    cases_and_results: list[tuple[list[Any], Any]],
) -> None:
    (_, zero), (_, one_two) = cases_and_results[0], cases_and_results[1]
    assert int(zero["return_value"][0][5], 16) == H00
    assert int(one_two["return_value"][0][5], 16) == H12


@pytest.mark.parametrize("index", range(8 + 5))
def test_circuit_agrees_with_python(
    cases_and_results: list[tuple[list[Any], Any]], index: int
) -> None:
    expected, outcome = cases_and_results[index]
    assert outcome["ok"], outcome
    assert _normalise(outcome["return_value"]) == expected


def test_circuit_reproduces_the_committed_v2_commitments(
    cases_and_results: list[tuple[list[Any], Any]],
) -> None:
    vectors = _v2_vectors()
    assert len(vectors) == 5
    for vector, (_, outcome) in zip(vectors, cases_and_results[8:], strict=True):
        assert _hex(int(outcome["return_value"][4], 16)) == _hex(
            int(vector["claims_commitment"], 16)
        ), vector["name"]
