"""REPORT_DATA v2: committed vectors, both halves bound to every claim, version dispatch."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from cairn_verifier.binding import poseidon2
from cairn_verifier.binding.report_data import (
    COMMITMENT_TAG,
    DOMAIN,
    DOMAIN_V2,
    REPORT_DATA_VERSION,
    ReportDataInputs,
    claims_commitment,
    claims_digest,
    claims_message,
    commitment_inputs,
    explain_mismatch,
    report_data,
    report_data_v1,
    report_data_v2,
    split_128,
)
from cairn_verifier.errors import MalformedInputError

VECTORS = Path(__file__).resolve().parents[3] / "docs" / "spec" / "vectors"

SAMPLE = ReportDataInputs(
    nonce=bytes(range(32, 64)),
    system_hash=bytes(range(64, 96)),
    tree_root=int.from_bytes(bytes(range(32)), "big"),
    gpu_digest=bytes(range(96, 128)),
    ak_digest=bytes(range(128, 160)),
)


def _vectors() -> list[dict[str, Any]]:
    doc: dict[str, Any] = json.loads((VECTORS / "report-data-v2.json").read_text())
    vectors: list[dict[str, Any]] = doc["vectors"]
    return vectors


def _inputs(doc: dict[str, Any]) -> ReportDataInputs:
    def opt(value: str | None) -> bytes | None:
        return None if value is None else bytes.fromhex(value)

    return ReportDataInputs(
        nonce=bytes.fromhex(doc["nonce"]),
        system_hash=bytes.fromhex(doc["system_hash"]),
        tree_root=int(doc["tree_root"], 16),
        gpu_digest=opt(doc["gpu_digest"]),
        ak_digest=opt(doc["ak_digest"]),
    )


def test_tags_are_the_documented_values() -> None:
    assert b"cairn/report-data/v2" + bytes(12) == DOMAIN_V2
    assert COMMITMENT_TAG == 0x636169726E2F7265706F72742D646174612F7632
    doc = json.loads((VECTORS / "report-data-v2.json").read_text())
    assert doc["domain"] == DOMAIN_V2.hex()
    assert int(doc["commitment_tag"], 16) == COMMITMENT_TAG
    assert REPORT_DATA_VERSION == 2  # what the agent produces


@pytest.mark.parametrize("vector", _vectors(), ids=lambda v: v["name"])
def test_committed_vectors_are_reproduced(vector: dict[str, Any]) -> None:
    inputs = _inputs(vector["inputs"])
    assert claims_message(inputs, 2).hex() == vector["message"]
    assert claims_digest(inputs, 2).hex() == vector["claims_digest"]
    assert [f"{v:064x}" for v in commitment_inputs(inputs)] == vector["commitment_inputs"]
    assert f"{claims_commitment(inputs):064x}" == vector["claims_commitment"]
    assert report_data_v2(inputs).hex() == vector["report_data"]
    assert report_data(inputs, 2) == report_data_v2(inputs)


def test_layout_is_v2_digest_then_commitment() -> None:
    data = report_data_v2(SAMPLE)
    assert data[:32] == claims_digest(SAMPLE, 2) != claims_digest(SAMPLE, 1)
    assert int.from_bytes(data[32:], "big") == claims_commitment(SAMPLE)
    assert claims_message(SAMPLE, 2)[:32] == DOMAIN_V2
    assert claims_message(SAMPLE, 2)[32:] == claims_message(SAMPLE, 1)[32:]
    assert claims_message(SAMPLE, 1)[:32] == DOMAIN


def test_commitment_inputs_are_halves_in_order() -> None:
    values = commitment_inputs(SAMPLE)
    assert values == [
        COMMITMENT_TAG,
        *split_128(SAMPLE.nonce),
        *split_128(SAMPLE.system_hash),
        SAMPLE.tree_root,
        *split_128(bytes(range(96, 128))),
        *split_128(bytes(range(128, 160))),
    ]
    assert split_128(SAMPLE.nonce) == (
        int.from_bytes(bytes(range(32, 48)), "big"),
        int.from_bytes(bytes(range(48, 64)), "big"),
    )
    assert claims_commitment(SAMPLE) == poseidon2.hash(values)
    absent = dataclasses.replace(SAMPLE, gpu_digest=None, ak_digest=None)
    assert commitment_inputs(absent)[6:] == [0, 0, 0, 0]


@pytest.mark.parametrize("field", ["nonce", "system_hash", "tree_root", "gpu_digest", "ak_digest"])
def test_every_claim_changes_both_halves(field: str) -> None:
    value = getattr(SAMPLE, field)
    changed_value = value ^ 1 if isinstance(value, int) else bytes([value[0] ^ 1]) + value[1:]
    changed = dataclasses.replace(SAMPLE, **{field: changed_value})
    before, after = report_data_v2(SAMPLE), report_data_v2(changed)
    assert before[:32] != after[:32]
    assert before[32:] != after[32:]


def test_explain_mismatch_v2_accepts_the_exact_bytes_and_names_each_half() -> None:
    good = report_data_v2(SAMPLE)
    assert explain_mismatch(good, SAMPLE, 2) == []
    bad_commitment = good[:32] + bytes(32)
    problems = explain_mismatch(bad_commitment, SAMPLE, 2)
    assert len(problems) == 1 and "claims commitment (bytes 32-63) differs" in problems[0]
    bad_digest = bytes(32) + good[32:]
    problems = explain_mismatch(bad_digest, SAMPLE, 2)
    assert len(problems) == 1 and "claims digest differs" in problems[0]


def test_versions_do_not_verify_each_other() -> None:
    v1, v2 = report_data_v1(SAMPLE), report_data_v2(SAMPLE)
    assert len(explain_mismatch(v2, SAMPLE, 1)) == 2  # wrong digest tag and non-zero reserved half
    assert len(explain_mismatch(v1, SAMPLE, 2)) == 2
    assert report_data(SAMPLE, 1) == v1


@pytest.mark.parametrize("version", [0, 3, True, "2", None])
def test_unknown_version_is_malformed(version: object) -> None:
    with pytest.raises(MalformedInputError, match="REPORT_DATA version"):
        report_data(SAMPLE, version)  # type: ignore[arg-type]
    with pytest.raises(MalformedInputError, match="REPORT_DATA version"):
        explain_mismatch(report_data_v2(SAMPLE), SAMPLE, version)  # type: ignore[arg-type]
