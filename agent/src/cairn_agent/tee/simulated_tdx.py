"""A simulated Intel TDX platform for CI and laptops: real DCAP quote v4 bytes (TD report 1.0,
QE report certification data with a PEM PCK chain) and matching collateral (TDX TCB info v3,
TD_QE identity v2, Root CA and PCK CRLs), all signed by a locally generated chain shaped like
Intel's: "Intel SGX Root CA" -> "Intel SGX PCK Platform CA" -> PCK, and a "TCB Signing" cert.

Nothing produced here is hardware-backed. Every certificate carries O = "Cairn SIMULATED (not
Intel)", and a Cairn verifier accepts the root only when the user names it with
``--trust-simulated-root``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import struct
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from cairn_verifier.api import (
    ParseError,
    TdxCollateral,
    der_encode,
    der_to_raw,
    load_dcap_qvl_collateral,
    parse_ccel,
    replay,
)

from .base import ProviderError, TeeEvidence, TeeKind
from .simulated_ca import (
    Link,
    SimulatedRoot,
    StateDir,
    Vendor,
    build_chain,
    certificate_der,
    certificate_pem,
    export_new_file,
    now,
    years,
)

log = logging.getLogger(__name__)

ORGANISATION = "Cairn SIMULATED (not Intel)"
INTEL_QE_VENDOR_ID = bytes.fromhex("939a7233f79c4ca9940a0db3957f0607")
QUOTE_VERSION = 4
ATTESTATION_KEY_TYPE_P256 = 2
TEE_TYPE_TDX = 0x81
CERT_DATA_QE_REPORT = 6
CERT_DATA_PCK_CHAIN = 5

FMSPC = bytes.fromhex("00CA1D000000")
"""Simulated family-model-stepping-platform-custom-SKU (no real Intel platform uses it)."""
PCE_ID = bytes(2)
SGX_TCB_COMPONENTS = (2, 2, 2, 2, 3, 1, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0)
PCE_SVN = 11
TEE_TCB_SVN = bytes([5, 1, 2]) + bytes(13)
"""TDX module SVN 5, major version 1 (so TCB info TDX_01 applies), late microcode SVN 2."""
TD_ATTRIBUTES = (1 << 28).to_bytes(8, "little")  # SEPT_VE_DISABLE; DEBUG clear
XFAM = bytes.fromhex("e702060000000000")  # x87, SSE, AVX, AVX-512, PKRU, AMX: a common TD
QE_ISV_PROD_ID = 2
QE_ISV_SVN = 4
QE_ATTRIBUTES = bytes.fromhex("1500000000000000e700000000000000")
QE_AUTH_DATA = bytes(range(32))
SIMULATED_TD_DESCRIPTION = b"Cairn simulated TDX launch, version 1: nothing was measured"
"""MRTD and the RTMRs are SHA-384 of this text with a register label: stable, match no real TD."""

_SGX_OID = "1.2.840.113741.1.13.1"
_COLLATERAL_LIFETIME = timedelta(days=30)
_COLLATERAL_BACKDATE = timedelta(hours=1)


# --------------------------------------------------------------------------- SGX extension


def _entry(suffix: str, value: bytes) -> bytes:
    return der_encode.sequence(der_encode.oid(f"{_SGX_OID}.{suffix}"), value)


def sgx_extension(ppid: bytes, platform_instance_id: bytes) -> bytes:
    """The SGX extension value (SEQUENCE of OID/value pairs) of a PCK Platform CA leaf."""
    integer, octets = der_encode.integer, der_encode.octet_string
    tcb = [_entry(f"2.{i}", integer(svn)) for i, svn in enumerate(SGX_TCB_COMPONENTS, start=1)]
    tcb.append(_entry("2.17", integer(PCE_SVN)))
    tcb.append(_entry("2.18", octets(bytes(SGX_TCB_COMPONENTS))))
    configuration = [_entry(f"7.{i}", der_encode.boolean(True)) for i in (1, 2, 3)]
    return der_encode.sequence(
        _entry("1", octets(ppid)),
        _entry("2", der_encode.sequence(*tcb)),
        _entry("3", octets(PCE_ID)),
        _entry("4", octets(FMSPC)),
        _entry("5", der_encode.enumerated(1)),  # SGX Type: Scalable
        _entry("6", octets(platform_instance_id)),
        _entry("7", der_encode.sequence(*configuration)),
    )


# --------------------------------------------------------------------------- helpers


def _raw_signature(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    """ECDSA P-256/SHA-256 as Intel writes it: r || s, 32 bytes each, big-endian."""
    return der_to_raw(key.sign(data, ec.ECDSA(hashes.SHA256())), 32)


def _raw_public_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    point = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return point[1:]  # x || y without the 0x04 prefix


def _register(label: str) -> bytes:
    return hashlib.sha384(SIMULATED_TD_DESCRIPTION + b" " + label.encode()).digest()


def _date(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _components(svns: tuple[int, ...] | bytes) -> list[dict[str, int]]:
    return [{"svn": svn} for svn in svns]


class SimulatedTdxProvider(SimulatedRoot):
    """TDX quotes and collateral from a simulated platform; never hardware-backed."""

    name = "simulated-tdx"
    kinds: tuple[TeeKind, ...] = ("tdx-simulated",)
    trust_root_name = "simulated TDX root CA"

    def __init__(self, state_dir: Path, *, ccel: Path | None = None):
        self.state = StateDir(Path(state_dir) / "simulated-tdx")
        self.ccel = ccel
        self._attestation_key = self.state.ec_key("attestation.key", ec.SECP256R1())
        self.ppid = self.state.random_bytes("ppid.hex", 16)
        self.platform_instance_id = self.state.random_bytes("platform_instance_id.hex", 16)
        self.qe_mrsigner = hashlib.sha256(b"Cairn simulated TD quoting enclave signer").digest()
        self.qe_mrenclave = hashlib.sha256(b"Cairn simulated TD quoting enclave").digest()
        sgx = x509.UnrecognizedExtension(
            x509.ObjectIdentifier(_SGX_OID), sgx_extension(self.ppid, self.platform_instance_id)
        )
        p256 = ec.SECP256R1()
        self.chain = chain = build_chain(
            self.state,
            Vendor(ORGANISATION, amd_style=False),
            [
                Link("root_ca", "Intel SGX Root CA", "root_ca", p256, years(30), path_length=1),
                Link(
                    "pck_platform_ca",
                    "Intel SGX PCK Platform CA",
                    "root_ca",
                    p256,
                    years(15),
                    path_length=0,
                ),
                Link(
                    "pck",
                    "Intel SGX PCK Certificate",
                    "pck_platform_ca",
                    p256,
                    years(7),
                    ca=False,
                    extensions=[sgx],
                ),
                Link("tcb_signing", "Intel SGX TCB Signing", "root_ca", p256, years(7), ca=False),
            ],
        )
        self.root, self.platform_ca, self.pck, self.tcb_signing = (
            chain.certificates[n] for n in ("root_ca", "pck_platform_ca", "pck", "tcb_signing")
        )
        self._root_key, self._platform_key, self._pck_key, self._tcb_key = (
            chain.ec_key(n) for n in ("root_ca", "pck_platform_ca", "pck", "tcb_signing")
        )
        self._signature_data_tail = self._certification_data()
        log.warning("SIMULATED TDX: not hardware-backed (state in %s)", self.state.path)

    # -- evidence -----------------------------------------------------------------------------

    def describe(self) -> str:
        return "simulated Intel TDX, NOT hardware-backed"

    @property
    def mr_td(self) -> bytes:
        return _register("MRTD")

    def rtmrs(self) -> tuple[bytes, ...]:
        """RTMR[0]-[3]: the replay of the CCEL at ``ccel`` when that file exists (as if the
        simulated firmware had measured its events; RTMRs it does not extend stay zero), else
        fixed labels that match no real TD."""
        data = None
        if self.ccel is not None:
            try:
                data = self.ccel.read_bytes()
            except OSError:
                data = None
        if not data:
            return tuple(_register(f"RTMR{i}") for i in range(4))
        try:
            values = replay(parse_ccel(data)).values
        except ParseError as exc:
            raise ProviderError(
                f"simulated-tdx: the CCEL {self.ccel} cannot be replayed: {exc.message}"
            ) from exc
        return tuple(values.get(("sha384", i), bytes(48)) for i in range(4))

    def pck_chain_pem(self) -> bytes:
        """PCK leaf, PCK Platform CA, root: what certification data type 5 carries."""
        return b"".join(certificate_pem(c) for c in (self.pck, self.platform_ca, self.root))

    def get_evidence(self, report_data: bytes) -> TeeEvidence:
        if not isinstance(report_data, bytes) or len(report_data) != 64:
            raise ProviderError("REPORTDATA must be exactly 64 bytes")
        return TeeEvidence(
            kind="tdx-simulated",
            report=self.quote(report_data),
            certificates=tuple(certificate_der(c) for c in (self.pck, self.platform_ca, self.root)),
            collateral=json.dumps(self.collateral_document()).encode(),
        )

    def quote(self, report_data: bytes) -> bytes:
        """A DCAP quote v4 whose TD report carries ``report_data``."""
        attestation_key = _raw_public_key(self._attestation_key)
        header = struct.pack(
            "<HHI4s16s20s",
            QUOTE_VERSION,
            ATTESTATION_KEY_TYPE_P256,
            TEE_TYPE_TDX,
            bytes(4),
            INTEL_QE_VENDOR_ID,
            hashlib.sha256(attestation_key).digest()[:16] + bytes(4),
        )
        body = b"".join(
            (
                TEE_TCB_SVN,
                _register("MRSEAM"),
                bytes(48),  # MRSIGNERSEAM: Intel's TDX module
                bytes(8),  # SEAMATTRIBUTES
                TD_ATTRIBUTES,
                XFAM,
                self.mr_td,
                bytes(48 * 3),  # MRCONFIGID, MROWNER, MROWNERCONFIG
                *self.rtmrs(),
                report_data,
            )
        )
        signed = header + body
        signature_data = (
            _raw_signature(self._attestation_key, signed)
            + attestation_key
            + self._signature_data_tail
        )
        return signed + struct.pack("<I", len(signature_data)) + signature_data

    def _certification_data(self) -> bytes:
        """Certification data type 6: QE report (PCK-signed), auth data, type-5 PEM chain."""
        binding = hashlib.sha256(_raw_public_key(self._attestation_key) + QE_AUTH_DATA).digest()
        report = bytearray(384)
        report[0:16] = bytes(SGX_TCB_COMPONENTS)  # CPUSVN
        report[48:64] = QE_ATTRIBUTES
        report[64:96] = self.qe_mrenclave
        report[128:160] = self.qe_mrsigner
        struct.pack_into("<HH", report, 256, QE_ISV_PROD_ID, QE_ISV_SVN)
        report[320:384] = binding + bytes(32)
        chain = self.pck_chain_pem()
        inner = (
            bytes(report)
            + _raw_signature(self._pck_key, bytes(report))
            + struct.pack("<H", len(QE_AUTH_DATA))
            + QE_AUTH_DATA
            + struct.pack("<HI", CERT_DATA_PCK_CHAIN, len(chain))
            + chain
        )
        return struct.pack("<HI", CERT_DATA_QE_REPORT, len(inner)) + inner

    # -- collateral ---------------------------------------------------------------------------

    def _tcb_info(self, issued: datetime) -> bytes:
        document: dict[str, Any] = {
            "id": "TDX",
            "version": 3,
            "issueDate": _date(issued),
            "nextUpdate": _date(issued + _COLLATERAL_LIFETIME),
            "fmspc": FMSPC.hex().upper(),
            "pceId": PCE_ID.hex().upper(),
            "tcbType": 0,
            "tcbEvaluationDataNumber": 1,
            "tdxModule": {
                "mrsigner": "00" * 48,
                "attributes": "00" * 8,
                "attributesMask": "FF" * 8,
            },
            "tdxModuleIdentities": [
                {
                    "id": "TDX_01",
                    "mrsigner": "00" * 48,
                    "attributes": "00" * 8,
                    "attributesMask": "FF" * 8,
                    "tcbLevels": [
                        {
                            "tcb": {"isvsvn": TEE_TCB_SVN[0]},
                            "tcbDate": _date(issued),
                            "tcbStatus": "UpToDate",
                        }
                    ],
                }
            ],
            "tcbLevels": [
                {
                    "tcb": {
                        "sgxtcbcomponents": _components(SGX_TCB_COMPONENTS),
                        "pcesvn": PCE_SVN,
                        "tdxtcbcomponents": _components(TEE_TCB_SVN),
                    },
                    "tcbDate": _date(issued),
                    "tcbStatus": "UpToDate",
                }
            ],
        }
        return json.dumps(document, separators=(",", ":")).encode()

    def _qe_identity(self, issued: datetime) -> bytes:
        document = {
            "id": "TD_QE",
            "version": 2,
            "issueDate": _date(issued),
            "nextUpdate": _date(issued + _COLLATERAL_LIFETIME),
            "tcbEvaluationDataNumber": 1,
            "miscselect": "00000000",
            "miscselectMask": "FFFFFFFF",
            "attributes": "11000000000000000000000000000000",
            "attributesMask": "FBFFFFFFFFFFFFFF0000000000000000",
            "mrsigner": self.qe_mrsigner.hex().upper(),
            "isvprodid": QE_ISV_PROD_ID,
            "tcbLevels": [
                {
                    "tcb": {"isvsvn": QE_ISV_SVN},
                    "tcbDate": _date(issued),
                    "tcbStatus": "UpToDate",
                }
            ],
        }
        return json.dumps(document, separators=(",", ":")).encode()

    def _crl(
        self, issuer: x509.Certificate, key: ec.EllipticCurvePrivateKey, at: datetime
    ) -> bytes:
        crl = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(issuer.subject)
            .last_update(at)
            .next_update(at + _COLLATERAL_LIFETIME)
            .add_extension(x509.CRLNumber(1), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()),
                critical=False,
            )
            .sign(key, hashes.SHA256())
        )
        return crl.public_bytes(serialization.Encoding.DER)

    def collateral_document(self) -> dict[str, str]:
        """Fresh collateral (issued an hour ago, valid 30 days) as dcap-qvl's JSON fields."""
        issued = now() - _COLLATERAL_BACKDATE
        tcb_info = self._tcb_info(issued)
        qe_identity = self._qe_identity(issued)
        signing_chain = (certificate_pem(self.tcb_signing) + certificate_pem(self.root)).decode()
        return {
            "pck_crl_issuer_chain": (
                certificate_pem(self.platform_ca) + certificate_pem(self.root)
            ).decode(),
            "root_ca_crl": self._crl(self.root, self._root_key, issued).hex(),
            "pck_crl": self._crl(self.platform_ca, self._platform_key, issued).hex(),
            "tcb_info_issuer_chain": signing_chain,
            "tcb_info": tcb_info.decode(),
            "tcb_info_signature": _raw_signature(self._tcb_key, tcb_info).hex(),
            "qe_identity_issuer_chain": signing_chain,
            "qe_identity": qe_identity.decode(),
            "qe_identity_signature": _raw_signature(self._tcb_key, qe_identity).hex(),
        }

    def collateral(self) -> TdxCollateral:
        """The simulated platform's collateral, as the verifier's TDX pipeline takes it."""
        data = json.dumps(self.collateral_document()).encode()
        return replace(load_dcap_qvl_collateral(data), source="simulated TDX platform (NOT Intel)")

    def export_collateral(self, path: Path) -> None:
        """Write the collateral as dcap-qvl JSON (``cairn verify tdx --collateral``)."""
        data = json.dumps(self.collateral_document(), indent=2).encode() + b"\n"
        export_new_file(Path(path), data, "simulated TDX collateral")
