"""A simulated Azure paravisor on a software TPM (``provider = "simulated-azure"``): Azure's
formats, nothing of Azure's or AMD's/Intel's hardware.

At start-up it does what Azure's paravisor does in a real confidential VM, with the agent's
simulated SEV-SNP or TDX platform in place of the hardware: it makes sure the TPM holds an
RSA-2048 attestation key at the persistent handle 0x81000003, writes runtime data naming that
key (``HCLAkPub``), asks the simulated platform for a report (or TD quote) whose REPORT_DATA is
SHA-256 of the runtime data, and writes the HCL report into the NV index 0x01400001. Then the
:class:`~.azure_vtpm.AzureVtpmProvider` reads it back exactly as on Azure; the simulated TDX
platform plays Azure's quote endpoint. The evidence is of the ``*-simulated`` kinds: a verifier
trusts it only under this platform's exported root (``--trust-simulated-root``), and says so.

The HCL layout is ``cairn_verifier.azure.hcl``'s (Azure's: header, hardware report area, IGVM
request data, runtime data); the runtime data stays small enough for a software TPM's NV index
(swtpm holds at most 2048 bytes per index; Azure's vTPM holds 2600).
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any, Final, Literal

from tpm2_pytss.constants import TPM2_ALG
from tpm2_pytss.types import TPMT_PUBLIC

from cairn_verifier.api import HclReportType, parse_quote

from ..tpm import AgentTpm, TpmError
from .azure_vtpm import AK_HANDLE, HCL_NV_INDEX, AzureVtpmProvider
from .base import ProviderError, TeeEvidence, TeeKind
from .simulated_ca import Chain
from .simulated_snp import SimulatedSnpProvider
from .simulated_tdx import SimulatedTdxProvider

Platform = Literal["sev-snp", "tdx"]
HCL_MAGIC: Final = b"HCLA"
HCL_VERSION: Final = 2
REQUEST_TYPE: Final = 2
HW_REPORT_AREA: Final = 1184
TD_TEE_TCB_INFO_VALID: Final = bytes.fromhex("ff01030000000000")


def runtime_data(ak_public: bytes, vm_unique_id: str) -> bytes:
    """Azure-shaped runtime data (compact JSON) naming the RSA AK of ``ak_public`` (TPMT_PUBLIC)."""
    modulus, exponent = _rsa_numbers(ak_public)

    def b64url(value: int) -> str:
        raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    document = {
        "keys": [
            {
                "kid": "HCLAkPub",
                "key_ops": ["sign"],
                "kty": "RSA",
                "e": b64url(exponent),
                "n": b64url(modulus),
            }
        ],
        "vm-configuration": {
            "console-enabled": False,
            "secure-boot": True,
            "tpm-enabled": True,
            "tpm-persisted": True,
            "vmUniqueId": vm_unique_id,
        },
        "user-data": "00" * 64,
    }
    return json.dumps(document, separators=(",", ":")).encode()


def _rsa_numbers(ak_public: bytes) -> tuple[int, int]:
    """(modulus, exponent) of an RSA TPMT_PUBLIC."""
    area, _ = TPMT_PUBLIC.unmarshal(ak_public)
    if int(area.type) != TPM2_ALG.RSA:
        raise ProviderError("the simulated paravisor's AK is not an RSA key")
    exponent = int(area.parameters.rsaDetail.exponent) or 65537
    return int.from_bytes(bytes(area.unique.rsa), "big"), exponent


def hcl_report(report_type: HclReportType, hardware_report: bytes, runtime: bytes) -> bytes:
    """An HCL report: header, hardware report area, IGVM request data, runtime data."""
    area = hardware_report.ljust(HW_REPORT_AREA, b"\0")
    request = struct.pack("<5I", 20 + len(runtime), 1, int(report_type), 1, len(runtime))
    size = 0x20 + HW_REPORT_AREA + len(request) + len(runtime)
    header = HCL_MAGIC + struct.pack("<4I", HCL_VERSION, size, REQUEST_TYPE, 0) + bytes(12)
    return header + area + request + runtime


def td_report_of(quote: bytes) -> bytes:
    """The 1024-byte TD report a TD quote's body was made from (MAC zero: simulated)."""
    body = parse_quote(quote).body
    tee_tcb_info = b"".join(
        (
            TD_TEE_TCB_INFO_VALID,
            body.tee_tcb_svn,
            body.mr_seam,
            body.mr_signer_seam,
            body.seam_attributes,
            body.tee_tcb_svn2 or bytes(16),
        )
    ).ljust(239, b"\0")
    tdinfo = b"".join(
        (
            body.td_attributes.raw,
            body.xfam.raw,
            body.mr_td,
            body.mr_config_id,
            body.mr_owner,
            body.mr_owner_config,
            *body.rtmrs,
            body.mr_service_td or bytes(48),
        )
    ).ljust(512, b"\0")
    mac = b"".join(
        (
            bytes([0x81, 0, 0, 0]),
            bytes(12),
            bytes(16),  # CPUSVN
            hashlib.sha384(tee_tcb_info).digest(),
            hashlib.sha384(tdinfo).digest(),
            body.report_data,
            bytes(32),
            bytes(32),  # MAC: only a real CPU can compute one
        )
    )
    return mac + tee_tcb_info + bytes(17) + tdinfo


class SimulatedAzureProvider:
    """Plays Azure's paravisor on the agent's TPM (see the module docstring)."""

    name = "simulated-azure"

    @property
    def kinds(self) -> tuple[TeeKind, ...]:
        return self.reader.kinds

    def __init__(
        self,
        state_dir: Path,
        tpm: AgentTpm,
        *,
        platform: Platform = "sev-snp",
        product: str = "Genoa",
        nv_index: int = HCL_NV_INDEX,
        ak_handle: int = AK_HANDLE,
    ):
        self.platform = platform
        self._snp = SimulatedSnpProvider(state_dir, product) if platform == "sev-snp" else None
        self._tdx = SimulatedTdxProvider(state_dir) if platform == "tdx" else None
        simulator = self._snp or self._tdx
        assert simulator is not None
        self.chain: Chain = simulator.chain
        self.trust_root_name = simulator.trust_root_name
        self.trust_roots = simulator.trust_roots
        self.export_trust_root = simulator.export_trust_root
        self.trust_root_pem = simulator.trust_root_pem
        self.collateral: Any = self._tdx.collateral if self._tdx is not None else None
        self._quotes: dict[bytes, bytes] = {}
        try:
            ak_public = tpm.persist_rsa_ak(ak_handle)
            vm_id = str(uuid.UUID(bytes=hashlib.sha256(ak_public).digest()[:16])).upper()
            runtime = runtime_data(ak_public, vm_id)
            tpm.write_nv(nv_index, self._hcl(runtime))
        except TpmError as error:
            raise ProviderError(
                f"the simulated paravisor cannot prepare the TPM: {error.message}",
                hint=error.hint,
            ) from error
        self.reader = AzureVtpmProvider(
            tpm, nv_index=nv_index, simulated=True, thim=False, td_quote=self._quote_for
        )

    def _hcl(self, runtime: bytes) -> bytes:
        report_data = hashlib.sha256(runtime).digest() + bytes(32)
        if self._snp is not None:
            return hcl_report(HclReportType.SEV_SNP, self._snp.report(report_data), runtime)
        assert self._tdx is not None
        quote = self._tdx.quote(report_data)
        td_report = td_report_of(quote)
        self._quotes[td_report] = quote
        return hcl_report(HclReportType.TDX, td_report, runtime)

    def _quote_for(self, td_report: bytes) -> bytes:
        """The simulated quote endpoint: the quote made for exactly this TD report."""
        quote = self._quotes.get(td_report)
        if quote is None:
            raise ProviderError(
                "the simulated quote endpoint knows no TD report like the one in the NV index: "
                "something else wrote the index after the simulated paravisor"
            )
        return quote

    def describe(self) -> str:
        return f"simulated Azure paravisor ({self.platform}) on a software TPM, NOT hardware-backed"

    def get_evidence(self, report_data: bytes) -> TeeEvidence:
        evidence = self.reader.get_evidence(report_data)
        if self._snp is not None:
            return replace(evidence, certificates=self._snp.certificates())
        assert self._tdx is not None
        return replace(evidence, collateral=json.dumps(self._tdx.collateral_document()).encode())
