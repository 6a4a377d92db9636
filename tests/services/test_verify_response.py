"""`cairn verify response` against real echo-service binaries: the services' --version, a real
signed response checked with a given key and with the key an agent's evidence attests, and
tampered responses (exit 2), a response to another request (exit 1), an unattested service."""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import httpx
import pytest
from echo_helpers import IO_TIMEOUT, REPO_ROOT, SERVICES, exchange, run_service
from fakes.agent_server import ServerThread, start_agent

from cairn_agent.app import make_app
from cairn_agent.swtpm import running_swtpm
from cairn_verifier import __version__
from cairn_verifier.cli.main import main


def _flip_hex_digit(line: str, field: int, index: int) -> str:
    """The response line with one hex digit of one field changed (still well-formed)."""
    fields = line.rstrip("\n").split(" ")
    digits = list(fields[field])
    digits[index] = "0" if digits[index] != "0" else "1"
    fields[field] = "".join(digits)
    return " ".join(fields) + "\n"


def _cairn_json(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> tuple[int, dict[str, object]]:
    capsys.readouterr()  # drop what earlier commands printed
    code = main([*args, "--json"])
    return code, json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("name", SERVICES)
def test_version_is_the_project_version(binaries: dict[str, Path], name: str) -> None:
    done = subprocess.run(
        [str(binaries[name]), "--version"], capture_output=True, timeout=IO_TIMEOUT, check=False
    )
    project = tomllib.loads((REPO_ROOT / "verifier" / "pyproject.toml").read_text())["project"]
    assert project["version"] == __version__
    assert (done.returncode, done.stdout, done.stderr) == (
        0,
        f"{name} {__version__}\n".encode(),
        b"",
    )


@pytest.mark.parametrize("name", SERVICES)
def test_a_real_response_with_the_services_key(
    binaries: dict[str, Path], tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with run_service(binaries[name], name, tmp_path / "state") as service:
        with service.connect() as conn:
            (raw,) = exchange(conn, b"req-1 hello\n", 1)
        key_file = service.public_key_file
    line = raw.decode()
    key = ["--public-key-file", str(key_file)]

    code, doc = _cairn_json(["verify", "response", line, *key], capsys)
    assert code == 0 and doc["verified"] is True
    assert [c["name"] for c in doc["checks"]] == ["response-signature"]  # type: ignore[index]
    assert doc["claims"]["response"]["payload_hex"] == b"hello".hex()  # type: ignore[index]
    assert any("not that the key belongs to an attested service" in w for w in doc["warnings"])  # type: ignore[union-attr]

    # It echoes what was sent; another request id or payload is a content mismatch.
    assert (
        main(["verify", "response", line, *key, "--request-id", "req-1", "--payload", "hello"]) == 0
    )
    assert (
        main(["verify", "response", line, *key, "--request-id", "req-1", "--payload", "hell"]) == 1
    )

    # Tampered payload, request id or signature: the signature no longer verifies.
    for tampered in (
        _flip_hex_digit(line, 2, 1),
        line.replace("OK req-1 ", "OK req-2 "),
        _flip_hex_digit(line, 3, 10),
    ):
        code, doc = _cairn_json(["verify", "response", tampered, *key], capsys)
        assert code == 2, tampered
        failed = [c for c in doc["checks"] if c["outcome"] == "fail"]  # type: ignore[union-attr]
        assert [c["name"] for c in failed] == ["response-signature"]

    # The fields instead of the line, and the key as hex.
    fields = line.split()
    hex_key = ["--public-key", key_file.read_text().strip()]
    given = ["--request-id", "req-1", "--payload", "hello", "--signature", fields[3]]
    assert main(["verify", "response", *given, *hex_key]) == 0
    given[3] = "hello!"
    assert main(["verify", "response", *given, *hex_key]) == 2
    capsys.readouterr()


def test_the_line_from_stdin_as_a_pipe_would_give_it(
    binaries: dict[str, Path], tmp_path: Path
) -> None:
    cairn = Path(sys.executable).with_name("cairn")
    assert cairn.is_file(), f"no cairn command beside {sys.executable}"
    with run_service(binaries["echo-cpp"], "echo-cpp", tmp_path / "state") as service:
        with service.connect() as conn:
            (raw,) = exchange(conn, b"p-1 piped payload\n", 1)
        key_file = service.public_key_file
    command = [str(cairn), "verify", "response", "-", "--public-key-file", str(key_file)]
    good = subprocess.run(command, input=raw, capture_output=True, timeout=60, check=False)
    assert good.returncode == 0, good.stdout + good.stderr
    assert b"Result: VERIFIED" in good.stdout
    bad = subprocess.run(
        command,
        input=raw.replace(b"OK p-1", b"OK p-2"),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2 and b"response-signature" in bad.stdout
    junk = subprocess.run(
        command, input=b"ERR busy\n", capture_output=True, timeout=60, check=False
    )
    assert junk.returncode == 10 and b"refused the request: busy" in junk.stderr


def test_the_key_comes_from_verified_evidence(
    binaries: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with run_service(binaries["echo-rust"], "echo-rust", tmp_path / "echo-rust-state") as service:
        with service.connect() as conn:
            (raw,) = exchange(conn, b"req-9 attested hello\n", 1)
        # The key file the agent's manifest names for echo-rust (tests/fakes/agent_server.py).
        shutil.copy(service.public_key_file, tmp_path / "echo-rust.pub")
    with running_swtpm(tmp_path / "swtpm") as swtpm:
        state, _ = start_agent(tmp_path, swtpm.tcti, "simulated-snp")
        assert state.self_check["status"] == "passed", state.self_check
        with ServerThread(make_app(state)) as url:
            nonce = secrets.token_bytes(32)
            evidence = tmp_path / "evidence.json"
            evidence.write_bytes(
                httpx.get(f"{url}/v1/evidence", params={"nonce": nonce.hex()}, timeout=60).content
            )
            root = tmp_path / "root.pem"
            state.source.provider.export_trust_root(root)  # type: ignore[attr-defined]

    line = raw.decode()
    attested = ["--evidence", str(evidence), "--nonce", nonce.hex(), "--offline"]
    attested += ["--trust-simulated-root", str(root)]

    code, doc = _cairn_json(
        ["verify", "response", line, *attested, "--service", "echo-rust"], capsys
    )
    assert code == 0, doc
    names = [c["name"] for c in doc["checks"]]  # type: ignore[union-attr]
    assert names[-2:] == ["response-service", "response-signature"]
    assert "tpm-quote-signature" in names and "service-tree" in names  # the evidence was verified
    assert doc["claims"]["response"]["service"] == "echo-rust"  # type: ignore[index]

    # Another attested service's key did not sign it; a tampered response fails too.
    assert main(["verify", "response", line, *attested, "--service", "echo-cpp"]) == 2
    tampered = _flip_hex_digit(line, 2, 0)
    assert main(["verify", "response", tampered, *attested, "--service", "echo-rust"]) == 2

    # A service the evidence does not attest: content mismatch, the signature is not checked.
    code, doc = _cairn_json(["verify", "response", line, *attested, "--service", "web"], capsys)
    assert code == 1
    outcomes = {c["name"]: c["outcome"] for c in doc["checks"]}  # type: ignore[union-attr]
    assert outcomes["response-service"] == "fail"
    assert outcomes["response-signature"] == "skipped"

    # Options that only make sense with evidence, or two key sources, are usage errors.
    key = ["--public-key-file", str(tmp_path / "echo-rust.pub")]
    assert main(["verify", "response", line, *key, "--nonce", nonce.hex()]) == 64
    assert main(["verify", "response", line, *key, *attested, "--service", "echo-rust"]) == 64
    assert main(["verify", "response", line, "--evidence", str(evidence)]) == 64
    capsys.readouterr()
