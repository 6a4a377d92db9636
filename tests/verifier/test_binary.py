"""The one binary cursor (``cairn_verifier.binary``) that TPM structures (big-endian) and TDX
quotes (little-endian) are read with: byte order, bounds, sub-structures and the errors that name
the field and offset, on real inputs of both formats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cairn_verifier.binary import Reader
from cairn_verifier.errors import ExitCode, ParseError
from cairn_verifier.tdx.quote import parse_quote
from cairn_verifier.tpm.structures import parse_attest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_QUOTE = REPO / "examples/tdx/dcap-qvl-sample/quote.bin"


def _azure_attest(testdata: Path) -> bytes:
    """The TPMS_ATTEST of a real Azure vTPM quote (tests/vectors/tdx/trustee-azure)."""
    document = json.loads((testdata / "tdx/trustee-azure/tpm-quote-v1.json").read_text())
    return bytes.fromhex(document["message"])


def test_the_byte_order_is_a_parameter() -> None:
    data = bytes.fromhex("0102 03040506 0708090a0b0c0d0e 0f")
    for order in ("big", "little"):
        r = Reader(data, "s", order=order, component="c")
        assert r.u16("a") == int.from_bytes(data[0:2], order)
        assert r.u32("b") == int.from_bytes(data[2:6], order)
        assert r.u64("c") == int.from_bytes(data[6:14], order)
        assert r.u8("d") == 0x0F
        r.finish()
    assert Reader(data, "s", order="big", component="c").u16("a") == 0x0102
    assert Reader(data, "s", order="little", component="c").u16("a") == 0x0201


def test_a_read_past_the_end_names_field_offset_component_and_hint() -> None:
    r = Reader(b"\x00" * 5, "quote", order="little", component="tdx-quote", truncated_hint="h")
    r.take(3, "first")
    with pytest.raises(ParseError) as info:
        r.u32("second")
    error = info.value
    assert error.message == "truncated quote: second needs 4 bytes at offset 3, only 2 left"
    assert (error.field, error.offset, error.component, error.hint) == (
        "second",
        3,
        "tdx-quote",
        "h",
    )
    assert error.exit_code is ExitCode.MALFORMED_INPUT
    assert r.offset == 3  # a failed read consumes nothing


def test_a_sub_structure_is_bounded_by_its_size_field_and_skipped_past() -> None:
    data = bytes(range(12))
    r = Reader(data, "outer", order="big", component="c", truncated_hint="h")
    r.take(2, "head")
    inner = r.sub(4, "inner_bytes", "inner")
    assert r.offset == 6 and r.take(2, "after") == data[6:8]
    assert (inner.offset, inner.end, inner.remaining) == (2, 6, 4)
    assert inner.u16("x") == 0x0203
    with pytest.raises(ParseError) as info:
        inner.u32("y")  # the outer structure has more bytes; the sub-structure does not
    assert (info.value.field, info.value.offset, info.value.hint) == ("y", 4, "h")
    assert info.value.message.startswith("truncated inner: ")
    with pytest.raises(ParseError) as info:
        inner.finish()
    assert info.value.message == (
        "inner has 2 unparsed bytes at offset 4 (its size field is larger than its content)"
    )
    assert (info.value.field, info.value.offset) == ("inner", 4)


def test_a_sub_structure_larger_than_what_is_left_is_truncation() -> None:
    r = Reader(b"\x00" * 4, "outer", order="little", component="c")
    with pytest.raises(ParseError) as info:
        r.sub(5, "body", "body")
    assert (info.value.field, info.value.offset) == ("body", 0)


def test_trailing_bytes_after_a_whole_structure() -> None:
    r = Reader(b"\x01\x02\x03", "TPMT_X", order="big", component="tpm")
    r.u16("a")
    with pytest.raises(ParseError) as info:
        r.finish()
    assert info.value.message == (
        "TPMT_X has 1 unparsed bytes at offset 2 (trailing data after the structure)"
    )
    assert (info.value.field, info.value.offset, info.value.component) == ("trailing", 2, "tpm")


def test_error_names_the_structure_and_defaults_to_the_cursor() -> None:
    r = Reader(b"\x00\x00\x00", "TPMS_ATTEST", order="big", component="tpm")
    r.u16("magic")
    error = r.error("bad", "magic")
    assert (error.message, error.field, error.offset) == ("TPMS_ATTEST: bad", "magic", 2)
    assert r.error("bad", "magic", 0, hint="x").offset == 0


def test_real_tpm_attest_cut_anywhere_names_the_field_being_read(testdata: Path) -> None:
    attest = _azure_attest(testdata)
    assert parse_attest(attest).raw == attest
    for cut in range(len(attest)):
        with pytest.raises(ParseError) as info:
            parse_attest(attest[:cut])
        error = info.value
        assert error.component == "tpm" and error.field
        assert error.offset is not None and error.offset <= cut
        if error.message.startswith("truncated"):
            assert error.message.startswith(f"truncated TPMS_ATTEST: {error.field} needs ")
            assert f"at offset {error.offset}, only {cut - error.offset} left" in error.message


def test_real_tpm_attest_with_a_byte_more_is_trailing_data(testdata: Path) -> None:
    attest = _azure_attest(testdata)
    with pytest.raises(ParseError) as info:
        parse_attest(attest + b"\x00")
    assert (info.value.field, info.value.offset) == ("trailing", len(attest))


def test_real_tdx_quote_cut_anywhere_in_the_signed_part_is_truncation() -> None:
    quote = parse_quote(EXAMPLE_QUOTE.read_bytes()).raw
    for cut in range(0, len(quote), 97):
        with pytest.raises(ParseError) as info:
            parse_quote(quote[:cut])
        error = info.value
        assert error.component == "tdx-quote" and error.offset is not None
        assert error.offset <= cut
        if error.message.startswith("truncated"):
            assert error.hint == (
                "the quote is incomplete or a length field is wrong; pass the whole quote"
            )
