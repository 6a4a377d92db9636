"""SEV-SNP verification cost against its floor, one ECDSA P-384 verification, in the same run.

Run with ``nox -s bench``; results are written up in docs/performance.md.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from vectors import SnpVector, by_name

from cairn_verifier.errors import ExitCode
from cairn_verifier.snp.certs import load_cert_collection
from cairn_verifier.snp.verify import SnpVerifyRequest, verify_snp_report
from cairn_verifier.x509.cert import parse_certificate

REPORTS = {"Milan": "oak/milan_oc_release", "Genoa": "oak/genoa_oc", "Turin": "oak/turin_oc"}


def _vector(testdata: Path, product: str) -> SnpVector:
    return by_name(testdata, REPORTS[product])


@pytest.mark.parametrize("product", ["Milan", "Genoa", "Turin"])
def test_floor_ecdsa_p384_verify(benchmark, testdata: Path, product: str) -> None:
    vector = _vector(testdata, product)
    key = parse_certificate(vector.leaf).public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    r = int.from_bytes(vector.report[0x2A0:0x2E8], "little")
    s = int.from_bytes(vector.report[0x2E8:0x330], "little")
    signature = encode_dss_signature(r, s)
    signed = vector.report[:0x2A0]
    benchmark.group = f"snp-{product}"
    benchmark(key.verify, signature, signed, ec.ECDSA(hashes.SHA384()))


@pytest.mark.parametrize("product", ["Milan", "Genoa", "Turin"])
def test_verify_report_warm(benchmark, testdata: Path, tmp_path: Path, product: str) -> None:
    vector = _vector(testdata, product)
    for index, der in enumerate(vector.certs):
        (tmp_path / f"{index}.der").write_bytes(der)
    assert vector.at is not None
    request = SnpVerifyRequest(at=vector.at, certs=load_cert_collection(tmp_path))
    assert verify_snp_report(vector.report, request).exit_code is ExitCode.OK  # warm-up
    benchmark.group = f"snp-{product}"
    result = benchmark(verify_snp_report, vector.report, request)
    assert result.exit_code is ExitCode.OK
