"""Executing the membership circuit: a valid witness passes, each kind of forgery is rejected."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from zk_helpers import execute_batch, make_scenario

from cairn_verifier.binding.smt import MAX_DEPTH
from cairn_verifier.zk.witness import SECP256K1_N

Inputs = dict[str, Any]


def _flip_byte(values: list[int], index: int = 0) -> list[int]:
    out = list(values)
    out[index] ^= 1
    return out


def _bump_field(text: str) -> str:
    return f"0x{int(text, 16) + 1:064x}"


def _wrong_sibling(inputs: Inputs) -> None:
    inputs["siblings"][0] = _bump_field(inputs["siblings"][0])


def _extra_depth(inputs: Inputs) -> None:
    depth = inputs["depth"]
    inputs["siblings"][depth] = "0x" + "00" * 31 + "07"
    inputs["depth"] = depth + 1


def _wrong_store_path(inputs: Inputs) -> None:
    inputs["store_path_hash"] = _bump_field(inputs["store_path_hash"])


def _wrong_key(inputs: Inputs) -> None:
    inputs["key"] = _bump_field(inputs["key"])


def _wrong_pubkey(inputs: Inputs) -> None:
    other = make_scenario("metrics").inputs()
    inputs["pubkey_x"], inputs["pubkey_y"] = other["pubkey_x"], other["pubkey_y"]


def _wrong_signature(inputs: Inputs) -> None:
    inputs["signature"] = _flip_byte(inputs["signature"], 40)


def _high_s(inputs: Inputs) -> None:
    sig = bytes(inputs["signature"])
    s = int.from_bytes(sig[32:], "big")
    inputs["signature"] = list(sig[:32] + (SECP256K1_N - s).to_bytes(32, "big"))


def _wrong_response(inputs: Inputs) -> None:
    inputs["response_hash"][1] = _bump_field(inputs["response_hash"][1])


def _response_half_overflow(inputs: Inputs) -> None:
    # The same 256-bit number written with a low half of 2^128 + lo - 1: not a 128-bit half.
    hi, lo = (int(v, 16) for v in inputs["response_hash"])
    inputs["response_hash"] = [f"0x{hi - 1:064x}", f"0x{lo + (1 << 128):064x}"]


def _wrong_claims_commitment(inputs: Inputs) -> None:
    inputs["claims_commitment"] = _bump_field(inputs["claims_commitment"])


def _wrong_nonce(inputs: Inputs) -> None:
    inputs["nonce"][0] = _bump_field(inputs["nonce"][0])


def _wrong_ak_digest(inputs: Inputs) -> None:
    inputs["ak_digest"] = ["0x0", "0x0"]


def _commitment_without_disclosure(inputs: Inputs) -> None:
    inputs["disclosed_system_hash"] = list(inputs["system_hash"])


def _disclosure_mismatch(inputs: Inputs) -> None:
    inputs["disclose_system"] = True
    inputs["disclosed_system_hash"] = [
        inputs["system_hash"][0],
        _bump_field(inputs["system_hash"][1]),
    ]


def _depth_too_large(inputs: Inputs) -> None:
    inputs["depth"] = MAX_DEPTH + 1


FORGERIES = {
    "wrong sibling": _wrong_sibling,
    "path longer than the leaf's depth": _extra_depth,
    "wrong leaf store path": _wrong_store_path,
    "wrong key": _wrong_key,
    "another service's key": _wrong_pubkey,
    "wrong signature": _wrong_signature,
    "high-s signature": _high_s,
    "wrong response hash": _wrong_response,
    "response hash half of 129 bits": _response_half_overflow,
    "wrong claims commitment": _wrong_claims_commitment,
    "wrong nonce": _wrong_nonce,
    "wrong TPM key digest": _wrong_ak_digest,
    "system hash given without disclosure": _commitment_without_disclosure,
    "disclosed system hash differs": _disclosure_mismatch,
    "depth beyond MAX_DEPTH": _depth_too_large,
}


ROOT = "the claims commitment does not match"
SIGNATURE = "the response signature does not verify"
DISCLOSURE = "disclosed system hash mismatch"
EXPECTED_FAILURE = {
    "wrong sibling": ROOT,
    "path longer than the leaf's depth": ROOT,
    "wrong leaf store path": ROOT,
    "wrong key": ROOT,
    "another service's key": SIGNATURE,
    "wrong signature": SIGNATURE,
    "high-s signature": SIGNATURE,
    "wrong response hash": SIGNATURE,
    "response hash half of 129 bits": "",  # to_be_bytes's range check (message varies)
    "wrong claims commitment": ROOT,
    "wrong nonce": ROOT,
    "wrong TPM key digest": ROOT,
    "system hash given without disclosure": DISCLOSURE,
    "disclosed system hash differs": DISCLOSURE,
    "depth beyond MAX_DEPTH": "path depth exceeds MAX_DEPTH",
}


@pytest.fixture(scope="module")
def outcomes(zk_toolchain: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Execute the valid witnesses and every forgery in one driver run."""
    scenario = make_scenario()
    valid = {
        "valid": scenario.inputs(),
        "valid, system disclosed": scenario.inputs(disclose_system=True),
        "valid, no TPM": make_scenario("web", ak=False).inputs(),
    }
    forged = {}
    for name, forge in FORGERIES.items():
        inputs = copy.deepcopy(scenario.inputs())
        forge(inputs)
        forged[name] = inputs
    batch = {**valid, **forged}
    results = execute_batch(tmp_path_factory.mktemp("zk"), "cairn_membership", list(batch.values()))
    return dict(zip(batch, results, strict=True))


@pytest.mark.parametrize("name", ["valid", "valid, system disclosed", "valid, no TPM"])
def test_valid_witness_satisfies_the_circuit(outcomes: dict[str, Any], name: str) -> None:
    assert outcomes[name]["ok"], outcomes[name]


@pytest.mark.parametrize("name", list(FORGERIES))
def test_forgery_is_rejected(outcomes: dict[str, Any], name: str) -> None:
    outcome = outcomes[name]
    assert not outcome["ok"], f"{name} was accepted"
    assert outcome["kind"] == "unsatisfied", outcome
    assert EXPECTED_FAILURE[name] in outcome["error"]


def test_a_response_hash_not_below_n_is_refused_with_a_clear_error(
    zk_toolchain: Path, tmp_path: Path
) -> None:
    # ECDSA signs such a hash reduced modulo n, noir's solver aborts on it: the driver refuses it
    # up front with an input error (the Python side refuses it before, see test_zk_units).
    inputs = make_scenario().inputs()
    inputs["response_hash"] = [f"0x{SECP256K1_N >> 128:064x}", f"0x{SECP256K1_N % (1 << 128):064x}"]
    (outcome,) = execute_batch(tmp_path, "cairn_membership", [inputs])
    assert outcome["kind"] == "input", outcome
    assert "not below the secp256k1 group order n" in outcome["error"]
