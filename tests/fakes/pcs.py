"""Intel PCS as a fake server serves it: real Intel-signed bytes from the shared vectors.

PCS-form bodies are rebuilt byte-exactly from dcap-qvl's collateral JSON (set qvl-b0c06f-2025-06
of tests/vectors/tdx/PROVENANCE.md): ``{"tcbInfo":<signed text>,"signature":"<hex>"}`` with the
issuer chain URL-encoded in a response header, as Intel PCS v4 answers.
"""

from __future__ import annotations

import json
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from cairn_verifier.tdx.pcs import QE_IDENTITY_PATH, ROOT_CA_CRL_PATH

from .http_server import RecordedServer, Reply

TCB_PATH = "/tdx/certification/v4/tcb?fmspc=B0C06F000000"
PCK_PATH = "/sgx/certification/v4/pckcrl?ca=platform&encoding=der"


@dataclass(frozen=True)
class PcsSet:
    """One collateral set as Intel PCS serves it: bodies and decoded issuer chains."""

    tcb_body: bytes
    tcb_signed: bytes
    tcb_chain: bytes
    qe_body: bytes
    qe_signed: bytes
    qe_chain: bytes
    pck_crl: bytes
    pck_chain: bytes
    root_crl: bytes


def pcs_body(member: str, signed: str, signature: str) -> bytes:
    return (
        b'{"' + member.encode() + b'":' + signed.encode() + b',"signature":"'
        + signature.encode() + b'"}'
    )  # fmt: skip


def load_qvl_pcs_set(testdata: Path) -> PcsSet:
    doc = json.loads((testdata / "tdx/dcap-qvl/sample/tdx_quote_collateral.json").read_bytes())
    return PcsSet(
        tcb_body=pcs_body("tcbInfo", doc["tcb_info"], doc["tcb_info_signature"]),
        tcb_signed=doc["tcb_info"].encode(),
        tcb_chain=doc["tcb_info_issuer_chain"].encode(),
        qe_body=pcs_body("enclaveIdentity", doc["qe_identity"], doc["qe_identity_signature"]),
        qe_signed=doc["qe_identity"].encode(),
        qe_chain=doc["qe_identity_issuer_chain"].encode(),
        pck_crl=bytes.fromhex(doc["pck_crl"]),
        pck_chain=doc["pck_crl_issuer_chain"].encode(),
        root_crl=bytes.fromhex(doc["root_ca_crl"]),
    )


def issuer_header(pem: bytes) -> str:
    return urllib.parse.quote(pem.decode())


def serve_pcs(
    server: RecordedServer,
    s: PcsSet,
    *,
    tcb_header: str = "TCB-Info-Issuer-Chain",
    root_target: str = ROOT_CA_CRL_PATH,
    root_body: bytes | None = None,
) -> None:
    server.script(TCB_PATH, Reply(200, s.tcb_body, {tcb_header: issuer_header(s.tcb_chain)}))
    server.script(
        QE_IDENTITY_PATH,
        Reply(200, s.qe_body, {"SGX-Enclave-Identity-Issuer-Chain": issuer_header(s.qe_chain)}),
    )
    server.script(
        PCK_PATH,
        Reply(200, s.pck_crl, {"SGX-PCK-CRL-Issuer-Chain": issuer_header(s.pck_chain)}),
    )
    server.script(root_target, Reply(200, s.root_crl if root_body is None else root_body))
