"""Fuzzing the TDX quote parser: whatever the bytes, the only failure is a ParseError."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cairn_verifier.errors import ParseError
from cairn_verifier.tdx.quote import Quote, parse_quote

FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

V4_FILE = "tdx/dcap-qvl/sample/tdx_quote"
V5_FILE = "tdx/go-tdx-guest/testdata/quote_v5_sample.dat"


def _length_fields(q: Quote) -> list[tuple[int, str]]:
    """(offset, struct format) of every length field of a parsed quote."""
    fields: list[tuple[int, str]] = []
    pos = 48
    if q.header.version == 5:
        fields.append((pos + 2, "<I"))  # body size
        pos += 6
    pos += len(q.body.raw)
    fields.append((pos, "<I"))  # signature data size
    pos += 4 + 64 + 64
    fields.append((pos + 2, "<I"))  # certification data size
    pos += 6 + 384 + 64
    fields.append((pos, "<H"))  # QE auth data size
    pos += 2 + len(q.certification.qe_auth_data)
    fields.append((pos + 2, "<I"))  # PCK chain size
    return fields


def _parse_or_parse_error(data: bytes) -> Quote | None:
    try:
        q = parse_quote(data)
    except ParseError as exc:
        assert exc.component == "tdx-quote"
        assert exc.message
        return None
    assert q.raw + q.trailing == data
    return q


@pytest.fixture(scope="module", params=[V4_FILE, V5_FILE])
def real_quote(request: pytest.FixtureRequest, testdata: Path) -> bytes:
    data: bytes = (testdata / request.param).read_bytes()
    return data


@FUZZ
@given(st.binary(max_size=2048))
def test_arbitrary_bytes(data: bytes) -> None:
    _parse_or_parse_error(data)


@FUZZ
@given(
    version=st.sampled_from([4, 5]),
    tail=st.binary(max_size=1500),
)
def test_arbitrary_bytes_after_a_valid_header(version: int, tail: bytes) -> None:
    header = struct.pack("<HHI", version, 2, 0x81) + bytes(40)
    _parse_or_parse_error(header + tail)


@FUZZ
@given(index=st.integers(min_value=0, max_value=5), value=st.integers(0, 0xFFFFFFFF))
def test_length_field_mutations(real_quote: bytes, index: int, value: int) -> None:
    fields = _length_fields(parse_quote(real_quote))
    offset, fmt = fields[index % len(fields)]
    mutated = bytearray(real_quote)
    struct.pack_into(fmt, mutated, offset, value & (0xFFFF if fmt == "<H" else 0xFFFFFFFF))
    original = struct.unpack_from(fmt, real_quote, offset)[0]
    q = _parse_or_parse_error(bytes(mutated))
    if struct.unpack_from(fmt, mutated, offset)[0] != original:
        # The structures fill their declared sizes exactly, so any other size is rejected.
        assert q is None


@FUZZ
@given(data=st.data())
def test_random_byte_mutations(real_quote: bytes, data: st.DataObject) -> None:
    mutated = bytearray(real_quote)
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.integers(0, len(mutated) - 1))
        mutated[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(mutated)))
    _parse_or_parse_error(bytes(mutated[:cut]))
