"""Bit fields (``cairn_verifier.bits``): one table of named bits per flags field, which decodes a
value and builds one, reads flags as bools and multi-bit runs as ints, shows each bit by the name
users know, and surfaces unnamed bits as reserved rather than rejecting them; and the tables built
with it: SEV-SNP guest policy, platform and signer info, TD attributes, XFAM, TPMA_OBJECT."""

from __future__ import annotations

import pytest

from cairn_verifier.bits import BitField, Bits, Flag, IntBitField
from cairn_verifier.snp.flags import GuestPolicy, PlatformInfo, SignerInfo, SigningKey
from cairn_verifier.tdx.quote import TdAttributes, Xfam
from cairn_verifier.tpm.structures import (
    AK_FORBIDDEN_ATTRIBUTES,
    AK_REQUIRED_ATTRIBUTES,
    ObjectAttributes,
)


class _Example(IntBitField):
    """Named bits 0, 3 and 9, a two-bit run at 4-5 (defined, yet no flag) in a 16-bit field."""

    __slots__ = ()
    width = 16
    a = Flag(0, "first", name="A")
    b = Flag(3, name="B")
    c = Flag(9, name="C")
    mode = Bits(4, 2, "a two-bit value")


SNP_FIELDS: tuple[type[IntBitField], ...] = (GuestPolicy, PlatformInfo, SignerInfo)
ALL_FIELDS: tuple[type[BitField], ...] = (*SNP_FIELDS, TdAttributes, Xfam, ObjectAttributes)

# ------------------------------------------------------------------------ the bit field itself


def test_names_lists_set_bits_lowest_first_and_unnamed_ones_as_reserved() -> None:
    value = 1 << 9 | 1 << 3 | 1 << 15 | 1 << 1 | 1
    assert _Example(value).names() == ["A", "RESERVED_BIT_1", "B", "C", "RESERVED_BIT_15"]
    assert _Example(0).names() == []
    assert _Example(0b11 << 4).names() == []  # a multi-bit run is a value, not a name


def test_has_and_flags_read_bits_by_name() -> None:
    assert _Example(1 << 3).has("B") and not _Example(1 << 3).has("A")
    assert _Example(1 << 9 | 1).flags() == {"A": True, "B": False, "C": True}
    with pytest.raises(KeyError):
        _Example(1).has("NO_SUCH_BIT")
    with pytest.raises(KeyError):
        _Example(1).has("mode")  # a run, not a flag
    assert _Example.row("A") is _Example.a and _Example.a.meaning == "first"
    assert _Example.a.bit == 0 and _Example.row("C").mask == 1 << 9


def test_reserved_excludes_named_and_multi_bit_rows() -> None:
    assert _Example.known_mask() == 0b10_0011_1001
    assert _Example(0xFFFF).reserved_bits == 0xFFFF & ~0b10_0011_1001
    assert _Example(1 | 1 << 3 | 1 << 4 | 1 << 5 | 1 << 9).reserved_bits == 0


def test_a_flag_is_a_bool_attribute_documented_by_its_bit() -> None:
    assert (_Example(1).a, _Example(1).c, _Example(1 << 9).a, _Example(1 << 9).c) == (
        True,
        False,
        False,
        True,
    )
    assert _Example(0b10 << 4).mode == 2
    assert isinstance(_Example.a, Flag) and isinstance(_Example.mode, Bits)
    assert _Example.a.__doc__ == "A (bit 0): first" and _Example.c.__doc__ == "C (bit 9)"
    assert _Example.mode.__doc__ == "mode (bits 4-5): a two-bit value"
    with pytest.raises(KeyError):
        _Example.row("NO_SUCH_BIT")


def test_a_name_may_differ_from_the_attribute() -> None:
    assert TdAttributes.sept_ve_disable.name == "SEPT_VE_DISABLE"
    assert TdAttributes.build(sept_ve_disable=True).raw == (1 << 28).to_bytes(8, "little")
    assert TdAttributes.from_value(1 << 28).names() == ["SEPT_VE_DISABLE"]
    assert TdAttributes.from_value(1 << 28).has("SEPT_VE_DISABLE")
    with pytest.raises(KeyError):
        TdAttributes.from_value(1 << 28).has("sept_ve_disable")  # names are what users read
    with pytest.raises(TypeError, match="no bits named SEPT_VE_DISABLE"):
        TdAttributes.build(SEPT_VE_DISABLE=True)  # builds take the attributes


def _define(*rows: Flag | Bits) -> type[IntBitField]:
    body = {f"r{i}": row for i, row in enumerate(rows)}
    return type("_Defined", (IntBitField,), {"width": 16, **body})


@pytest.mark.parametrize(
    ("rows", "error"),
    [
        ((Flag(0, name="A"), Flag(0, name="B")), "overlaps"),  # one bit, two names
        ((Flag(0, name="A"), Bits(0, 2, "run")), "overlaps"),
        ((Flag(0, name="A"), Flag(1, name="A")), "two rows A"),  # one name, two bits
        ((Flag(16, name="A"),), "outside the 16-bit field"),
        ((Bits(15, 2, "run"),), "outside the 16-bit field"),
    ],
)
def test_a_table_names_each_bit_once_inside_its_field(
    rows: tuple[Flag | Bits, ...], error: str
) -> None:
    with pytest.raises(TypeError, match=error):
        _define(*rows)


def test_a_row_starts_at_bit_zero_or_above() -> None:
    with pytest.raises(TypeError):
        Flag(-1, name="A")
    with pytest.raises(TypeError):
        Bits(0, 0, "empty")


def test_a_row_may_not_hide_the_bit_field_api() -> None:
    with pytest.raises(TypeError, match="hides"):
        type("_Hiding", (IntBitField,), {"names": Flag(0)})


def test_overlapping_rows_are_a_definition_error() -> None:
    with pytest.raises(TypeError, match="overlaps"):

        class _Broken(IntBitField):
            __slots__ = ()
            a = Flag(3, "one")
            b = Flag(3, "the same bit again")


# ------------------------------------------------------------------------ the tables


@pytest.mark.parametrize("cls", ALL_FIELDS)
def test_each_flag_builds_and_decodes_its_own_bit(cls: type[BitField]) -> None:
    base = cls.build().value
    for row in cls.table:
        if not isinstance(row, Flag):
            continue
        flipped = cls.build(**{row.attr: not row.default})
        assert flipped.value ^ base == 1 << row.bit, row.name
        assert getattr(flipped, row.attr) is (not row.default)
        assert getattr(cls.from_value(base), row.attr) is bool(row.default)
        assert flipped.reserved_bits == 0
        if cls in SNP_FIELDS:
            assert row.meaning


def test_known_bits_are_those_the_spec_defines() -> None:
    assert GuestPolicy.known_mask() == (1 << 26) - 1  # ABI 0-15, 16, 17 (must be one), 18-25
    assert PlatformInfo.known_mask() == 0xFF
    assert SignerInfo.known_mask() == 0x1F
    assert GuestPolicy.build().raw == 1 << 17  # the reserved-must-be-one bit by default
    assert list(GuestPolicy(0).flags())[:3] == ["smt", "migrate_ma", "debug"]
    assert "reserved_must_be_one" not in GuestPolicy(0).flags()
    unknown = GuestPolicy(1 << 17 | 1 << 40 | 1 << 26)
    assert unknown.reserved_bits == 1 << 40 | 1 << 26
    assert unknown.names() == ["reserved_must_be_one", "RESERVED_BIT_26", "RESERVED_BIT_40"]


def test_multi_bit_rows_and_refusals() -> None:
    policy = GuestPolicy.build(abi_major=0xAB, abi_minor=0xCD)
    assert (policy.abi_major, policy.abi_minor, policy.raw & 0xFFFF) == (0xAB, 0xCD, 0xABCD)
    assert SignerInfo(7 << 2).signing_key is SigningKey.NONE
    assert not SignerInfo(2 << 2).signing_key_known
    with pytest.raises(ValueError, match="abi_minor is 8 bits wide"):
        GuestPolicy.build(abi_minor=0x100)
    with pytest.raises(TypeError, match="no bits named sm_t"):
        GuestPolicy.build(sm_t=True)


def test_td_attribute_accessors_read_the_table() -> None:
    for row in TdAttributes.table:
        assert isinstance(row, Flag)
        attributes = TdAttributes(row.mask.to_bytes(8, "little"))
        assert attributes.names() == [row.name]
        accessors = {
            "DEBUG": attributes.debug,
            "LASS": attributes.lass,
            "SEPT_VE_DISABLE": attributes.sept_ve_disable,
            "MIGRATABLE": attributes.migratable,
            "PKS": attributes.pks,
            "KL": attributes.kl,
            "PERFMON": attributes.perfmon,
        }
        assert {name for name, on in accessors.items() if on} == (
            {row.name} if row.name in accessors else set()
        )
    assert Xfam.row("APX").low == 19 and Xfam.width == 64


def test_tpm_object_attributes_read_the_table_in_tpm2_tools_spelling() -> None:
    ak = sum(ObjectAttributes.row(n).mask for n in ("fixedtpm", "restricted", "sign"))
    attributes = ObjectAttributes(ak)
    assert attributes.names() == ["fixedtpm", "restricted", "sign"]
    assert attributes.has("fixedtpm") and attributes.has("restricted") and attributes.has("sign")
    assert not (attributes.has("decrypt") or attributes.has("sensitivedataorigin"))
    with pytest.raises(KeyError):
        attributes.has("fixedTPM")
    reserved = ObjectAttributes(1 << 0 | 1 << 3 | 1 << 31).reserved_bits
    assert reserved == 1 << 0 | 1 << 3 | 1 << 31


def test_the_attestation_key_rule_is_stated_once_by_name() -> None:
    required = sum(ObjectAttributes.row(n).mask for n in AK_REQUIRED_ATTRIBUTES)
    assert AK_REQUIRED_ATTRIBUTES == ("fixedtpm", "sensitivedataorigin", "restricted", "sign")
    assert ObjectAttributes(required).names() == list(AK_REQUIRED_ATTRIBUTES)
    for name in AK_FORBIDDEN_ATTRIBUTES:
        assert ObjectAttributes.row(name).mask & required == 0
