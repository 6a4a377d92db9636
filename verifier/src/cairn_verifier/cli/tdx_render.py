"""The text and JSON renderings of a TDX quote (``cairn show tdx``): every field, TD attributes
and XFAM decoded by name, the PCK certificate chain counted (``cairn show tdx`` lists it)."""

from __future__ import annotations

from typing import Any

from ..sections import Section, render_sections
from ..tdx.quote import (
    ATTESTATION_KEY_TYPES,
    BODY_NAMES,
    CERT_DATA_QE_REPORT,
    CERT_DATA_TYPES,
    INTEL_QE_VENDOR_ID,
    EnclaveReport,
    Quote,
    QuoteHeader,
    TdReport,
)


def _header_json(h: QuoteHeader) -> dict[str, Any]:
    return {
        "version": h.version,
        "attestation_key_type": h.attestation_key_type,
        "attestation_key_type_name": ATTESTATION_KEY_TYPES.get(h.attestation_key_type),
        "tee_type": f"{h.tee_type:08x}",
        "reserved": h.reserved.hex(),
        "qe_vendor_id": h.qe_vendor_id.hex(),
        "qe_vendor_is_intel": h.qe_vendor_id == INTEL_QE_VENDOR_ID,
        "user_data": h.user_data.hex(),
    }


def _body_json(b: TdReport) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "tee_tcb_svn": b.tee_tcb_svn.hex(),
        "mr_seam": b.mr_seam.hex(),
        "mr_signer_seam": b.mr_signer_seam.hex(),
        "seam_attributes": b.seam_attributes.hex(),
        "td_attributes": {
            "raw": b.td_attributes.raw.hex(),
            "flags": b.td_attributes.names(),
            "debug": b.td_attributes.debug,
            "sept_ve_disable": b.td_attributes.sept_ve_disable,
            "pks": b.td_attributes.pks,
            "kl": b.td_attributes.kl,
            "perfmon": b.td_attributes.perfmon,
            "migratable": b.td_attributes.migratable,
            "lass": b.td_attributes.lass,
        },
        "xfam": {
            "raw": b.xfam.raw.hex(),
            "value": f"{b.xfam.value:016x}",
            "features": b.xfam.names(),
        },
        "mr_td": b.mr_td.hex(),
        "mr_config_id": b.mr_config_id.hex(),
        "mr_owner": b.mr_owner.hex(),
        "mr_owner_config": b.mr_owner_config.hex(),
        "rtmrs": [rtmr.hex() for rtmr in b.rtmrs],
        "report_data": b.report_data.hex(),
    }
    if b.tee_tcb_svn2 is not None:
        doc["tee_tcb_svn2"] = b.tee_tcb_svn2.hex()
    if b.mr_service_td is not None:
        doc["mr_service_td"] = b.mr_service_td.hex()
    return doc


def _qe_report_json(e: EnclaveReport) -> dict[str, Any]:
    return {
        "cpu_svn": e.cpu_svn.hex(),
        "misc_select": f"{e.misc_select:08x}",
        "isv_ext_prod_id": e.isv_ext_prod_id.hex(),
        "attributes": e.attributes.hex(),
        "mr_enclave": e.mr_enclave.hex(),
        "mr_signer": e.mr_signer.hex(),
        "config_id": e.config_id.hex(),
        "isv_prod_id": e.isv_prod_id,
        "isv_svn": e.isv_svn,
        "config_svn": e.config_svn,
        "isv_family_id": e.isv_family_id.hex(),
        "report_data": e.report_data.hex(),
    }


def quote_to_json(q: Quote) -> dict[str, Any]:
    """Every field of the quote as JSON-ready values (bytes as lowercase hex).

    The PCK certificate chain is described by its type, count and size; ``cairn show tdx``
    summarises the certificates themselves (subject, validity, fingerprint).
    """
    c = q.certification
    return {
        "header": _header_json(q.header),
        "body_type": q.body_type,
        "body_type_name": BODY_NAMES[q.body_type],
        "body": _body_json(q.body),
        "signature": q.signature.hex(),
        "attestation_key": q.attestation_key.hex(),
        "certification_data": {
            "type": CERT_DATA_QE_REPORT,
            "qe_report": _qe_report_json(c.qe_report),
            "qe_report_signature": c.qe_report_signature.hex(),
            "qe_auth_data": c.qe_auth_data.hex(),
            "pck_cert_chain_type": c.pck_cert_chain_type,
            "pck_cert_chain_certificates": _pem_count(c.pck_cert_chain_pem),
            "pck_cert_chain_bytes": len(c.pck_cert_chain_pem),
        },
        "quote_size": len(q.raw),
        "trailing_size": len(q.trailing),
    }


def _pem_count(pem: bytes) -> int:
    return pem.count(b"-----BEGIN CERTIFICATE-----")


def _hex_or_none(value: bytes | None) -> str:
    return "n/a (TD 1.0 report)" if value is None else value.hex()


def _list_or_none(items: list[str]) -> str:
    return ", ".join(items) if items else "none"


def quote_sections(q: Quote) -> list[Section]:
    """Every field of the quote in titled sections; labels are the JSON keys with spaces."""
    h, b, c = q.header, q.body, q.certification
    e = c.qe_report
    vendor = "Intel" if h.qe_vendor_id == INTEL_QE_VENDOR_ID else "not Intel"
    key_name = ATTESTATION_KEY_TYPES.get(h.attestation_key_type, "unknown")
    trailing = f" (+{len(q.trailing)} trailing bytes ignored)" if q.trailing else ""
    return [
        (
            "Header",
            [
                ("version", str(h.version)),
                ("size", f"{len(q.raw)} bytes{trailing}"),
                ("attestation key type", f"{h.attestation_key_type} ({key_name})"),
                ("tee type", f"{h.tee_type:08x} (TDX)"),
                ("reserved", h.reserved.hex()),
                ("qe vendor id", f"{h.qe_vendor_id.hex()} ({vendor})"),
                ("user data", h.user_data.hex()),
            ],
        ),
        (
            "TD report",
            [
                ("body type", f"{q.body_type} ({BODY_NAMES[q.body_type]}, {len(b.raw)} bytes)"),
                ("tee tcb svn", b.tee_tcb_svn.hex()),
                ("mr seam", b.mr_seam.hex()),
                ("mr signer seam", b.mr_signer_seam.hex()),
                ("seam attributes", b.seam_attributes.hex()),
                (
                    "td attributes",
                    f"{b.td_attributes.raw.hex()} ({_list_or_none(b.td_attributes.names())})",
                ),
                ("xfam", f"{b.xfam.raw.hex()} ({_list_or_none(b.xfam.names())})"),
                ("mr td", b.mr_td.hex()),
                ("mr config id", b.mr_config_id.hex()),
                ("mr owner", b.mr_owner.hex()),
                ("mr owner config", b.mr_owner_config.hex()),
                *((f"rtmr{i}", rtmr.hex()) for i, rtmr in enumerate(b.rtmrs)),
                ("report data", b.report_data.hex()),
                ("tee tcb svn2", _hex_or_none(b.tee_tcb_svn2)),
                ("mr service td", _hex_or_none(b.mr_service_td)),
            ],
        ),
        (
            "Signature",
            [
                ("signature", f"{q.signature.hex()} (r || s)"),
                ("attestation key", f"{q.attestation_key.hex()} (x || y)"),
                (
                    "certification data",
                    f"type {CERT_DATA_QE_REPORT} ({CERT_DATA_TYPES[CERT_DATA_QE_REPORT]})",
                ),
                (
                    "pck cert chain",
                    f"type {c.pck_cert_chain_type} ({CERT_DATA_TYPES[c.pck_cert_chain_type]}), "
                    f"{_pem_count(c.pck_cert_chain_pem)} certificates, "
                    f"{len(c.pck_cert_chain_pem)} bytes",
                ),
            ],
        ),
        (
            "QE report",
            [
                ("cpu svn", e.cpu_svn.hex()),
                ("misc select", f"{e.misc_select:08x}"),
                ("isv ext prod id", e.isv_ext_prod_id.hex()),
                ("attributes", e.attributes.hex()),
                ("mr enclave", e.mr_enclave.hex()),
                ("mr signer", e.mr_signer.hex()),
                ("config id", e.config_id.hex()),
                ("isv prod id", str(e.isv_prod_id)),
                ("isv svn", str(e.isv_svn)),
                ("config svn", str(e.config_svn)),
                ("isv family id", e.isv_family_id.hex()),
                ("report data", e.report_data.hex()),
                ("qe report signature", c.qe_report_signature.hex()),
                ("qe auth data", f"{c.qe_auth_data.hex() or '(empty)'} ({len(c.qe_auth_data)} B)"),
            ],
        ),
    ]


def render_quote(q: Quote) -> str:
    """A human-readable description of every field of the quote (certificates: counted)."""
    return render_sections(quote_sections(q))
