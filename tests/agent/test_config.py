"""The agent's configuration is strict (no coercion, no unknown keys, `key: message` errors),
docs/agent.md's configuration example parses and shows the real defaults, and the services
manifest and system path fail with messages that say what is wrong and what is valid."""

from __future__ import annotations

import json
import os
import re
import tomllib
from pathlib import Path
from typing import get_args

import pytest

from cairn_agent.config import (
    AgentConfig,
    ConfigError,
    SimulatedProduct,
    load_config,
    parse_config,
)
from cairn_agent.inventory import Inventory, InventoryError
from cairn_agent.startup import open_provider

REPO_ROOT = Path(__file__).resolve().parents[2]
DOC = REPO_ROOT / "docs" / "agent.md"
DEFAULTS_MARKER = "<!-- agent-config-defaults -->"


def _problems(document: dict[str, object]) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        parse_config(document, source="agent.toml")
    lines = str(raised.value).splitlines()
    assert lines[0] == "agent.toml is invalid:"
    return [line.strip() for line in lines[1:]]


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"limits": {"self_check": "yes"}}, "limits.self_check: must be true or false"),
        ({"tpm": {"required": "false"}}, "tpm.required: must be true or false"),
        ({"tpm": {"enabled": 1}}, "tpm.enabled: must be true or false"),
        ({"listen": {"port": "8080"}}, "listen.port: must be an integer (unquoted), got '8080'"),
        ({"listen": {"port": 65536}}, "listen.port: Input should be less than or equal to 65535"),
        ({"limits": {"request_timeout_seconds": "30"}}, "limits.request_timeout_seconds: must"),
        ({"limits": {"max_request_bytes": 100}}, "limits.max_request_bytes: Input should be"),
        ({"tee": {"vmpl": True}}, "tee.vmpl: must be an integer"),
        ({"tee": {"provider": "simulated"}}, "tee.provider: Input should be 'auto'"),
        ({"system": {"path": 5}}, "system.path: must be a path (a quoted string), got 5"),
        ({"services": {"manifest": ""}}, "services.manifest: must be a path, not an empty string"),
        ({"tpm": {"tcti": 2321}}, "tpm.tcti: must be a string (quoted), got 2321"),
        ({"listen": {"host": "http://0.0.0.0"}}, "listen.host: host 'http://0.0.0.0' is not a"),
        ({"listen": {"host": 8080}}, "listen.host: must be a string (quoted), got 8080"),
        ({"tpm": "swtpm"}, "tpm: must be a table ([tpm]), got 'swtpm'"),
        ({"tpm": {"pcrs": [0, True]}}, "tpm.pcrs: PCR indexes must be integers, got True"),
        ({"tpm": {"pcrs": ["0"]}}, "tpm.pcrs: PCR indexes must be integers, got '0'"),
        ({"tpm": {"pcrs": [24]}}, "tpm.pcrs: PCR 24 does not exist: indexes are 0-23"),
        ({"tpm": {"pcrs": [-1]}}, "tpm.pcrs: PCR -1 does not exist"),
        ({"tpm": {"pcrs": [1, 1]}}, "tpm.pcrs: PCR 1 is selected twice"),
        ({"tpm": {"pcrs": []}}, "tpm.pcrs: select at least one PCR"),
        ({"tpm": {"pcrs": "0-9,x"}}, "tpm.pcrs: 'x' is not a PCR index or range"),
        ({"tpm": {"pcrs": "9-3"}}, "tpm.pcrs: range '9-3' runs backwards"),
        ({"tpm": {"pcrs": "0-9,5"}}, "tpm.pcrs: PCR 5 is selected twice"),
        ({"tpm": {"pcrs": 7}}, "tpm.pcrs: must be a list of PCR indexes"),
        (
            {"limits": {"bogus": 1}},
            "limits.bogus: unknown key; [limits] accepts max_queue, max_request_bytes, "
            "request_timeout_seconds, self_check",
        ),
        ({"tls": {}}, "tls: unknown key; the top level accepts gpu, limits, listen, services"),
    ],
)
def test_wrong_values_are_errors_naming_the_key(document: dict[str, object], expected: str) -> None:
    problems = _problems(document)
    assert len(problems) == 1, problems
    assert problems[0].startswith(expected), problems


def test_every_problem_is_listed_at_once() -> None:
    problems = _problems({"listen": {"port": "x"}, "limits": {"self_check": "on", "x": 1}})
    assert [p.split(":")[0] for p in problems] == [
        "listen.port",
        "limits.self_check",
        "limits.x",
    ]


def test_pcr_selections() -> None:
    parsed = parse_config({"tpm": {"pcrs": "0-9,11,12,14"}}).tpm.pcrs
    assert parsed == (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 14)
    assert parse_config({"tpm": {"pcrs": [16, 0, 7]}}).tpm.pcrs == (0, 7, 16)
    assert parse_config({"tpm": {"pcrs": " 23 "}}).tpm.pcrs == (23,)


def test_the_documented_configuration_is_the_real_default() -> None:
    text = DOC.read_text(encoding="utf-8")
    block = text.split(DEFAULTS_MARKER, 1)[1].split("```toml\n", 1)[1].split("```", 1)[0]
    assert parse_config(tomllib.loads(block)) == AgentConfig()
    # "the complete file with every default": every key of every section is written out
    uncommented_keys = tomllib.loads(re.sub(r"^# (\w+ = )", r"\1", block, flags=re.MULTILINE))
    for section, model in AgentConfig().model_dump().items():
        assert set(uncommented_keys[section]) == set(model), section
    # the commented-out alternatives in it parse too
    uncommented = re.sub(r"^# (\w+ = )", r"\1", block, flags=re.MULTILINE)
    uncommented = uncommented.replace(
        "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 14]", '"0-9,11,12,14"'
    )
    config = parse_config(tomllib.loads(uncommented))
    assert config.tpm.tcti == "swtpm:port=2321"
    assert config.tpm.pcrs == AgentConfig().tpm.pcrs


def test_every_toml_block_in_the_doc_parses() -> None:
    blocks = re.findall(r"```toml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    assert blocks
    for block in blocks:
        parse_config(tomllib.loads(block))


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "does not exist"),
        (b"[tpm\n", "is not valid TOML"),
        (b"\xff\xfe", "is not UTF-8 text"),
        (b"x = [" * 50_000, "is not valid TOML|nested too deeply"),
        (b"# " + b"a" * (1 << 20) + b"\n", "is larger than"),
    ],
    ids=["missing", "toml", "utf8", "deep", "huge"],
)
def test_unreadable_files_are_config_errors(
    tmp_path: Path, content: bytes | None, expected: str
) -> None:
    path = tmp_path / "agent.toml"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ConfigError, match=expected):
        load_config(path)


# --- what the configuration points at ---------------------------------------------------------

SYSTEM = "/nix/store/0c1i4g9kq7bhm8lcjj8h4pyf1r6b6nh9-nixos-system-host-25.11"


def _inventory(tmp_path: Path, target: str | None, manifest: object = None) -> Inventory:
    link = tmp_path / "current-system"
    if target is not None:
        link.symlink_to(target)
    path = None
    if manifest is not None:
        path = tmp_path / "services.json"
        path.write_text(manifest if isinstance(manifest, str) else json.dumps(manifest))
    return Inventory(link, path)


def test_a_missing_system_link_says_so(tmp_path: Path) -> None:
    with pytest.raises(InventoryError) as raised:
        _inventory(tmp_path, None).current()
    message = str(raised.value)
    assert f"system.path {tmp_path / 'current-system'} does not exist" in message
    assert "init-demo" in message


def test_a_bad_store_hash_names_the_character_and_the_shape(tmp_path: Path) -> None:
    with pytest.raises(InventoryError) as raised:
        _inventory(tmp_path, "/nix/store/" + "e" * 32 + "-nixos-system").current()
    message = str(raised.value)
    assert "system.path" in message and "outside Nix base32: 'e'" in message
    assert "without e, o, t, u" in message and "e.g. /nix/store/" in message


KEY = "02" + "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"


@pytest.mark.parametrize(
    ("manifest", "expected"),
    [
        ("{", "is not JSON"),
        ({"services": [{"name": "a", "store_path": 3, "public_key_file": "k"}]}, "store_path"),
        ({"services": [{"name": "a", "store_path": "/x", "public_key_file": "k", "x": 1}]}, "x"),
        ({"services": "a"}, "services"),
        ({}, "services: Field required"),
        ("[" * 100_000, "is not JSON"),
    ],
    ids=["json", "type", "unknown", "list", "missing", "deep"],
)
def test_manifest_errors_name_the_entry(tmp_path: Path, manifest: object, expected: str) -> None:
    with pytest.raises(InventoryError) as raised:
        _inventory(tmp_path, SYSTEM, manifest).current()
    message = str(raised.value)
    assert message.startswith(f"services.manifest {tmp_path / 'services.json'}")
    assert expected in message


def test_a_missing_key_file_names_the_service(tmp_path: Path) -> None:
    key_file = tmp_path / "echo-cpp.pub"
    manifest = {
        "services": [
            {"name": "echo-cpp", "store_path": SYSTEM, "public_key_file": str(key_file)},
        ]
    }
    with pytest.raises(InventoryError) as raised:
        _inventory(tmp_path, SYSTEM, manifest).current()
    assert f"service 'echo-cpp': public_key_file {key_file} does not exist" in str(raised.value)
    key_file.write_text("02zz\n")
    with pytest.raises(InventoryError, match="66 or 130 hex digits"):
        Inventory(tmp_path / "current-system", tmp_path / "services.json").current()
    key_file.write_text(KEY + "\n")
    snapshot = Inventory(tmp_path / "current-system", tmp_path / "services.json").current()
    assert snapshot.services[0].public_key.hex() == KEY


def _two_services(tmp_path: Path) -> tuple[Inventory, Path]:
    """An inventory over a manifest naming two key files (``a.pub``, ``b.pub``)."""
    for name in ("a", "b"):
        (tmp_path / f"{name}.pub").write_text(KEY + "\n")
    manifest = {
        "services": [
            {"name": name, "store_path": SYSTEM, "public_key_file": str(tmp_path / f"{name}.pub")}
            for name in ("a", "b")
        ]
    }
    return _inventory(tmp_path, SYSTEM, manifest), tmp_path / "services.json"


def test_an_unchanged_manifest_is_read_once_and_its_key_files_still_watched(
    tmp_path: Path,
) -> None:
    inventory, _ = _two_services(tmp_path)
    first = inventory.current()
    for _ in range(5):
        assert inventory.current() is first
    assert inventory.manifest_reads == 1 and inventory.rebuilds == 1
    other = "03" + KEY[2:]
    (tmp_path / "b.pub").write_text(other + "\n")
    os.utime(tmp_path / "b.pub", ns=(1, 10**18))  # make the change visible at once
    changed = inventory.current()
    assert [s.public_key.hex() for s in changed.services] == [KEY, other]
    assert inventory.manifest_reads == 1 and inventory.rebuilds == 2


def test_a_manifest_replaced_with_the_same_size_and_time_is_read_again(tmp_path: Path) -> None:
    """Replaced by a rename (as the NixOS module's activation writes files), with the same
    size and modification time, naming other key files: the new files are watched."""
    inventory, manifest = _two_services(tmp_path)
    assert [s.name for s in inventory.current().services] == ["a", "b"]
    (tmp_path / "c.pub").write_text(KEY + "\n")
    replacement = tmp_path / "services.json.new"
    replacement.write_text(manifest.read_text().replace("b.pub", "c.pub"))
    before = manifest.stat()
    os.utime(replacement, ns=(before.st_atime_ns, before.st_mtime_ns))
    replacement.replace(manifest)
    assert manifest.stat().st_size == before.st_size
    assert manifest.stat().st_mtime_ns == before.st_mtime_ns
    inventory.current()
    assert inventory.manifest_reads == 2
    (tmp_path / "c.pub").write_text("03" + KEY[2:] + "\n")
    os.utime(tmp_path / "c.pub", ns=(1, 10**18))
    assert inventory.current().services[1].public_key.hex() == "03" + KEY[2:]


def test_a_simulated_turin_is_refused_with_the_reason() -> None:
    [problem] = _problems({"tee": {"provider": "simulated-snp", "simulated_product": "Turin"}})
    assert problem.startswith("tee.simulated_product: must be Milan or Genoa")
    assert "not Turin" in problem and "cairn verify snp" in problem


@pytest.mark.parametrize("product", get_args(SimulatedProduct))
def test_every_simulated_product_the_configuration_accepts_starts(
    tmp_path: Path, product: str
) -> None:
    """What the configuration (and so the NixOS module) accepts, the simulator builds."""
    config = parse_config(
        {
            "tee": {"provider": "simulated-snp", "simulated_product": product},
            "state": {"directory": str(tmp_path)},
        }
    )
    provider = open_provider(config)
    evidence = provider.get_evidence(bytes(range(64)))
    assert evidence.kind == "sev-snp-simulated"
    assert product in provider.describe()


@pytest.mark.parametrize(
    ("tcti", "reason"),
    [
        ("swtpm:host=127.0.0.1,port=abc", "port 'abc' is not a TCP port"),
        ("swtpm:port=0", "port '0' is not a TCP port"),
        ("swtpm:port=65536", "port '65536' is not a TCP port"),
        ("swtpm:port2321", "'port2321' is not key=value"),
        ("swtpm:port=2321,port=2322", "port is given twice"),
        ("swtpm:hots=localhost", "unknown key 'hots'"),
        ("swtpm:host=bad_host!", "host 'bad_host!' is not a host name"),
        ("swtpm:path=relative.sock", "path 'relative.sock' is not an absolute path"),
        ("swtpm:path=/run/s.sock,port=1", "path (a UNIX socket) excludes host and port"),
        ("swtpm:", "nothing after ':'"),
        ("mssim:path=/run/s.sock", "unknown key 'path'"),
        ("device:dev/tpmrm0", "is not an absolute path"),
        ("/dev/tpmrm0", "unknown TCTI '/dev/tpmrm0'"),
        ("swtmp:port=2321", "unknown TCTI 'swtmp'"),
        ("tabrmd:bus_type=user", "bus_type 'user' is not 'system' or 'session'"),
        ("swtpm: port=2321", "contains spaces"),
    ],
)
def test_a_malformed_tcti_is_a_configuration_error(tcti: str, reason: str) -> None:
    [problem] = _problems({"tpm": {"tcti": tcti}})
    assert problem.startswith(f"tpm.tcti: {tcti!r} is not a valid TCTI: "), problem
    assert reason in problem, problem


@pytest.mark.parametrize(
    "tcti",
    [
        "device",
        "device:/dev/tpmrm0",
        "device:/dev/tpm0",
        "swtpm",
        "swtpm:port=2321",
        "swtpm:host=localhost,port=2321",
        "swtpm:port=2321,host=10.0.0.2",
        "swtpm:host=::1,port=2321",
        "swtpm:path=/run/swtpm/sock",
        "mssim:host=tpm.example.,port=2321",
        "tabrmd",
        "tabrmd:bus_name=com.intel.tss2.Tabrmd,bus_type=session",
    ],
)
def test_the_documented_tcti_forms_load(tcti: str) -> None:
    assert parse_config({"tpm": {"tcti": tcti}}).tpm.tcti == tcti
