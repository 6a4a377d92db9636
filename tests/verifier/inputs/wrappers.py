"""Evidence in formats with no real sample in tests/vectors, built from REAL reports and quotes.

Each builder wraps real bytes exactly as the format's source defines it (cited per function);
nothing about the evidence itself is synthetic. The real samples that do exist (Oak protobufs,
trustee's Azure JSON, hex/base64/PEM files, NVIDIA lists) are used directly by the tests.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from cairn_verifier.snp.cert_table import CertRole, build_cert_table


def scale_compact(value: int) -> bytes:
    """SCALE compact integer (parity-scale-codec): modes 0b00 (<2^6), 0b01 (<2^14), 0b10 (<2^30)."""
    if value < 1 << 6:
        return bytes([value << 2])
    if value < 1 << 14:
        return ((value << 2) | 1).to_bytes(2, "little")
    assert value < 1 << 30
    return ((value << 2) | 2).to_bytes(4, "little")


def scale_bytes(value: bytes) -> bytes:
    """SCALE ``Vec<u8>`` / ``String``: compact length, then the bytes."""
    return scale_compact(len(value)) + value


def dstack_snp_attestation(
    report: bytes, *, cert_chain: Sequence[bytes] = (), mr_config: str = "", config: str = "{}"
) -> bytes:
    """dstack's legacy SCALE ``VersionedAttestation::V0`` holding an SEV-SNP report.

    Source: Dstack-TEE/dstack ``dstack-attest/src/attestation.rs`` — ``VersionedAttestation``
    (V0 = 0), ``Attestation { quote, runtime_events: Vec<RuntimeEvent>, report_data: [u8; 64],
    config: String, report: () }``, ``AttestationQuote`` (``DstackAmdSevSnp`` = variant 3) and
    ``SnpQuote { report: Vec<u8>, cert_chain: Vec<Vec<u8>>, mr_config: String }``. The outer
    report_data is the report's own REPORT_DATA, as dstack writes it.
    """
    snp_quote = (
        scale_bytes(report)
        + scale_compact(len(cert_chain))
        + b"".join(scale_bytes(c) for c in cert_chain)
        + scale_bytes(mr_config.encode())
    )
    attestation = (
        b"\x03"
        + snp_quote
        + scale_compact(0)  # no runtime events
        + report[0x50:0x90]  # REPORT_DATA
        + scale_bytes(config.encode())
    )
    return b"\x00" + attestation


def dstack_tdx_attestation(quote: bytes, *, config: str = "{}") -> bytes:
    """dstack's legacy SCALE ``VersionedAttestation::V0`` holding a TDX quote.

    Same source as :func:`dstack_snp_attestation`: ``AttestationQuote::DstackTdx(TdxQuote {
    quote: Vec<u8>, event_log: Vec<TdxEvent> })`` is variant 0. REPORTDATA sits at offset 568
    of a v4 quote (``TDX_QUOTE_REPORT_DATA_RANGE`` there).
    """
    tdx_quote = scale_bytes(quote) + scale_compact(0)  # no event log entries
    attestation = b"\x00" + tdx_quote + scale_compact(0) + quote[568:632]
    return b"\x00" + attestation + scale_bytes(config.encode())


def dstack_quote_report_json(attestation: bytes) -> bytes:
    """``dstack-util quote-report --output attest.json``: the attestation as an ``attestation``
    hex member (Dstack-TEE/dstack ``dstack-attest/tests/sev_snp_fixture.README.md``)."""
    return json.dumps({"attestation": attestation.hex()}).encode()


def dstack_get_quote_response(quote: bytes) -> bytes:
    """The dstack guest agent's GetQuote answer: ``{"quote": hex, "event_log": json text}``
    (Dstack-TEE dstack SDK ``GetQuoteResponse { quote: String, event_log: String }``)."""
    return json.dumps({"quote": quote.hex(), "event_log": "[]"}).encode()


def near_quote_json(quote: bytes) -> bytes:
    """NEAR mpc's quote file: the quote as a bare JSON array of byte values
    (near/mpc ``attestation/tests/assets/quote.json``)."""
    return ("[" + ",".join(str(b) for b in quote) + "]\n").encode()


def near_ai_report(quote: bytes) -> dict[str, object]:
    """A NEAR AI / Phala (Redpill) model attestation report: ``intel_quote`` hex plus members
    Cairn does not read (their attestation report API documentation's response sample)."""
    return {
        "intel_quote": quote.hex(),
        "nvidia_payload": "{}",
        "signing_address": "0x" + "00" * 20,
        "info": {},
    }


def near_ai_gateway(quote: bytes) -> bytes:
    """NEAR AI cloud's gateway answer: the gateway's and each model's report, nested."""
    return json.dumps(
        {
            "gateway_attestation": near_ai_report(quote),
            "model_attestations": [near_ai_report(quote)],
        }
    ).encode()


def extended_report(report: bytes, certs: Mapping[CertRole, bytes], *, pad_to: int = 0) -> bytes:
    """An extended report as go-sev-guest's ``attest -extended -outform bin`` writes it and its
    ``check -inform bin`` reads it: the report immediately followed by the certificate table
    (GHCB spec 56421 MSG_REPORT_REQ certificate table; ``pad_to`` zero-pads it like the
    page-sized buffer of SNP_GET_EXT_REPORT)."""
    return report + build_cert_table(certs, pad_to=pad_to)
