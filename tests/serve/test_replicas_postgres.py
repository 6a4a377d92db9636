"""Two ``cairn serve`` replicas sharing one real PostgreSQL server (Debian's, started here).

A nonce issued by one replica is redeemed once, through the other; a result issued by one is
redeemed once, wherever; 1,000 attestations through both replicas give no 5xx, no nonce or
result spent twice, and an intact audit chain holding every release; with the database down every
endpoint answers 503 with Retry-After, nothing is released, and the audit log afterwards holds
exactly what was answered.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg
import pytest
from serve_helpers import (
    CAIRN,
    Broker,
    BrokerFiles,
    Guest,
    Postgres,
    fresh_database,
    make_guest,
    put_resource,
    running_broker,
    write_broker,
)

from cairn_agent.broker_client import channel_key_pair, unwrap
from cairn_verifier.api import dump_evidence

SECRET = os.urandom(48)
POLICY = {"allow_simulated": True, "allow_tiers": ["affirming", "warning"]}
LOAD = 1000


@pytest.fixture
def replicas(
    postgres: Postgres, tmp_path: Path
) -> Iterator[tuple[Guest, BrokerFiles, Broker, Broker]]:
    guest = make_guest(tmp_path / "guest")
    database = fresh_database(postgres)
    files = write_broker(
        tmp_path / "broker", database=database, root_pem=guest.root_pem, pool_size=8
    )
    with running_broker(files, "replica-a") as a, running_broker(files, "replica-b") as b:
        put_resource(a, files, "state-key", SECRET, POLICY)
        yield guest, files, a, b


def _evidence(guest: Guest, nonce: str, public: bytes) -> object:
    bundle = guest.source.collect(
        bytes.fromhex(nonce), guest.inventory.current(), channel_key=public
    )
    return json.loads(dump_evidence(bundle))


def _audit(files: BrokerFiles) -> dict[str, object]:
    done = subprocess.run(
        [str(CAIRN), "serve", "audit", "verify", "--config", str(files.config), "--json"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    document: dict[str, object] = json.loads(done.stdout)
    assert document["intact"] is True and document["database"] == "postgresql"
    return document


def _events(database: str) -> Counter[str]:
    with psycopg.connect(database) as conn:
        return Counter(row[0] for row in conn.execute("SELECT event FROM audit_log"))


def test_both_replicas_share_the_schema_and_migrate_once(
    replicas: tuple[Guest, BrokerFiles, Broker, Broker],
) -> None:
    _, files, a, b = replicas
    for replica in (a, b):
        with replica.client() as http:
            health = http.get("/healthz").json()
        assert health == {**health, "status": "ok", "database": "postgresql", "schema_version": 1}
    url = files.config.read_text().split('url = "')[1].split('"')[0]
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT version FROM cairn_schema").fetchall() == [(1,)]


def test_a_nonce_from_one_replica_is_redeemed_once_via_the_other(
    replicas: tuple[Guest, BrokerFiles, Broker, Broker],
) -> None:
    guest, files, a, b = replicas
    private, public, jwk = channel_key_pair()
    with a.client() as http_a, b.client() as http_b:
        nonce = http_a.post("/v1/challenge").json()["nonce"]
        body = {"nonce": nonce, "channel_key": jwk, "evidence": _evidence(guest, nonce, public)}
        first = http_b.post("/v1/attest", json=body)
        again_b = http_b.post("/v1/attest", json=body)
        again_a = http_a.post("/v1/attest", json=body)
        assert first.status_code == 200, first.text
        assert (again_b.status_code, again_a.status_code) == (409, 409)
        token = first.json()["token"]
        released = http_a.get(
            "/v1/resources/state-key", headers={"Authorization": f"Bearer {token}"}
        )
        replayed = http_b.get(
            "/v1/resources/state-key", headers={"Authorization": f"Bearer {token}"}
        )
    assert released.status_code == 200
    assert unwrap(released.text, private, "state-key") == SECRET
    assert replayed.status_code == 409 and replayed.json()["type"].endswith("/result-already-used")
    _audit(files)


def test_1000_attestations_through_two_replicas(
    replicas: tuple[Guest, BrokerFiles, Broker, Broker], tmp_path: Path
) -> None:
    """The load test of docs/performance.md: figures are printed (pytest -s) and recorded."""
    guest, files, a, b = replicas
    urls = [a.url, b.url]
    lock = threading.Lock()
    statuses: Counter[int] = Counter()
    nonces: list[str] = []
    released: list[bytes] = []
    latencies: list[float] = []
    local = threading.local()

    def client(i: int) -> httpx.Client:
        clients = getattr(local, "clients", None)
        if clients is None:
            clients = local.clients = [
                httpx.Client(base_url=u, timeout=120, trust_env=False) for u in urls
            ]
        return clients[i % 2]

    def one(i: int) -> None:
        private, public, jwk = channel_key_pair()
        started = time.perf_counter()
        first, second = client(i), client(i + 1)  # challenge on one replica, the rest on the other
        challenge = first.post("/v1/challenge")
        nonce = challenge.json()["nonce"]
        answer = second.post(
            "/v1/attest",
            json={"nonce": nonce, "channel_key": jwk, "evidence": _evidence(guest, nonce, public)},
        )
        token = answer.json()["token"]
        resource = first.get(
            "/v1/resources/state-key", headers={"Authorization": f"Bearer {token}"}
        )
        elapsed = time.perf_counter() - started
        secret = unwrap(resource.text, private, "state-key") if resource.status_code == 200 else b""
        with lock:
            statuses.update([challenge.status_code, answer.status_code, resource.status_code])
            nonces.append(nonce)
            released.append(secret)
            latencies.append(elapsed)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(one, range(LOAD)))
    wall = time.perf_counter() - started
    assert all(status < 500 for status in statuses), statuses
    assert statuses == Counter({201: LOAD, 200: 2 * LOAD})
    assert len(set(nonces)) == LOAD
    assert released == [SECRET] * LOAD
    url = files.config.read_text().split('url = "')[1].split('"')[0]
    with psycopg.connect(url) as conn:
        redeemed = conn.execute(
            "SELECT COUNT(*) FROM nonces WHERE redeemed_at IS NOT NULL"
        ).fetchone()
        tokens = conn.execute(
            "SELECT COUNT(DISTINCT token_id), COUNT(*) FROM redemptions"
        ).fetchone()
    assert redeemed == (LOAD,) and tokens == (LOAD, LOAD)
    audit = _audit(files)
    events = _events(url)
    assert events["release"] == LOAD and events["attest"] == LOAD
    assert audit["entries"] == sum(events.values())
    ordered = sorted(latencies)
    figures = {
        "attestations": LOAD,
        "replicas": 2,
        "client_threads": 16,
        "wall_seconds": round(wall, 2),
        "attestations_per_second": round(LOAD / wall, 1),
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p99_ms": round(ordered[int(0.99 * LOAD) - 1] * 1000, 1),
    }
    print("\nLOAD", json.dumps(figures))
    (Path(os.environ.get("CAIRN_SERVE_LOAD_FIGURES", tmp_path / "figures.json"))).write_text(
        json.dumps(figures)
    )


def test_database_down_is_503_and_nothing_is_released_or_lost(
    replicas: tuple[Guest, BrokerFiles, Broker, Broker], postgres: Postgres
) -> None:
    guest, files, a, b = replicas
    url = files.config.read_text().split('url = "')[1].split('"')[0]
    private, public, jwk = channel_key_pair()
    with a.client() as http_a, b.client() as http_b:
        nonce = http_a.post("/v1/challenge").json()["nonce"]
        token = http_b.post(
            "/v1/attest",
            json={"nonce": nonce, "channel_key": jwk, "evidence": _evidence(guest, nonce, public)},
        ).json()["token"]
        nonce2 = http_a.post("/v1/challenge").json()["nonce"]
        before = _events(url)
        postgres.stop()
        try:
            answers = [
                http_a.post("/v1/challenge"),
                http_b.post(
                    "/v1/attest",
                    json={
                        "nonce": nonce2,
                        "channel_key": jwk,
                        "evidence": _evidence(guest, nonce2, public),
                    },
                ),
                http_a.get("/v1/resources/state-key", headers={"Authorization": f"Bearer {token}"}),
                http_b.get("/v1/resources/state-key", headers={"Authorization": f"Bearer {token}"}),
                http_a.get(  # a refusal that cannot be recorded
                    "/v1/resources/missing", headers={"Authorization": f"Bearer {token}"}
                ),
                http_b.get("/healthz"),
            ]
            # Without a valid token nothing is looked up or recorded one by one: still 401.
            unauthenticated = http_a.get("/v1/resources/state-key")
        finally:
            postgres.start()
        for answer in answers:
            assert answer.status_code == 503, answer.text
            assert answer.headers["Retry-After"] == "5"
            assert "database" in answer.text
        assert unauthenticated.status_code == 401, unauthenticated.text
        # Back up: the result was never released, so it still is (once); the nonce issued before
        # the outage was not spent by the failed attestation.
        released = http_b.get(
            "/v1/resources/state-key", headers={"Authorization": f"Bearer {token}"}
        )
        assert released.status_code == 200, released.text
        assert unwrap(released.text, private, "state-key") == SECRET
        later = http_a.post(
            "/v1/attest",
            json={
                "nonce": nonce2,
                "channel_key": jwk,
                "evidence": _evidence(guest, nonce2, public),
            },
        )
        assert later.status_code == 200, later.text
    after = _events(url)
    # Exactly what was answered after the outage is in the log: one release, one attestation
    # (and perhaps the summary counting the request without a token, whenever it is due).
    del after["unauthenticated"], before["unauthenticated"]
    assert after - before == Counter({"release": 1, "attest": 1})
    _audit(files)
