"""The agent's HTTP API: strict validation, problem documents, OpenAPI-driven fuzzing (no 5xx)
and back-pressure under 1,000 concurrent evidence requests (loopback only, bounded in time)."""

from __future__ import annotations

import asyncio
import json
import resource
import secrets
import socket
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest
import schemathesis
from fakes.agent_server import RunningAgent, ServerThread, start_agent
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from cairn_agent.app import make_app
from cairn_agent.openapi import openapi_document
from cairn_agent.swtpm import running_swtpm
from cairn_verifier.evidence.models import load_evidence
from cairn_verifier.evidence.verify import EvidenceVerifyRequest, verify_evidence
from cairn_verifier.x509.cert import load_certificates


@pytest.fixture(scope="module")
def snp_agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningAgent]:
    workdir = tmp_path_factory.mktemp("api-agent")
    with running_swtpm(workdir / "swtpm") as swtpm:
        state, config = start_agent(workdir, swtpm.tcti, "simulated-snp", max_queue=8)
        assert state.self_check["status"] == "passed", state.self_check
        app = make_app(state, max_request_bytes=config.limits.max_request_bytes)
        with ServerThread(app) as url:
            assert config.services.manifest is not None
            yield RunningAgent(url, state, workdir, swtpm.tcti, config.services.manifest, config)


def _problem(answer: httpx.Response, status: int) -> dict[str, object]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    doc: dict[str, object] = answer.json()
    assert doc["status"] == status and doc["title"] and doc["detail"]
    return doc


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?nonce=",
        "?nonce=abc",
        "?nonce=" + "zz" * 32,
        "?nonce=" + "00" * 33,
        "?nonce=" + "00" * 32 + "&nonce=" + "11" * 32,
        "?nonce=" + "00" * 32 + "&extra=1",
        "?nonce=" + "00" * 32 + "%0A",  # `$` would match before a final newline
        "?nonce=" + "00" * 32 + "%0D%0A",
        "?nonce=%20" + "00" * 32,
    ],
)
def test_bad_nonces_are_400_problems(snp_agent: RunningAgent, query: str) -> None:
    _problem(httpx.get(f"{snp_agent.url}/v1/evidence{query}"), 400)


def test_unknown_service_and_route_are_404(snp_agent: RunningAgent) -> None:
    _problem(httpx.get(f"{snp_agent.url}/v1/services/nope/proof"), 404)
    _problem(httpx.get(f"{snp_agent.url}/v2/evidence"), 404)
    _problem(httpx.post(f"{snp_agent.url}/v1/evidence", content=b"x"), 405)


def test_oversize_requests_are_rejected(snp_agent: RunningAgent) -> None:
    answer = httpx.get(f"{snp_agent.url}/v1/evidence?nonce=" + "a" * 20000)
    doc = _problem(answer, 413)
    assert "limits.max_request_bytes" in str(doc["detail"])


def test_services_and_proofs(snp_agent: RunningAgent) -> None:
    listing = httpx.get(f"{snp_agent.url}/v1/services").json()
    assert {s["name"] for s in listing["services"]} == {"echo-cpp", "echo-rust"}
    proof = httpx.get(f"{snp_agent.url}/v1/services/echo-rust/proof").json()
    assert proof["root"] == listing["tree_root"]


def test_health_metrics_and_openapi(snp_agent: RunningAgent) -> None:
    health = httpx.get(f"{snp_agent.url}/healthz").json()
    assert health["status"] == "ok" and health["tpm"] is True
    assert "simulated" in health["provider"].lower()
    httpx.get(f"{snp_agent.url}/v1/evidence", params={"nonce": secrets.token_hex(32)})
    metrics = httpx.get(f"{snp_agent.url}/metrics").text
    assert 'cairn_agent_responses_total{endpoint="/v1/evidence",status="200"}' in metrics
    assert "cairn_agent_evidence_seconds_count" in metrics
    assert httpx.get(f"{snp_agent.url}/openapi.json").json() == json.loads(
        json.dumps(openapi_document())
    )


# schemathesis generates requests from the agent's own OpenAPI description (valid and invalid
# ones); its pytest plugin does not support this pytest, so the strategies are driven directly.
_SCHEMA = schemathesis.openapi.from_dict(openapi_document())
_OPERATIONS = [result.ok() for result in _SCHEMA.get_all_operations()]
_WITH_PARAMETERS = {"GET /v1/evidence", "GET /v1/services/{name}/proof"}
_CASES = [(op, GenerationMode.POSITIVE) for op in _OPERATIONS] + [
    (op, GenerationMode.NEGATIVE) for op in _OPERATIONS if op.label in _WITH_PARAMETERS
]


@pytest.mark.parametrize(
    ("operation", "mode"), _CASES, ids=[f"{op.label}-{mode.value}" for op, mode in _CASES]
)
def test_fuzzed_requests_never_get_a_5xx(
    snp_agent: RunningAgent, operation: schemathesis.APIOperation, mode: GenerationMode
) -> None:
    @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
    @given(operation.as_strategy(generation_mode=mode))
    def call(case: schemathesis.Case) -> None:
        response = case.call(base_url=snp_agent.url, timeout=60)
        assert response.status_code < 500, (case.path, case.query, response.text[:300])

    call()


def test_a_thousand_concurrent_requests(snp_agent: RunningAgent) -> None:
    """Only 200s and documented 429s; every 200 verifies; memory stays bounded."""
    url = f"{snp_agent.url}/v1/evidence"
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    async def one(client: httpx.AsyncClient) -> tuple[int, bytes, bytes, str | None]:
        nonce = secrets.token_bytes(32)
        answer = await client.get(url, params={"nonce": nonce.hex()})
        return answer.status_code, nonce, answer.content, answer.headers.get("retry-after")

    async def storm() -> list[tuple[int, bytes, bytes, str | None]]:
        limits = httpx.Limits(max_connections=200)
        async with httpx.AsyncClient(timeout=120, limits=limits) as client:
            return await asyncio.wait_for(
                asyncio.gather(*(one(client) for _ in range(1000))), timeout=300
            )

    results = asyncio.run(storm())
    statuses = {status for status, *_ in results}
    assert statuses <= {200, 429}, statuses
    assert all(retry == "1" for status, _, _, retry in results if status == 429)
    answered = [(nonce, body) for status, nonce, body, _ in results if status == 200]
    assert answered, "back-pressure must still let requests through"
    root = snp_agent.workdir / "root.pem"
    if not root.exists():
        snp_agent.state.source.provider.export_trust_root(root)  # type: ignore[attr-defined]
    roots = tuple(load_certificates(root.read_bytes()))
    for nonce, body in answered:
        bundle = load_evidence(body)
        request = EvidenceVerifyRequest(
            nonce=nonce, at=datetime.now(UTC), simulated_roots=roots, subject="load"
        )
        assert verify_evidence(bundle, request).ok
    growth_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert growth_kib < 512 * 1024, f"memory grew by {growth_kib} KiB"


# --- request limits, bodies and parser errors, over raw sockets -------------------------------

NONCE_QUERY = "/v1/evidence?nonce=" + "ab" * 32
HANG_GUARD_SECONDS = 60  # only so a regression fails instead of hanging; never a measurement


@dataclass
class RawAnswer:
    status: int
    headers: dict[str, str]
    body: bytes
    closed: bool
    """The server closed the connection after the answer."""

    def problem(self, status: int) -> dict[str, object]:
        assert self.status == status, self.body[:300]
        assert self.headers["content-type"].startswith("application/problem+json")
        assert self.headers["server"] == "cairn-agent"
        doc: dict[str, object] = json.loads(self.body)
        assert doc["status"] == status and doc["title"] and doc["detail"]
        return doc


def _raw(agent: RunningAgent, request: bytes) -> RawAnswer:
    """Send ``request`` (possibly an incomplete one) and read one answer and what follows it."""
    address = httpx.URL(agent.url)
    with socket.create_connection((address.host, address.port)) as sock:
        sock.settimeout(HANG_GUARD_SECONDS)
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, f"connection closed without an answer: {data!r}"
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])
        }
        length = int(headers["content-length"])
        while len(body) < length:
            chunk = sock.recv(65536)
            assert chunk, "connection closed in the middle of the answer"
            body += chunk
        try:
            closed = sock.recv(1) == b""
        except ConnectionResetError:
            closed = True
    return RawAnswer(int(lines[0].split()[1]), headers, body[:length], closed)


def _get(target: str, *headers: str) -> bytes:
    lines = [f"GET {target} HTTP/1.1", "Host: 127.0.0.1", *headers, "", ""]
    return "\r\n".join(lines).encode("latin-1")


def test_a_body_is_refused_before_it_is_sent(snp_agent: RunningAgent) -> None:
    """The agent answers 413 to a 50 MB body it was only told about, and hangs up: it never
    waits for, reads or buffers a body (this used to be answered 200 after reading it all)."""
    answer = _raw(snp_agent, _get(NONCE_QUERY, "Content-Length: 52428800"))
    doc = answer.problem(413)
    assert "52428800 bytes (Content-Length)" in str(doc["detail"])
    assert answer.closed and answer.headers["connection"].lower() == "close"


def test_an_expected_body_is_not_invited(snp_agent: RunningAgent) -> None:
    """No ``100 Continue``: the first answer is the 413."""
    answer = _raw(snp_agent, _get(NONCE_QUERY, "Content-Length: 9000", "Expect: 100-continue"))
    answer.problem(413)
    assert answer.closed


def _all_of(agent: RunningAgent, request: bytes) -> bytes:
    """Everything the agent sends back to ``request`` (sent with Connection: close)."""
    address = httpx.URL(agent.url)
    with socket.create_connection((address.host, address.port)) as sock:
        sock.settimeout(HANG_GUARD_SECONDS)
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


HOSTILE_EXPECT = "<script>alert(1)</script>-x-reflected"


@pytest.mark.parametrize(
    ("method", "target", "status", "kind"),
    [
        ("GET", "/nope", 404, "not-found"),
        ("GET", "/v1/evidence/x", 404, "not-found"),
        ("POST", "/healthz", 405, "method-not-allowed"),
    ],
)
@pytest.mark.parametrize("expect", [HOSTILE_EXPECT, "100-continue"])
def test_an_expect_header_on_an_unknown_route_is_a_plain_problem(
    snp_agent: RunningAgent, method: str, target: str, status: int, kind: str, expect: str
) -> None:
    """Unknown routes and methods answer their 404/405 problem whatever ``Expect`` says: no 417
    echoing the header (aiohttp's default), no ``100 Continue`` inviting a body."""
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", f"Expect: {expect}"]
    data = _all_of(snp_agent, "\r\n".join([*lines, "Connection: close", "", ""]).encode())
    assert data.startswith(f"HTTP/1.1 {status} ".encode()), data[:200]
    assert b"100 Continue" not in data and b"417" not in data.split(b"\r\n")[0]
    assert b"script" not in data and b"reflected" not in data
    answer = _raw(snp_agent, "\r\n".join([*lines, "Connection: close", "", ""]).encode())
    assert answer.problem(status)["type"] == f"https://cairn.invalid/problems/{kind}"


@pytest.mark.parametrize("expect", ["100-continue", "100-Continue", HOSTILE_EXPECT])
def test_an_expect_header_on_a_known_route_without_a_body_is_answered(
    snp_agent: RunningAgent, expect: str
) -> None:
    data = _all_of(snp_agent, _get("/healthz", f"Expect: {expect}", "Connection: close"))
    assert data.startswith(b"HTTP/1.1 200 "), data[:200]
    assert b"100 Continue" not in data and b"reflected" not in data


def test_an_empty_body_is_no_body(snp_agent: RunningAgent) -> None:
    answer = _raw(snp_agent, _get(NONCE_QUERY, "Content-Length: 0", "Connection: close"))
    assert answer.status == 200, answer.body[:300]


def test_a_chunked_body_is_refused(snp_agent: RunningAgent) -> None:
    request = _get("/healthz", "Transfer-Encoding: chunked") + b"5\r\nhello\r\n"  # never ends
    answer = _raw(snp_agent, request)
    assert "chunked body" in str(answer.problem(413)["detail"])
    assert answer.closed


def test_a_gzip_bomb_is_neither_read_nor_inflated(snp_agent: RunningAgent) -> None:
    """A gzip body that inflates 1000:1 gets 413 after its first 64 KiB, unread; request
    bodies are never decompressed; the agent keeps answering."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip framing
    zeros = bytes(1 << 20)
    bomb = b"".join(compressor.compress(zeros) for _ in range(256)) + compressor.flush()
    assert len(bomb) < (256 << 20) // 500
    head = _get(NONCE_QUERY, "Content-Encoding: gzip", f"Content-Length: {len(bomb)}")
    answer = _raw(snp_agent, head + bomb[:65536])
    doc = answer.problem(413)
    assert "gzip-encoded" in str(doc["detail"]) and "not read" in str(doc["detail"])
    assert answer.closed
    health = httpx.get(f"{snp_agent.url}/healthz", timeout=HANG_GUARD_SECONDS)
    assert health.status_code == 200


def test_post_with_a_body_keeps_its_405(snp_agent: RunningAgent) -> None:
    request = (
        b"POST /v1/evidence HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n" + b"x" * 100
    )
    answer = _raw(snp_agent, request)
    answer.problem(405)
    assert answer.closed


def test_headers_beyond_max_request_bytes_are_413(snp_agent: RunningAgent) -> None:
    limit = snp_agent.config.limits.max_request_bytes
    fields = [f"X-Filler-{i}: {'a' * 3000}" for i in range(3)]  # each below the parser limit
    doc = _raw(snp_agent, _get(NONCE_QUERY, *fields, "Connection: close")).problem(413)
    assert f"the limit is {limit}" in str(doc["detail"])
    one_long_field = _raw(snp_agent, _get(NONCE_QUERY, f"X-Long: {'a' * (limit + 10)}"))
    assert "limits.max_request_bytes" in str(one_long_field.problem(413)["detail"])


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GARBAGE<script>alert(1)</script>\r\n\r\n",
        b"GET /healthz\x01<script> HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nBad Header<script>: 1\r\n\r\n",
        b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(32) + b"\r\n\r\n",  # TLS hello
    ],
    ids=["garbage", "bad-target", "bad-header", "bad-version", "two-lengths", "tls"],
)
def test_unparseable_requests_are_problems_without_echo(
    snp_agent: RunningAgent, request_bytes: bytes
) -> None:
    """aiohttp's own parser errors: RFC 9457 problems, no versions, nothing echoed back."""
    answer = _raw(snp_agent, request_bytes)
    doc = answer.problem(400)
    assert doc["type"] == "https://cairn.invalid/problems/malformed-request"
    assert b"script" not in answer.body and b"GARBAGE" not in answer.body
    assert answer.closed


def test_the_server_header_names_no_versions(snp_agent: RunningAgent) -> None:
    for path in ("/healthz", "/v1/services", "/nope", NONCE_QUERY):
        answer = httpx.get(f"{snp_agent.url}{path}", timeout=HANG_GUARD_SECONDS)
        assert answer.headers["server"] == "cairn-agent", path


def test_refused_requests_are_counted(snp_agent: RunningAgent) -> None:
    _raw(snp_agent, b"GARBAGE\r\n\r\n")
    metrics = httpx.get(f"{snp_agent.url}/metrics").text
    assert 'cairn_agent_responses_total{endpoint="unparsed",status="400"}' in metrics


def test_health_discloses_no_paths_and_speaks_for_the_agent(snp_agent: RunningAgent) -> None:
    """/healthz names the provider, not the key directory, and its warnings say what the
    agent did, not which verifier flag to pass."""
    text = httpx.get(f"{snp_agent.url}/healthz").text
    assert str(snp_agent.workdir) not in text and "/nix/store" not in text
    health = json.loads(text)
    assert health["provider"] == "simulated-snp" and health["simulated"] is True
    warnings = health["self_check"]["warnings"]
    assert warnings and all("--" not in w for w in warnings)
    assert "simulated" in warnings[0] and "cairn-agent export-root" in warnings[0]
