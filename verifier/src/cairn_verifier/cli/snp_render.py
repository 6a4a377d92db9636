"""How ``cairn show snp`` prints an SEV-SNP attestation report: every field as JSON-ready data
(``fields``) and as titled text sections (:mod:`cairn_verifier.sections`).

Hex is lowercase without ``0x``; 64-bit bit fields are 16 hex digits, the signer-info word 8.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..sections import Section, render_sections
from ..snp.report import AttestationReport, FirmwareVersion
from ..snp.tcb import TcbVersion

# --------------------------------------------------------------------------------------------
# JSON
# --------------------------------------------------------------------------------------------


def _hex64(value: int) -> str:
    """A 64-bit field's value as 16 lowercase hex digits (no ``0x``, like every hex value)."""
    return f"{value:016x}"


def _hex32(value: int) -> str:
    return f"{value:08x}"


def _tcb_json(tcb: TcbVersion) -> dict[str, Any]:
    return {
        "raw": tcb.raw.hex(),
        "layout": tcb.layout.value,
        "layout_assumed": tcb.layout_assumed,
        **tcb.components(),
    }


def _firmware_json(fw: FirmwareVersion) -> dict[str, Any]:
    return {"major": fw.major, "minor": fw.minor, "build": fw.build, "text": str(fw)}


def report_to_json(report: AttestationReport) -> dict[str, Any]:
    """Every field of the report as JSON-ready data (hex for bytes and 64-bit bit fields)."""
    cpuid: dict[str, Any] | None = None
    if report.cpuid_fam_id is not None:
        cpuid = {
            "family": report.cpuid_fam_id,
            "model": report.cpuid_mod_id,
            "stepping": report.cpuid_step,
            "product": p.value if (p := report.product_from_cpuid) else None,
        }
    return {
        "version": report.version,
        "guest_svn": report.guest_svn,
        "policy": {
            "raw": _hex64(report.policy.raw),
            "abi_major": report.policy.abi_major,
            "abi_minor": report.policy.abi_minor,
            **report.policy.flags(),
            "reserved_bits": _hex64(report.policy.reserved_bits),
        },
        "family_id": report.family_id.hex(),
        "image_id": report.image_id.hex(),
        "vmpl": report.vmpl,
        "signature_algo": report.signature_algo,
        "current_tcb": _tcb_json(report.current_tcb),
        "platform_info": {
            "raw": _hex64(report.platform_info.raw),
            **report.platform_info.flags(),
            "reserved_bits": _hex64(report.platform_info.reserved_bits),
        },
        "signer_info": {
            "raw": _hex32(report.signer_info.raw),
            "author_key_en": report.author_key_en,
            "mask_chip_id": report.mask_chip_id,
            "signing_key": report.signing_key.name,
            "reserved_bits": _hex32(report.signer_info.reserved_bits),
        },
        "report_data": report.report_data.hex(),
        "measurement": report.measurement.hex(),
        "host_data": report.host_data.hex(),
        "id_key_digest": report.id_key_digest.hex(),
        "author_key_digest": report.author_key_digest.hex(),
        "report_id": report.report_id.hex(),
        "report_id_ma": report.report_id_ma.hex(),
        "reported_tcb": _tcb_json(report.reported_tcb),
        "cpuid": cpuid,
        "chip_id": report.chip_id.hex(),
        "committed_tcb": _tcb_json(report.committed_tcb),
        "current_firmware": _firmware_json(report.current_firmware),
        "committed_firmware": _firmware_json(report.committed_firmware),
        "launch_tcb": _tcb_json(report.launch_tcb),
        "launch_mit_vector": (
            None if report.launch_mit_vector is None else _hex64(report.launch_mit_vector)
        ),
        "current_mit_vector": (
            None if report.current_mit_vector is None else _hex64(report.current_mit_vector)
        ),
        "signature": {"r": f"{report.signature_r:096x}", "s": f"{report.signature_s:096x}"},
        "product": {
            "name": report.product.value if report.product else None,
            "source": report.product_source.value,
            "tcb_layout": report.tcb_layout.value,
            "tcb_layout_assumed": report.tcb_layout_assumed,
        },
    }


# --------------------------------------------------------------------------------------------
# Text
# --------------------------------------------------------------------------------------------


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _tcb_text(tcb: TcbVersion) -> str:
    note = " (layout assumed: product unknown)" if tcb.layout_assumed else ""
    return f"{tcb}  [{tcb.raw.hex()}, {tcb.layout.value}{note}]"


def _opt(value: int | None, fmt: Callable[[int], str]) -> str:
    return "n/a (report version < 5)" if value is None else fmt(value)


def report_sections(report: AttestationReport) -> list[Section]:
    """Every field of the report, grouped into titled sections of (label, value) rows."""
    pol, plat, sig = report.policy, report.platform_info, report.signer_info
    product = report.product.value if report.product else "unknown"
    if report.cpuid_fam_id is None:
        cpuid = "n/a (report version 2)"
    else:
        cpuid = (
            f"family {report.cpuid_fam_id:02x} model {report.cpuid_mod_id:02x} "
            f"stepping {report.cpuid_step:02x} (hex)"
        )
    return [
        (
            "Header",
            [
                ("version", str(report.version)),
                ("product", f"{product} (from {report.product_source.value})"),
                ("cpuid", cpuid),
                ("guest svn", str(report.guest_svn)),
                ("vmpl", str(report.vmpl)),
                ("signature algo", f"{report.signature_algo} (ECDSA P-384 with SHA-384)"),
            ],
        ),
        (
            "Guest policy",
            [
                ("raw", _hex64(pol.raw)),
                ("abi (minimum)", pol.abi_version),
                *((name.replace("_", " "), _yes(v)) for name, v in pol.flags().items()),
                ("reserved bits", _hex64(pol.reserved_bits)),
            ],
        ),
        (
            "Platform info",
            [
                ("raw", _hex64(plat.raw)),
                *((name.replace("_", " "), _yes(v)) for name, v in plat.flags().items()),
                ("reserved bits", _hex64(plat.reserved_bits)),
            ],
        ),
        (
            "Signer",
            [
                ("signing key", sig.signing_key.name),
                ("mask chip id", _yes(sig.mask_chip_id)),
                ("author key en", _yes(sig.author_key_en)),
                ("reserved bits", _hex32(sig.reserved_bits)),
            ],
        ),
        (
            "Measurements",
            [
                ("measurement", report.measurement.hex()),
                ("report data", report.report_data.hex()),
                ("host data", report.host_data.hex()),
                ("family id", report.family_id.hex()),
                ("image id", report.image_id.hex()),
                ("id key digest", report.id_key_digest.hex()),
                ("author key digest", report.author_key_digest.hex()),
            ],
        ),
        (
            "TCB",
            [
                ("current tcb", _tcb_text(report.current_tcb)),
                ("reported tcb", _tcb_text(report.reported_tcb)),
                ("committed tcb", _tcb_text(report.committed_tcb)),
                ("launch tcb", _tcb_text(report.launch_tcb)),
                ("current firmware", str(report.current_firmware)),
                ("committed firmware", str(report.committed_firmware)),
                ("launch mit vector", _opt(report.launch_mit_vector, _hex64)),
                ("current mit vector", _opt(report.current_mit_vector, _hex64)),
            ],
        ),
        (
            "Identifiers",
            [
                ("chip id", report.chip_id.hex()),
                ("report id", report.report_id.hex()),
                ("report id ma", report.report_id_ma.hex()),
            ],
        ),
        (
            "Signature",
            [
                ("r", f"{report.signature_r:096x}"),
                ("s", f"{report.signature_s:096x}"),
            ],
        ),
    ]


def render_report(report: AttestationReport) -> str:
    """A human-readable listing of every field, grouped, one field per line, labels aligned."""
    return render_sections(report_sections(report))
