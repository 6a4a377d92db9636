"""GPUs in resource policies, end to end: a guest with a simulated SEV-SNP platform and two of the
agent's simulated H100s binds their reports into its channel-bound evidence; ``cairn serve`` (its
own process, SQLite) verifies them inside the evidence pipeline, the EAR says what it verified
(``cairn.evidence.gpu``), and a resource requiring GPUs is released only when the result shows
enough verified devices of the family, and simulated ones only where the resource allows them.

Refused, each with its reason: too few devices, simulated GPUs where not allowed, a guest
without GPUs, and GPUs whose chain the broker does not trust (not verified)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from serve_helpers import Broker, Guest, make_guest, put_resource, running_broker, write_broker

from cairn_agent.broker_client import BrokerClient, channel_key_pair, fetch_once, unwrap
from cairn_verifier.api import dump_evidence

SECRET = b"a model's weights key"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Guest, Guest, Broker]]:
    base = tmp_path_factory.mktemp("broker-gpu")
    guest = make_guest(base / "guest", gpus=2)
    plain = make_guest(base / "plain", state=guest.state)  # the same chip, no GPUs
    assert guest.source.gpu is not None
    files = write_broker(
        base / "broker",
        database=f"sqlite:///{base / 'state.db'}",
        root_pem=guest.root_pem,
        extra_roots=(guest.source.gpu.trust_root_pem(),),  # type: ignore[attr-defined]
    )
    with running_broker(files) as broker:
        platform = {
            "allow_simulated": True,
            "allow_tiers": ["affirming", "warning"],
            "measurements": [guest.provider.measurement.hex()],
        }
        for name, gpus in {
            "two-h100": {"minimum_devices": {"GH100": 2}, "allow_simulated": True},
            "three-h100": {"minimum_devices": {"GH100": 3}, "allow_simulated": True},
            "real-h100": {"minimum_devices": {"GH100": 1}},
            "h100-and-switches": {
                "minimum_devices": {"GH100": 2, "LS_10": 1},
                "allow_simulated": True,
            },
        }.items():
            put_resource(broker, files, name, SECRET, {**platform, "gpus": gpus})
        yield guest, plain, broker


def _attest(broker: Broker, guest: Guest) -> tuple[str, Any, dict[str, Any]]:
    """Challenge, channel-bound evidence (with the guest's GPUs), attest: (token, private key,
    the token's claims)."""
    private, public, jwk = channel_key_pair()
    with broker.client() as http:
        nonce = http.post("/v1/challenge").json()["nonce"]
        bundle = guest.source.collect(
            bytes.fromhex(nonce), guest.inventory.current(), channel_key=public
        )
        evidence = json.loads(dump_evidence(bundle))
        answer = http.post(
            "/v1/attest", json={"nonce": nonce, "channel_key": jwk, "evidence": evidence}
        )
    assert answer.status_code == 200, answer.text
    token = answer.json()["token"]
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return token, private, claims


def _refusal(broker: Broker, name: str, token: str) -> str:
    with broker.client() as http:
        answer = http.get(f"/v1/resources/{name}", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 403, answer.text
    document = answer.json()
    assert document["type"] == "https://cairn.invalid/problems/policy-refused"
    return str(document["detail"])


def test_verified_gpus_release_a_resource_requiring_them(
    world: tuple[Guest, Guest, Broker],
) -> None:
    guest, _, broker = world
    client = BrokerClient(broker.url)
    try:
        released = fetch_once(client, guest.source, guest.inventory, ["two-h100"])
    finally:
        client.close()
    assert released == {"two-h100": SECRET}


def test_the_result_says_which_gpus_were_verified(world: tuple[Guest, Guest, Broker]) -> None:
    guest, _, broker = world
    token, private, claims = _attest(broker, guest)
    gpu = claims["submods"]["cairn"]["cairn.evidence"]["gpu"]
    assert gpu["verified"] is True and gpu["simulated"] is True
    assert [(d["family"], d["kind"], d["driver_version"]) for d in gpu["devices"]] == [
        ("GH100", "GPU", "550.90.07")
    ] * 2
    assert not any(d["measurements_match"] for d in gpu["devices"])  # no RIM for a simulated GPU
    with broker.client() as http:
        answer = http.get("/v1/resources/two-h100", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    assert unwrap(answer.text, private, "two-h100") == SECRET


def test_too_few_devices_or_simulated_ones_get_nothing(world: tuple[Guest, Guest, Broker]) -> None:
    guest, _, broker = world
    token, _, _ = _attest(broker, guest)
    assert _refusal(broker, "three-h100", token) == (
        "2 verified GH100 devices; the resource requires at least 3"
    )
    assert _refusal(broker, "real-h100", token) == (
        "the GPUs are simulated and the resource does not allow simulated GPUs"
    )
    assert _refusal(broker, "h100-and-switches", token) == (
        "0 verified LS_10 devices; the resource requires at least 1"
    )


def test_a_guest_without_gpus_gets_nothing(world: tuple[Guest, Guest, Broker]) -> None:
    _, plain, broker = world
    token, _, claims = _attest(broker, plain)
    assert claims["submods"]["cairn"]["ear.status"] == "warning"  # simulated, but verified
    assert claims["submods"]["cairn"]["cairn.evidence"]["gpu"] is None
    assert _refusal(broker, "two-h100", token) == (
        "the attestation result shows no GPUs (the evidence carries no GPU evidence)"
    )


def test_gpus_the_broker_cannot_verify_get_nothing(
    world: tuple[Guest, Guest, Broker], tmp_path_factory: pytest.TempPathFactory
) -> None:
    guest, _, broker = world
    # The same CPU chip, but GPUs chained to a simulated root the broker was never given.
    stranger = make_guest(tmp_path_factory.mktemp("stranger"), state=guest.state, gpus=2)
    token, _, claims = _attest(broker, stranger)
    appraisal = claims["submods"]["cairn"]
    assert appraisal["ear.status"] == "contraindicated"
    assert "gpu-evidence" in appraisal["cairn.evidence"]["failed_checks"]
    assert appraisal["cairn.evidence"]["gpu"]["verified"] is False
    detail = _refusal(broker, "two-h100", token)
    assert detail.startswith("the attestation result is 'contraindicated' (failed checks: ")
    assert detail.endswith(
        "; the GPU evidence was not verified (the gpu-evidence check did not pass)"
    )
