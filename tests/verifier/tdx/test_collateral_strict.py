"""Revocation cannot be stripped by whoever supplies the collateral (issue 11 item 3).

Every collateral format `cairn verify tdx` accepts (dcap-qvl JSON, a directory of PCS
responses, and the dcap-qvl JSON inside an evidence bundle) is parsed strictly: an unknown,
renamed, duplicated or mistyped field is malformed input (exit 10). Collateral that simply lacks
a CRL fails revocation (exit 5) unless the policy sets ``allow_collateral_without_crl``. All
inputs are the real dcap-qvl sample quote and its Intel-signed collateral (PROVENANCE #1).
"""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fakes.agent_server import AgentBundle, agent_bundle

from cairn_verifier.cli.main import main
from cairn_verifier.errors import MalformedInputError
from cairn_verifier.tdx.collateral import load_collateral_dir, load_dcap_qvl_collateral

QUOTE = "tdx/dcap-qvl/sample/tdx_quote"
COLLATERAL = "tdx/dcap-qvl/sample/tdx_quote_collateral.json"
PINNED = "2025-06-19T10:32:27Z"
GTG = "tdx/go-tdx-guest/testdata"

Document = dict[str, Any]


def _verify_tdx(
    testdata: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    collateral: Path,
    *extra: str,
) -> tuple[int, dict[str, Any] | str]:
    argv = ["verify", "tdx", str(testdata / QUOTE), "--collateral", str(collateral)]
    code = main([*argv, "--at", PINNED, "--offline", "--no-cache", "--json", *extra])
    out, err = capsys.readouterr()
    try:
        return code, json.loads(out)
    except json.JSONDecodeError:
        return code, out + err


def _rewrite(testdata: Path, tmp_path: Path, change: Callable[[Document], None]) -> Path:
    document = json.loads((testdata / COLLATERAL).read_text())
    change(document)
    path = tmp_path / "collateral.json"
    path.write_text(json.dumps(document))
    return path


def _failed(doc: dict[str, Any]) -> list[str]:
    return [c["name"] for c in doc["checks"] if c["outcome"] == "fail"]


def _rename(old: str, new: str) -> Callable[[Document], None]:
    def apply(document: Document) -> None:
        document[new] = document.pop(old)

    return apply


def _set(key: str, value: Any) -> Callable[[Document], None]:
    def apply(document: Document) -> None:
        document[key] = value

    return apply


def test_the_untouched_collateral_verifies(
    testdata: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, doc = _verify_tdx(testdata, tmp_path, capsys, testdata / COLLATERAL)
    assert code == 0, doc
    assert isinstance(doc, dict)
    passed = {c["name"] for c in doc["checks"] if c["outcome"] == "pass"}
    assert {"root-ca-crl", "pck-crl", "pck-crl-issuer-chain"} <= passed


# --------------------------------------------------------------------------- dcap-qvl JSON

MALFORMED: dict[str, tuple[Callable[[Document], None], str]] = {
    # The reproduction: renamed CRL fields were ignored, revocation SKIPPED, exit 0.
    "renamed root_ca_crl": (
        _rename("root_ca_crl", "root_ca_crl_x"),
        "unknown field(s) 'root_ca_crl_x'",
    ),
    "renamed pck_crl": (_rename("pck_crl", "pckCrl"), "unknown field(s) 'pckCrl'"),
    "issuer chain as a number": (_set("pck_crl_issuer_chain", 7), "must be a string, not a number"),
    "CRL as null": (_set("root_ca_crl", None), "'root_ca_crl' must be a string, not null"),
    "CRL empty": (_set("pck_crl", ""), "'pck_crl' is empty"),
    "CRL as an array": (_set("pck_crl", [48, 0]), "must be a string, not an array"),
    "CRL hex with spaces": (
        lambda d: d.__setitem__("pck_crl", d["pck_crl"][:4] + " " + d["pck_crl"][4:]),
        "'pck_crl' is not hex",
    ),
    "TCB info as an object": (
        lambda d: d.__setitem__("tcb_info", json.loads(d["tcb_info"])),
        "'tcb_info' must be a string, not an object",
    ),
    "missing signature": (
        lambda d: d.pop("qe_identity_signature"),
        "lacks 'qe_identity_signature'",
    ),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_dcap_qvl_collateral_is_rejected(
    testdata: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    change, message = MALFORMED[name]
    path = _rewrite(testdata, tmp_path, change)
    with pytest.raises(MalformedInputError) as error:
        load_dcap_qvl_collateral(path.read_bytes())
    assert message in str(error.value)
    code, _ = _verify_tdx(testdata, tmp_path, capsys, path)
    assert code == 10


def test_a_field_given_twice_is_rejected(testdata: Path) -> None:
    text = (testdata / COLLATERAL).read_text()
    doubled = text.replace('"pck_crl":', '"pck_crl": "00", "pck_crl":', 1)
    assert doubled != text
    with pytest.raises(MalformedInputError, match="duplicate member 'pck_crl'"):
        load_dcap_qvl_collateral(doubled.encode())


def test_dropped_crls_fail_revocation_unless_the_policy_allows_it(
    testdata: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def drop(document: Document) -> None:
        for key in ("root_ca_crl", "pck_crl", "pck_crl_issuer_chain"):
            del document[key]

    path = _rewrite(testdata, tmp_path, drop)
    code, doc = _verify_tdx(testdata, tmp_path, capsys, path)
    assert code == 5
    assert isinstance(doc, dict)
    assert _failed(doc) == ["root-ca-crl", "pck-crl"]
    check = next(c for c in doc["checks"] if c["name"] == "pck-crl")
    assert str(path) in check["summary"] and "has no PCK CRL" in check["summary"]
    assert "allow_collateral_without_crl" in check["hint"]

    policy = tmp_path / "policy.toml"
    policy.write_text("[tdx]\nallow_collateral_without_crl = true\n")
    code, doc = _verify_tdx(testdata, tmp_path, capsys, path, "--policy", str(policy))
    assert code == 0
    assert isinstance(doc, dict)
    skipped = {c["name"]: c["summary"] for c in doc["checks"] if c["outcome"] == "skipped"}
    assert "allow_collateral_without_crl = true" in skipped["pck-crl"]


def test_an_issuer_chain_of_another_ca_is_rejected(
    testdata: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The PCK CRL issuer chain is checked, not carried along unverified: the TCB signing chain
    in its place does not chain the PCK CRL."""
    path = _rewrite(
        testdata,
        tmp_path,
        lambda d: d.__setitem__("pck_crl_issuer_chain", d["tcb_info_issuer_chain"]),
    )
    code, doc = _verify_tdx(testdata, tmp_path, capsys, path)
    assert code == 3
    assert isinstance(doc, dict)
    assert _failed(doc) == ["pck-crl-issuer-chain"]


# --------------------------------------------------------------------------- PCS directories


def _pcs_dir(testdata: Path, tmp_path: Path, *skip: str) -> Path:
    """go-tdx-guest's PCS files (PROVENANCE set gtg-50806f-2023-06) with their issuer chains."""
    history = json.loads(
        (testdata / "tdx/dcap-qvl/history-eadf882/tdx_quote_collateral.json").read_text()
    )
    directory = tmp_path / "pcs"
    directory.mkdir()
    for name in ("sample_tcbInfo_response", "sample_qeIdentity_response", "pckcrl", "rootcrl.der"):
        if name not in skip:
            shutil.copy(testdata / GTG / name, directory / name)
    (directory / "tcb_signing_chain.pem").write_text(history["tcb_info_issuer_chain"])
    return directory


def test_a_pcs_directory_loads(testdata: Path, tmp_path: Path) -> None:
    collateral = load_collateral_dir(_pcs_dir(testdata, tmp_path))
    assert collateral.pck_crl is not None and collateral.root_ca_crl is not None


def test_two_files_for_one_document_are_rejected(testdata: Path, tmp_path: Path) -> None:
    directory = _pcs_dir(testdata, tmp_path)
    shutil.copy(directory / "pckcrl", directory / "pck_crl.der")
    with pytest.raises(MalformedInputError, match="2 files for the pck_crl"):
        load_collateral_dir(directory)


def test_an_unknown_member_in_a_pcs_body_is_rejected(testdata: Path, tmp_path: Path) -> None:
    directory = _pcs_dir(testdata, tmp_path)
    body = (directory / "sample_tcbInfo_response").read_bytes().rstrip()
    assert body.endswith(b"}")
    (directory / "sample_tcbInfo_response").write_bytes(body[:-1] + b',"pckCrl":"00"}')
    with pytest.raises(MalformedInputError, match="unknown member"):
        load_collateral_dir(directory)


def test_a_pcs_directory_without_crls_fails_revocation(
    testdata: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = _pcs_dir(testdata, tmp_path, "pckcrl", "rootcrl.der")
    argv = ["verify", "tdx", str(testdata / "tdx/trustee/test_data/tdx_quote_4.dat")]
    argv += ["--collateral", str(directory), "--at", "2023-06-18T08:42:58Z", "--json"]
    code = main([*argv, "--offline", "--no-cache"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 5
    assert _failed(doc)[:2] == ["root-ca-crl", "pck-crl"]


# --------------------------------------------------------------------------- evidence bundles


@pytest.fixture(scope="module")
def tdx_bundle(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with agent_bundle(tmp_path_factory.mktemp("tdx-agent"), "simulated-tdx") as bundle:
        yield bundle


def _embedded(bundle: AgentBundle, change: Callable[[Document], None]) -> Document:
    def apply(document: Document) -> None:
        collateral = json.loads(base64.b64decode(document["tee"]["collateral"]))
        change(collateral)
        document["tee"]["collateral"] = base64.b64encode(json.dumps(collateral).encode()).decode()

    return bundle.changed(apply)


def test_the_attested_host_cannot_rename_the_crls_away(tdx_bundle: AgentBundle) -> None:
    """The collateral travels inside the evidence: the host itself could strip revocation."""
    document = _embedded(tdx_bundle, _rename("root_ca_crl", "root_ca_crl_x"))
    result = tdx_bundle.verify(document)  # a failed check, never an exception (verify_evidence)
    [refused] = [c for c in result.checks if c.name == "tee-evidence"]
    assert refused.outcome.value == "fail" and "unknown field" in refused.summary
    assert int(result.exit_code) == 10


def test_the_attested_host_cannot_drop_the_crls(tdx_bundle: AgentBundle) -> None:
    def drop(collateral: Document) -> None:
        del collateral["root_ca_crl"], collateral["pck_crl"]

    result = tdx_bundle.verify(_embedded(tdx_bundle, drop))
    failed = [c for c in result.checks if c.outcome.value == "fail"]
    assert [c.name for c in failed] == ["root-ca-crl", "pck-crl"]
    assert "inside the evidence bundle" in failed[0].summary
    assert int(result.exit_code) == 5
