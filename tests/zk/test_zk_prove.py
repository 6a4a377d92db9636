"""One full offline prove + verify with the insecure development CRS (a few seconds of CPU)."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from zk_helpers import make_scenario

from cairn_verifier.binding.report_data import claims_commitment
from cairn_verifier.errors import UsageError
from cairn_verifier.zk import dev_crs, node
from cairn_verifier.zk.pins import PINNED_FILES
from cairn_verifier.zk.witness import read_public_inputs

pytestmark = pytest.mark.zk_prove


def test_prove_verify_and_tamper(zk_toolchain: Path, tmp_path: Path) -> None:
    crs = dev_crs.ensure_dev_crs()
    scenario = make_scenario()
    inputs_path = tmp_path / "inputs.json"
    inputs_path.write_text(json.dumps(scenario.inputs(disclose_system=True)))
    proof_path = tmp_path / "proof.json"

    with pytest.raises(UsageError, match="INSECURE Cairn development CRS"):
        node.run_driver(["prove", str(inputs_path), "--crs", str(crs), "-o", str(proof_path)])

    proved = node.run_driver(
        ["prove", str(inputs_path), "--crs", str(crs), "--insecure-dev-crs", "-o", str(proof_path)]
    )
    assert proved.output["insecure_dev_crs"] is True and proved.output["threads"] >= 1
    doc = json.loads(proof_path.read_text())
    assert (doc["version"], doc["crs"], doc["insecure_dev_crs"]) == (2, "insecure-dev", True)
    public = read_public_inputs(doc["public_inputs"])
    assert public.claims_commitment == claims_commitment(scenario.report).to_bytes(32, "big")
    assert public.response_hash == scenario.response_hash
    assert public.system_hash == scenario.report.system_hash

    # Claim a different response: the same proof must not verify. Both proofs are checked by
    # one driver run (one wasm start-up), the good one first.
    flipped = dict(doc)
    flipped["public_inputs"] = list(doc["public_inputs"])
    flipped["public_inputs"][2] = f"0x{int(doc['public_inputs'][2], 16) ^ 1:064x}"
    tampered_path = tmp_path / "tampered.json"
    tampered_path.write_text(json.dumps(flipped))
    verify = ["verify", str(proof_path), "--crs", str(crs), "--insecure-dev-crs"]
    good = node.run_driver(verify)
    assert good.returncode == 0 and good.output["valid"] is True
    assert good.output["vk_source"] == "committed"
    vk_pin = PINNED_FILES["artifacts/cairn_membership.insecure-dev.vk"]
    assert good.output["vk_sha256"] == vk_pin
    both = node.run_driver(["verify", str(proof_path), str(tampered_path), *verify[2:]])
    assert both.returncode == node.EXIT_INVALID and both.output["valid"] is False
    assert [r["valid"] for r in both.output["results"]] == [True, False]

    # The driver kept bb.js's wasm decompressed, named by the SHA-256 of the .gz it came from.
    wasm_gz = zk_toolchain / "node_modules/@aztec/bb.js/dest/node/barretenberg_wasm"
    gz = (wasm_gz / "barretenberg-threads.wasm.gz").read_bytes()
    kept = zk_toolchain / "node_modules/.cairn-wasm" / f"{hashlib.sha256(gz).hexdigest()}.wasm"
    assert kept.read_bytes() == gzip.decompress(gz)
    assert kept.stat().st_mode & 0o022 == 0  # nobody but its owner may replace it


def test_a_key_not_committed_is_derived_once_and_cached(zk_toolchain: Path, tmp_path: Path) -> None:
    # The path the Ignition CRS takes (no committed key can be made offline), exercised with the
    # development CRS in a copy of circuits/ whose committed development key was removed.
    crs = dev_crs.ensure_dev_crs()
    copy = tmp_path / "circuits"
    shutil.copytree(zk_toolchain, copy, ignore=shutil.ignore_patterns("node_modules", "target"))
    (copy / "node_modules").symlink_to(zk_toolchain / "node_modules")
    (copy / "artifacts" / "cairn_membership.insecure-dev.vk").unlink()
    inputs = tmp_path / "inputs.json"
    inputs.write_text(json.dumps(make_scenario().inputs()))
    proof = tmp_path / "proof.json"
    driver = ["node", str(copy / "driver" / "cairn-zk.mjs")]
    flags = ["--crs", str(crs), "--insecure-dev-crs"]
    cache = tmp_path / "cache"
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}

    def run(*args: str) -> dict[str, object]:
        done = subprocess.run(
            [*driver, *args], capture_output=True, text=True, check=False, env=env, timeout=600
        )
        assert done.returncode == 0, done.stderr
        result: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
        return result

    run("prove", str(inputs), *flags, "-o", str(proof))
    first, second = run("verify", str(proof), *flags), run("verify", str(proof), *flags)
    assert (first["valid"], first["vk_source"]) == (True, "derived")
    assert (second["valid"], second["vk_source"]) == (True, "cache")
    # The derived key is the committed one: derivation is deterministic given the pinned CRS.
    vk_pin = PINNED_FILES["artifacts/cairn_membership.insecure-dev.vk"]
    assert first["vk_sha256"] == second["vk_sha256"] == vk_pin
    cached = list((cache / "cairn" / "zk-vk").iterdir())
    assert [p.name.split(".", 1)[1] for p in cached] == ["insecure-dev.vk"]
