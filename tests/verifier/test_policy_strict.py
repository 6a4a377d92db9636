"""Policies are strict (issue 11 item 7): nothing is coerced, PCR pins name real banks, indexes
and digest sizes, and errors say ``section.key: problem`` (docs/policy.md, "File format")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cairn_verifier.cli.main import main
from cairn_verifier.errors import PolicyFileError
from cairn_verifier.policy_document import load_policy

REPO = Path(__file__).resolve().parents[2]
MILAN = REPO / "examples" / "snp" / "milan-v3-oak-containers"
SHA256_ZERO = '"' + "00" * 32 + '"'


def _load(tmp_path: Path, text: str, name: str = "policy.toml") -> object:
    path = tmp_path / name
    path.write_text(text)
    return load_policy(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[snp]\nallow_debug = "yes"', "snp.allow_debug: Input should be a valid boolean"),
        ('[snp]\nallow_debug = "on"', "snp.allow_debug: Input should be a valid boolean"),
        ('[snp]\nallow_debug = "true"', "snp.allow_debug: Input should be a valid boolean"),
        ("[snp]\nallow_debug = 1", "snp.allow_debug: Input should be a valid boolean"),
        ('[snp]\nallow_smt = "false"', "snp.allow_smt: Input should be a valid boolean"),
        ("[snp]\nrequire_crl = 0", "snp.require_crl: Input should be a valid boolean"),
        ('[tdx]\nallow_debug = "yes"', "tdx.allow_debug: Input should be a valid boolean"),
        ('[tdx]\nrequire_sept_ve_disable = "no"', "tdx.require_sept_ve_disable: Input should"),
        (
            '[evidence]\nrequire_tpm = "false"',
            "evidence.require_tpm: Input should be a valid boolean",
        ),
        ("[evidence]\nallow_unlisted_services = 1", "evidence.allow_unlisted_services: Input"),
        ('[snp.minimum_tcb]\nsnp = "5"', "snp.minimum_tcb.snp: Input should be a valid integer"),
        ("[snp.minimum_tcb]\nsnp = 5.0", "snp.minimum_tcb.snp: Input should be a valid integer"),
        ("[snp.minimum_tcb]\nsnp = true", "snp.minimum_tcb.snp: Input should be a valid integer"),
        ("[snp.minimum_tcb]\nsnp = 256", "snp.minimum_tcb.snp: Input should be less than or equal"),
        ("[snp]\nallowed_vmpls = [true]", "snp.allowed_vmpls.0: Input should be a valid integer"),
        ('[snp]\nallowed_vmpls = ["0"]', "snp.allowed_vmpls.0: Input should be a valid integer"),
        ("[snp]\nminimum_guest_svn = 4294967296", "snp.minimum_guest_svn: Input should be less"),
        ('[snp]\nminimum_guest_svn = "1"', "snp.minimum_guest_svn: Input should be a valid int"),
        ('[snp]\nminimum_abi = "1.x"', "snp.minimum_abi: Value error, minimum_abi must look"),
        ("[snp]\nminimum_abi = [1, 256]", "snp.minimum_abi.1: Input should be less than or equal"),
        ('[snp]\nallowed_products = ["Rome"]', "snp.allowed_products: Value error, unknown AMD"),
        ("[snp]\nallowed_products = [1]", "snp.allowed_products: Value error, allowed_products"),
        ("[tdx]\nallowed_advisories = [837]", "tdx.allowed_advisories.0: Input should be a valid"),
        ("[evidence]\nsystem_store_paths = [1]", "evidence.system_store_paths.0: Input should"),
        ("[evidence]\nrequired_services = [true]", "evidence.required_services.0: Input should"),
        ('[evidence.services.a]\npublic_keys = [""]', "evidence.services.a.public_keys.0: Value"),
        ('[evidence.pcrs.md5]\n7 = "00"', "evidence.pcrs.md5 (key): Value error, unknown PCR bank"),
        ("[evidence.pcrs.sha256]\n24 = " + SHA256_ZERO, "evidence.pcrs.sha256.24 (key): Value"),
        ("[evidence.pcrs.sha256]\n-1 = " + SHA256_ZERO, "PCR index must be 0-23, got '-1'"),
        ("[evidence.pcrs.sha256]\n07 = " + SHA256_ZERO, "PCR index must be 0-23, got '07'"),
        ('[evidence.pcrs.sha256]\n7 = "00"', "evidence.pcrs: Value error, sha256.7 is 1 bytes"),
        ("[evidence.pcrs.sha1]\n7 = " + SHA256_ZERO, "sha1.7 is 32 bytes; a sha1 PCR holds 20"),
        ("[evidence.pcrs.sha256]\n7 = 0", "evidence.pcrs.sha256.7: Value error, expected a hex"),
    ],
)
def test_wrong_types_and_values_are_rejected(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(PolicyFileError) as info:
        _load(tmp_path, text + "\n")
    assert message in info.value.message
    assert info.value.hint == "see docs/policy.md for the policy keys"


def test_json_policies_are_strict_too(tmp_path: Path) -> None:
    with pytest.raises(PolicyFileError, match=r"snp\.allow_debug: Input should be a valid boolean"):
        _load(tmp_path, json.dumps({"snp": {"allow_debug": 1}}), "policy.json")
    with pytest.raises(PolicyFileError, match="duplicate member 'allow_debug'"):
        _load(tmp_path, '{"snp": {"allow_debug": false, "allow_debug": true}}', "policy.json")


def test_well_typed_values_load(tmp_path: Path) -> None:
    policy = _load(
        tmp_path,
        '[snp]\nallow_debug = false\nminimum_abi = "1.51"\nallowed_products = ["milan"]\n'
        "allowed_vmpls = [0]\n[snp.minimum_tcb]\nsnp = 24\n"
        "[evidence.pcrs.sha256]\n0 = " + SHA256_ZERO + "\n23 = " + SHA256_ZERO + "\n"
        '[evidence.pcrs.sha384]\n7 = "' + "ab" * 48 + '"\n',
    )
    assert policy.snp.minimum_abi == (1, 51)  # type: ignore[attr-defined]
    assert policy.evidence.pcrs == {  # type: ignore[attr-defined]
        "sha256": {0: bytes(32), 23: bytes(32)},
        "sha384": {7: bytes.fromhex("ab" * 48)},
    }


@pytest.mark.parametrize("value", ['"yes"', "1", '"on"'])
def test_a_coerced_allow_debug_no_longer_verifies(
    tmp_path: Path, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before, ``allow_debug = "yes"`` became true and the report verified (exit 0)."""
    policy = tmp_path / "policy.toml"
    policy.write_text(f"[snp]\nallow_debug = {value}\n")
    argv = ["verify", "snp", str(MILAN / "report.bin"), "--certs", str(MILAN), "--offline"]
    assert main([*argv, "--no-cache", "--policy", str(policy), "--json"]) == 10
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["type"] == "PolicyFileError"
    assert "snp.allow_debug: Input should be a valid boolean" in error["message"]
