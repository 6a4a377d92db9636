"""scripts/guest/cairn-gpu-check against the real cairn-agent (swtpm, simulated SEV-SNP, two
simulated H100s) serving its real /healthz: the CUDA sample runs only after the agent's
self-check passed, and its failure fails the check. The CUDA sample itself is a stand-in script
(exits 0 or not): no GPU here, and the real sample (nixos/pkgs/cuda-sample) has never run."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fakes.agent_server import ServerThread, start_agent
from guest_scripts import GUEST_SCRIPTS, require_tools, run

from cairn_agent.app import AgentState, make_app
from cairn_agent.swtpm import running_swtpm

GPU_CHECK = GUEST_SCRIPTS / "cairn-gpu-check"


@dataclass(frozen=True)
class Agent:
    url: str
    state: AgentState


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    require_tools("curl", "jq")
    workdir = tmp_path_factory.mktemp("gpu-check-agent")
    with running_swtpm(workdir / "swtpm") as swtpm:
        state, _ = start_agent(
            workdir, swtpm.tcti, "simulated-snp", {"provider": "simulated", "simulated_count": 2}
        )
        assert state.self_check["status"] == "passed", state.self_check
        with ServerThread(make_app(state)) as url:
            yield Agent(url, state)


@pytest.fixture
def self_check(agent: Agent) -> Iterator[AgentState]:
    """The agent's state, its self-check restored after the test changed it."""
    saved = dict(agent.state.self_check)
    yield agent.state
    agent.state.self_check = saved


def sample(tmp_path: Path, status: int) -> tuple[Path, Path]:
    """A stand-in CUDA sample that records that it ran (and its arguments) and exits ``status``."""
    marker = tmp_path / "sample-ran"
    script = tmp_path / "cuda-sample"
    script.write_text(f'#!/bin/sh\necho "$@" > {marker}\necho sample output\nexit {status}\n')
    script.chmod(0o755)
    return script, marker


def test_runs_the_sample_after_a_passed_self_check(agent: Agent, tmp_path: Path) -> None:
    script, marker = sample(tmp_path, 0)
    done = run(GPU_CHECK, "--agent", agent.url, "--", script, "--size", "1024")
    assert done.returncode == 0, done.stderr
    assert marker.read_text() == "--size 1024\n"
    assert "sample output" in done.stderr and done.stdout == ""
    assert "the CUDA sample passed on the attested GPUs" in done.stderr


def test_a_failing_sample_fails_the_check(agent: Agent, tmp_path: Path) -> None:
    script, marker = sample(tmp_path, 3)
    done = run(GPU_CHECK, "--agent", agent.url, "--", script)
    assert done.returncode == 1
    assert marker.exists()
    assert f"the CUDA sample {script} failed (exit 3)" in done.stderr


@pytest.mark.parametrize(
    ("state", "message"),
    [
        (
            {"status": "failed", "reason": "the agent's own evidence fails check 'fwid' on GPU 1"},
            "self-check failed, so the GPUs are not attested; not running the CUDA sample: "
            "the agent's own evidence fails check 'fwid' on GPU 1",
        ),
        ({"status": "disabled"}, "self-check is disabled"),
    ],
)
def test_the_sample_never_runs_unless_the_self_check_passed(
    self_check: AgentState, agent: Agent, tmp_path: Path, state: dict[str, str], message: str
) -> None:
    self_check.self_check = state
    script, marker = sample(tmp_path, 0)
    done = run(GPU_CHECK, "--agent", agent.url, "--", script)
    assert done.returncode == 1
    assert message in done.stderr
    assert not marker.exists()


def test_no_agent_within_the_timeout_fails(tmp_path: Path) -> None:
    require_tools("curl", "jq")
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    script, marker = sample(tmp_path, 0)
    done = run(GPU_CHECK, "--agent", f"http://127.0.0.1:{port}", "--timeout", "0", "--", script)
    assert done.returncode == 1
    assert "did not answer /healthz within 0s" in done.stderr
    assert not marker.exists()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ([], "--agent URL is required"),
        (["--agent"], "--agent needs a value"),
        (["--agent", "127.0.0.1:8080", "--", "true"], "--agent must be an http(s) URL"),
        (["--agent", "http://x", "--timeout", "5m", "--", "true"], "--timeout must be whole"),
        (["--agent", "http://x", "--interval", "0", "--", "true"], "--interval must be whole"),
        (["--agent", "http://x"], "no CUDA sample to run"),
        (["--bogus"], "unknown argument"),
    ],
)
def test_usage_errors(arguments: list[str], message: str) -> None:
    done = run(GPU_CHECK, *arguments)
    assert done.returncode == 2
    assert message in done.stderr
