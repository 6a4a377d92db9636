"""A simulated NVIDIA Hopper (GH100) GPU node for CI and laptops: real SPDM 1.1 GET_MEASUREMENTS
transcripts (request, MEASUREMENTS response with DMTF blocks and NVIDIA's opaque fields, ECDSA
P-384 signature at ``79+L+O``) signed by a locally generated chain shaped like NVIDIA's:
Device Identity CA -> GH100 Identity -> GH100 Provisioner ICA 1 -> GSP BROM -> GSP FMC leaf,
the leaf carrying the firmware's FWID in extension 2.23.133.5.4.1 as NVIDIA's do; and, when
asked for, NVSwitches (LS10) under the same root as NVIDIA's are: GH100 Identity -> LS_10
Provisioner ICA 1 -> FSP BROM -> FSP FMC leaf, their reports carrying a switch's opaque fields
(BIOS version as text, its PDI, FWID).

Nothing produced here is hardware-backed. Every subject carries O = "Cairn SIMULATED (not
NVIDIA)", the root's name says SIMULATED, and a Cairn verifier accepts the chain only when the
user names its root with ``--trust-simulated-root`` (its results then say SIMULATED).
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from cairn_verifier.api import der_encode

from ..tee.simulated_ca import (
    Link,
    SimulatedRoot,
    StateDir,
    Vendor,
    build_chain,
    certificate_der,
    years,
)
from .base import GpuDevice, ProviderError

ORGANISATION: Final = "Cairn SIMULATED (not NVIDIA)"
ROOT_NAME: Final = "Cairn SIMULATED NVIDIA Device Identity CA"
DRIVER_VERSION: Final = "550.90.07"
VBIOS_VERSION: Final = bytes.fromhex("009f009601000000")
"""VBIOS 96.00.9F.00.01 as a GPU encodes it (little-endian word, then the fifth byte)."""
PROJECT, PROJECT_SKU, CHIP_SKU = "1010", "0200", "882"
FIRMWARE_TEXT: Final = b"Cairn simulated GH100 GSP firmware, version 1"
FWID: Final = hashlib.sha384(FIRMWARE_TEXT).digest()
MEASUREMENT_BLOCKS: Final = 16
MAX_GPUS: Final = 8
MAX_SWITCHES: Final = 8
SWITCH_BIOS_VERSION: Final = "96.10.55.00.01"
"""A real LS10 BIOS version (NVIDIA's attestation-sdk sample switch), so policies apply."""
SWITCH_FIRMWARE_TEXT: Final = b"Cairn simulated LS10 FSP firmware, version 1"
SWITCH_FWID: Final = hashlib.sha384(SWITCH_FIRMWARE_TEXT).digest()

_FWID_EXTENSION: Final = "2.23.133.5.4.1"
_SHA384_OID: Final = "2.16.840.1.101.3.4.2.2"
_P384: Final = ec.SECP384R1()

# SPDM 1.1 / NVIDIA opaque data constants (docs/gpu.md, "The attestation report")
_SPDM_11, _GET_MEASUREMENTS, _MEASUREMENTS = 0x11, 0xE0, 0x60
_SIGNATURE_REQUESTED, _MEASURE_ALL, _DMTF = 0x01, 0xFF, 0x01
_DIGEST_MUTABLE_FIRMWARE: Final = 0x01
_OPAQUE_DRIVER, _OPAQUE_VBIOS, _OPAQUE_NVDEC0 = 3, 6, 11
_OPAQUE_CHIP_SKU, _OPAQUE_PROJECT, _OPAQUE_PROJECT_SKU, _OPAQUE_FWID = 15, 17, 18, 20
_NVDEC0_ENABLED: Final = b"\xaa"
_OPAQUE_DEVICE_PDI: Final = 22


def measurement_value(index: int) -> bytes:
    """The simulated GPU's measurement ``index``: SHA-384 of a fixed text (matches no RIM)."""
    return hashlib.sha384(f"Cairn simulated GH100 measurement {index}".encode()).digest()


def switch_measurement_value(index: int) -> bytes:
    """A simulated NVSwitch's measurement ``index`` (matches no RIM)."""
    return hashlib.sha384(f"Cairn simulated LS10 measurement {index}".encode()).digest()


def switch_opaque_data(number: int, fwid: bytes = SWITCH_FWID) -> bytes:
    """An NVSwitch's opaque fields (legacy layout): BIOS version as text, its 8-byte PDI, FWID."""
    pdi = hashlib.sha256(f"Cairn simulated NVSwitch {number}".encode()).digest()[:8]
    fields = (
        (_OPAQUE_VBIOS, _cstring(SWITCH_BIOS_VERSION)),
        (_OPAQUE_DEVICE_PDI, pdi),
        (_OPAQUE_FWID, fwid),
    )
    return b"".join(struct.pack("<HH", kind, len(value)) + value for kind, value in fields)


def _cstring(text: str) -> bytes:
    return text.encode("ascii") + b"\0"


def opaque_data(fwid: bytes = FWID) -> bytes:
    """NVIDIA's opaque fields in the legacy layout: ``type (2) | size (2) | value``."""
    fields = (
        (_OPAQUE_DRIVER, _cstring(DRIVER_VERSION)),
        (_OPAQUE_VBIOS, VBIOS_VERSION),
        (_OPAQUE_NVDEC0, _NVDEC0_ENABLED),
        (_OPAQUE_CHIP_SKU, _cstring(CHIP_SKU)),
        (_OPAQUE_PROJECT, _cstring(PROJECT)),
        (_OPAQUE_PROJECT_SKU, _cstring(PROJECT_SKU)),
        (_OPAQUE_FWID, fwid),
    )
    return b"".join(struct.pack("<HH", kind, len(value)) + value for kind, value in fields)


def measurement_record(values: Sequence[bytes]) -> bytes:
    """DMTF measurement blocks 1..n: index, specification, size; value type, size, value."""
    return b"".join(
        struct.pack("<BBHBH", index, _DMTF, 3 + len(value), _DIGEST_MUTABLE_FIRMWARE, len(value))
        + value
        for index, value in enumerate(values, start=1)
    )


def spdm_transcript(
    nonce: bytes,
    key: ec.EllipticCurvePrivateKey,
    *,
    values: Sequence[bytes],
    opaque: bytes,
    response_nonce: bytes,
) -> bytes:
    """The signed GET_MEASUREMENTS request + MEASUREMENTS response (SPDM 1.1, slot 0)."""
    if len(nonce) != 32 or len(response_nonce) != 32:
        raise ValueError("SPDM nonces are 32 bytes")
    request = bytes([_SPDM_11, _GET_MEASUREMENTS, _SIGNATURE_REQUESTED, _MEASURE_ALL]) + nonce
    request += b"\x00"  # SlotIDParam: slot 0
    record = measurement_record(values)
    response = bytes([_SPDM_11, _MEASUREMENTS, 0, 0, len(values)])
    response += len(record).to_bytes(3, "little") + record + response_nonce
    response += len(opaque).to_bytes(2, "little") + opaque
    signed = request + response
    r, s = decode_dss_signature(key.sign(signed, ec.ECDSA(hashes.SHA384())))
    return signed + r.to_bytes(48, "big") + s.to_bytes(48, "big")


def fwid_extension(public_key: ec.EllipticCurvePublicKey, fwid: bytes) -> x509.ExtensionType:
    """The Hopper leaf's FWID extension: ``SEQUENCE {version, SubjectPublicKeyInfo, FWID}``."""
    spki = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    value = der_encode.sequence(
        der_encode.integer(1),
        spki,
        der_encode.sequence(der_encode.oid(_SHA384_OID), der_encode.octet_string(fwid)),
    )
    return x509.UnrecognizedExtension(x509.ObjectIdentifier(_FWID_EXTENSION), value)


class _NvidiaStyle(Vendor):
    """Subjects as NVIDIA's device chains write them: C, O, CN (short: NVML's buffer for the
    whole PEM chain is 5120 bytes)."""

    def name(self, common_name: str) -> x509.Name:
        return x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, self.organisation),
                x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            ]
        )


def _device_links(state: StateDir, prefix: str, count: int, model: str, fwid: bytes) -> list[Link]:
    """Each device's BROM certificate under ``{prefix}-ica`` and its FMC leaf, whose FWID extension
    names ``fwid`` (NVIDIA's device-chain shape for GPUs and NVSwitches alike)."""
    links: list[Link] = []
    for number in range(count):
        leaf_key = state.ec_key(f"{prefix}{number}-fmc.key", _P384)
        brom = f"{prefix}{number}-brom"
        links += [
            Link(brom, f"{model} BROM", f"{prefix}-ica", _P384, years(20)),
            Link(
                f"{prefix}{number}-fmc",
                f"{model} FMC LF",
                brom,
                _P384,
                years(10),
                ca=False,
                extensions=(fwid_extension(leaf_key.public_key(), fwid),),
            ),
        ]
    return links


class SimulatedGpuProvider(SimulatedRoot):
    """``count`` simulated H100 GPUs sharing one identity chain, each with its own BROM and leaf
    certificate (so the verifier tells them apart), then ``switches`` simulated NVSwitches under
    the same root; never hardware-backed."""

    name = "simulated"
    simulated = True
    trust_root_name = "simulated NVIDIA Device Identity CA"

    def __init__(self, state_dir: Path, count: int = 1, switches: int = 0):
        if not 1 <= count <= MAX_GPUS:
            raise ProviderError(f"a simulated node has 1..{MAX_GPUS} GPUs, not {count}")
        if not 0 <= switches <= MAX_SWITCHES:
            raise ProviderError(
                f"a simulated node has 0..{MAX_SWITCHES} NVSwitches, not {switches}"
            )
        self.count = count
        self.switches = switches
        state = StateDir(state_dir)
        vendor = _NvidiaStyle(ORGANISATION, amd_style=False)
        links = [
            Link("gpu-root", ROOT_NAME, "gpu-root", _P384, years(25)),
            Link("gpu-identity", "NVIDIA GH100 Identity", "gpu-root", _P384, years(20)),
            Link("gpu-ica", "NVIDIA GH100 Provisioner ICA 1", "gpu-identity", _P384, years(20)),
        ]
        links += _device_links(state, "gpu", count, "GH100 A01 GSP", FWID)
        if switches:
            links.append(
                Link(
                    "switch-ica", "NVIDIA LS_10 Provisioner ICA 1", "gpu-identity", _P384, years(20)
                )
            )
        links += _device_links(state, "switch", switches, "LS_10 A01 FSP", SWITCH_FWID)
        self.chain = build_chain(state, vendor, links)

    def device_chain(self, number: int) -> tuple[bytes, ...]:
        """Device ``number``'s chain as NVML returns it: leaf first, the root last."""
        names = (f"gpu{number}-fmc", f"gpu{number}-brom", "gpu-ica", "gpu-identity", "gpu-root")
        return tuple(certificate_der(self.chain.certificates[n]) for n in names)

    def switch_chain(self, number: int) -> tuple[bytes, ...]:
        """NVSwitch ``number``'s chain as NSCQ returns it: leaf first, the root last."""
        names = (
            f"switch{number}-fmc",
            f"switch{number}-brom",
            "switch-ica",
            "gpu-identity",
            "gpu-root",
        )
        return tuple(certificate_der(self.chain.certificates[n]) for n in names)

    def switch_evidence(self, nonce: bytes) -> tuple[GpuDevice, ...]:
        """Every simulated NVSwitch's report for the SPDM ``nonce``, with its chain."""
        if len(nonce) != 32:
            raise ProviderError(f"an SPDM nonce is 32 bytes, not {len(nonce)}")
        values = [switch_measurement_value(i) for i in range(1, MEASUREMENT_BLOCKS + 1)]
        return tuple(
            GpuDevice(
                spdm_transcript(
                    nonce,
                    self.chain.ec_key(f"switch{number}-fmc"),
                    values=values,
                    opaque=switch_opaque_data(number),
                    response_nonce=os.urandom(32),
                ),
                self.switch_chain(number),
            )
            for number in range(self.switches)
        )

    def get_gpu_evidence(self, nonce: bytes) -> tuple[GpuDevice, ...]:
        if len(nonce) != 32:
            raise ProviderError(f"an SPDM nonce is 32 bytes, not {len(nonce)}")
        values = [measurement_value(i) for i in range(1, MEASUREMENT_BLOCKS + 1)]
        return tuple(
            GpuDevice(
                spdm_transcript(
                    nonce,
                    self.chain.ec_key(f"gpu{number}-fmc"),
                    values=values,
                    opaque=opaque_data(),
                    response_nonce=os.urandom(32),
                ),
                self.device_chain(number),
            )
            for number in range(self.count)
        ) + self.switch_evidence(nonce)

    def describe(self) -> str:
        switches = f" and NVSwitches ({self.switches})" if self.switches else ""
        return (
            f"SIMULATED NVIDIA H100 GPUs ({self.count}){switches}: not hardware-backed; trusted "
            "only with --trust-simulated-root"
        )
