"""Poseidon2 over the BN254 scalar field with barretenberg's parameters (t = 4, d = 5).

Matches barretenberg's ``Poseidon2<Poseidon2Bn254ScalarFieldParams>`` and Noir's
``std::hash::poseidon2::Poseidon2::hash``: 4 full rounds, 56 partial rounds, 4 full rounds; the
external matrix M4 is applied once before the first round; the internal layer is
``s_i <- DIAG[i]*s_i + sum(s)``. The sponge has rate 3 and capacity 1, starts with
``len(inputs) * 2**64`` in lane 3, adds the inputs three at a time into lanes 0..2 (the last
chunk zero-padded, an empty input still permutes once) and outputs lane 0.

The permutation is written for speed in pure Python: constants are bound to closure locals,
the external matrix is open-coded with additions only, and values are reduced modulo P only
where a product would otherwise keep growing (the s-box's pow reduces its input; lanes 1-3 of
the partial rounds are reduced every second round), so sums are left unreduced. If the optional
``gmpy2`` package is installed (``cairn-verifier[fast]``), the same code runs on its ``mpz``
integers (several times faster); set ``CAIRN_POSEIDON2_BACKEND=python`` to keep plain ints.
``BACKEND`` names the one in use (chosen on first use). Both give identical results.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Sequence
from typing import Any, Final

from ..errors import MalformedInputError
from .poseidon2_constants import DIAG, RC

P: Final = 21888242871839275222246405745257275088548364400416034343698204186575808495617
"""The BN254 scalar field modulus (the field Noir's ``Field`` lives in)."""

T: Final = 4
RATE: Final = 3
ROUNDS_F_HALF: Final = 4
ROUNDS_P: Final = 56

_COMPONENT: Final = "poseidon2"

_TWO_TO_64: Final = 1 << 64

Permute4 = Callable[[int, int, int, int], tuple[int, int, int, int]]


def make_permute4(number: Callable[[int], Any] = int) -> Permute4:
    """The permutation on four lanes, computing with ``number(...)`` constants (int or mpz).

    The returned function accepts unreduced non-negative inputs and returns reduced ints.
    """
    p = number(P)
    d0, d1, d2, d3 = (number(d) for d in DIAG)
    rc_first = tuple(tuple(number(c) for c in row) for row in RC[:ROUNDS_F_HALF])
    rc_partial = [number(row[0]) for row in RC[ROUNDS_F_HALF : ROUNDS_F_HALF + ROUNDS_P]]
    rc_pairs = tuple(zip(rc_partial[0::2], rc_partial[1::2], strict=True))  # 56 rounds: 28 pairs
    rc_last = tuple(tuple(number(c) for c in row) for row in RC[ROUNDS_F_HALF + ROUNDS_P :])

    def permute4(s0: Any, s1: Any, s2: Any, s3: Any) -> tuple[int, int, int, int]:
        # Initial external layer: M4 = [[5,7,1,3],[4,6,1,1],[1,3,5,7],[1,1,4,6]] (barretenberg's
        # addition chain).
        t0 = s0 + s1
        t1 = s2 + s3
        t2 = s1 + s1 + t1
        t3 = s3 + s3 + t0
        t4 = 4 * t1 + t3
        t5 = 4 * t0 + t2
        s0, s1, s2, s3 = t3 + t5, t5, t2 + t4, t4

        for c0, c1, c2, c3 in rc_first:
            s0 = pow(s0 + c0, 5, p)
            s1 = pow(s1 + c1, 5, p)
            s2 = pow(s2 + c2, 5, p)
            s3 = pow(s3 + c3, 5, p)
            t0 = s0 + s1
            t1 = s2 + s3
            t2 = s1 + s1 + t1
            t3 = s3 + s3 + t0
            t4 = 4 * t1 + t3
            t5 = 4 * t0 + t2
            s0, s1, s2, s3 = t3 + t5, t5, t2 + t4, t4

        # Partial rounds, two at a time: lanes 1-3 are reduced every second round (a product of
        # an unreduced lane is still small for the next multiplication), lane 0 never (the
        # s-box's pow reduces its input).
        for ca, cb in rc_pairs:
            x = pow(s0 + ca, 5, p)
            total = x + s1 + s2 + s3
            s0 = d0 * x + total
            s1 = d1 * s1 + total
            s2 = d2 * s2 + total
            s3 = d3 * s3 + total
            x = pow(s0 + cb, 5, p)
            total = x + s1 + s2 + s3
            s0 = d0 * x + total
            s1 = (d1 * s1 + total) % p
            s2 = (d2 * s2 + total) % p
            s3 = (d3 * s3 + total) % p

        for c0, c1, c2, c3 in rc_last:
            s0 = pow(s0 + c0, 5, p)
            s1 = pow(s1 + c1, 5, p)
            s2 = pow(s2 + c2, 5, p)
            s3 = pow(s3 + c3, 5, p)
            t0 = s0 + s1
            t1 = s2 + s3
            t2 = s1 + s1 + t1
            t3 = s3 + s3 + t0
            t4 = 4 * t1 + t3
            t5 = 4 * t0 + t2
            s0, s1, s2, s3 = t3 + t5, t5, t2 + t4, t4

        return int(s0 % p), int(s1 % p), int(s2 % p), int(s3 % p)

    return permute4


def _select_backend() -> tuple[str, Permute4]:
    if os.environ.get("CAIRN_POSEIDON2_BACKEND", "auto") != "python":
        try:
            gmpy2 = importlib.import_module("gmpy2")
        except ImportError:
            pass
        else:
            return "gmpy2", make_permute4(gmpy2.mpz)
    return "python", make_permute4(int)


_SELECTED: list[tuple[str, Permute4]] = []


def _backend() -> tuple[str, Permute4]:
    """The backend, selected on first use (importing this module does no work)."""
    if not _SELECTED:
        _SELECTED.append(_select_backend())
    return _SELECTED[0]


def _permute4(s0: int, s1: int, s2: int, s3: int) -> tuple[int, int, int, int]:
    return _backend()[1](s0, s1, s2, s3)


def __getattr__(name: str) -> str:
    if name == "BACKEND":  # the name of the backend in use: "gmpy2" or "python"
        return _backend()[0]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _check_field(value: object, what: str) -> int:
    """Return ``value`` if it is a field element (an int in [0, P)), else raise."""
    if type(value) is not int or not 0 <= value < P:
        raise MalformedInputError(
            f"{what} is not a BN254 field element (an int in [0, P)): {value!r:.80}",
            component=_COMPONENT,
            hint="reduce the value modulo P (binding.poseidon2.P) before hashing",
        )
    return value


def permute(state: Sequence[int]) -> list[int]:
    """Apply the Poseidon2 permutation to a state of four field elements."""
    if len(state) != T:
        raise MalformedInputError(
            f"Poseidon2 state must have {T} lanes, got {len(state)}", component=_COMPONENT
        )
    lanes = [_check_field(v, f"state[{i}]") for i, v in enumerate(state)]
    return list(_permute4(lanes[0], lanes[1], lanes[2], lanes[3]))


def hash(inputs: Sequence[int]) -> int:
    """Poseidon2 sponge hash of field elements (Noir ``Poseidon2::hash(inputs, len(inputs))``)."""
    values = [_check_field(v, f"input[{i}]") for i, v in enumerate(inputs)]
    s0, s1, s2, s3 = 0, 0, 0, len(values) * _TWO_TO_64
    if not values:
        return _permute4(s0, s1, s2, s3)[0]
    for start in range(0, len(values), RATE):
        chunk = values[start : start + RATE]
        s0 += chunk[0]
        if len(chunk) > 1:
            s1 += chunk[1]
        if len(chunk) > 2:
            s2 += chunk[2]
        s0, s1, s2, s3 = _permute4(s0, s1, s2, s3)
    return s0


def hash2(a: int, b: int) -> int:
    """Two-to-one compression, equal to ``hash([a, b])``."""
    _check_field(a, "left input")
    _check_field(b, "right input")
    return _permute4(a, b, 0, 2 * _TWO_TO_64)[0]
