"""One full offline prove + verify with the insecure development CRS (slow: ~1 min)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from zk_helpers import make_scenario

from cairn_verifier.binding.report_data import claims_digest
from cairn_verifier.errors import UsageError
from cairn_verifier.zk import dev_crs, node
from cairn_verifier.zk.witness import read_public_inputs

pytestmark = pytest.mark.zk_prove


def test_prove_verify_and_tamper(zk_toolchain: Path, tmp_path: Path) -> None:
    crs = dev_crs.ensure_dev_crs()
    scenario = make_scenario()
    inputs_path = tmp_path / "inputs.json"
    inputs_path.write_text(json.dumps(scenario.inputs(disclose_system=True)))
    proof_path = tmp_path / "proof.json"

    with pytest.raises(UsageError, match="INSECURE development CRS"):
        node.run_driver(["prove", str(inputs_path), "--crs", str(crs), "-o", str(proof_path)])

    proved = node.run_driver(
        ["prove", str(inputs_path), "--crs", str(crs), "--insecure-dev-crs", "-o", str(proof_path)]
    )
    assert proved.output["insecure_dev_crs"] is True
    doc = json.loads(proof_path.read_text())
    assert doc["insecure_dev_crs"] is True
    public = read_public_inputs(doc["public_inputs"])
    assert public.claims_digest == claims_digest(scenario.report)
    assert public.response_hash == scenario.response_hash
    assert public.system_hash == scenario.report.system_hash

    verify = ["verify", str(proof_path), "--crs", str(crs), "--insecure-dev-crs"]
    good = node.run_driver(verify)
    assert good.returncode == 0 and good.output["valid"] is True

    # Claim a different response: the same proof must not verify.
    flipped = dict(doc)
    flipped["public_inputs"] = list(doc["public_inputs"])
    flipped["public_inputs"][40] = f"0x{int(doc['public_inputs'][40], 16) ^ 1:064x}"
    tampered_path = tmp_path / "tampered.json"
    tampered_path.write_text(json.dumps(flipped))
    bad = node.run_driver(["verify", str(tampered_path), *verify[2:]])
    assert bad.returncode == node.EXIT_INVALID and bad.output["valid"] is False
