"""Fast checks of the Python side: dev CRS points, public-input decoding, toolchain errors."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from zk_helpers import make_scenario

from cairn_verifier.binding.echo_signature import echo_digest
from cairn_verifier.binding.poseidon2 import P
from cairn_verifier.binding.report_data import claims_commitment
from cairn_verifier.cli import zk_cmd, zk_inputs
from cairn_verifier.cli.batch import Item
from cairn_verifier.errors import MalformedInputError, ParseError, UsageError
from cairn_verifier.zk import dev_crs
from cairn_verifier.zk.progress import Progress
from cairn_verifier.zk.witness import SECP256K1_N, low_s_signature, read_public_inputs

Q = dev_crs.Q


def test_dev_crs_g1_points_are_powers_of_tau() -> None:
    data = dev_crs.g1_powers(5)
    points = [
        (int.from_bytes(data[i : i + 32], "big"), int.from_bytes(data[i + 32 : i + 64], "big"))
        for i in range(0, len(data), 64)
    ]
    assert points[0] == (1, 2)
    for x, y in points:
        assert (y * y - x**3 - 3) % Q == 0
    # Each point is tau times the previous one: check with affine double-and-add of tau^i.
    expected = (1, 2)
    for i in range(1, 5):
        expected = _affine_mul(3, expected)
        assert points[i] == expected


def _affine_mul(k: int, p: tuple[int, int]) -> tuple[int, int]:
    def add(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
        if a == b:
            slope = 3 * a[0] * a[0] * pow(2 * a[1], -1, Q) % Q
        else:
            slope = (b[1] - a[1]) * pow(b[0] - a[0], -1, Q) % Q
        x = (slope * slope - a[0] - b[0]) % Q
        return x, (slope * (a[0] - x) - a[1]) % Q

    acc = p
    for _ in range(k - 1):
        acc = add(acc, p)
    return acc


def test_dev_crs_g2_point_is_on_the_twist() -> None:
    (x0, x1), (y0, y1) = dev_crs.g2_tau()
    # b' = 3 / (9 + u) in Fp2 with u^2 = -1.
    b = dev_crs._f2_mul((3, 0), dev_crs._f2_inv((9, 1)))
    lhs = dev_crs._f2_mul((y0, y1), (y0, y1))
    rhs = dev_crs._f2_mul(dev_crs._f2_mul((x0, x1), (x0, x1)), (x0, x1))
    assert lhs == ((rhs[0] + b[0]) % Q, (rhs[1] + b[1]) % Q)
    assert len(dev_crs.g2_bytes()) == 128


def test_dev_crs_is_cached_and_sized(tmp_path: Path) -> None:
    path = dev_crs.ensure_dev_crs(tmp_path / "crs", points=8)
    assert (path / "bn254_g1.dat").stat().st_size == 8 * 64
    assert (path / dev_crs.MARKER).is_file()
    with pytest.raises(UsageError, match="CRS size"):
        dev_crs.ensure_dev_crs(tmp_path / "crs", points=1)


def _public_values(inputs: dict[str, Any]) -> list[str]:
    """The six public inputs as the prover writes them (0x + 64 hex digits each)."""
    raw = [
        inputs["claims_commitment"],
        *inputs["response_hash"],
        "0x1" if inputs["disclose_system"] else "0x0",
        *inputs["disclosed_system_hash"],
    ]
    return [f"0x{int(v, 16):064x}" for v in raw]


def test_public_inputs_round_trip() -> None:
    scenario = make_scenario()
    values = _public_values(scenario.inputs(disclose_system=True))
    public = read_public_inputs(values)
    assert public.claims_commitment == claims_commitment(scenario.report).to_bytes(32, "big")
    assert public.response_hash == scenario.response_hash
    assert public.system_hash == scenario.report.system_hash
    hidden = read_public_inputs(_public_values(scenario.inputs()))
    assert hidden.system_hash is None and not hidden.disclose_system


@pytest.mark.parametrize(
    ("index", "value", "message"),
    [
        (0, f"0x{P:064x}", "out of range"),
        (1, f"0x{1 << 128:064x}", "out of range"),
        (3, f"0x{2:064x}", "out of range"),
        (5, "0x" + "A" * 64, "not a field element"),
        (2, "0x1", "not a field element"),
        (2, 5, "not a field element"),
    ],
)
def test_malformed_public_inputs_are_parse_errors(index: int, value: object, message: str) -> None:
    values: list[object] = list(_public_values(make_scenario().inputs()))
    values[index] = value
    with pytest.raises(ParseError, match=message):
        read_public_inputs(values)
    with pytest.raises(ParseError, match="6 public inputs"):
        read_public_inputs(values[:-1])


def test_a_hidden_system_hash_must_be_zero() -> None:
    values = _public_values(make_scenario().inputs())
    values[4] = f"0x{1:064x}"
    with pytest.raises(ParseError, match="does not disclose the system hash has a non-zero"):
        read_public_inputs(values)


def test_a_response_hash_not_below_n_is_refused_before_the_circuit() -> None:
    scenario = make_scenario()
    for value in (SECP256K1_N, (1 << 256) - 1):
        with pytest.raises(MalformedInputError, match="not below the secp256k1 group order") as e:
            dataclasses.replace(scenario, response_hash=value.to_bytes(32, "big")).inputs()
        assert e.value.hint is not None and "request id" in e.value.hint
    below = dataclasses.replace(scenario, response_hash=(SECP256K1_N - 1).to_bytes(32, "big"))
    assert below.inputs()["response_hash"][0] == f"0x{(SECP256K1_N - 1) >> 128:064x}"


def test_witness_normalises_high_s_and_rejects_a_foreign_proof() -> None:
    scenario = make_scenario()
    r, s = scenario.signature[:32], int.from_bytes(scenario.signature[32:], "big")
    high = r + (SECP256K1_N - s).to_bytes(32, "big")
    assert low_s_signature(high) == scenario.signature
    other = make_scenario("metrics")
    with pytest.raises(MalformedInputError, match="does not place service"):
        dataclasses.replace(scenario, proof=other.proof).inputs()


def test_cli_registers_zk_commands() -> None:
    parser = argparse.ArgumentParser()
    zk_cmd.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["zk", "verify", "p.json", "--evidence", "e.json", "--nonce", "00"])
    assert args.func is zk_cmd.zk_verify_command
    assert args.any_response is False
    progress = Progress.silent()
    with pytest.raises(UsageError, match="--crs DIR is required") as info:
        zk_cmd._crs_args(argparse.Namespace(crs=None, insecure_dev_crs=False), progress)
    assert info.value.exit_code == 64
    assert info.value.hint is not None and "--insecure-dev-crs" in info.value.hint


# --- the inputs of `cairn zk verify` (one proof, a batch, JSON lines) --------------------------

ZERO_INPUTS = ["0x" + "00" * 32] * 6
PROOF_DOC = {"format": "cairn-zk-proof", "version": 2, "public_inputs": ZERO_INPUTS, "proof": ""}


def _item(doc: object, label: str = "p.json") -> Item:
    return Item(label, lambda: json.dumps(doc).encode())


def _cli(**given: Any) -> argparse.Namespace:
    return argparse.Namespace(
        request_id=given.get("request_id"),
        payload=given.get("payload"),
        any_response=given.get("any_response", False),
    )


def test_each_input_is_checked_against_the_response_it_must_be_about() -> None:
    bob = zk_inputs.command_line_response(_cli(request_id="r-1", payload="hi"))
    assert bob is not None and bob.digest == echo_digest("r-1", "hi")
    bare = zk_inputs.read_proof_input(_item(PROOF_DOC), bob)
    assert bare.response == bob and bare.document == PROOF_DOC
    named = {"proof": PROOF_DOC, "request_id": "r-2", "payload": "there"}
    enveloped = zk_inputs.read_proof_input(_item(named), None)
    assert enveloped.response.digest == echo_digest("r-2", "there")
    # Node is given the proof document itself, exactly the one decoded here.
    assert json.loads(enveloped.data) == PROOF_DOC
    anything = zk_inputs.command_line_response(_cli(any_response=True))
    assert anything is not None and anything.digest is None


def test_an_input_naming_its_response_cannot_override_the_command_line() -> None:
    bob = zk_inputs.command_line_response(_cli(request_id="r-1", payload="hi"))
    named = {"proof": PROOF_DOC, "request_id": "r-2", "payload": "there"}
    for given in (bob, zk_inputs.command_line_response(_cli(any_response=True))):
        with pytest.raises(UsageError, match="and so does the command line") as info:
            zk_inputs.read_proof_input(_item(named), given)
        assert info.value.exit_code == 64


@pytest.mark.parametrize(
    ("doc", "error", "message"),
    [
        (PROOF_DOC, UsageError, "say which response"),  # no response named anywhere
        ({"format": "cairn-zk-proof"}, ParseError, "public inputs"),  # malformed first
        (
            {"proof": PROOF_DOC, "request_id": "r", "payload": "p", "x": 1},
            MalformedInputError,
            "'x'",
        ),
        ({"proof": PROOF_DOC, "request_id": 1, "payload": "p"}, MalformedInputError, "strings"),
        ([PROOF_DOC], MalformedInputError, "not a zk proof document"),
    ],
)
def test_inputs_that_cannot_be_checked_are_refused(
    doc: object, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        zk_inputs.read_proof_input(_item(doc), None)


def test_in_a_batch_a_bad_input_is_its_own_failure() -> None:
    named = {"proof": PROOF_DOC, "request_id": "r", "payload": "p"}
    items = [_item(named, "a"), _item({"nope": 1}, "b"), _item(named, "c")]
    outcomes = zk_inputs.read_proof_inputs(items, None, batch=True)
    assert [type(o).__name__ for o in outcomes] == ["ProofInput", "ParseError", "ProofInput"]
    with pytest.raises(ParseError):  # one input alone: its error is the command's
        zk_inputs.read_proof_inputs(items[1:2], None, batch=False)
    too_many = [items[0]] * (zk_inputs.MAX_PROOFS + 1)
    with pytest.raises(MalformedInputError, match="at most 1000"):
        zk_inputs.read_proof_inputs(too_many, None, batch=True)
