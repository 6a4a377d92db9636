"""The HCL runtime data parser: the real documents, and every departure from Azure's format
refused as malformed input (exit 10) rather than skipped."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cairn_verifier.azure.hcl import parse_hcl_report
from cairn_verifier.azure.runtime_data import VM_CONFIGURATION, parse_runtime_data
from cairn_verifier.errors import ExitCode, MalformedInputError

REPORTS = {
    "milan": "snp/trustee/az-snp-vtpm_hcl-report.bin",
    "tdx": "tdx/trustee-azure/hcl-report.bin",
}


def _runtime(testdata: Path, name: str = "tdx") -> bytes:
    return parse_hcl_report((testdata / REPORTS[name]).read_bytes()).runtime_data


def test_real_runtime_data(testdata: Path) -> None:
    tdx = parse_runtime_data(_runtime(testdata))
    assert tdx.ak.kid == "HCLAkPub" and tdx.ak.bits == 2048 and tdx.ak.e == 65537
    assert tdx.ak.key_ops == ("sign",)
    assert tdx.ek is not None and tdx.ek.key_ops == ("encrypt",)
    assert tdx.vm_configuration == {
        "console-enabled": True,
        "root-cert-thumbprint": "6nZZnYaJc4KqUZ_yvA-mucFdYNouvlPnITnNMXsHl-0",
        "secure-boot": True,
        "tpm-enabled": True,
        "tpm-persisted": False,
        "vmUniqueId": "6332533D-5649-4D02-8AA7-8F64B7C3EE21",
    }
    assert tdx.user_data == bytes(64)
    milan = parse_runtime_data(_runtime(testdata, "milan"))
    assert milan.flag("tpm-persisted") is None  # the older paravisor does not state it
    assert milan.to_json()["ak"]["sha256"] == milan.ak.fingerprint()
    with pytest.raises(KeyError):
        milan.flag("secure_boot")  # Azure's names only


def _document(testdata: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(_runtime(testdata))
    return document


def _refused(document: object, message: str) -> None:
    with pytest.raises(MalformedInputError) as raised:
        parse_runtime_data(json.dumps(document).encode())
    assert message in raised.value.message
    assert raised.value.exit_code is ExitCode.MALFORMED_INPUT


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(extra=1), "member(s) Cairn does not know: extra"),
        (lambda d: d["vm-configuration"].update({"debug-enabled": True}), "debug-enabled"),
        (lambda d: d["vm-configuration"].update({"secure-boot": "true"}), "must be a JSON boolean"),
        (lambda d: d["vm-configuration"].update({"secure-boot": 1}), "must be a JSON boolean"),
        (lambda d: d["vm-configuration"].update({"vmUniqueId": 5}), "must be a JSON string"),
        (lambda d: d.pop("keys"), "has no 'keys' member"),
        (lambda d: d["keys"].pop(0), "no HCLAkPub key"),
        (lambda d: d["keys"].append(d["keys"][0]), "HCLAkPub appear more than once"),
        (lambda d: d["keys"][0].update(kty="EC"), "has kty 'EC'"),
        (lambda d: d["keys"][0].update(alg="RS256"), "unknown member(s) alg"),
        (lambda d: d["keys"][0].pop("e"), "missing e"),
        (lambda d: d["keys"][0].update(n=d["keys"][0]["n"] + "="), "not unpadded base64url"),
        (lambda d: d["keys"][0].update(n=d["keys"][0]["n"][:-1] + "x"), "not canonical"),
        (lambda d: d["keys"][0].update(n="AQAB"), "is a 17-bit RSA key"),
        (lambda d: d["keys"][0].update(e="AAE"), "invalid RSA exponent 1"),
        (lambda d: d.update({"user-data": "00"}), "user-data must be 64 bytes"),
        (lambda d: d.update(keys=[]), "keys must be a list of 1 to 16"),
    ],
)
def test_departures_from_azures_format_are_refused(
    testdata: Path, change: Any, message: str
) -> None:
    document = _document(testdata)
    change(document)
    _refused(document, message)


def test_duplicates_depth_and_non_json_are_refused(testdata: Path) -> None:
    raw = _runtime(testdata)
    duplicate = raw.replace(b'"user-data":', b'"user-data":"00","user-data":', 1)
    with pytest.raises(MalformedInputError, match="duplicate member"):
        parse_runtime_data(duplicate)
    with pytest.raises(MalformedInputError, match="nested deeper"):
        parse_runtime_data(b"[" * 100 + b"]" * 100)
    with pytest.raises(MalformedInputError, match="is not a JSON object"):
        parse_runtime_data(b"[1]")
    with pytest.raises(MalformedInputError, match="not valid JSON"):
        parse_runtime_data(raw[:-1])


def test_every_known_flag_has_a_meaning() -> None:
    assert len({flag.name for flag in VM_CONFIGURATION}) == len(VM_CONFIGURATION)
    assert all(flag.meaning for flag in VM_CONFIGURATION)
