"""The agent's HTTP API: strict validation, problem documents, OpenAPI-driven fuzzing (no 5xx)
and back-pressure under 1,000 concurrent evidence requests (loopback only, bounded in time)."""

from __future__ import annotations

import asyncio
import json
import resource
import secrets
from collections.abc import Iterator
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
        with ServerThread(make_app(state)) as url:
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
    assert 400 <= answer.status_code < 500


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
