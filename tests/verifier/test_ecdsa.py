"""Raw ``r || s`` ECDSA signatures and their DER form (``cairn_verifier.ecdsa``), the one
conversion the TDX quote, Intel's collateral, the echo services and the simulated TDX platform
use."""

from __future__ import annotations

import re

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from hypothesis import given
from hypothesis import strategies as st

from cairn_verifier.ecdsa import der_to_raw, raw_scalars, raw_to_der

_SCALAR = st.integers(min_value=0, max_value=(1 << 256) - 1)


@given(_SCALAR, _SCALAR)
def test_raw_and_der_are_the_same_signature(r: int, s: int) -> None:
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    assert raw_scalars(raw) == (r, s)
    assert raw_to_der(raw) == encode_dss_signature(r, s)
    assert der_to_raw(raw_to_der(raw), 32) == raw


def test_a_signature_written_raw_verifies_through_der() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    der = key.sign(b"quote", ec.ECDSA(hashes.SHA256()))
    raw = der_to_raw(der, 32)
    assert len(raw) == 64 and raw_scalars(raw) == decode_dss_signature(der)
    key.public_key().verify(raw_to_der(raw), b"quote", ec.ECDSA(hashes.SHA256()))


@pytest.mark.parametrize("raw", [b"", b"\x01", bytes(63)])
def test_a_raw_signature_is_two_equal_halves(raw: bytes) -> None:
    with pytest.raises(ValueError, match=re.escape("r || s of equal sizes")):
        raw_to_der(raw)


def test_a_scalar_too_large_for_the_size_is_refused() -> None:
    with pytest.raises(OverflowError):
        der_to_raw(encode_dss_signature(1 << 256, 1), 32)
