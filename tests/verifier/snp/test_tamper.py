"""Flipping any byte of a real report is rejected: the signed region and r/s as a bad signature,
the zero tail after the signature as malformed input."""

from __future__ import annotations

from pathlib import Path

import pytest
from vectors import SnpVector, by_name

from cairn_verifier.errors import ExitCode
from cairn_verifier.snp.certs import CertCollection, load_cert_collection
from cairn_verifier.snp.verify import SnpVerifyRequest, verify_snp_report

SIGNED_END = 0x2A0
SIGNATURE_END = 0x2A0 + 2 * 72
REPORT_SIZE = 0x4A0


# One real report per product line (none of them a debug guest, so the default policy passes).
PER_PRODUCT = {
    "Milan": "oak/milan_oc_release",
    "Genoa": "oak/genoa_oc",
    "Turin": "oak/turin_oc",
}


def _one_per_product(testdata: Path) -> list[SnpVector]:
    return [by_name(testdata, name) for name in PER_PRODUCT.values()]


def _request(vector: SnpVector, tmp_path: Path) -> SnpVerifyRequest:
    directory = tmp_path / vector.name.replace("/", "_")
    directory.mkdir()
    for index, der in enumerate(vector.certs):
        (directory / f"{index}.der").write_bytes(der)
    certs: CertCollection = load_cert_collection(directory)
    assert vector.at is not None
    return SnpVerifyRequest(at=vector.at, certs=certs)


def test_one_vector_per_product_line(testdata: Path) -> None:
    assert {v.product for v in _one_per_product(testdata)} == {"Milan", "Genoa", "Turin"}


@pytest.mark.parametrize("product", ["Milan", "Genoa", "Turin"])
def test_every_single_byte_flip_is_rejected(testdata: Path, tmp_path: Path, product: str) -> None:
    vector = next(v for v in _one_per_product(testdata) if v.product == product)
    request = _request(vector, tmp_path)
    assert verify_snp_report(vector.report, request).exit_code is ExitCode.OK
    for offset in range(REPORT_SIZE):
        tampered = bytearray(vector.report)
        tampered[offset] ^= 0x01 if offset % 2 else 0x80
        code = verify_snp_report(bytes(tampered), request).exit_code
        expected = (
            ExitCode.SIGNATURE_INVALID if offset < SIGNATURE_END else ExitCode.MALFORMED_INPUT
        )
        assert code is expected, f"{product} offset 0x{offset:03X}: {code.name}"
