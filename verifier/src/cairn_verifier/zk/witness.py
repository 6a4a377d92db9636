"""Inputs of the ``cairn_membership`` circuit, and decoding of its public inputs.

The prover (Alice) holds an evidence bundle, the inclusion proof document of one service and
a response that service signed. :func:`membership_inputs` turns them into the circuit's input
map (Noir ABI: fields as ``0x`` hex strings, byte arrays as lists of ints). The public inputs of
a proof are, in order: ``claims_digest`` (32 bytes), ``response_hash`` (32 bytes),
``disclose_system`` (bool) and ``disclosed_system_hash`` (32 bytes, zero unless disclosed), one
field element per byte; :func:`read_public_inputs` decodes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from ..binding.report_data import ABSENT, ReportDataInputs, claims_digest
from ..binding.services import ServiceEntry, public_key_coordinates, service_leaf, store_path_hash
from ..binding.smt import MAX_DEPTH, Proof, ProofKind, verify_proof
from ..errors import MalformedInputError, ParseError

SECP256K1_N: Final = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
PUBLIC_INPUT_COUNT: Final = 32 + 32 + 1 + 32
_COMPONENT: Final = "zk-witness"


def _field_hex(value: int) -> str:
    return f"0x{value:064x}"


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
        "claims_digest": list(claims_digest(report)),
        "response_hash": list(response_hash),
        "disclose_system": disclose_system,
        "disclosed_system_hash": list(report.system_hash if disclose_system else ABSENT),
        "nonce": list(report.nonce),
        "system_hash": list(report.system_hash),
        "gpu_digest": list(report.gpu_digest or ABSENT),
        "ak_digest": list(report.ak_digest or ABSENT),
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

    claims_digest: bytes
    response_hash: bytes
    disclose_system: bool
    system_hash: bytes | None


def _byte(value: object, index: int) -> int:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise ParseError(
            "public input is not a 0x hex string", component=_COMPONENT, field=str(index)
        )
    try:
        number = int(value, 16)
    except ValueError:
        raise ParseError(
            "public input is not hex", component=_COMPONENT, field=str(index)
        ) from None
    if number > 255:
        raise ParseError("public input is not a byte", component=_COMPONENT, field=str(index))
    return number


def read_public_inputs(values: object) -> PublicClaims:
    """Decode the public inputs of a membership proof (ParseError on anything else)."""
    if not isinstance(values, list) or len(values) != PUBLIC_INPUT_COUNT:
        raise ParseError(
            f"a membership proof has {PUBLIC_INPUT_COUNT} public inputs",
            component=_COMPONENT,
            field="public_inputs",
        )
    raw = bytes(_byte(v, i) for i, v in enumerate(values))
    disclose = raw[64]
    if disclose > 1:
        raise ParseError("disclose_system is not a boolean", component=_COMPONENT, field="64")
    system = raw[65:97]
    return PublicClaims(raw[:32], raw[32:64], bool(disclose), system if disclose else None)
