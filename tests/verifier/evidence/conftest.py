"""Bundles of a real agent (swtpm + simulated TEE, its root trusted explicitly), one per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fakes.agent_server import AgentBundle, agent_bundle


@pytest.fixture(scope="module")
def snp_agent_bundle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentBundle]:
    with agent_bundle(tmp_path_factory.mktemp("snp-agent"), "simulated-snp") as bundle:
        yield bundle


@pytest.fixture(scope="module")
def tdx_agent_bundle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentBundle]:
    with agent_bundle(tmp_path_factory.mktemp("tdx-agent"), "simulated-tdx") as bundle:
        yield bundle
