"""``cairn show evidence``: decode a Cairn evidence bundle without verifying it.

Prints the claims (nonce, NixOS system, services, tree root), the TEE kind with a summary of its
report or quote, the TPM quote (what it signs, over which PCRs, with which key), the GPUs and
NVSwitches of its ``gpu`` member (family, driver and VBIOS versions, FWID, measurement count, as
``cairn show gpu`` decodes them) and every certificate the bundle carries. Nothing is checked
beyond well-formedness.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, assert_never

from ..encoding import extract_snp_report
from ..evidence.models import EvidenceBundle, TpmEvidence, load_evidence
from ..inputs.base import Platform
from ..sections import Row, Section
from ..snp.report import parse_report
from ..tdx.quote import parse_quote
from ..tpm.structures import parse_attest, parse_public
from ..x509.cert import Certificate, load_certificates, parse_certificate
from .common import Output, add_json_option, read_input_file
from .show_document import ShowDocument


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Print what a Cairn evidence bundle claims (nonce, system, services, tree "
        "root), a summary of its TEE report or quote, of its TPM quote and of its GPUs, and its "
        "certificates, "
        "WITHOUT verifying any of it: use `cairn verify evidence` for that."
    )
    parser.add_argument("bundle", type=Path, help="evidence bundle (JSON) ('-' = stdin)")
    add_json_option(parser)
    parser.set_defaults(func=show_evidence_command)


def show_evidence_command(args: argparse.Namespace) -> int:
    source = str(args.bundle)
    bundle = load_evidence(read_input_file(args.bundle, "evidence bundle"), source)
    shown = describe_evidence(bundle, source)
    return Output(args.json).document(shown.to_json(), shown.render_text())


def describe_evidence(bundle: EvidenceBundle, source: str) -> ShowDocument:
    """The bundle's claims, TEE and TPM summaries and certificates, decoded, not verified."""
    tee, tee_certs = _tee_summary(bundle)
    tpm = None if bundle.tpm is None else _tpm_summary(bundle.tpm)
    gpus, gpu_certs = _gpu_summary(bundle)
    claims = bundle.claims
    fields: dict[str, Any] = {
        "claims": claims.model_dump(mode="json"),
        "tee": tee,
        "tpm": tpm,
        "gpu": gpus,
        "agent": bundle.agent.model_dump(mode="json"),
    }
    simulated = " (SIMULATED: not hardware-backed)" if bundle.agent.simulated else ""
    sections: list[Section] = [
        (
            "Claims",
            [
                ("nonce", claims.nonce.hex()),
                ("system", claims.system.store_path),
                ("system hash", claims.system.hash.hex()),
                ("tree root", f"{claims.tree_root:064x}"),
                ("gpu digest", claims.gpu_digest.hex() if claims.gpu_digest else "none"),
                ("report data version", str(claims.report_data_version)),
            ],
        ),
        ("Services", _service_rows(bundle)),
        ("TEE", [("kind", f"{bundle.tee.kind}{simulated}"), *_rows(tee["report"])]),
        ("TPM quote", _rows(tpm) if tpm else [("tpm", "none in the bundle")]),
        ("GPUs", _gpu_rows(gpus)),
        (
            "Agent",
            [("version", bundle.agent.version), ("simulated", _yes(bundle.agent.simulated))],
        ),
    ]
    return ShowDocument(
        kind="Cairn evidence bundle",
        source=source,
        container=f"{bundle.format} v{bundle.version}, TEE {bundle.tee.kind}",
        command="evidence",
        fields=fields,
        sections=sections,
        certificates=tee_certs + gpu_certs,
    )


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _rows(summary: dict[str, Any]) -> list[Row]:
    """A flat summary dict as text rows (lists joined, ``None`` as ``none``)."""
    rows: list[Row] = []
    for key, value in summary.items():
        if isinstance(value, dict):
            rows += [
                (f"{key.replace('_', ' ')} {name.replace('_', ' ')}", str(v))
                for name, v in value.items()
            ]
            continue
        if isinstance(value, list):
            text = ", ".join(str(v) for v in value) or "none"
        elif isinstance(value, bool):
            text = _yes(value)
        else:
            text = "none" if value is None else str(value)
        rows.append((key.replace("_", " "), text))
    return rows


def _service_rows(bundle: EvidenceBundle) -> list[Row]:
    if not bundle.claims.services:
        return [("services", "none")]
    rows: list[Row] = []
    for service in bundle.claims.services:
        rows += [
            (service.name, service.store_path),
            ("  public key", service.public_key.hex()),
        ]
    return rows


def _tee_summary(bundle: EvidenceBundle) -> tuple[dict[str, Any], tuple[Certificate, ...]]:
    """The TEE kind, the decoded report/quote essentials, and the certificates carried."""
    tee = bundle.tee
    certs = [parse_certificate(der) for der in tee.certificates]
    report: dict[str, Any]
    quote_bytes = tee.report
    hcl: dict[str, Any] | None = None
    if tee.claims_in_tpm_quote:  # an Azure HCL report (then, on TDX, the TD quote)
        hcl, td_quote = _hcl_summary(tee.report, tdx=tee.platform is Platform.TDX)
        quote_bytes = td_quote or b""
    if tee.platform is Platform.SNP:
        raw, container = extract_snp_report(tee.report)
        snp = parse_report(raw)
        report = {
            "format": f"SEV-SNP report v{snp.version} ({container})",
            "product": snp.product.value if snp.product else None,
            "signing_key": snp.signing_key.name,
            "vmpl": snp.vmpl,
            "debug": snp.policy.debug,
            "measurement": snp.measurement.hex(),
            "report_data": snp.report_data.hex(),
            "host_data": snp.host_data.hex(),
            "reported_tcb": str(snp.reported_tcb),
            "chip_id": snp.chip_id.hex(),
        }
    elif tee.platform is Platform.TDX:
        quote = parse_quote(quote_bytes)
        body = quote.body
        certs += load_certificates(quote.certification.pck_cert_chain_pem)
        report = {
            "format": f"TDX DCAP quote v{quote.header.version}, body type {quote.body_type}",
            "td_attributes": body.td_attributes.names(),
            "debug": body.td_attributes.debug,
            "mr_td": body.mr_td.hex(),
            **{f"rtmr{i}": rtmr.hex() for i, rtmr in enumerate(body.rtmrs)},
            "report_data": body.report_data.hex(),
            "tee_tcb_svn": body.tee_tcb_svn.hex(),
            "collateral": "included" if tee.collateral is not None else "none",
        }
        if tee.event_log is not None:  # bundle version 2: the TD's CCEL (not replayed here)
            report["event_log"] = f"{len(tee.event_log)} bytes (CCEL)"
    else:
        assert_never(tee.platform)
    if hcl is not None:
        report["hcl_report"] = hcl
    return {"kind": tee.kind, "report": report}, tuple(certs)


def _hcl_summary(report: bytes, *, tdx: bool) -> tuple[dict[str, Any], bytes | None]:
    """What an Azure HCL report holds (decoded, not verified), and the TD quote after it."""
    from ..azure.hcl import parse_hcl_report, split_bundle_report
    from ..azure.runtime_data import parse_runtime_data

    raw, td_quote = split_bundle_report(report, tdx=tdx)
    hcl = parse_hcl_report(raw)
    runtime = parse_runtime_data(hcl.runtime_data)
    summary = {
        "version": hcl.version,
        "size": hcl.size,
        "runtime_data_bytes": len(hcl.runtime_data),
        "hcl_ak_sha256": runtime.ak.fingerprint(),
        "vm_configuration": ", ".join(
            f"{name}={str(value).lower() if isinstance(value, bool) else value}"
            for name, value in runtime.vm_configuration.items()
        ),
    }
    return summary, td_quote


def _gpu_summary(
    bundle: EvidenceBundle,
) -> tuple[dict[str, Any] | None, tuple[Certificate, ...]]:
    """The bundle's GPUs and NVSwitches, decoded (not verified), and their certificates."""
    if bundle.gpu is None:
        return None, ()
    from .gpu_render import bundle_device_summary

    devices = []
    certs: list[Certificate] = []
    for index, device in enumerate(bundle.gpu.devices):
        chain = [parse_certificate(der) for der in device.certificates]
        certs += chain
        devices.append(bundle_device_summary(index, device.report, chain))
    return {"digest": bundle.gpu.digest().hex(), "devices": devices}, tuple(certs)


def _gpu_rows(gpus: dict[str, Any] | None) -> list[Row]:
    if gpus is None:
        return [("gpus", "none in the bundle")]
    from .gpu_render import bundle_device_rows

    rows: list[Row] = [
        ("devices", str(len(gpus["devices"]))),
        ("digest", f"{gpus['digest']} (of these devices; claims.gpu_digest is what is bound)"),
    ]
    for device in gpus["devices"]:
        rows += bundle_device_rows(device)
    return rows


def _tpm_summary(tpm: TpmEvidence) -> dict[str, Any]:
    """What the TPM quote signs (extraData, PCR selection and digest) and with which key."""
    attest = parse_attest(tpm.quote)
    ak = parse_public(tpm.ak_public)
    return {
        "extra_data": attest.extra_data.hex(),
        "pcr_select": [f"{bank}:{index}" for bank, index in attest.selected],
        "pcr_digest": attest.pcr_digest.hex(),
        "clock": attest.clock_info.clock,
        "reset_count": attest.clock_info.reset_count,
        "firmware_version": f"{attest.firmware_version:016x}",
        "ak_type": ak.to_json()["type"],
        "ak_name": ak.name().hex(),
        "ak_sha256": tpm.ak_digest.hex(),
        "pcrs": {
            f"{bank}:{index}": value.hex()
            for bank, values in tpm.pcrs.items()
            for index, value in sorted(values.items(), key=lambda item: int(item[0]))
        },
        "event_log": f"{len(tpm.event_log)} bytes" if tpm.event_log else None,
    }
