"""End to end: a guest with a simulated SEV-SNP platform → ``cairn serve`` (its own process) →
the state key released, wrapped to the guest's channel key → ``cairn-agent state-key`` writes it →
``cairn-state-init --key-source broker`` seals a file-backed volume with it.

Every test runs twice: against one broker on SQLite, and against two replicas sharing a real
PostgreSQL server (Debian's, started by the tests) behind a round-robin "load balancer", so a
challenge, its attest and the resource request each land on another replica.

Then every way to get a secret without being the attested guest fails, each with its problem
document: a changed measurement, a wrong nonce, replayed evidence, a replayed result, an expired
result, a different guest key (evidence bound to one key, the request naming another), and a third
party holding the token and the answer but not the channel key. What cannot run here: opening the
volume (device-mapper) and the guest's boot units; docs/serve.md says so.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from serve_helpers import (
    CAIRN,
    CAIRN_AGENT,
    BalancedBroker,
    Broker,
    BrokerFiles,
    Guest,
    fresh_database,
    make_guest,
    put_resource,
    running_broker,
    running_replicas,
    write_agent_config,
    write_broker,
)

from cairn_agent.broker_client import (
    BrokerClient,
    BrokerRefusedError,
    channel_key_pair,
    fetch_once,
    unwrap,
)
from cairn_verifier.api import dump_evidence

STATE_KEY = os.urandom(64)


DATABASES = ["sqlite", "postgresql"]


def _database(kind: str, directory: Path, request: pytest.FixtureRequest) -> str:
    if kind == "sqlite":
        return f"sqlite:///{directory / 'state.db'}"
    return fresh_database(request.getfixturevalue("postgres"))


@contextmanager
def _serving(kind: str, files: BrokerFiles) -> Iterator[Broker]:
    """One broker on SQLite; two replicas behind a round-robin balancer on PostgreSQL."""
    if kind == "sqlite":
        with running_broker(files) as broker:
            yield broker
    else:
        with running_replicas(files) as balanced:
            yield balanced


@pytest.fixture(scope="module", params=DATABASES)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Guest, BrokerFiles, Broker]]:
    base = tmp_path_factory.mktemp(f"broker-e2e-{request.param}")
    guest = make_guest(base / "guest")
    files = write_broker(
        base / "broker",
        database=_database(request.param, base, request),
        root_pem=guest.root_pem,
    )
    with _serving(request.param, files) as broker:
        policy = {
            "allow_simulated": True,
            "allow_tiers": ["affirming", "warning"],
            "measurements": [guest.provider.measurement.hex()],
            "tee_kinds": ["sev-snp-simulated"],
        }
        put_resource(broker, files, "state-key", STATE_KEY, policy)
        put_resource(
            broker,
            files,
            "echo-cpp-secret",
            b"service secret",
            {**policy, "required_services": ["echo-cpp"]},
        )
        yield guest, files, broker


def _problem(response: object) -> dict[str, object]:
    assert response.headers["Content-Type"].startswith("application/problem+json")  # type: ignore[attr-defined]
    document: dict[str, object] = response.json()  # type: ignore[attr-defined]
    assert set(document) == {"type", "title", "status", "detail", "instance"}
    return document


def test_the_attested_guest_gets_its_state_key(world: tuple[Guest, BrokerFiles, Broker]) -> None:
    guest, _, broker = world
    client = BrokerClient(broker.url)
    try:
        secrets = fetch_once(client, guest.source, guest.inventory, ["state-key"])
    finally:
        client.close()
    assert secrets == {"state-key": STATE_KEY}


def test_cairn_agent_state_key_then_state_init_seal_a_volume(
    world: tuple[Guest, BrokerFiles, Broker], tmp_path: Path
) -> None:
    """The boot path as processes: the agent's command writes the key, the guest script seals."""
    guest, files, broker = world
    config = write_agent_config(guest, tmp_path / "agent.toml")
    key_file = tmp_path / "run" / "state.key"
    key_file.parent.mkdir(mode=0o700)
    done = subprocess.run(
        [str(CAIRN_AGENT), "state-key", "--config", str(config), "--source", "broker",
         "--broker", broker.url, "--resource", "state-key", "-o", str(key_file)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert key_file.read_bytes() == STATE_KEY
    assert key_file.stat().st_mode & 0o777 == 0o600
    # Never overwritten: a second run refuses (exit 64) and leaves the file as it was.
    again = subprocess.run(
        [str(CAIRN_AGENT), "state-key", "--config", str(config), "--source", "broker",
         "--broker", broker.url, "-o", str(key_file)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert again.returncode == 64 and "never overwritten" in again.stderr
    # The state volume is made with the released key (opening it needs device-mapper: the VM).
    volume = tmp_path / "state.img"
    with volume.open("wb") as handle:
        handle.truncate(32 * 1024 * 1024)
    script = Path(__file__).resolve().parents[2] / "scripts" / "guest" / "cairn-state-init"
    sealed = subprocess.run(
        [str(script), "--device", str(volume), "--key-source", "broker",
         "--key-file", str(key_file),
         "--key-id", f"{broker.url}/v1/resources/state-key"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert sealed.returncode == 0, sealed.stderr
    opened = subprocess.run(
        ["cryptsetup", "open", "--test-passphrase", "--key-file", str(key_file), str(volume)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert opened.returncode == 0, opened.stderr
    # Every release is in the audit log, and the chain verifies.
    verified = subprocess.run(
        [str(CAIRN), "serve", "audit", "verify", "--config", str(files.config), "--json"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert json.loads(verified.stdout)["intact"] is True


def _attest(
    broker: Broker,
    guest: Guest,
    *,
    nonce: str | None = None,
    bind: bytes | None = None,
    jwk: dict[str, str] | None = None,
) -> tuple[object, object]:
    """Challenge (unless ``nonce``), evidence bound to ``bind`` (default: the key pair's public
    key), attest naming ``jwk`` (default: the pair's JWK); (attest response, private key)."""
    private, public, pair_jwk = channel_key_pair()
    with broker.client() as http:
        if nonce is None:
            nonce = http.post("/v1/challenge", json={}).json()["nonce"]
        bundle = guest.source.collect(
            bytes.fromhex(nonce), guest.inventory.current(), channel_key=bind or public
        )
        body = {
            "nonce": nonce,
            "channel_key": jwk or pair_jwk,
            "evidence": json.loads(dump_evidence(bundle)),
        }
        return http.post("/v1/attest", json=body), private


def _get(broker: Broker, name: str, token: str) -> object:
    with broker.client() as http:
        return http.get(f"/v1/resources/{name}", headers={"Authorization": f"Bearer {token}"})


def test_a_changed_measurement_gets_no_secret(
    world: tuple[Guest, BrokerFiles, Broker], tmp_path: Path
) -> None:
    guest, _, broker = world
    updated = make_guest(
        tmp_path / "updated", state=guest.state, launch_description=b"another image"
    )
    answer, _ = _attest(broker, updated)
    assert answer.status_code == 200  # type: ignore[attr-defined]
    assert answer.json()["status"] == "warning"  # type: ignore[attr-defined]
    refused = _get(broker, "state-key", answer.json()["token"])  # type: ignore[attr-defined]
    assert refused.status_code == 403  # type: ignore[attr-defined]
    problem = _problem(refused)
    assert problem["type"] == "https://cairn.invalid/problems/policy-refused"
    assert (
        f"measurement {updated.provider.measurement.hex()} is not one the resource accepts"
        in str(problem["detail"])
    )


def test_a_wrong_nonce_gets_no_result(world: tuple[Guest, BrokerFiles, Broker]) -> None:
    guest, _, broker = world
    answer, _ = _attest(broker, guest, nonce=os.urandom(32).hex())
    assert answer.status_code == 400  # type: ignore[attr-defined]
    assert _problem(answer)["type"] == "https://cairn.invalid/problems/nonce-unknown"


def test_evidence_for_another_issued_nonce_is_contraindicated(
    world: tuple[Guest, BrokerFiles, Broker],
) -> None:
    guest, _, broker = world
    _private, public, jwk = channel_key_pair()
    with broker.client() as http:
        first = http.post("/v1/challenge").json()["nonce"]
        second = http.post("/v1/challenge").json()["nonce"]
        bundle = guest.source.collect(
            bytes.fromhex(first), guest.inventory.current(), channel_key=public
        )
        answer = http.post(
            "/v1/attest",
            json={
                "nonce": second,
                "channel_key": jwk,
                "evidence": json.loads(dump_evidence(bundle)),
            },
        )
    assert answer.json()["status"] == "contraindicated"
    assert "nonce" in answer.json()["failed_checks"]
    refused = _get(broker, "state-key", answer.json()["token"])
    assert refused.status_code == 403
    assert "'contraindicated' (failed checks: nonce" in str(_problem(refused)["detail"])


def test_replayed_evidence_and_a_replayed_result_get_nothing(
    world: tuple[Guest, BrokerFiles, Broker],
) -> None:
    guest, _, broker = world
    private, public, jwk = channel_key_pair()
    before = len(broker.answered_by) if isinstance(broker, BalancedBroker) else 0
    with broker.client() as http:
        nonce = http.post("/v1/challenge").json()["nonce"]
        bundle = guest.source.collect(
            bytes.fromhex(nonce), guest.inventory.current(), channel_key=public
        )
        body = {"nonce": nonce, "channel_key": jwk, "evidence": json.loads(dump_evidence(bundle))}
        first = http.post("/v1/attest", json=body)
        replayed = http.post("/v1/attest", json=body)
    assert first.status_code == 200
    assert replayed.status_code == 409
    assert _problem(replayed)["type"] == "https://cairn.invalid/problems/nonce-used"
    token = first.json()["token"]
    released = _get(broker, "state-key", token)
    assert released.status_code == 200
    assert unwrap(released.text, private, "state-key") == STATE_KEY
    again = _get(broker, "state-key", token)
    assert again.status_code == 409
    assert _problem(again)["type"] == "https://cairn.invalid/problems/result-already-used"
    if isinstance(broker, BalancedBroker):
        # One replica issued the nonce, the other redeemed it, the first refused the replay;
        # the result released the secret through one replica and was refused by the other.
        challenge, attest, replay, release, again_release = broker.answered_by[before:]
        assert challenge != attest and replay == challenge and release != again_release


def test_a_third_party_with_the_token_and_the_answer_learns_nothing(
    world: tuple[Guest, BrokerFiles, Broker],
) -> None:
    guest, _, broker = world
    answer, _ = _attest(broker, guest)
    released = _get(broker, "state-key", answer.json()["token"])  # type: ignore[attr-defined]
    assert released.status_code == 200  # type: ignore[attr-defined]
    other_private, _, _ = channel_key_pair()
    with pytest.raises(BrokerRefusedError, match="does not decrypt with our channel key"):
        unwrap(released.text, other_private, "state-key")  # type: ignore[attr-defined]
    assert STATE_KEY not in base64.urlsafe_b64decode(released.text.split(".")[3] + "==")  # type: ignore[attr-defined]


def test_a_different_guest_key_gets_no_secret(world: tuple[Guest, BrokerFiles, Broker]) -> None:
    """Evidence bound to the guest's key, the request naming the attacker's: report-data fails."""
    guest, _, broker = world
    _, _attacker_public, attacker_jwk = channel_key_pair()
    answer, _ = _attest(broker, guest, jwk=attacker_jwk)
    assert answer.json()["status"] == "contraindicated"  # type: ignore[attr-defined]
    assert "report-data" in answer.json()["failed_checks"]  # type: ignore[attr-defined]
    refused = _get(broker, "state-key", answer.json()["token"])  # type: ignore[attr-defined]
    assert refused.status_code == 403  # type: ignore[attr-defined]
    assert "report-data" in str(_problem(refused)["detail"])
    # Evidence from the agent's API (second half zero) is not channel-bound evidence either.
    plain, _ = _attest(broker, guest, bind=None, jwk=attacker_jwk)
    assert plain.json()["status"] == "contraindicated"  # type: ignore[attr-defined]


def test_a_policy_needing_services_refuses_a_boot_time_attestation(
    world: tuple[Guest, BrokerFiles, Broker],
) -> None:
    guest, _, broker = world
    answer, _ = _attest(broker, guest)
    refused = _get(broker, "echo-cpp-secret", answer.json()["token"])  # type: ignore[attr-defined]
    assert refused.status_code == 403  # type: ignore[attr-defined]
    assert "required services not attested: echo-cpp" in str(_problem(refused)["detail"])


def test_tokens_are_checked(world: tuple[Guest, BrokerFiles, Broker]) -> None:
    _, _, broker = world
    with broker.client() as http:
        missing = http.get("/v1/resources/state-key")
        forged = http.get("/v1/resources/state-key", headers={"Authorization": "Bearer a.b.c"})
    assert missing.status_code == 401 and _problem(missing)["type"].endswith("/token-required")  # type: ignore[union-attr]
    assert forged.status_code == 401 and _problem(forged)["type"].endswith("/bad-token")  # type: ignore[union-attr]


@pytest.mark.parametrize("kind", DATABASES)
def test_an_expired_result_gets_no_secret(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    guest = make_guest(tmp_path / "guest")
    files = write_broker(
        tmp_path / "broker",
        database=_database(kind, tmp_path, request),
        root_pem=guest.root_pem,
        result_lifetime=1,
    )
    with _serving(kind, files) as broker:
        put_resource(
            broker,
            files,
            "state-key",
            STATE_KEY,
            {"allow_simulated": True, "allow_tiers": ["affirming", "warning"]},
        )
        answer, _ = _attest(broker, guest)
        token = answer.json()["token"]  # type: ignore[attr-defined]
        time.sleep(2.2)  # the result lives one second
        refused = _get(broker, "state-key", token)
    assert refused.status_code == 401  # type: ignore[attr-defined]
    problem = _problem(refused)
    assert problem["type"] == "https://cairn.invalid/problems/token-expired"
    assert "attest again with a fresh nonce" in str(problem["detail"])


def test_the_ear_is_an_ear(world: tuple[Guest, BrokerFiles, Broker]) -> None:
    """The token verifies with the JWKS key and carries the EAR claims (veraison's profile)."""
    from joserfc import jwt
    from joserfc.jwk import KeySet

    guest, _, broker = world
    answer, _ = _attest(broker, guest)
    with broker.client() as http:
        keys = KeySet.import_key_set(http.get("/v1/jwks").json())
    claims = jwt.decode(answer.json()["token"], keys, algorithms=["ES256"]).claims  # type: ignore[attr-defined]
    assert claims["eat_profile"] == "tag:github.com,2023:veraison/ear"
    appraisal = claims["submods"]["cairn"]
    assert appraisal["ear.status"] == "warning"  # simulated hardware, self-reported system
    assert appraisal["ear.trustworthiness-vector"]["hardware"] == 32
    assert appraisal["ear.appraisal-policy-id"].startswith("cairn-policy:sha256:")
    assert appraisal["cairn.evidence"]["measurement"] == guest.provider.measurement.hex()
    assert claims["cnf"]["jwk"]["crv"] == "X25519"
    assert claims["exp"] - claims["iat"] == 120
    assert hashlib.sha256(bytes.fromhex(claims["eat_nonce"])).digest()
