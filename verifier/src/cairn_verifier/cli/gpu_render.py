"""The text and JSON renderings of GPU evidence (``cairn show gpu``): every device's request,
measurement blocks and opaque fields, decoded where Cairn knows them."""

from __future__ import annotations

from typing import Any

from ..errors import ParseError
from ..gpu.families import DeviceFamily, DeviceKind, leaf_family
from ..gpu.opaque import field_names
from ..gpu.report import DeviceReport, decode_report
from ..gpu.spdm import SpdmReport, parse_spdm_report
from ..sections import Row, Section
from ..x509.cert import Certificate


def family_of(certificates: list[Certificate]) -> DeviceFamily | None:
    """The device family the leaf names (unverified: for decoding only), None if unknown."""
    try:
        return leaf_family(certificates[0]) if certificates else None
    except Exception:
        return None


def kind_of(certificates: list[Certificate]) -> DeviceKind | None:
    """The device kind the leaf names (unverified: for decoding only), None if unknown."""
    family = family_of(certificates)
    return None if family is None else family.kind


def _report_json(report: DeviceReport | None) -> dict[str, Any] | None:
    if report is None:
        return None
    return {
        "driver_version": report.driver_version,
        "firmware_version": report.firmware_version,
        "project": report.project,
        "project_sku": report.project_sku,
        "chip_sku": report.chip_sku,
        "fwid": None if report.fwid is None else report.fwid.hex(),
        "nvdec0": None if report.nvdec0 is None else report.nvdec0.value,
        "opaque_data_version": report.opaque_data_version,
        "chip_info": report.chip_info,
        "feature_flag": report.feature_flag,
        "pdis": list(report.pdis),
    }


def device_json(
    label: str, spdm: SpdmReport, kind: DeviceKind | None, envelope: dict[str, str]
) -> dict[str, Any]:
    names = field_names(kind or DeviceKind.GPU)
    report = decode_report(spdm, kind) if kind is not None else None
    return {
        "input": label,
        "kind": None if kind is None else kind.value,
        "request": {
            "nonce": spdm.nonce.hex(),
            "operation": spdm.operation,
            "slot": spdm.slot,
        },
        "measurement_blocks": [
            {"index": b.index, "value_type": b.value_type, "value": b.value.hex()}
            for b in spdm.blocks
        ],
        "opaque_fields": [
            {
                "type": f.type,
                "name": names.get(f.type, f"UNKNOWN_{f.type}"),
                "value": f.value.hex(),
            }
            for f in (report.opaque.fields if report is not None else ())
        ],
        "decoded": _report_json(report),
        "signature_offset": spdm.signature_offset,
        "signature": spdm.signature.hex(),
        "trailing_bytes": len(spdm.trailing),
        "envelope": envelope,
    }


def device_section(doc: dict[str, Any]) -> Section:
    rows: list[Row] = [
        ("input", doc["input"]),
        ("kind", doc["kind"] or "(unknown leaf: opaque fields not decoded)"),
        ("nonce", doc["request"]["nonce"]),
        ("blocks", str(len(doc["measurement_blocks"]))),
    ]
    decoded = doc["decoded"] or {}
    for key in ("driver_version", "firmware_version", "project", "project_sku", "chip_sku"):
        if decoded.get(key) is not None:
            rows.append((key.replace("_", " "), str(decoded[key])))
    for key in ("fwid", "nvdec0", "opaque_data_version", "chip_info", "feature_flag"):
        if decoded.get(key) is not None:
            rows.append((key.replace("_", " "), str(decoded[key])))
    for block in doc["measurement_blocks"]:
        rows.append((f"block {block['index']}", block["value"]))
    for field in doc["opaque_fields"]:
        rows.append((f"opaque {field['type']} {field['name'].lower()}", field["value"][:96]))
    rows.append(("signature at", str(doc["signature_offset"])))
    if doc["trailing_bytes"]:
        rows.append(("trailing", f"{doc['trailing_bytes']} zero bytes (not signed, not read)"))
    for key, value in doc["envelope"].items():
        rows.append((f"envelope {key}", value))
    return (f"Device {doc['input']}", rows)


def bundle_device_summary(index: int, report: bytes, chain: list[Certificate]) -> dict[str, Any]:
    """One device of an evidence bundle's ``gpu`` member as ``cairn show evidence`` lists it: the
    family its leaf names, the versions and FWID its report states, how many measurement blocks it
    holds — decoded as ``cairn show gpu`` decodes them, not verified. A report that does not parse
    is malformed input naming the device."""
    component = f"gpu.devices[{index}]"
    try:
        spdm = parse_spdm_report(report)
        family = family_of(chain)
        shown = device_json(component, spdm, None if family is None else family.kind, {})
    except ParseError as error:
        error.component = component + (f" {error.component}" if error.component else "")
        raise
    decoded = shown["decoded"] or {}
    return {
        "device": index,
        "kind": shown["kind"],
        "family": None if family is None else family.value,
        "leaf": str(chain[0].subject),
        "driver_version": decoded.get("driver_version"),
        "firmware_version": decoded.get("firmware_version"),
        "fwid": decoded.get("fwid"),
        "measurement_blocks": len(shown["measurement_blocks"]),
        "nonce": shown["request"]["nonce"],
        "certificates": len(chain),
    }


def bundle_device_rows(device: dict[str, Any]) -> list[Row]:
    """Text rows of :func:`bundle_device_summary` (an NVSwitch's firmware is its BIOS)."""
    firmware = "switch BIOS" if device["kind"] == DeviceKind.SWITCH.value else "VBIOS"
    family = (
        f"{device['kind']} {device['family']}"
        if device["family"]
        else "unknown (the leaf names no NVIDIA family: report fields not decoded)"
    )
    return [
        (f"device {device['device']}", family),
        ("  leaf", device["leaf"]),
        ("  driver version", device["driver_version"] or "none"),
        (f"  {firmware} version", device["firmware_version"] or "none"),
        ("  fwid", device["fwid"] or "none"),
        ("  measurement blocks", str(device["measurement_blocks"])),
        ("  nonce", device["nonce"]),
        ("  certificates", str(device["certificates"])),
    ]
