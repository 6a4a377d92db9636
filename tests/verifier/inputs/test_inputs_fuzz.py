"""Mutated real envelopes: every reader returns evidence or a MalformedInputError, nothing else.

Each seed is a real input in one of the accepted formats (or a real report/quote wrapped as
:mod:`wrappers` documents); hypothesis flips, cuts and inserts bytes. A crash (any other
exception) would be exit 70 at the CLI.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wrappers import dstack_snp_attestation, dstack_tdx_attestation, extended_report

from cairn_verifier.errors import MalformedInputError
from cairn_verifier.inputs import read_snp_evidence, read_tdx_evidence
from cairn_verifier.snp.cert_table import CertRole
from cairn_verifier.x509.cert import load_certificates

FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
REAL = [
    "snp/oak/turin_oc_evidence.binarypb",
    "snp/oak/milan_rk_release_endorsements.binarypb",
    "snp/trustee/az-snp-vtpm_evidence-v1.json",
    "snp/trustee/az-snp-vtpm_hcl-report.bin",
    "snp/openpcc/azure_sevsnp_report.txt",
    "tdx/trustee-azure/evidence-v0.json",
    "tdx/dcap-qvl/sample/tdx-quote.hex",
    "gpu/nvtrust/switch_evidence.json",
]


@pytest.fixture(scope="module")
def seeds(testdata: Path) -> list[bytes]:
    real = [(testdata / relative).read_bytes() for relative in REAL]
    report = base64.b64decode((testdata / "snp/routex-client-lua/report-genoa-v3.b64").read_bytes())
    vcek, ask, ark = load_certificates(
        (testdata / "snp/routex-client-lua/vcek-chain-genoa.pem").read_bytes()
    )
    table = {CertRole.VCEK: vcek.der, CertRole.ASK: ask.der, CertRole.ARK: ark.der}
    quote = (testdata / "tdx/dstack/ra-tls/assets/tdx_quote").read_bytes()
    built = [
        extended_report(report, table),
        dstack_snp_attestation(report, cert_chain=[ask.der]),
        dstack_tdx_attestation(quote),
    ]
    return real + built


def _mutate(seed: bytes, edits: list[tuple[int, int, int]]) -> bytes:
    data = bytearray(seed)
    for kind, position, value in edits:
        if not data:
            break
        at = position % len(data)
        if kind == 0:
            data[at] = value
        elif kind == 1:
            del data[at:]
        else:
            data[at:at] = bytes([value])
    return bytes(data)


EDITS = st.lists(
    st.tuples(st.integers(0, 2), st.integers(0, 1 << 20), st.integers(0, 255)), max_size=6
)


@FUZZ
@given(index=st.integers(0, len(REAL) + 2), edits=EDITS)
def test_mutated_envelopes_never_crash(seeds, index, edits):
    data = _mutate(seeds[index], edits)
    for read in (read_snp_evidence, read_tdx_evidence):
        try:
            read(data)
        except MalformedInputError as error:
            assert error.message
