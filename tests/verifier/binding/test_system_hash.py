"""System hash and Nix store path validation (docs/spec/system-hash.md)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from cairn_verifier.binding.system_hash import (
    NIX_BASE32_ALPHABET,
    SYSTEM_HASH_DOMAIN,
    system_hash,
    validate_store_path,
)
from cairn_verifier.errors import ExitCode, MalformedInputError

VECTORS = Path(__file__).resolve().parents[3] / "docs" / "spec" / "vectors"
HASH = "pg2ycqg10v3drn6wdp8qciac5z5s7iqh"
SYSTEM = f"/nix/store/{HASH}-nixos-system-cairn-demo-24.11.20250115.a1b2c3d"


def test_domain_is_the_documented_sixteen_bytes() -> None:
    assert SYSTEM_HASH_DOMAIN == b"cairn/system/v1\x00"
    assert len(SYSTEM_HASH_DOMAIN) == 16


def test_system_hash_is_sha256_of_domain_and_path() -> None:
    expected = hashlib.sha256(b"cairn/system/v1\x00" + SYSTEM.encode()).digest()
    assert system_hash(SYSTEM) == expected
    assert len(system_hash(SYSTEM)) == 32


def test_system_hash_matches_the_realistic_report_data_vectors() -> None:
    doc = json.loads((VECTORS / "report-data-v1.json").read_text())
    realistic = [v for v in doc["vectors"] if "system_store_path" in v]
    assert len(realistic) >= 1
    for vector in realistic:
        assert system_hash(vector["system_store_path"]).hex() == vector["inputs"]["system_hash"]


def test_different_systems_hash_differently() -> None:
    other = SYSTEM.replace("a1b2c3d", "a1b2c3e")
    assert system_hash(other) != system_hash(SYSTEM)


@pytest.mark.parametrize(
    "name",
    [
        "nixos-system-host-24.11",
        "a",
        "source",
        "gtk+3-3.24.43",
        "x_y.z-1?=2",
        ".dotfile",  # leading periods are allowed by current Nix
        "..x",
        "n" * 211,
    ],
)
def test_valid_store_paths(name: str) -> None:
    path = f"/nix/store/{HASH}-{name}"
    assert validate_store_path(path) == path


@pytest.mark.parametrize(
    "path",
    [
        SYSTEM + "/",
        SYSTEM + "\n",
        SYSTEM + " ",
        SYSTEM + "/sw/bin/ls",
        "/run/current-system",
        "nix/store/" + SYSTEM.removeprefix("/nix/store/"),
        "/gnu/store/" + SYSTEM.removeprefix("/nix/store/"),
        f"/nix/store/{HASH[:31]}-nixos-system",
        f"/nix/store/{HASH}x-nixos-system",
        f"/nix/store/{HASH}",
        f"/nix/store/{HASH}-",
        f"/nix/store/{HASH.upper()}-nixos-system",
        f"/nix/store/{'e' * 32}-nixos-system",
        f"/nix/store/{'o' * 32}-nixos-system",
        f"/nix/store/{'t' * 32}-nixos-system",
        f"/nix/store/{'u' * 32}-nixos-system",
        f"/nix/store/{HASH}-{'n' * 212}",
        f"/nix/store/{HASH}-.",
        f"/nix/store/{HASH}-..",
        f"/nix/store/{HASH}-.-x",
        f"/nix/store/{HASH}-..-x",
        f"/nix/store/{HASH}-has space",
        f"/nix/store/{HASH}-caf\u00e9",
        f"/nix/store/{HASH}-a/b",
        "",
    ],
)
def test_invalid_store_paths_are_malformed_input(path: str) -> None:
    with pytest.raises(MalformedInputError) as caught:
        validate_store_path(path)
    assert caught.value.exit_code is ExitCode.MALFORMED_INPUT
    assert caught.value.component == "store-path"
    with pytest.raises(MalformedInputError):
        system_hash(path)


def test_non_string_store_path_is_malformed_input() -> None:
    with pytest.raises(MalformedInputError, match="must be a string"):
        validate_store_path(SYSTEM.encode())


@pytest.mark.parametrize(
    ("path", "hint_part"),
    [
        (SYSTEM + "\n", "trailing"),
        ("/run/current-system", "realpath"),
        (SYSTEM + "/etc", "not a path inside it"),
        (f"/nix/store/{'e' * 32}-x", "outside Nix base32"),
        (f"/nix/store/{HASH[:30]}-x", "exactly 32 characters"),
    ],
)
def test_errors_say_what_to_do(path: str, hint_part: str) -> None:
    with pytest.raises(MalformedInputError) as caught:
        validate_store_path(path)
    assert caught.value.hint is not None
    assert hint_part in caught.value.hint


def test_hash_part_accepts_exactly_the_nix_base32_alphabet() -> None:
    assert len(NIX_BASE32_ALPHABET) == 32
    assert not set("eotu") & set(NIX_BASE32_ALPHABET)
    for code in range(0x21, 0x7F):
        char = chr(code)
        path = f"/nix/store/{char * 32}-name"
        if char in NIX_BASE32_ALPHABET:
            assert validate_store_path(path) == path
        else:
            with pytest.raises(MalformedInputError):
                validate_store_path(path)
