"""Named bit tables (``cairn_verifier.bits``): one definition per flags field, read by name, with
unnamed bits surfaced as reserved rather than rejected; and the tables of TD attributes, XFAM and
TPMA_OBJECT built with it."""

from __future__ import annotations

import pytest

from cairn_verifier.bits import Bit, BitTable, Flag
from cairn_verifier.tdx.quote import TD_ATTRIBUTE_BITS, XFAM_BITS, TdAttributes
from cairn_verifier.tpm.structures import (
    AK_FORBIDDEN_ATTRIBUTES,
    AK_REQUIRED_ATTRIBUTES,
    OBJECT_ATTRIBUTE_BITS,
    ObjectAttributes,
)

TABLE = BitTable(16, Bit(0, "A", "first"), Bit(3, "B"), Bit(9, "C"), defined=0b110)


def test_names_lists_set_bits_lowest_first_and_unnamed_ones_as_reserved() -> None:
    value = 1 << 9 | 1 << 3 | 1 << 15 | 1 << 1 | 1
    assert TABLE.names(value) == ["A", "RESERVED_BIT_1", "B", "C", "RESERVED_BIT_15"]
    assert TABLE.names(0) == []


def test_is_set_and_flags_read_bits_by_name() -> None:
    assert TABLE.is_set(1 << 3, "B") and not TABLE.is_set(1 << 3, "A")
    assert TABLE.flags(1 << 9 | 1) == {"A": True, "B": False, "C": True}
    with pytest.raises(KeyError):
        TABLE.is_set(1, "NO_SUCH_BIT")
    assert TABLE["A"] == Bit(0, "A", "first") and TABLE["C"].mask == 1 << 9


def test_reserved_excludes_named_and_otherwise_defined_bits() -> None:
    assert TABLE.known_mask == 0b10_0000_1111
    assert TABLE.reserved(0xFFFF) == 0xFFFF & ~0b10_0000_1111
    assert TABLE.reserved(1 | 1 << 1 | 1 << 2 | 1 << 3 | 1 << 9) == 0


class _Model:
    a = TABLE.flag("A")
    c = TABLE.flag("C")

    def __init__(self, value: int):
        self.value = value


def test_a_flag_is_a_bool_attribute_documented_by_its_bit() -> None:
    assert (_Model(1).a, _Model(1).c, _Model(1 << 9).a, _Model(1 << 9).c) == (
        True,
        False,
        False,
        True,
    )
    assert isinstance(_Model.a, Flag) and _Model.a.bit == TABLE["A"]
    assert _Model.a.__doc__ == "A (bit 0): first" and _Model.c.__doc__ == "C (bit 9)"
    with pytest.raises(KeyError):
        TABLE.flag("NO_SUCH_BIT")


@pytest.mark.parametrize(
    "bits",
    [
        (Bit(0, "A"), Bit(0, "B")),  # one bit, two names
        (Bit(0, "A"), Bit(1, "A")),  # one name, two bits
        (Bit(16, "A"),),  # outside a 16-bit field
        (Bit(-1, "A"),),
    ],
)
def test_a_table_names_each_bit_once_inside_its_field(bits: tuple[Bit, ...]) -> None:
    with pytest.raises(ValueError):
        BitTable(16, *bits)


def test_td_attribute_accessors_read_the_table() -> None:
    for bit in TD_ATTRIBUTE_BITS.bits:
        attributes = TdAttributes(bit.mask.to_bytes(8, "little"))
        assert attributes.set_flags() == [bit.name]
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
            {bit.name} if bit.name in accessors else set()
        )
    assert XFAM_BITS["APX"].number == 19 and XFAM_BITS.width == 64


def test_tpm_object_attributes_read_the_table_in_tpm2_tools_spelling() -> None:
    ak = sum(OBJECT_ATTRIBUTE_BITS[n].mask for n in ("fixedtpm", "restricted", "sign"))
    attributes = ObjectAttributes(ak)
    assert attributes.names == ["fixedtpm", "restricted", "sign"]
    assert attributes.has("fixedtpm") and attributes.has("restricted") and attributes.has("sign")
    assert not (attributes.has("decrypt") or attributes.has("sensitivedataorigin"))
    with pytest.raises(KeyError):
        attributes.has("fixedTPM")
    assert OBJECT_ATTRIBUTE_BITS.reserved(1 << 0 | 1 << 3 | 1 << 31) == 1 << 0 | 1 << 3 | 1 << 31


def test_the_attestation_key_rule_is_stated_once_by_name() -> None:
    required = sum(OBJECT_ATTRIBUTE_BITS[n].mask for n in AK_REQUIRED_ATTRIBUTES)
    assert AK_REQUIRED_ATTRIBUTES == ("fixedtpm", "sensitivedataorigin", "restricted", "sign")
    assert ObjectAttributes(required).names == list(AK_REQUIRED_ATTRIBUTES)
    for name in AK_FORBIDDEN_ATTRIBUTES:
        assert OBJECT_ATTRIBUTE_BITS[name].mask & required == 0
