"""Fixtures: a real agent (swtpm + simulated TEE + aiohttp on a loopback port) per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes.agent_server import RunningAgent, ServerThread, start_agent

from cairn_agent.app import make_app
from cairn_agent.swtpm import running_swtpm


@pytest.fixture(params=["simulated-snp", "simulated-tdx"])
def agent(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunningAgent]:
    """A fresh swtpm and agent (simulated SNP, then TDX) per test, served over loopback HTTP."""
    with running_swtpm(tmp_path / "swtpm") as swtpm:
        state, config = start_agent(tmp_path, swtpm.tcti, request.param)
        assert state.self_check["status"] == "passed", state.self_check
        with ServerThread(make_app(state)) as url:
            assert config.services.manifest is not None
            yield RunningAgent(url, state, tmp_path, swtpm.tcti, config.services.manifest, config)
