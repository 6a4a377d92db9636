"""The evidence bundle format is stable: committed bundles of every TEE kind (bundles/README.md)
load, validate against the published JSON Schema and dump to the same bytes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, get_args

import jsonschema_rs
import pytest

from cairn_verifier.cli.show_evidence_cmd import describe_evidence
from cairn_verifier.errors import MalformedInputError
from cairn_verifier.evidence import dump_evidence, load_evidence
from cairn_verifier.evidence.models import TeeKind
from cairn_verifier.inputs.base import Platform

HERE = Path(__file__).resolve().parent
BUNDLES_V1 = sorted((HERE / "bundles").glob("*.json"))
BUNDLES_V2 = sorted((HERE / "bundles" / "v2").glob("*.json"))
"""Version 2 bundles: the fields version 2 added (``tee.event_log``)."""
BUNDLES = BUNDLES_V1 + BUNDLES_V2
SCHEMA = HERE.parents[2] / "docs" / "spec" / "evidence-bundle.schema.json"


@pytest.fixture(scope="module")
def validator() -> Any:
    return jsonschema_rs.Draft202012Validator(json.loads(SCHEMA.read_text(encoding="utf-8")))


def test_there_is_a_vector_of_every_kind() -> None:
    kinds = {json.loads(path.read_bytes())["tee"]["kind"] for path in BUNDLES_V1}
    assert kinds == set(get_args(TeeKind))
    assert {path.stem for path in BUNDLES_V1} == kinds
    for path in BUNDLES:
        document = json.loads(path.read_bytes())
        assert document["version"] == (2 if path in BUNDLES_V2 else 1), path
    assert {json.loads(path.read_bytes())["tee"]["kind"] for path in BUNDLES_V2} == {
        "tdx-simulated"
    }


@pytest.mark.parametrize("path", BUNDLES, ids=lambda p: p.stem)
def test_bundle_round_trips_byte_for_byte(path: Path) -> None:
    raw = path.read_bytes()
    bundle = load_evidence(raw, path.name)
    assert bundle.tee.kind == path.stem
    assert dump_evidence(bundle) == raw


@pytest.mark.parametrize("path", BUNDLES, ids=lambda p: p.stem)
def test_bundle_validates_against_the_published_schema(validator: Any, path: Path) -> None:
    document = json.loads(path.read_bytes())
    errors = [error.message for error in validator.iter_errors(document)]
    assert errors == []


@pytest.mark.parametrize("path", BUNDLES, ids=lambda p: p.stem)
def test_schema_and_loader_refuse_an_unknown_kind(validator: Any, path: Path) -> None:
    document = json.loads(path.read_bytes())
    document["tee"]["kind"] = "sgx"
    assert not validator.is_valid(document)
    with pytest.raises(MalformedInputError, match=r"tee\.kind"):
        load_evidence(json.dumps(document).encode())


@pytest.mark.parametrize("path", BUNDLES, ids=lambda p: p.stem)
def test_show_evidence_decodes_every_kind_by_its_models_platform(path: Path) -> None:
    bundle = load_evidence(path.read_bytes(), path.name)
    shown = describe_evidence(bundle, path.name).to_json()
    expected = {Platform.SNP: "SEV-SNP report v", Platform.TDX: "TDX DCAP quote v"}
    assert shown["fields"]["tee"]["report"]["format"].startswith(expected[bundle.tee.platform])
    report = shown["fields"]["tee"]["report"]
    assert ("event_log" in report) == (bundle.tee.event_log is not None)
    if bundle.tee.event_log is not None:
        assert report["event_log"] == f"{len(bundle.tee.event_log)} bytes (CCEL)"
