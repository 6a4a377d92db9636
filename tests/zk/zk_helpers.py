"""Shared builders for the zero-knowledge tests: a small service tree, a signed response."""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from cairn_verifier.binding.report_data import ReportDataInputs
from cairn_verifier.binding.services import ServiceEntry, build_service_tree, service_leaf
from cairn_verifier.binding.smt import Proof
from cairn_verifier.binding.system_hash import system_hash
from cairn_verifier.errors import SetupError
from cairn_verifier.zk import node
from cairn_verifier.zk.witness import membership_inputs

SYSTEM = "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-nixos-system-cairn-24.11"
NAMES = ("echo-rust", "echo-cpp", "metrics", "web")


@dataclass(frozen=True)
class Scenario:
    """One VM's claims, one service's proof and a response that service signed."""

    report: ReportDataInputs
    service: ServiceEntry
    proof: Proof
    response_hash: bytes
    signature: bytes
    key: ec.EllipticCurvePrivateKey

    def inputs(self, **kwargs: Any) -> dict[str, Any]:
        return membership_inputs(
            self.report, self.service, self.proof, self.response_hash, self.signature, **kwargs
        )


def _key(seed: int) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(seed, ec.SECP256K1())


def sign_low_s(key: ec.EllipticCurvePrivateKey, digest: bytes) -> bytes:
    r, s = decode_dss_signature(key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256()))))
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    s = min(s, n - s)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


@functools.cache
def make_scenario(signer: str = "echo-cpp", *, ak: bool = True) -> Scenario:
    keys = {name: _key(1000 + i) for i, name in enumerate(NAMES)}
    entries = [
        ServiceEntry(
            name,
            f"/nix/store/{'abcdfghijklmnpqrsvwxyz0123456789'[i:] + '0123'[:i]}-{name}-1.0",
            keys[name].public_key().public_bytes(Encoding.X962, PublicFormat.CompressedPoint),
        )
        for i, name in enumerate(NAMES)
    ]
    tree = build_service_tree(entries)
    service = next(e for e in entries if e.name == signer)
    key, _ = service_leaf(service)
    report = ReportDataInputs(
        nonce=hashlib.sha256(b"nonce").digest(),
        system_hash=system_hash(SYSTEM),
        tree_root=tree.root,
        gpu_digest=None,
        ak_digest=hashlib.sha256(b"ak").digest() if ak else None,
    )
    response_hash = hashlib.sha256(b"a response").digest()
    return Scenario(
        report,
        service,
        tree.prove(key),
        response_hash,
        sign_low_s(keys[signer], response_hash),
        keys[signer],
    )


def require_toolchain() -> Path:
    """The circuits dir; FAILS (never skips) with the install command when packages are missing."""
    try:
        return node.check_toolchain()
    except SetupError as exc:
        pytest.fail(f"{exc} -- what to do: {exc.hint}")


def execute_batch(
    tmp_path: Path, circuit: str, batch: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Execute each input map on ``circuit`` with one driver run; return the outcomes."""
    path = tmp_path / f"{circuit}-batch.json"
    path.write_text(json.dumps(batch))
    result = node.run_driver(["execute", str(path), "--circuit", circuit], timeout=300)
    outcomes = result.output["results"]
    assert isinstance(outcomes, list) and len(outcomes) == len(batch)
    return outcomes
