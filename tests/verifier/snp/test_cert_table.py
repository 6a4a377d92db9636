"""The SEV-SNP extended-report certificate table, with real AMD certificates in it."""

from __future__ import annotations

import struct
import uuid

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from cairn_verifier.errors import ExitCode, ParseError
from cairn_verifier.snp.cert_table import (
    ENTRY_SIZE,
    ROLE_GUIDS,
    CertRole,
    build_cert_table,
    parse_cert_table,
    read_cert_table,
)

VCEK_GUID_BYTES = bytes.fromhex("63da758de6644564adc5f4b93be8accd")
ASK_GUID_BYTES = bytes.fromhex("4ab7b379bbac4fe4a02f05aef327c782")
ARK_GUID_BYTES = bytes.fromhex("c0b406a4a803495297433fb6014cd0ae")


def _entry(guid: bytes, offset: int, length: int) -> bytes:
    return struct.pack("<16sII", guid, offset, length)


def test_hand_built_table_with_real_certificates(milan_chain: dict[CertRole, bytes]) -> None:
    vcek, ask, ark = (
        milan_chain[CertRole.VCEK],
        milan_chain[CertRole.ASK],
        milan_chain[CertRole.ARK],
    )
    header_size = 4 * ENTRY_SIZE
    blob = (
        _entry(VCEK_GUID_BYTES, header_size, len(vcek))
        + _entry(ASK_GUID_BYTES, header_size + len(vcek), len(ask))
        + _entry(ARK_GUID_BYTES, header_size + len(vcek) + len(ask), len(ark))
        + bytes(ENTRY_SIZE)
        + vcek
        + ask
        + ark
        + bytes(4096)  # the kernel hands over a zero-padded page-sized buffer
    )
    table = parse_cert_table(blob)
    assert table == milan_chain
    for role, common_name in ((CertRole.ASK, "SEV-Milan"), (CertRole.ARK, "ARK-Milan")):
        cert = x509.load_der_x509_certificate(table[role])
        assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == common_name


def test_guids_are_in_rfc_byte_order() -> None:
    assert ROLE_GUIDS[CertRole.VCEK].bytes == VCEK_GUID_BYTES
    assert ROLE_GUIDS[CertRole.VLEK] == uuid.UUID("a8074bc2-a25a-483e-aae6-39c045a0b8a1")
    assert build_cert_table({CertRole.ARK: b"\x30\x00"})[:16] == ARK_GUID_BYTES


def test_build_then_parse_round_trips(milan_chain: dict[CertRole, bytes]) -> None:
    blob = build_cert_table(milan_chain, pad_to=16384)
    assert len(blob) == 16384
    assert parse_cert_table(blob) == milan_chain
    entries = read_cert_table(blob)
    assert [e.role for e in entries] == [CertRole.VCEK, CertRole.ASK, CertRole.ARK]


def test_vlek_role_and_unknown_guid_is_skipped(milan_chain: dict[CertRole, bytes]) -> None:
    other = uuid.UUID("00000000-1111-2222-3333-444444444444")
    certs: dict[CertRole | uuid.UUID, bytes] = {
        CertRole.VLEK: milan_chain[CertRole.VCEK],
        other: b"extra",
    }
    blob = build_cert_table(certs)
    entries = read_cert_table(blob)
    assert entries[1].guid == other and entries[1].role is None and entries[1].data == b"extra"
    assert parse_cert_table(blob) == {CertRole.VLEK: milan_chain[CertRole.VCEK]}


@pytest.mark.parametrize("blob", [b"", bytes(24), bytes(4096)])
def test_empty_or_all_zero_means_no_certificates(blob: bytes) -> None:
    assert parse_cert_table(blob) == {}


def _expect(blob: bytes, field: str, offset: int) -> ParseError:
    with pytest.raises(ParseError) as info:
        read_cert_table(blob)
    err = info.value
    assert err.exit_code == ExitCode.MALFORMED_INPUT
    assert err.component == "snp-cert-table"
    assert (err.field, err.offset) == (field, offset)
    assert err.hint
    return err


def test_missing_terminator() -> None:
    _expect(_entry(VCEK_GUID_BYTES, 48, 4) + b"abcd", "terminator", 24)


def test_entry_past_the_end() -> None:
    blob = _entry(VCEK_GUID_BYTES, 48, 100) + bytes(24) + b"x" * 99
    err = _expect(blob, "length", 20)
    assert "past the end" in err.message


def test_entry_pointing_into_the_header() -> None:
    _expect(_entry(VCEK_GUID_BYTES, 8, 4) + bytes(24) + b"abcd", "offset", 16)


def test_offset_overflow_is_bounds_checked() -> None:
    _expect(_entry(VCEK_GUID_BYTES, 0xFFFFFFFF, 0xFFFFFFFF) + bytes(24), "length", 20)


def test_duplicate_guid() -> None:
    blob = _entry(ASK_GUID_BYTES, 72, 1) + _entry(ASK_GUID_BYTES, 73, 1) + bytes(24) + b"ab"
    _expect(blob, "guid", 24)


def test_zero_length_entry() -> None:
    _expect(_entry(ARK_GUID_BYTES, 48, 0) + bytes(24), "length", 20)


def test_not_bytes() -> None:
    with pytest.raises(ParseError):
        read_cert_table("not bytes")  # type: ignore[arg-type]


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_parse_or_raise_parse_error(blob: bytes) -> None:
    try:
        entries = read_cert_table(blob)
    except ParseError:
        return
    for entry in entries:
        assert entry.data and entry.data in blob


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from(list(CertRole)), st.binary(min_size=1, max_size=64)))
def test_build_parse_round_trip_property(certs: dict[CertRole, bytes]) -> None:
    assert parse_cert_table(build_cert_table(certs)) == certs
