"""The PROVENANCE.md TDX vectors: quotes, collateral sets (assembled from their pieces), pinned
times and expected TCB status. Shared by the TCB, pipeline and benchmark tests."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ObjectIdentifier

from cairn_verifier.tdx.collateral import (
    TdxCollateral,
    load_collateral_dir,
    load_dcap_qvl_collateral,
    load_pcs_tcb_info,
)
from cairn_verifier.tdx.pck import SGX_EXTENSIONS_OID, SgxExtensions
from cairn_verifier.tdx.quote import Quote, parse_quote
from cairn_verifier.tdx.tcb_info import TcbStatus

QVL_B0 = "dcap-qvl/sample/tdx_quote_collateral.json"
QVL_90 = "dcap-qvl/sample/tdx_quote_outdated_collateral.json"
QVL_20 = "dcap-qvl/near-gas-test/quote_collateral.json"
HISTORY = "dcap-qvl/history-eadf882/tdx_quote_collateral.json"
V5 = "go-tdx-guest/testdata/quote_v5_sample.dat"
TRUSTEE4 = "trustee/test_data/tdx_quote_4.dat"
NS = TcbStatus.NOT_SUPPORTED
UP = TcbStatus.UP_TO_DATE

# PROVENANCE "Vectors": (#, quote, collateral set, pinned time, our result).
VECTORS = [
    (1, "dcap-qvl/sample/tdx_quote", "qvl-b0c06f-2025-06", "2025-06-19T10:32:27Z", UP),
    (2, "dcap-qvl/sample/tdx_quote_outdated", "qvl-90c06f-2026-02", "2026-02-18T10:58:51Z", NS),
    (3, "dcap-qvl/sample/tdx-quote.hex", "qvl-b0c06f-2025-06", "2025-06-19T10:32:27Z", NS),
    (4, "dcap-qvl/sample/quote-from-tappd.hex", "qvl-b0c06f-2025-06", "2025-06-19T10:32:27Z", NS),
    (5, "dstack/ra-tls/assets/tdx_quote", "qvl-b0c06f-2025-06", "2025-06-19T10:32:27Z", NS),
    (6, "dcap-qvl/near-gas-test/quote_hex.txt", "qvl-20a06f-2025-09", "2025-09-02T07:41:59Z", UP),
    (
        7,
        "go-tdx-guest/testdata/tdx_prod_quote_SPR_E4.dat",
        "gtg-50806f-2023-06",
        "2023-06-18T08:42:58Z",
        NS,
    ),
    (8, TRUSTEE4, "gtg-50806f-2023-06", "2023-06-18T08:42:58Z", UP),
    (9, V5, "gtg-v5-90c06f-2026-02", "2026-02-18T11:00:00Z", UP),
    (10, V5, "qvl-90c06f-2026-02", "2026-02-18T10:58:51Z", UP),
]


# --------------------------------------------------------------------------- loading helpers


def tdx_dir(testdata: Path) -> Path:
    return testdata / "tdx"


def load_quote(testdata: Path, rel: str) -> Quote:
    data = (tdx_dir(testdata) / rel).read_bytes()
    if rel.endswith((".hex", ".txt")):
        data = bytes.fromhex("".join(data.decode("ascii").split()).removeprefix("0x"))
    return parse_quote(data)


def sgx_of(quote: Quote) -> SgxExtensions:
    leaf = x509.load_pem_x509_certificates(quote.certification.pck_cert_chain_pem)[0]
    ext = leaf.extensions.get_extension_for_oid(ObjectIdentifier(SGX_EXTENSIONS_OID)).value
    assert isinstance(ext, x509.UnrecognizedExtension)
    return SgxExtensions.parse(ext.value)


def qvl_collateral(testdata: Path, rel: str) -> TdxCollateral:
    return load_dcap_qvl_collateral((tdx_dir(testdata) / rel).read_bytes())


def collateral_set(testdata: Path, name: str) -> TdxCollateral:
    """The PROVENANCE "Collateral sets", assembled from their pieces."""
    if name == "qvl-b0c06f-2025-06":
        return qvl_collateral(testdata, QVL_B0)
    if name == "qvl-90c06f-2026-02":
        return qvl_collateral(testdata, QVL_90)
    if name == "qvl-20a06f-2025-09":
        return qvl_collateral(testdata, QVL_20)
    if name == "gtg-50806f-2023-06":
        history = json.loads((tdx_dir(testdata) / HISTORY).read_text())
        signing_chain = history["tcb_info_issuer_chain"].encode()
        gtg = load_collateral_dir(tdx_dir(testdata) / "go-tdx-guest/testdata")
        platform_ca_chain = qvl_collateral(testdata, QVL_B0).pck_crl_issuer_chain
        return dataclasses.replace(
            gtg,
            tcb_info=gtg.tcb_info.replace(issuer_chain=signing_chain),
            qe_identity=gtg.qe_identity.replace(issuer_chain=signing_chain),
            pck_crl_issuer_chain=platform_ca_chain,
        )
    assert name == "gtg-v5-90c06f-2026-02"
    base = qvl_collateral(testdata, QVL_90)
    body = (tdx_dir(testdata) / "go-tdx-guest/testdata/sample_tcbinfo_response_v5").read_bytes()
    return dataclasses.replace(base, tcb_info=load_pcs_tcb_info(body, base.tcb_info_issuer_chain))
