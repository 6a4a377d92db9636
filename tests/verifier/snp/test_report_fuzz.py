"""Property tests: whatever bytes arrive, the report parser and the input decoder either succeed
or raise their typed errors — never anything else, never a hang."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cairn_verifier.cli.snp_render import render_report, report_to_json
from cairn_verifier.encoding import decode_blob, extract_snp_report
from cairn_verifier.errors import MalformedInputError, ParseError
from cairn_verifier.inputs.snp import cert_table_problem
from cairn_verifier.snp.product import ProductLine
from cairn_verifier.snp.report import (
    REPORT_SIZE,
    parse_report,
    peek_signing_fields,
)

FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
REAL = [
    "go-sev-guest/attestation.bin",
    "trustee/snp_test-vlek-report.bin",
    "lit-sev-snp-utils/guest_report.bin",
]
PRODUCTS = st.sampled_from([None, *ProductLine])


@pytest.fixture(scope="module")
def reports(testdata: Path) -> list[bytes]:
    return [(testdata / "snp" / relative).read_bytes() for relative in REAL]


def _parse_or_parse_error(data: bytes, product: ProductLine | None = None) -> None:
    try:
        report = parse_report(data, product=product)
    except ParseError:
        return
    # Whatever parses can be rendered both ways.
    assert report_to_json(report)["version"] == report.version
    assert render_report(report)


@FUZZ
@given(data=st.binary(max_size=2 * REPORT_SIZE), product=PRODUCTS)
def test_arbitrary_bytes(data, product):
    _parse_or_parse_error(data, product)


@FUZZ
@given(data=st.binary(min_size=REPORT_SIZE, max_size=REPORT_SIZE))
def test_arbitrary_report_sized_bytes(data):
    _parse_or_parse_error(data)
    peek = peek_signing_fields(data)  # the peek never judges content
    assert len(peek.signed_bytes) == 0x2A0


@FUZZ
@given(index=st.integers(0, len(REAL) - 1), cut=st.integers(0, REPORT_SIZE - 1))
def test_truncated_real_reports(reports, index, cut):
    data = reports[index][:cut]
    with pytest.raises(ParseError):
        parse_report(data)
    with pytest.raises(MalformedInputError):
        extract_snp_report(data)


@FUZZ
@given(index=st.integers(0, len(REAL) - 1), extra=st.binary(min_size=1, max_size=64))
def test_extended_real_reports(reports, index, extra):
    data = reports[index] + extra
    with pytest.raises(ParseError):
        parse_report(data)
    if cert_table_problem(extra) is None:  # e.g. 24+ zero bytes: an empty certificate table
        assert extract_snp_report(data)[1].startswith("raw > report+cert-table")
        return
    with pytest.raises(MalformedInputError, match=f"got {len(data)} bytes"):
        extract_snp_report(data)


@FUZZ
@given(
    index=st.integers(0, len(REAL) - 1),
    edits=st.lists(st.tuples(st.integers(0, REPORT_SIZE - 1), st.integers(0, 255)), max_size=8),
    product=PRODUCTS,
)
def test_mutated_real_reports(reports, index, edits, product):
    data = bytearray(reports[index])
    for offset, value in edits:
        data[offset] = value
    _parse_or_parse_error(bytes(data), product)


@FUZZ
@given(text=st.text(alphabet=st.characters(max_codepoint=0x7E), max_size=256))
def test_arbitrary_text_decoding(text):
    try:
        decoded = decode_blob(text.encode("ascii"), what="fuzz")
    except MalformedInputError as error:
        assert error.message.startswith("fuzz: ")
    else:
        assert decoded and isinstance(decoded, bytes)


@FUZZ
@given(
    data=st.one_of(
        st.binary(max_size=3000),
        st.binary(min_size=1200, max_size=3000).map(lambda b: b"HCLA" + b),
        st.binary(max_size=1300).map(lambda b: b.hex().encode()),
    )
)
def test_arbitrary_extract(data):
    try:
        report, description = extract_snp_report(data)
    except MalformedInputError:
        return
    assert len(report) == REPORT_SIZE and description
