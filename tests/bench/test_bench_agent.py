"""Agent overhead: GET /v1/evidence against the raw provider + TPM calls it wraps, in the same run,
and throughput at 1, 16 and 64 concurrent clients (simulated SEV-SNP, real swtpm, loopback).

Run with ``nox -s bench``; written up in docs/performance.md.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fakes.agent_server import RunningAgent, ServerThread, start_agent

from cairn_agent.app import make_app
from cairn_agent.swtpm import running_swtpm

BATCH = 64


@pytest.fixture(scope="module")
def bench_agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningAgent]:
    workdir = tmp_path_factory.mktemp("bench-agent")
    with running_swtpm(workdir / "swtpm") as swtpm:
        state, config = start_agent(workdir, swtpm.tcti, "simulated-snp", max_queue=256)
        with ServerThread(make_app(state)) as url:
            assert config.services.manifest is not None
            yield RunningAgent(url, state, workdir, swtpm.tcti, config.services.manifest, config)


def test_raw_provider_and_tpm(benchmark, bench_agent: RunningAgent) -> None:
    source = bench_agent.state.source
    snapshot = bench_agent.state.inventory.current()
    benchmark.group = "agent-latency"
    benchmark(lambda: source.collect(secrets.token_bytes(32), snapshot))


def test_http_evidence(benchmark, bench_agent: RunningAgent) -> None:
    url = f"{bench_agent.url}/v1/evidence"
    benchmark.group = "agent-latency"
    with httpx.Client(timeout=60) as client:

        def fetch() -> int:
            return client.get(url, params={"nonce": secrets.token_hex(32)}).status_code

        assert benchmark(fetch) == 200


@pytest.mark.parametrize("clients", [1, 16, 64])
def test_throughput(benchmark, bench_agent: RunningAgent, clients: int) -> None:
    """Time to serve a batch of 64 evidence requests issued by ``clients`` concurrent clients."""
    url = f"{bench_agent.url}/v1/evidence"

    async def client_loop(client: httpx.AsyncClient, count: int) -> list[int]:
        statuses = []
        for _ in range(count):
            answer = await client.get(url, params={"nonce": secrets.token_hex(32)})
            statuses.append(answer.status_code)
        return statuses

    async def batch() -> list[int]:
        async with httpx.AsyncClient(timeout=120) as client:
            share = BATCH // clients
            results = await asyncio.gather(*(client_loop(client, share) for _ in range(clients)))
        return [s for statuses in results for s in statuses]

    benchmark.group = "agent-throughput"
    benchmark.extra_info["requests_per_batch"] = BATCH
    statuses = benchmark.pedantic(lambda: asyncio.run(batch()), rounds=3, iterations=1)
    assert statuses == [200] * BATCH
