"""docs/spec/vectors/azure-vtpm-v1.json against the reference code: the HCL reports' runtime data
and REPORT_DATA, and, for the committed Azure bundles, the claims digest each vTPM quote carries
as extraData (docs/spec/azure-vtpm-v1.md). The vectors were written once by the code; if this
fails, the code is wrong."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from cairn_verifier.azure.binding import expected_report_data
from cairn_verifier.azure.hcl import RUNTIME_DATA_OFFSET, parse_hcl_report, split_bundle_report
from cairn_verifier.azure.runtime_data import parse_runtime_data
from cairn_verifier.binding.report_data import claims_digest
from cairn_verifier.evidence.models import load_evidence
from cairn_verifier.inputs.base import Platform
from cairn_verifier.tpm.structures import parse_attest

REPO = Path(__file__).resolve().parents[3]
VECTORS = json.loads((REPO / "docs/spec/vectors/azure-vtpm-v1.json").read_text())


def _int(text: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)), "big")


@pytest.mark.parametrize("entry", VECTORS["hcl_reports"], ids=lambda e: e["name"])
def test_hcl_report_vectors(entry: dict[str, Any]) -> None:
    raw = (REPO / entry["file"]).read_bytes()
    data = bytes(json.loads(raw)[entry["member"]]) if "member" in entry else raw
    assert hashlib.sha256(data).hexdigest() == entry["sha256"]
    hcl = parse_hcl_report(data)
    runtime = hcl.runtime_data
    assert data[entry["runtime_data_offset"] :][: entry["runtime_data_size"]] == runtime
    assert entry["runtime_data_offset"] == RUNTIME_DATA_OFFSET
    assert (hcl.version, int(hcl.report_type), hcl.size) == (
        entry["header_version"],
        entry["report_type"],
        entry["report_size"],
    )
    assert hashlib.sha256(runtime).hexdigest() == entry["runtime_data_sha256"]
    assert expected_report_data(runtime).hex() == entry["report_data"]
    offset = 0x50 if hcl.report_type == 2 else 128  # REPORT_DATA in the SNP / TD report
    assert hcl.hardware_report[offset : offset + 64].hex() == entry["report_data"]
    ak = parse_runtime_data(runtime).ak
    assert (ak.n, ak.e) == (_int(entry["hcl_ak_pub"]["n"]), _int(entry["hcl_ak_pub"]["e"]))
    assert ak.fingerprint() == entry["hcl_ak_spki_sha256"]


@pytest.mark.parametrize("entry", VECTORS["bundles"], ids=lambda e: e["name"])
def test_bundle_vectors(entry: dict[str, Any]) -> None:
    bundle = load_evidence((REPO / entry["file"]).read_bytes())
    assert bundle.tpm is not None and bundle.tee.claims_in_tpm_quote
    tdx = bundle.tee.platform is Platform.TDX
    hcl_raw, td_quote = split_bundle_report(bundle.tee.report, tdx=tdx)
    hcl = parse_hcl_report(hcl_raw)
    assert hcl.size == entry["report_size"]
    assert (len(hcl_raw) if td_quote else None) == entry["td_quote_offset"]
    assert hashlib.sha256(hcl.runtime_data).hexdigest() == entry["runtime_data_sha256"]
    assert expected_report_data(hcl.runtime_data).hex() == entry["report_data"]
    inputs = bundle.report_data_inputs()
    assert inputs.ak_digest is not None and inputs.ak_digest.hex() == entry["ak_digest"]
    assert claims_digest(inputs).hex() == entry["claims_digest"]
    assert parse_attest(bundle.tpm.quote).extra_data.hex() == entry["quote_extra_data"]
    assert entry["quote_extra_data"] == entry["claims_digest"]
