"""``cairn.luksTpm.keySource`` (nixos/modules/luks-tpm.nix), evaluated with the stub lib
(tests/nix/eval/lint.nix) for each source: the commands it writes are parsed by the real
``cairn-agent`` parser and accepted by the real ``cairn-state-init``, the units are ordered key
→ state-init → cryptsetup → forget, and ``tpm`` writes exactly what it wrote before key sources
existed. Not covered here: nixpkgs' module system and booting (docs/nix.md)."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
from nix_eval import EVAL_DIR, REPO_ROOT, evaluate_json

from cairn_agent.main import build_parser
from cairn_agent.tee.derived_key import FIELD_NAMES

STATE_INIT = REPO_ROOT / "scripts" / "guest" / "cairn-state-init"
KEY_FILE = "/run/cairn-state-key/key"


@pytest.fixture(scope="module")
def modules() -> dict[str, Any]:
    result: dict[str, Any] = evaluate_json(f"(import {EVAL_DIR}/lint.nix).modules")
    return result


def units(modules: dict[str, Any], scenario: str) -> dict[str, Any]:
    found: dict[str, Any] = modules[scenario]["definitions"]["systemd"]["services"]
    return found


def test_tpm_writes_what_it_always_wrote(modules: dict[str, Any]) -> None:
    defs = modules["luks-tpm-vm"]["definitions"]
    assert sorted(units(modules, "luks-tpm-vm")) == ["cairn-state-init", "cairn-state-mkfs"]
    init = units(modules, "luks-tpm-vm")["cairn-state-init"]
    assert shlex.split(init["serviceConfig"]["ExecStart"])[1:] == [
        "--device", "/dev/vdb", "--pcrs", "7", "--tpm2-device", "auto",
    ]  # fmt: skip
    assert init["requires"] == ["dev-vdb.device", "dev-tpmrm0.device"]
    assert defs["environment"]["etc"]["crypttab"]["text"] == (
        "cairn-state /dev/vdb - tpm2-device=auto,tpm2-measure-pcr=yes,headless=true,nofail\n"
    )
    assert defs["security"]["tpm2"]["enable"] is True


@pytest.mark.parametrize(
    ("scenario", "source"), [("luks-snp-derived", "snp-derived"), ("luks-broker", "broker")]
)
def test_key_sources_order_key_then_state_init_then_cryptsetup(
    modules: dict[str, Any], scenario: str, source: str, tmp_path: Path
) -> None:
    defs = modules[scenario]["definitions"]
    services = units(modules, scenario)
    key, init, forget = (
        services["cairn-state-key"],
        services["cairn-state-init"],
        services["cairn-state-key-forget"],
    )
    cryptsetup = init["requiredBy"][0]
    assert key["requiredBy"] == ["cairn-state-init.service"] and key["before"] == [
        "cairn-state-init.service"
    ]
    assert (
        "cairn-state-key.service" in init["requires"] and "cairn-state-key.service" in init["after"]
    )
    assert forget["after"] == [cryptsetup] and forget["wantedBy"] == [cryptsetup]
    assert shlex.split(forget["serviceConfig"]["ExecStart"])[1:] == ["-f", KEY_FILE]
    _mapper, _device, key_file, options = defs["environment"]["etc"]["crypttab"]["text"].split()
    assert (key_file, options) == (KEY_FILE, "luks,headless=true,nofail")
    assert defs["security"]["tpm2"]["enable"] is False
    config = key["serviceConfig"]
    assert (
        config["RuntimeDirectoryMode"],
        config["UMask"],
        config["RuntimeDirectoryPreserve"],
    ) == ("0700", "0077", "yes")
    # The agent's own parser accepts the command the module writes.
    command = shlex.split(config["ExecStart"])
    assert command[0].endswith("/bin/cairn-agent")
    args = build_parser().parse_args(command[1:])
    assert (args.source, str(args.output)) == (source, KEY_FILE)
    # cairn-state-init accepts its arguments: with a device that does not exist it gets past
    # the usage checks and stops there (exit 1, not 2).
    init_args = shlex.split(init["serviceConfig"]["ExecStart"])[1:]
    assert init_args[init_args.index("--key-source") + 1] == source
    assert init_args[init_args.index("--key-file") + 1] == KEY_FILE
    init_args[init_args.index("--device") + 1] = str(tmp_path / "no-such-device")
    done = subprocess.run(
        [str(STATE_INIT), *init_args], capture_output=True, text=True, check=False
    )
    assert done.returncode == 1 and "does not exist" in done.stderr, done.stderr


def test_the_broker_unit_retries_and_waits_for_the_network(modules: dict[str, Any]) -> None:
    key = units(modules, "luks-broker")["cairn-state-key"]
    assert key["wants"] == ["network-online.target"] and key["after"] == ["network-online.target"]
    assert (key["serviceConfig"]["Restart"], key["serviceConfig"]["RestartSec"]) == (
        "on-failure",
        "30s",
    )
    args = build_parser().parse_args(shlex.split(key["serviceConfig"]["ExecStart"])[1:])
    assert args.broker == "https://broker.example:8443"
    assert str(args.ca_file) == "/etc/cairn/broker-ca.pem"
    assert args.secret == ["echo-cpp-token=/run/cairn-secrets/echo-cpp-token"]
    assert key["serviceConfig"]["RuntimeDirectory"] == "cairn-state-key cairn-secrets"


def test_the_snp_derived_unit_names_the_agents_fields(modules: dict[str, Any]) -> None:
    key = units(modules, "luks-snp-derived")["cairn-state-key"]
    args = build_parser().parse_args(shlex.split(key["serviceConfig"]["ExecStart"])[1:])
    assert args.fields == "measurement,guest-policy" and args.root_key == "vcek"
    assert "Restart" not in key["serviceConfig"]  # the AMD-SP answers or it never will


def test_the_module_offers_exactly_the_agents_field_names() -> None:
    text = (REPO_ROOT / "nixos" / "modules" / "luks-tpm.nix").read_text()
    block = text[text.index("fields = lib.mkOption") : text.index("rootKey = lib.mkOption")]
    enum = block[block.index("lib.types.enum [") : block.index("]")]
    offered = re.findall(r'"([a-z-]+)"', enum)
    assert offered == list(FIELD_NAMES)
