"""``cairn serve`` as a command and an API, on SQLite: start-up errors, the admin API's
authentication, strict request parsing and limits (every refusal a problem document), the audit
log's hash chain and ``cairn serve audit verify`` on a tampered log, and that ``cairn --version``
imports none of the service's dependencies."""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from serve_helpers import (
    ADMIN_TOKEN,
    CAIRN,
    Broker,
    BrokerFiles,
    make_guest,
    put_resource,
    running_broker,
    write_broker,
)

from cairn_verifier.serve.audit import GENESIS, AuditRow, entry_hash, verify_chain


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[BrokerFiles, Broker]]:
    base = tmp_path_factory.mktemp("serve-api")
    guest = make_guest(base / "guest")
    files = write_broker(
        base / "broker", database=f"sqlite:///{base / 'state.db'}", root_pem=guest.root_pem
    )
    with running_broker(files) as broker:
        yield files, broker


def _problem(response: object, status: int, kind: str) -> str:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.headers["Content-Type"].startswith("application/problem+json")  # type: ignore[attr-defined]
    document = response.json()  # type: ignore[attr-defined]
    assert document["type"] == f"https://cairn.invalid/problems/{kind}", document
    return str(document["detail"])


def test_cairn_version_imports_nothing_of_the_service() -> None:
    code = (
        "import sys; from cairn_verifier.cli.main import main; main(['--version']); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('aiohttp', 'joserfc', 'psycopg', 'sqlite3') or m.startswith('cairn_verifier.serve')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines()[-1] == "[]"


def test_a_missing_configuration_is_a_typed_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(CAIRN), "serve", "--config", str(tmp_path / "none.toml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 10, done.stderr
    assert "cairn serve configuration" in done.stderr and "Traceback" not in done.stderr


def test_unknown_configuration_keys_are_refused(tmp_path: Path) -> None:
    config = tmp_path / "serve.toml"
    config.write_text('[signing]\nkey = "k.pem"\n[limits]\nmax_body = 1\n')
    done = subprocess.run(
        [str(CAIRN), "serve", "--config", str(config)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 10
    assert "limits.max_body" in done.stderr


def test_a_database_that_cannot_be_reached_stops_the_start(tmp_path: Path) -> None:
    guest = make_guest(tmp_path / "guest")
    files = write_broker(
        tmp_path / "broker",
        database="postgresql://nobody@127.0.0.1:1/none",
        root_pem=guest.root_pem,
    )
    done = subprocess.run(
        [str(CAIRN), "serve", "--config", str(files.config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 64
    assert "the database is unavailable" in done.stderr


def test_the_admin_api_needs_the_token(served: tuple[BrokerFiles, Broker]) -> None:
    files, broker = served
    with broker.client() as http:
        _problem(http.get("/v1/admin/resources"), 401, "admin-unauthorized")
        _problem(
            http.get("/v1/admin/resources", headers={"Authorization": "Bearer wrong"}),
            401,
            "admin-unauthorized",
        )
        _problem(
            http.get("/v1/admin/audit", headers={"Authorization": f"Basic {ADMIN_TOKEN}"}),
            401,
            "admin-unauthorized",
        )
        put_resource(broker, files, "listed", b"never shown", {"allow_simulated": False})
        listed = http.get("/v1/admin/resources", headers=files.admin).json()
    assert [r["name"] for r in listed["resources"]] == ["listed"]
    assert "never shown" not in json.dumps(listed) and "secret" not in listed["resources"][0]


@pytest.mark.parametrize(
    ("body", "kind", "words"),
    [
        (
            {"secret": "c2VjcmV0", "policy": {"allow_simulatd": True}},
            "bad-policy",
            "allow_simulatd",
        ),
        (
            {"secret": "c2VjcmV0", "policy": {"max_age_seconds": "60"}},
            "bad-policy",
            "max_age_seconds",
        ),
        ({"secret": "not base64!", "policy": {}}, "bad-secret", "base64"),
        ({"secret": "c2VjcmV0"}, "malformed-request", "missing: ['policy']"),
        (
            {"secret": "c2VjcmV0", "policy": {}, "owner": "x"},
            "malformed-request",
            "unknown: ['owner']",
        ),
        (
            {"secret": "c2VjcmV0", "policy": {"measurements": ["00"]}},
            "bad-policy",
            "96 lowercase hex",
        ),
    ],
)
def test_resources_are_parsed_strictly(
    served: tuple[BrokerFiles, Broker], body: dict[str, object], kind: str, words: str
) -> None:
    files, broker = served
    with broker.client() as http:
        answer = http.put("/v1/admin/resources/strict", json=body, headers=files.admin)
    assert words in _problem(answer, 400, kind)


def test_attest_requests_are_parsed_strictly(served: tuple[BrokerFiles, Broker]) -> None:
    _, broker = served
    jwk = {"kty": "OKP", "crv": "X25519", "x": "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA"}
    with broker.client() as http:
        _problem(
            http.post("/v1/attest", content=b"{", headers={"Content-Type": "application/json"}),
            400,
            "malformed-request",
        )
        _problem(
            http.post("/v1/attest", content=b"[]", headers={"Content-Type": "text/plain"}),
            415,
            "unsupported-media-type",
        )
        _problem(
            http.post("/v1/attest", json={"nonce": "00" * 32, "channel_key": jwk}),
            400,
            "malformed-request",
        )
        _problem(
            http.post("/v1/attest", json={"nonce": "zz", "channel_key": jwk, "evidence": {}}),
            400,
            "malformed-request",
        )
        rsa = {"kty": "RSA", "crv": "X25519", "x": jwk["x"]}
        _problem(
            http.post("/v1/attest", json={"nonce": "00" * 32, "channel_key": rsa, "evidence": {}}),
            400,
            "malformed-request",
        )
        detail = _problem(
            http.post(
                "/v1/attest",
                json={"nonce": "00" * 32, "channel_key": jwk, "evidence": {"format": "x"}},
            ),
            400,
            "malformed-evidence",
        )
        assert "not a Cairn evidence bundle" in detail
        deep = b'{"nonce": ' + b"[" * 100 + b"]" * 100 + b"}"
        _problem(
            http.post("/v1/attest", content=deep, headers={"Content-Type": "application/json"}),
            400,
            "malformed-request",
        )
        _problem(
            http.post(
                "/v1/attest",
                content=b"{}",
                headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
            ),
            415,
            "unsupported-encoding",
        )


def test_limits_are_enforced(served: tuple[BrokerFiles, Broker]) -> None:
    _, broker = served
    with broker.client() as http:
        big = b'{"x": "' + b"a" * (1 << 20) + b'"}'
        _problem(
            http.post("/v1/attest", content=big, headers={"Content-Type": "application/json"}),
            413,
            "too-large",
        )
        _problem(http.get("/v1/jwks", headers={"X-Pad": "p" * 20000}), 413, "too-large")
        _problem(http.get("/nowhere"), 404, "not-found")
        _problem(http.delete("/v1/challenge"), 405, "method-not-allowed")


def test_unparseable_requests_get_a_problem_document(served: tuple[BrokerFiles, Broker]) -> None:
    _, broker = served
    host, port = broker.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
        answer = sock.recv(65536).decode(errors="replace")
    assert answer.split(" ", 2)[1] == "400"
    assert (
        "application/problem+json" in answer and "Bad Header" not in answer.split("\r\n\r\n", 1)[1]
    )


def test_the_openapi_document_names_every_route(served: tuple[BrokerFiles, Broker]) -> None:
    _, broker = served
    with broker.client() as http:
        document = http.get("/openapi.json").json()
    assert document["openapi"] == "3.1.0"
    assert set(document["paths"]) == {
        "/v1/challenge", "/v1/attest", "/v1/resources/{name}", "/v1/jwks", "/healthz",
        "/openapi.json", "/v1/admin/resources", "/v1/admin/resources/{name}", "/v1/admin/audit",
    }  # fmt: skip


def test_audit_verify_finds_a_tampered_log(tmp_path: Path) -> None:
    guest = make_guest(tmp_path / "guest")
    database = tmp_path / "state.db"
    files = write_broker(
        tmp_path / "broker", database=f"sqlite:///{database}", root_pem=guest.root_pem
    )
    with running_broker(files) as broker:
        for name in ("one", "two", "three"):
            put_resource(broker, files, name, b"s", {})
    verify = [str(CAIRN), "serve", "audit", "verify", "--config", str(files.config)]
    intact = subprocess.run(verify, capture_output=True, text=True, check=False)
    assert intact.returncode == 0 and "audit log intact: 3 entries" in intact.stdout
    with sqlite3.connect(database) as conn:
        conn.execute("UPDATE audit_log SET detail = replace(detail, 'two', 'TWO') WHERE seq = 2")
    edited = subprocess.run(verify, capture_output=True, text=True, check=False)
    assert edited.returncode == 1
    assert "entry 2: its hash does not match its content" in edited.stderr
    with sqlite3.connect(database) as conn:
        conn.execute("UPDATE audit_log SET detail = replace(detail, 'TWO', 'two') WHERE seq = 2")
        conn.execute("DELETE FROM audit_log WHERE seq = 3")
    truncated = subprocess.run([*verify, "--json"], capture_output=True, text=True, check=False)
    assert truncated.returncode == 1
    report = json.loads(truncated.stdout)
    assert report["intact"] is False and report["entries"] == 2
    assert any("the head says the log ends at entry 3" in p for p in report["problems"])


def test_the_chain_is_the_documented_hash() -> None:
    record = {"seq": 1, "at": 5, "event": "release", "detail": {"b": 2, "a": 1}}
    expected = (
        __import__("hashlib")
        .sha256(bytes(32) + b'{"at":5,"detail":{"a":1,"b":2},"event":"release","seq":1}')
        .hexdigest()
    )
    assert entry_hash(GENESIS, record) == expected
    row = AuditRow(1, 5, "release", '{"a":1,"b":2}', GENESIS, expected)
    assert verify_chain([row], (1, expected)).ok
    swapped = AuditRow(2, 5, "release", '{"a":1,"b":2}', GENESIS, expected)
    assert not verify_chain([swapped], (2, expected)).ok


def _exchange(broker: Broker, request: bytes) -> tuple[str, str]:
    """Send ``request`` (its head asks to close the connection after the answer); the first
    status line's code and everything answered until the broker closed the connection."""
    host, port = broker.url.removeprefix("http://").split(":")
    head, _, body = request.partition(b"\r\n\r\n")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head + b"\r\nConnection: close\r\n\r\n" + body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    text = answer.decode(errors="replace")
    return text.split(" ", 2)[1], text


@pytest.mark.parametrize(
    ("request_line", "status", "kind"),
    [
        (b"POST /v1/challenge HTTP/1.1", "417", "expectation-failed"),
        (b"GET /v1/jwks HTTP/1.1", "417", "expectation-failed"),
        (b"GET /no-such-route HTTP/1.1", "404", "not-found"),
        (b"PATCH /v1/challenge HTTP/1.1", "405", "method-not-allowed"),
    ],
)
def test_an_unknown_expectation_is_a_problem_that_does_not_echo_it(
    served: tuple[BrokerFiles, Broker], request_line: bytes, status: str, kind: str
) -> None:
    """aiohttp's default answers 417 in plain text echoing the header (or invites a body on an
    unknown route); the broker answers with its problem documents and never reflects it."""
    _, broker = served
    code, answer = _exchange(
        broker,
        request_line + b"\r\nHost: x\r\nContent-Length: 2\r\nExpect: <b>reflected</b>\r\n\r\n",
    )
    assert code == status, answer
    assert "reflected" not in answer and "100 Continue" not in answer
    assert "application/problem+json" in answer and f"problems/{kind}" in answer


def test_100_continue_is_granted_only_to_a_body_that_fits(
    served: tuple[BrokerFiles, Broker],
) -> None:
    _, broker = served
    too_large = b"Content-Length: 99999999\r\nExpect: 100-continue\r\n\r\n"
    code, answer = _exchange(broker, b"POST /v1/challenge HTTP/1.1\r\nHost: x\r\n" + too_large)
    assert code == "413" and "problems/too-large" in answer and "100 Continue" not in answer
    code, answer = _exchange(
        broker, b"GET /no-such-route HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n"
    )
    assert code == "404" and "100 Continue" not in answer, answer
    fits = b"Content-Length: 2\r\nExpect: 100-continue\r\n\r\n{}"
    code, answer = _exchange(broker, b"POST /v1/challenge HTTP/1.1\r\nHost: x\r\n" + fits)
    assert code == "100" and "problem" not in answer.split("\r\n\r\n", 1)[0], answer
    final = answer.split("\r\n\r\n", 1)[1]
    assert final.startswith("HTTP/1.1 ") and " 500 " not in final.split("\r\n", 1)[0], final
