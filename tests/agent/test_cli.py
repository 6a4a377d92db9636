"""``cairn-agent``'s command line: help on every option, --log-level anywhere, documented exit
codes (0, 64, 69, 70, 78) and one-line errors without tracebacks; export-root to a file or
stdout without overwriting; init-demo writes a setup the agent and the echo services accept."""

from __future__ import annotations

import argparse
import os
import re
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

import cairn_agent.main as agent_main
from cairn_agent.config import load_config
from cairn_agent.demo import DemoPorts, init_demo
from cairn_agent.errors import ExitCode, StartupError
from cairn_agent.inventory import Inventory
from cairn_agent.main import build_parser, main
from cairn_agent.startup import build_state
from cairn_agent.swtpm import free_port_pair, running_swtpm, wait_for_port
from cairn_verifier.checks import Outcome
from cairn_verifier.errors import ExitCode as VerifierExit
from cairn_verifier.evidence.verify import EvidenceVerifyRequest, verify_evidence
from cairn_verifier.x509.cert import load_certificates

HANG_GUARD_SECONDS = 120  # only so a regression fails instead of hanging


def _all_parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _all_parsers(sub)


def test_every_option_and_command_has_help() -> None:
    for parser in _all_parsers(build_parser()):
        assert parser.description, parser.prog
        for action in parser._actions:
            assert action.help and action.help != argparse.SUPPRESS, (parser.prog, action.dest)


def test_help_lists_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--help"], ["serve", "--help"], ["export-root", "--help"]):
        assert main(argv) == 0
        out = capsys.readouterr().out
        for code in ("64", "69", "70", "78"):
            assert f"\n  {code}  " in out, (argv, code)


def test_completion_script_completes_the_agents_commands(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["completion", "bash"]) == ExitCode.OK
    script = tmp_path / "cairn-agent.bash"
    script.write_text(capsys.readouterr().out)
    program = f"""source {script}
COMP_WORDS=(cairn-agent "$WORD"); COMP_CWORD=1; _cairn_agent
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    done = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", program],
        env={"WORD": "", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert {"serve", "export-root", "init-demo", "completion"} <= set(done.stdout.split())
    assert main(["completion", "tcsh"]) == ExitCode.USAGE


def test_log_level_goes_before_or_after_the_command() -> None:
    parser = build_parser()
    after = parser.parse_args(["serve", "--config", "a.toml", "--log-level", "debug"])
    before = parser.parse_args(["--log-level", "WARNING", "serve", "--config", "a.toml"])
    assert (after.log_level, before.log_level) == ("DEBUG", "WARNING")


def test_without_a_command_it_prints_help_and_exits_64(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert "usage: cairn-agent" in err and "a command is required" in err
    assert "serve" in err and "init-demo" in err


@pytest.mark.parametrize(
    "argv",
    [["serve"], ["frobnicate"], ["serve", "--config"], ["init-demo", "d", "--port", "http"]],
)
def test_usage_errors_exit_64(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == ExitCode.USAGE
    assert "usage:" in capsys.readouterr().err


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(text)
    return path


def test_a_config_error_exits_78_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, '[limits]\nself_check = "yes"\n')
    assert main(["serve", "--config", str(config)]) == ExitCode.CONFIG
    err = capsys.readouterr().err
    assert "limits.self_check: must be true or false" in err
    assert "Traceback" not in err
    assert main(["serve", "--config", str(tmp_path / "nope.toml")]) == ExitCode.CONFIG
    assert "does not exist" in capsys.readouterr().err


def test_a_missing_tee_device_exits_69(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    device = tmp_path / "sev-guest"
    config = _config(tmp_path, f'[tee]\nprovider = "sev-guest"\nsev_guest_device = "{device}"\n')
    assert main(["serve", "--config", str(config)]) == ExitCode.UNAVAILABLE
    err = capsys.readouterr().err
    assert f"{device} (tee.sev_guest_device) does not exist" in err and "Traceback" not in err


def _demo(tmp_path: Path, tpm_port: int = 2321, agent_port: int = 8080) -> Path:
    directory = tmp_path / "demo"
    init_demo(directory, ports=DemoPorts(agent=agent_port, tpm=tpm_port))
    return directory


def _run_agent(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``cairn-agent`` as a separate process (tpm2-tss prints from C, straight to fd 2)."""
    return subprocess.run(
        [sys.executable, "-m", "cairn_agent.main", *argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_SECONDS,
        check=False,
    )


def test_no_tpm_exits_69_with_the_swtpm_command(tmp_path: Path) -> None:
    port = free_port_pair()  # nothing listens there
    demo = _demo(tmp_path, tpm_port=port)
    done = _run_agent("serve", "--config", str(demo / "agent.toml"), cwd=tmp_path)
    assert done.returncode == ExitCode.UNAVAILABLE, done.stderr
    assert f"no TPM at swtpm:port={port}" in done.stderr
    assert f"swtpm socket --tpm2 --server type=tcp,port={port} " in done.stderr
    assert "or set tpm.required = false" in done.stderr
    assert "ERROR:tcti" not in done.stderr and "WARNING:tcti" not in done.stderr
    assert "Traceback" not in done.stderr


def test_a_malformed_tcti_exits_78_and_an_unreachable_one_69(tmp_path: Path) -> None:
    """The TCTI's syntax is configuration (78, checked at load); whether a TPM answers at a
    well-formed one is availability (69, the test above)."""
    demo = _demo(tmp_path, tpm_port=free_port_pair())
    config = demo / "agent.toml"
    text = config.read_text()
    config.write_text(re.sub(r'tcti = "[^"]*"', 'tcti = "swtpm:host=127.0.0.1,port=abc"', text))
    done = _run_agent("serve", "--config", str(config), cwd=tmp_path)
    assert done.returncode == ExitCode.CONFIG, done.stderr
    assert "tpm.tcti: 'swtpm:host=127.0.0.1,port=abc' is not a valid TCTI" in done.stderr
    assert "port 'abc' is not a TCP port" in done.stderr
    assert "Traceback" not in done.stderr and "no TPM at" not in done.stderr


def test_an_optional_tpm_may_be_missing(tmp_path: Path) -> None:
    demo = _demo(tmp_path, tpm_port=free_port_pair())
    config = demo / "agent.toml"
    config.write_text(config.read_text().replace("[tpm]\n", "[tpm]\nrequired = false\n"))
    state = agent_main.build_state(load_config(config))
    assert state.source.tpm is None and state.self_check["status"] == "passed"
    assert "no TPM: the evidence carries no TPM quote" in state.self_check["warnings"]


def test_serve_answers_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    with running_swtpm(tmp_path / "tpm") as swtpm:
        port = free_port_pair()
        demo = _demo(tmp_path, tpm_port=swtpm.port, agent_port=port)
        agent = subprocess.Popen(
            [sys.executable, "-m", "cairn_agent.main", "serve", "--config", f"{demo}/agent.toml"],
            cwd=tmp_path,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert wait_for_port(port, agent, HANG_GUARD_SECONDS), "the agent did not listen"
            health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=HANG_GUARD_SECONDS)
            assert health.status_code == 200 and health.headers["server"] == "cairn-agent"
            busy = _run_agent("serve", "--config", f"{demo}/agent.toml", cwd=tmp_path)
            assert busy.returncode == ExitCode.UNAVAILABLE, busy.stderr
            assert f"cannot listen on 127.0.0.1:{port}" in busy.stderr
        finally:
            agent.send_signal(signal.SIGTERM)
            _, err = agent.communicate(timeout=HANG_GUARD_SECONDS)
        assert agent.returncode == 0, err
        assert f"listening on 127.0.0.1:{port}" in err and "cairn-agent stopped" in err


def test_export_root_to_a_file_stdout_and_never_over_a_file(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _demo(tmp_path) / "agent.toml"
    target = tmp_path / "root.pem"
    assert main(["export-root", "--config", str(config), "-o", str(target)]) == 0
    written = target.read_bytes()
    assert len(load_certificates(written)) == 1
    capsysbinary.readouterr()
    assert main(["export-root", "--config", str(config), "-o", "-"]) == 0
    out, err = capsysbinary.readouterr()
    assert out == written and b"standard output" in err
    target.write_bytes(b"keep me")
    assert main(["export-root", "--config", str(config), "-o", str(target)]) == ExitCode.USAGE
    err = capsysbinary.readouterr().err
    assert b"already exists: refusing to overwrite" in err and b"Traceback" not in err
    assert target.read_bytes() == b"keep me"
    monkeypatch.chdir(tmp_path)
    assert main(["export-root", "--config", str(config), "-o", "./-"]) == 0
    assert (tmp_path / "-").read_bytes() == written and capsysbinary.readouterr().out == b""
    missing_dir = tmp_path / "no" / "root.pem"
    assert main(["export-root", "--config", str(config), "-o", str(missing_dir)]) == 64
    assert b"cannot write" in capsysbinary.readouterr().err


def test_export_root_of_a_real_provider_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, '[tee]\nprovider = "auto"\n')
    assert main(["export-root", "--config", str(config), "-o", "-"]) == ExitCode.USAGE
    assert "only a simulated provider" in capsys.readouterr().err


def test_a_bug_exits_70(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(_: object) -> int:
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(agent_main, "_init_demo", broken)
    assert main(["init-demo", str(tmp_path / "d")]) == ExitCode.INTERNAL
    err = capsys.readouterr().err
    assert "internal error (a bug in cairn-agent" in err and "ZeroDivisionError: boom" in err
    assert "Traceback" not in err


def test_init_demo_writes_a_setup_the_agent_and_the_services_accept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    demo = tmp_path / "demo"
    assert main(["init-demo", str(demo), "--tee", "tdx", "--port", "18080"]) == 0
    steps = capsys.readouterr().out
    assert f"--tpmstate dir={demo.resolve()}/tpm --daemon" in steps
    config = load_config(demo / "agent.toml")
    assert config.tee.provider == "simulated-tdx" and config.listen.port == 18080
    assert config.tpm.tcti == "swtpm:port=2321"
    snapshot = Inventory(config.system.path, config.services.manifest).current()
    assert snapshot.system_store_path.endswith("-nixos-system-cairn-demo-25.11")
    assert [s.name for s in snapshot.services] == ["echo-cpp", "echo-rust"]
    for service in snapshot.services:
        key_file = demo / service.name / "signing.key"
        assert os.stat(key_file).st_mode & 0o777 == 0o600
        assert os.stat(demo / service.name).st_mode & 0o777 == 0o700
        secret = int.from_bytes(key_file.read_bytes(), "big")
        public = ec.derive_private_key(secret, ec.SECP256K1()).public_key()
        assert service.public_key == public.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
        )
        assert (demo / f"{service.name}.pub").read_text() == service.public_key.hex() + "\n"
    before = sorted(p.name for p in demo.iterdir())
    assert main(["init-demo", str(demo)]) == ExitCode.USAGE
    assert "is not empty: refusing to overwrite" in capsys.readouterr().err
    assert sorted(p.name for p in demo.iterdir()) == before


@pytest.mark.parametrize(("tee", "platform"), [("azure-snp", "sev-snp"), ("azure-tdx", "tdx")])
def test_init_demo_azure_runs_the_simulated_paravisor(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tee: str, platform: str
) -> None:
    """``init-demo --tee azure-*``: the agent of that setup (on a swtpm) serves Azure-kind
    evidence that verifies under the root it exports, and only there."""
    demo = tmp_path / "demo"
    assert main(["init-demo", str(demo), "--tee", tee]) == 0
    capsys.readouterr()
    config = load_config(demo / "agent.toml")
    assert (config.tee.provider, config.tee.simulated_platform) == ("simulated-azure", platform)
    nonce = secrets.token_bytes(32)
    with running_swtpm(tmp_path / "swtpm") as swtpm:
        tpm = config.tpm.model_copy(update={"tcti": swtpm.tcti})
        state = build_state(config.model_copy(update={"tpm": tpm}))
        assert state.self_check["status"] == "passed", state.self_check
        bundle = state.source.collect(nonce, state.inventory.current())
        root = tmp_path / "root.pem"
        assert main(["export-root", "--config", str(demo / "agent.toml"), "-o", str(root)]) == 0
    roots = tuple(load_certificates(root.read_bytes()))
    kind = f"azure-{'tdx' if platform == 'tdx' else 'sev-snp'}-vtpm-simulated"
    assert bundle.tee.kind == kind
    now = datetime.now(UTC)
    trusted = verify_evidence(
        bundle, EvidenceVerifyRequest(nonce=nonce, at=now, simulated_roots=roots)
    )
    assert trusted.ok, [c for c in trusted.checks if c.outcome is Outcome.FAIL]
    untrusted = verify_evidence(bundle, EvidenceVerifyRequest(nonce=nonce, at=now))
    assert untrusted.exit_code == VerifierExit.CHAIN_UNTRUSTED


def test_init_demo_refuses_an_unknown_tee_before_writing(tmp_path: Path) -> None:
    with pytest.raises(StartupError) as raised:
        init_demo(tmp_path / "demo", tee="sgx")
    assert raised.value.code == ExitCode.USAGE and "azure-tdx" in str(raised.value)
    assert not (tmp_path / "demo").exists()
