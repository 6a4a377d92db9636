"""Inputs of the ``cairn_membership`` circuit, and decoding of its public inputs.

The prover (Alice) holds an evidence bundle (REPORT_DATA v2), the inclusion proof document of
one service and a response that service signed. :func:`membership_inputs` turns them into the
circuit's input map (Noir ABI: fields as ``0x`` hex strings, byte arrays as lists of ints). The
public inputs of a proof are six field elements, in order: ``claims_commitment``
(REPORT_DATA[32:64] of v2), ``response_hash`` as [high 128 bits, low 128 bits],
``disclose_system`` (0 or 1) and ``disclosed_system_hash`` as two halves (zero unless
disclosed); :func:`read_public_inputs` decodes them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from ..binding.poseidon2 import P
from ..binding.report_data import ABSENT, ReportDataInputs, claims_commitment, split_128
from ..binding.services import ServiceEntry, public_key_coordinates, service_leaf, store_path_hash
from ..binding.smt import MAX_DEPTH, Proof, ProofKind, verify_proof
from ..errors import MalformedInputError, ParseError

SECP256K1_N: Final = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
PUBLIC_INPUT_COUNT: Final = 6
_HALF: Final = 1 << 128
_COMPONENT: Final = "zk-witness"


def _field_hex(value: int) -> str:
    return f"0x{value:064x}"


def _halves(value: bytes) -> list[str]:
    return [_field_hex(half) for half in split_128(value)]


def signature_rs(signature: bytes) -> tuple[int, int]:
    """(r, s) of an ECDSA signature given as 64 raw bytes (r || s) or DER."""
    if not isinstance(signature, bytes):
        raise MalformedInputError("a signature must be bytes", component=_COMPONENT)
    if len(signature) == 64:
        r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    else:
        try:
            r, s = decode_dss_signature(signature)
        except ValueError as exc:
            raise MalformedInputError(
                f"signature is neither 64 raw bytes (r || s) nor DER ({len(signature)} bytes)",
                component=_COMPONENT,
            ) from exc
    if not (0 < r < SECP256K1_N and 0 < s < SECP256K1_N):
        raise MalformedInputError("signature r or s is out of range", component=_COMPONENT)
    return r, s


def low_s_signature(signature: bytes) -> bytes:
    """64-byte ``r || s`` with ``s <= n/2`` (the circuit's ECDSA accepts only low-s)."""
    r, s = signature_rs(signature)
    if s > SECP256K1_N // 2:
        s = SECP256K1_N - s
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def membership_inputs(
    report: ReportDataInputs,
    service: ServiceEntry,
    proof: Proof,
    response_hash: bytes,
    signature: bytes,
    *,
    disclose_system: bool = False,
) -> dict[str, Any]:
    """The circuit input map proving ``service`` (in ``report``'s tree) signed ``response_hash``.

    Checks first what the circuit would reject, so a mistake is a clear error rather than an
    unsatisfied constraint: the proof must place the service under ``report.tree_root``.
    The signature is normalised to low-s (an equivalent signature). Whether it verifies is left
    to the circuit (the driver then reports the failed constraint).
    """
    if not isinstance(response_hash, bytes) or len(response_hash) != 32:
        raise MalformedInputError("the response hash must be 32 bytes", component=_COMPONENT)
    if int.from_bytes(response_hash, "big") >= SECP256K1_N:
        # ECDSA signs such a hash reduced modulo n; the circuit (and noir's witness solver, which
        # aborts) takes the 32 bytes as they are. SHA-256 gives such a value with odds ~2^-128.
        raise MalformedInputError(
            f"the response hash {response_hash.hex()} is not below the secp256k1 group order n, "
            "so it cannot be proven with this circuit",
            component=_COMPONENT,
            hint="sign and prove another response (change the request id)",
        )
    if proof.kind is not ProofKind.INCLUSION:
        raise MalformedInputError("an inclusion proof is required", component=_COMPONENT)
    key, value = service_leaf(service)
    if not verify_proof(report.tree_root, key, value, proof):
        raise MalformedInputError(
            f"the proof does not place service {service.name!r} in the attested tree "
            f"{report.tree_root:064x}",
            component=_COMPONENT,
            hint="use the proof document produced for this evidence (`cairn tree proof`)",
        )
    x, y = public_key_coordinates(service.public_key)
    siblings = list(proof.siblings) + [0] * (MAX_DEPTH - proof.depth)
    return {
        "claims_commitment": _field_hex(claims_commitment(report)),
        "response_hash": _halves(response_hash),
        "disclose_system": disclose_system,
        "disclosed_system_hash": _halves(report.system_hash if disclose_system else ABSENT),
        "nonce": _halves(report.nonce),
        "system_hash": _halves(report.system_hash),
        "gpu_digest": _halves(report.gpu_digest or ABSENT),
        "ak_digest": _halves(report.ak_digest or ABSENT),
        "store_path_hash": _field_hex(store_path_hash(service.store_path)),
        "pubkey_x": list(x.to_bytes(32, "big")),
        "pubkey_y": list(y.to_bytes(32, "big")),
        "key": _field_hex(key),
        "siblings": [_field_hex(s) for s in siblings],
        "depth": proof.depth,
        "signature": list(low_s_signature(signature)),
    }


@dataclass(frozen=True, slots=True)
class PublicClaims:
    """What a membership proof states publicly."""

    claims_commitment: bytes
    response_hash: bytes
    disclose_system: bool
    system_hash: bytes | None


_FIELD_HEX = re.compile(r"0x[0-9a-f]{64}")


def _element(value: object, index: int, bound: int) -> int:
    """A public input: a field element as 0x + 64 lowercase hex digits, below ``bound``."""
    if not isinstance(value, str) or not _FIELD_HEX.fullmatch(value):
        raise ParseError(
            "public input is not a field element (0x and 64 lowercase hex digits)",
            component=_COMPONENT,
            field=str(index),
        )
    number = int(value, 16)
    if number >= bound:
        raise ParseError(
            f"public input is out of range (must be below {bound:#x})",
            component=_COMPONENT,
            field=str(index),
        )
    return number


def _join(hi: int, lo: int) -> bytes:
    return (hi * _HALF + lo).to_bytes(32, "big")


def read_public_inputs(values: object) -> PublicClaims:
    """Decode the public inputs of a membership proof (ParseError on anything else)."""
    if not isinstance(values, list) or len(values) != PUBLIC_INPUT_COUNT:
        raise ParseError(
            f"a membership proof has {PUBLIC_INPUT_COUNT} public inputs",
            component=_COMPONENT,
            field="public_inputs",
        )
    commitment = _element(values[0], 0, P)
    response = _join(_element(values[1], 1, _HALF), _element(values[2], 2, _HALF))
    disclose = _element(values[3], 3, 2)
    system = _join(_element(values[4], 4, _HALF), _element(values[5], 5, _HALF))
    if not disclose and any(system):
        raise ParseError(
            "a proof that does not disclose the system hash has a non-zero one",
            component=_COMPONENT,
            field="4",
        )
    return PublicClaims(
        commitment.to_bytes(32, "big"), response, bool(disclose), system if disclose else None
    )
