"""scripts/guest/cairn-export-root with the real cairn-agent (simulated SEV-SNP provider).

The script prints exactly the PEM the agent exports, and nothing else, so that
``cairn-export-root > simulated-root.pem`` (the VM test, run-vm's xchg file) is a usable root
for ``cairn verify evidence --trust-simulated-root``. It relies on ``cairn-agent export-root -o -``
(stdout), which the agent gains on its own branch; until that is merged here, the one test that
needs it is marked as an expected failure, and only for exactly that symptom.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from guest_scripts import GUEST_SCRIPTS, run

from cairn_verifier.x509.cert import load_certificates

EXPORT_ROOT = GUEST_SCRIPTS / "cairn-export-root"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(
        '[tee]\nprovider = "simulated-snp"\n'
        "[tpm]\nenabled = false\n"
        f'[state]\ndirectory = "{tmp_path / "state"}"\n'
    )
    return path


def agent() -> str:
    found = shutil.which("cairn-agent")
    if found is None:
        pytest.fail("cairn-agent is not on PATH: run the tests through ./dev test")
    return found


def test_prints_exactly_the_agents_root(config: Path, tmp_path: Path) -> None:
    reference = tmp_path / "reference.pem"
    exported = run(agent(), "export-root", "--config", config, "-o", reference)
    assert exported.returncode == 0, exported.stderr
    done = run(EXPORT_ROOT, "--config", config, "--agent", agent(), "--user", "root", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == reference.read_text()
    assert len(load_certificates(done.stdout.encode())) == 1


def test_a_provider_without_a_root_fails_cleanly(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(f'[tee]\nprovider = "sev-guest"\n[state]\ndirectory = "{tmp_path}"\n')
    done = run(EXPORT_ROOT, "--config", config, "--agent", agent())
    assert done.returncode == 1
    assert done.stdout == ""
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("arguments", "code", "message"),
    [
        ([], 2, "--config is required"),
        (["--config"], 2, "--config needs a value"),
        (["--config", "/nonexistent/agent.toml"], 1, "cannot read the agent configuration"),
        (["--bogus"], 2, "unknown argument"),
    ],
)
def test_usage_errors(arguments: list[str], code: int, message: str) -> None:
    done = run(EXPORT_ROOT, *arguments)
    assert done.returncode == code
    assert message in done.stderr
    assert done.stdout == ""


def test_an_unknown_user_is_refused(config: Path) -> None:
    done = run(EXPORT_ROOT, "--config", config, "--agent", agent(), "--user", "no-such-user-x")
    assert done.returncode == 1
    assert "no such user" in done.stderr
