"""Evidence bundle v1: real reports round-trip, every malformation is a MalformedInputError."""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import json
import re
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fakes.ccel import dstack_ccel
from hypothesis import given, settings
from hypothesis import strategies as st

from cairn_verifier.binding.poseidon2 import P
from cairn_verifier.binding.report_data import ReportDataInputs
from cairn_verifier.binding.services import build_service_tree
from cairn_verifier.binding.system_hash import system_hash
from cairn_verifier.errors import ExitCode, MalformedInputError
from cairn_verifier.evidence import (
    EvidenceBundle,
    dump_evidence,
    evidence_json_schema,
    load_evidence,
    models,
    render_json_schema,
    write_json_schema,
)

REPO = Path(__file__).resolve().parents[3]
SPEC = REPO / "docs" / "spec"
TREE = json.loads((SPEC / "vectors" / "service-tree-v1.json").read_text())
SYSTEM = (
    "/nix/store/pg2ycqg10v3drn6wdp8qciac5z5s7iqh-nixos-system-cairn-demo-24.11.20250115.a1b2c3d"
)
THREE = next(t for t in TREE["trees"] if t["name"] == "three-services")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _claims() -> dict[str, Any]:
    return {
        "nonce": hashlib.sha256(b"cairn example verifier challenge").hexdigest(),
        "system": {"store_path": SYSTEM, "hash": system_hash(SYSTEM).hex()},
        "services": [
            {"name": s["name"], "store_path": s["store_path"], "public_key": s["public_key"]}
            for s in TREE["services"]
        ],
        "tree_root": THREE["root"],
        "gpu_digest": None,
        "report_data_version": 1,
    }


def _snp(testdata: Path) -> dict[str, Any]:
    report = bytes.fromhex((testdata / "snp/virtee-sev/report_milan.hex").read_text().strip())
    vcek = (testdata / "snp/virtee-sev/vcek_milan.der").read_bytes()
    return {
        "format": "cairn-evidence",
        "version": 1,
        "tee": {"kind": "sev-snp", "report": _b64(report), "certificates": [_b64(vcek)]},
        "tpm": None,
        "claims": _claims(),
        "agent": {"version": "0.1.0", "simulated": False},
    }


def _tdx(testdata: Path) -> dict[str, Any]:
    quote = (testdata / "tdx/dcap-qvl/sample/tdx_quote").read_bytes()
    doc = _snp(testdata)
    doc["tee"] = {"kind": "tdx", "report": _b64(quote), "certificates": [], "collateral": None}
    return doc


def _tpmt_public_rsa(modulus: bytes) -> bytes:
    """A TPMT_PUBLIC (TPM 2.0 Part 2, 12.2.4) of an RSA-2048 restricted signing key.

    Assembled here around the real HCLAkPub modulus; the model treats ak_public as opaque bytes,
    so it does not matter that these attributes may differ from Azure's AK template.
    """
    attributes = (
        0x00050472  # fixedTPM fixedParent sensitiveDataOrigin userWithAuth noDA restricted sign
    )
    return (
        struct.pack(">HHIH", 0x0001, 0x000B, attributes, 0)  # RSA, SHA-256 name, no authPolicy
        + struct.pack(">HHHHI", 0x0010, 0x0014, 0x000B, 2048, 0)  # no symmetric, RSASSA-SHA256
        + struct.pack(">H", len(modulus))
        + modulus
    )


def _azure(testdata: Path) -> dict[str, Any]:
    """Real Azure CVM evidence (trustee az-snp-vtpm_evidence-genoa.json): HCL report, TPM quote."""
    upstream = json.loads((testdata / "snp/trustee/az-snp-vtpm_evidence-genoa.json").read_text())
    hcl = bytes(upstream["report"])
    start = hcl.rfind(b"{", 0, hcl.find(b'"HCLAkPub"'))
    jwk = json.loads(hcl[start : hcl.find(b"}", start) + 1])
    modulus = base64.urlsafe_b64decode(jwk["n"] + "==")
    pcrs = {str(i): bytes(v).hex() for i, v in enumerate(upstream["quote"]["pcrs"])}
    doc = _snp(testdata)
    doc["tee"] = {"kind": "azure-sev-snp-vtpm", "report": _b64(hcl), "certificates": []}
    doc["tpm"] = {
        "quote": _b64(bytes(upstream["quote"]["message"])),
        "signature": _b64(bytes(upstream["quote"]["signature"])),
        "ak_public": _b64(_tpmt_public_rsa(modulus)),
        "pcrs": {"sha256": pcrs},
        "event_log": None,
    }
    return doc


BUILDERS: dict[str, Callable[[Path], dict[str, Any]]] = {
    "snp": _snp,
    "tdx": _tdx,
    "azure": _azure,
}


def _encode(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc).encode()


# --- valid bundles -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(BUILDERS))
def test_real_evidence_round_trips(testdata: Path, kind: str) -> None:
    doc = BUILDERS[kind](testdata)
    bundle = load_evidence(_encode(doc))
    assert base64.b64encode(bundle.tee.report).decode() == doc["tee"]["report"]
    dumped = dump_evidence(bundle)
    again = load_evidence(dumped)
    assert again == bundle
    assert dump_evidence(again) == dumped
    # The canonical dump carries the same values as the input document.
    reparsed = json.loads(dumped)
    for key in ("format", "version", "claims", "agent"):
        assert reparsed[key] == doc[key]


def test_snp_bundle_exposes_decoded_values(testdata: Path) -> None:
    bundle = load_evidence(_encode(_snp(testdata)))
    assert len(bundle.tee.report) == 1184
    assert bundle.tee.certificates == [(testdata / "snp/virtee-sev/vcek_milan.der").read_bytes()]
    assert bundle.tee.collateral is None
    assert bundle.claims.tree_root == int(THREE["root"], 16)
    assert bundle.claims.system.hash == system_hash(SYSTEM)
    entries = bundle.service_entries()
    assert [e.name for e in entries] == ["nginx", "postgresql", "cairn-agent"]
    assert build_service_tree(entries).root == bundle.claims.tree_root


def test_report_data_inputs_without_tpm(testdata: Path) -> None:
    bundle = load_evidence(_encode(_snp(testdata)))
    assert bundle.report_data_inputs() == ReportDataInputs(
        nonce=hashlib.sha256(b"cairn example verifier challenge").digest(),
        system_hash=system_hash(SYSTEM),
        tree_root=int(THREE["root"], 16),
        gpu_digest=None,
        ak_digest=None,
    )


def test_report_data_inputs_commit_to_the_attestation_key(testdata: Path) -> None:
    doc = _azure(testdata)
    doc["claims"]["gpu_digest"] = "ab" * 32
    bundle = load_evidence(_encode(doc))
    assert bundle.tpm is not None
    inputs = bundle.report_data_inputs()
    assert inputs.ak_digest == hashlib.sha256(base64.b64decode(doc["tpm"]["ak_public"])).digest()
    assert inputs.gpu_digest == bytes.fromhex("ab" * 32)
    assert len(bundle.tpm.pcrs["sha256"]) == 24


def test_optional_fields_may_be_omitted(testdata: Path) -> None:
    doc = _snp(testdata)
    del doc["tee"]["certificates"]
    bundle = load_evidence(_encode(doc))
    assert bundle.tee.certificates == []
    assert bundle.tee.collateral is None


def test_simulated_kinds_need_a_simulated_agent(testdata: Path) -> None:
    doc = _snp(testdata)
    doc["tee"]["kind"] = "sev-snp-simulated"
    doc["agent"]["simulated"] = True
    assert load_evidence(_encode(doc)).agent.simulated


def test_bundles_can_be_built_in_python(testdata: Path) -> None:
    bundle = load_evidence(_encode(_snp(testdata)))
    rebuilt = EvidenceBundle(
        format="cairn-evidence",
        version=1,
        tee=bundle.tee.model_copy(update={"kind": "tdx", "collateral": b"\x01\x02"}),
        tpm=None,
        claims=bundle.claims,
        agent=bundle.agent,
    )
    assert load_evidence(dump_evidence(rebuilt)).tee.collateral == b"\x01\x02"


# --- malformed bundles -------------------------------------------------------------------------


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def apply(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = doc
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return apply


def _delete(path: str) -> Callable[[dict[str, Any]], None]:
    def apply(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = doc
        for part in parents:
            node = node[part]
        del node[last]

    return apply


def _mutate_report(transform: Callable[[str], str]) -> Callable[[dict[str, Any]], None]:
    def apply(doc: dict[str, Any]) -> None:
        doc["tee"]["report"] = transform(doc["tee"]["report"])

    return apply


def _duplicate_service(doc: dict[str, Any]) -> None:
    doc["claims"]["services"].append(dict(doc["claims"]["services"][0]))


def _azure_without_tpm(doc: dict[str, Any]) -> None:
    doc["tee"]["kind"] = "azure-sev-snp-vtpm"
    doc["tpm"] = None


def _valid_tpm() -> dict[str, Any]:
    return {
        "quote": _b64(b"\xffTCG\x80\x18"),
        "signature": _b64(b"\x00\x14\x00\x0b"),
        "ak_public": _b64(b"\x00\x01\x00\x0b"),
        "pcrs": {"sha256": {"0": "00" * 32}},
        "event_log": None,
    }


def _tpm_with(**changes: Any) -> Callable[[dict[str, Any]], None]:
    def apply(doc: dict[str, Any]) -> None:
        doc["tpm"] = {**_valid_tpm(), **changes}

    return apply


MALFORMED: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "extra top-level field": (_set("extra", 1), "extra: Extra inputs are not permitted"),
    "extra nested field": (_set("claims.system.extra", 1), "claims.system.extra"),
    "missing claims": (_delete("claims"), "claims: Field required"),
    "missing tpm": (_delete("tpm"), "tpm: Field required"),
    "missing gpu_digest": (_delete("claims.gpu_digest"), "claims.gpu_digest: Field required"),
    "unknown tee kind": (_set("tee.kind", "sgx"), "tee.kind"),
    "report not base64": (_mutate_report(lambda r: r[:-4] + "!!!!"), "tee.report"),
    "report url-safe base64": (
        _mutate_report(lambda r: r.replace("+", "-").replace("/", "_")),
        "tee.report",
    ),
    "report unpadded": (_mutate_report(lambda r: r.rstrip("=")), "tee.report"),
    "report with line breaks": (_mutate_report(lambda r: r[:64] + "\n" + r[64:]), "tee.report"),
    "empty report": (_set("tee.report", ""), "tee.report: Value error, must decode to 1.."),
    "report as bytes list": (_set("tee.report", [1, 2, 3]), "tee.report"),
    "certificate not DER": (_set("tee.certificates", [_b64(b"not a certificate")]), "not a DER"),
    "certificate with trailing bytes": (
        _set("tee.certificates", [_b64(b"\x30\x00\x00")]),
        "trailing bytes",
    ),
    "nonce uppercase": (_set("claims.nonce", "AB" * 32), "lowercase hex"),
    "nonce 0x prefix": (_set("claims.nonce", "0x" + "ab" * 31), "lowercase hex"),
    "nonce short": (_set("claims.nonce", "ab" * 31), "must be 32 bytes, got 31"),
    "nonce as number": (_set("claims.nonce", 5), "claims.nonce"),
    "system hash short": (_set("claims.system.hash", "00" * 16), "claims.system.hash"),
    "system path with newline": (
        _set("claims.system.store_path", SYSTEM + "\n"),
        "claims.system.store_path",
    ),
    "system path not in the store": (
        _set("claims.system.store_path", "/run/current-system"),
        "not a Nix store path",
    ),
    "tree root not a field element": (_set("claims.tree_root", f"{P:064x}"), "BN254"),
    "tree root short": (_set("claims.tree_root", "00" * 31), "claims.tree_root"),
    "tree root as integer": (_set("claims.tree_root", 5), "claims.tree_root"),
    "gpu digest all zero": (_set("claims.gpu_digest", "00" * 32), "use null"),
    "report_data_version 3": (_set("claims.report_data_version", 3), "report_data_version"),
    "report_data_version true": (
        _set("claims.report_data_version", True),
        "report_data_version: Value error, must be an integer, got bool",
    ),
    "report_data_version 1.0": (_set("claims.report_data_version", 1.0), "got float"),
    "service name uppercase": (_set("claims.services.0.name", "Nginx"), "claims.services.0.name"),
    "service name too long": (_set("claims.services.0.name", "a" * 65), "claims.services.0.name"),
    "service name with newline": (
        _set("claims.services.0.name", "nginx\n"),
        "claims.services.0.name",
    ),
    "duplicate service": (_duplicate_service, "appears more than once"),
    "service path subpath": (
        _set("claims.services.0.store_path", TREE["services"][0]["store_path"] + "/bin"),
        "claims.services.0.store_path",
    ),
    "public key 64 bytes": (_set("claims.services.0.public_key", "04" + "11" * 63), "65 bytes"),
    "public key off the curve": (
        _set("claims.services.1.public_key", "04" + "00" * 64),
        "not a point on secp256k1",
    ),
    "public key bad prefix": (_set("claims.services.0.public_key", "05" + "11" * 32), "SEC1"),
    "simulated agent on real kind": (_set("agent.simulated", True), "disagree"),
    "simulated as integer": (_set("agent.simulated", 1), "agent.simulated"),
    "empty agent version": (_set("agent.version", ""), "agent.version"),
    "azure without tpm": (_azure_without_tpm, "needs tpm evidence"),
    # SEV-SNP pipelines read no collateral from the bundle: silently ignoring it would let a
    # reader believe it was checked.
    "collateral on an SNP bundle": (
        _set("tee.collateral", _b64(b"{}")),
        "collateral is defined for TDX quotes only",
    ),
    "tpm pcr index 24": (_tpm_with(pcrs={"sha256": {"24": "00" * 32}}), "tpm.pcrs"),
    "tpm pcr index 01": (_tpm_with(pcrs={"sha256": {"01": "00" * 32}}), "tpm.pcrs"),
    "tpm sha256 pcr of sha1 size": (_tpm_with(pcrs={"sha256": {"0": "00" * 20}}), "32 bytes"),
    "tpm unknown bank": (_tpm_with(pcrs={"md5": {"0": "00" * 16}}), "tpm.pcrs"),
    "tpm no banks": (_tpm_with(pcrs={}), "tpm.pcrs"),
    "tpm empty bank": (_tpm_with(pcrs={"sha1": {}}), "lists no PCRs"),
    "tpm quote too large": (_tpm_with(quote=_b64(bytes(4097))), "tpm.quote"),
    "tpm missing ak": (_delete("tpm.ak_public"), "tpm.ak_public: Field required"),
}


@pytest.mark.parametrize(("mutate", "expected"), list(MALFORMED.values()), ids=list(MALFORMED))
def test_malformed_bundles_are_rejected(
    testdata: Path, mutate: Callable[[dict[str, Any]], None], expected: str
) -> None:
    doc = _snp(testdata)
    doc["tpm"] = _valid_tpm()
    load_evidence(_encode(doc))  # the starting point is valid: the mutation is what fails
    mutate(doc)
    with pytest.raises(MalformedInputError) as caught:
        load_evidence(_encode(doc))
    error = caught.value
    assert error.exit_code is ExitCode.MALFORMED_INPUT
    assert error.component == "evidence"
    assert expected in error.message
    assert "https://" not in error.message


def test_an_unknown_kind_says_to_upgrade_and_other_defects_do_not(testdata: Path) -> None:
    """docs/spec/README.md: kinds are added within a version, so a kind a verifier does not
    know may be a newer agent's: the hint says so (and only for that defect)."""
    doc = _snp(testdata)
    doc["tee"]["kind"] = "sev-snp-future"
    with pytest.raises(MalformedInputError) as caught:
        load_evidence(_encode(doc))
    assert "tee.kind" in caught.value.message
    assert caught.value.hint is not None and "upgrade cairn-verifier" in caught.value.hint
    doc = _snp(testdata)
    doc["tee"]["report"] = 5
    with pytest.raises(MalformedInputError) as caught:
        load_evidence(_encode(doc))
    assert caught.value.hint is not None and "upgrade" not in caught.value.hint


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "not valid JSON"),
        (b"{", "not valid JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"[]", "not a Cairn evidence bundle"),
        (b'{"format": "cairn-collateral-bundle", "version": 1}', "not a Cairn evidence bundle"),
        (b'{"format": "cairn-evidence", "version": 3}', "version 3"),
        (b'{"format": "cairn-evidence", "version": 0}', "version 0"),
        (b'{"format": "cairn-evidence", "version": 2}', "Field required"),  # v2 is read
        (b'{"format": "cairn-evidence", "version": "1"}', "version '1'"),
        (b'{"format": "cairn-evidence", "version": true}', "version True"),
        (b'{"format": "cairn-evidence", "version": 1.0}', "version 1.0"),
        (b'{"format": "cairn-evidence", "version": 1, "version": 1}', "duplicate member"),
        (b'{"format": "cairn-evidence", "version": NaN}', "NaN is not JSON"),
        (b'{"format": "cairn-evidence", "version": 1}', "Field required"),
        (b"[" * 100_000, "nested deeper than 32 levels"),
    ],
)
def test_unreadable_documents(raw: bytes, message: str) -> None:
    with pytest.raises(MalformedInputError, match=message):
        load_evidence(raw)


def test_error_summary_is_bounded(testdata: Path) -> None:
    doc = _snp(testdata)
    for i in range(10):
        doc[f"extra{i}"] = i
    with pytest.raises(MalformedInputError, match=r"\.\.\. and 5 more"):
        load_evidence(_encode(doc))


def test_oversized_input_is_refused_before_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(models, "MAX_EVIDENCE_BYTES", 10)
    with pytest.raises(MalformedInputError, match="more than the 10 allowed"):
        load_evidence(b'{"format": "cairn-evidence"}')


def test_non_bytes_input_is_refused() -> None:
    with pytest.raises(MalformedInputError, match="must be bytes"):
        load_evidence('{"format": "cairn-evidence"}')  # type: ignore[arg-type]


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_corrupted_bundles_never_escape_as_other_errors(
    testdata: Path, data: st.DataObject
) -> None:
    raw = bytearray(_encode(_snp(testdata)))
    for _ in range(data.draw(st.integers(1, 4))):
        index = data.draw(st.integers(0, len(raw) - 1))
        raw[index] = data.draw(st.integers(0, 255))
    with contextlib.suppress(MalformedInputError):
        load_evidence(bytes(raw))


# --- the published schema -----------------------------------------------------------------------


def test_committed_schema_is_up_to_date() -> None:
    committed = (SPEC / "evidence-bundle.schema.json").read_text(encoding="utf-8")
    assert committed == render_json_schema(), (
        "regenerate: python -c 'from cairn_verifier.evidence import write_json_schema; "
        'write_json_schema("docs/spec/evidence-bundle.schema.json")\''
    )


def test_write_json_schema_writes_the_rendered_text(tmp_path: Path) -> None:
    target = tmp_path / "schema.json"
    write_json_schema(target)
    assert json.loads(target.read_text()) == evidence_json_schema()


def test_schema_describes_the_wire_format() -> None:
    schema = evidence_json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"format", "version", "tee", "tpm", "claims", "agent"}
    claims = schema["$defs"]["Claims"]["properties"]
    assert claims["nonce"]["pattern"] == "^(?:[0-9a-f]{64})$"
    kinds = schema["$defs"]["TeeEvidence"]["properties"]["kind"]["enum"]
    assert set(kinds) == {
        "sev-snp",
        "tdx",
        "sev-snp-simulated",
        "tdx-simulated",
        "azure-sev-snp-vtpm",
        "azure-tdx-vtpm",
        "azure-sev-snp-vtpm-simulated",
        "azure-tdx-vtpm-simulated",
    }
    report = schema["$defs"]["TeeEvidence"]["properties"]["report"]
    assert report["contentEncoding"] == "base64"
    assert report["type"] == "string"


def test_schema_accepts_the_real_bundles_shape(testdata: Path) -> None:
    """Every field of a real bundle is declared in the schema (no undocumented fields)."""
    schema = evidence_json_schema()
    doc = json.loads(dump_evidence(load_evidence(_encode(_with_gpu(_azure(testdata), testdata)))))
    assert set(doc) == set(schema["properties"])
    assert "gpu" not in schema["required"]
    assert set(doc["gpu"]["devices"][0]) == set(schema["$defs"]["GpuDeviceEvidence"]["properties"])
    defs = schema["$defs"]
    # event_log (version 2, a TD's CCEL) is written only when present; an Azure bundle has none
    assert set(doc["tee"]) | {"event_log"} == set(defs["TeeEvidence"]["properties"])
    assert set(doc["tpm"]) == set(defs["TpmEvidence"]["properties"])
    assert set(doc["claims"]) == set(defs["Claims"]["properties"])
    assert set(doc["claims"]["services"][0]) == set(defs["ServiceClaim"]["properties"])
    assert copy.deepcopy(doc) == doc


def _hopper(testdata: Path) -> dict[str, Any]:
    """NVIDIA's nvtrust Hopper sample report and its chain, as a bundle's gpu device."""
    folder = testdata / "gpu/nvtrust"
    report = bytes.fromhex((folder / "hopperAttestationReport.txt").read_text().strip())
    pem = (folder / "hopperCertChain.txt").read_text()
    chain = [
        "".join(block.split("-----")[0].split())
        for block in pem.split("-----BEGIN CERTIFICATE-----")[1:]
    ]
    return {"report": _b64(report), "certificates": chain}


def _with_gpu(doc: dict[str, Any], testdata: Path, devices: int = 1) -> dict[str, Any]:
    doc["gpu"] = {"devices": [_hopper(testdata)] * devices}
    bundle = load_evidence(_encode({**doc, "claims": {**doc["claims"], "gpu_digest": None}}))
    assert bundle.gpu is not None
    doc["claims"]["gpu_digest"] = bundle.gpu.digest().hex()
    return doc


def test_a_bundle_without_gpus_is_written_without_the_gpu_member(testdata: Path) -> None:
    bundle = load_evidence(_encode(_snp(testdata)))
    assert bundle.gpu is None
    assert "gpu" not in json.loads(dump_evidence(bundle))


def test_gpu_evidence_round_trips_and_exposes_its_digest(testdata: Path) -> None:
    doc = _with_gpu(_snp(testdata), testdata, devices=2)
    bundle = load_evidence(_encode(doc))
    assert bundle.gpu is not None and len(bundle.gpu.devices) == 2
    assert bundle.report_data_inputs().gpu_digest == bundle.gpu.digest()
    assert load_evidence(dump_evidence(bundle)) == bundle


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda g, d: g.update(devices=[]), "gpu.devices"),
        (lambda g, d: g.update(devices=[d] * 65), "gpu.devices"),
        (lambda g, d: d.update(certificates=[]), "gpu.devices.0.certificates"),
        (lambda g, d: d.update(certificates=[d["certificates"][0]] * 9), "certificates"),
        (lambda g, d: d.update(report=_b64(bytes(64 * 1024 + 1))), "gpu.devices.0.report"),
        (lambda g, d: d.update(report="not base64!"), "gpu.devices.0.report"),
        (lambda g, d: d.update(certificates=[_b64(b"not DER")]), "certificates.0"),
        (lambda g, d: d.update(uuid="GPU-1"), "uuid"),
        (lambda g, d: g.update(extra=1), "gpu.extra"),
    ],
)
def test_malformed_gpu_evidence_is_malformed_input(
    testdata: Path, change: Callable[[dict[str, Any], dict[str, Any]], None], field: str
) -> None:
    doc = _with_gpu(_snp(testdata), testdata)
    device = doc["gpu"]["devices"][0]
    change(doc["gpu"], device)
    with pytest.raises(MalformedInputError, match=field.replace(".", r"\.")) as caught:
        load_evidence(_encode(doc))
    assert caught.value.exit_code is ExitCode.MALFORMED_INPUT


# --- version 2: a TD's event log ----------------------------------------------------------------


def _tdx_v2(testdata: Path) -> dict[str, Any]:
    doc = _tdx(testdata)
    doc["version"] = 2
    doc["tee"]["event_log"] = _b64(dstack_ccel(testdata))
    return doc


def test_a_version_2_tdx_bundle_carries_the_ccel(testdata: Path) -> None:
    raw = _encode(_tdx_v2(testdata))
    bundle = load_evidence(raw)
    assert bundle.version == 2 and bundle.tee.event_log == dstack_ccel(testdata)
    assert json.loads(dump_evidence(bundle)) == json.loads(raw)
    without = _tdx(testdata)
    without["version"] = 2  # version 2 without the field is read too
    assert load_evidence(_encode(without)).tee.event_log is None


def _on_snp(doc: dict[str, Any], testdata: Path) -> None:
    doc["tee"] = _snp(testdata)["tee"] | {"event_log": doc["tee"]["event_log"]}


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("version 1", "tee.event_log was added in bundle version 2"),
        ("on sev-snp", "event_log is defined for TDX quotes"),
        ("not base64", "tee.event_log: Value error, not valid base64"),
        ("empty", "tee.event_log: Value error, must decode to 1.."),
    ],
)
def test_the_event_log_field_is_version_2_and_tdx_only(
    testdata: Path, case: str, message: str
) -> None:
    doc = _tdx_v2(testdata)
    if case == "version 1":
        doc["version"] = 1
    elif case == "on sev-snp":
        _on_snp(doc, testdata)
    else:
        doc["tee"]["event_log"] = "not base64" if case == "not base64" else ""
    with pytest.raises(MalformedInputError, match=re.escape(message)):
        load_evidence(_encode(doc))
