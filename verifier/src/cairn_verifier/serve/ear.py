"""IETF RATS EAR attestation results (EAT Attestation Result), signed as JWTs with joserfc.

The claims follow veraison/ear's JSON profile ``tag:github.com,2023:veraison/ear`` (the one
veraison's Go, Rust and C libraries and CoCo trustee read): ``eat_profile``, ``iat``,
``ear.verifier-id``, ``eat_nonce`` and one appraisal per submodule in ``submods`` with
``ear.status`` (an AR4SI trust tier), ``ear.trustworthiness-vector`` and
``ear.appraisal-policy-id``. Cairn adds ``cairn.evidence`` (what the verified evidence says:
TEE kind, measurement, TCB, system, services, GPUs, failed checks) to its appraisal, and the JWT
claims ``iss``, ``exp``, ``nbf``, ``jti`` and ``cnf`` (RFC 7800: the guest's channel key as a
JWK, to which secrets are wrapped). The IETF draft renames the labels with underscores
(``ear_status``); Cairn follows the deployed implementations until the draft is published.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from collections.abc import Mapping
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

from .. import __version__
from ..check_names import EvidenceCheck
from ..checks import Outcome, VerificationResult

EAT_PROFILE = "tag:github.com,2023:veraison/ear"
SUBMODULE = "cairn"
ALGORITHM = "ES256"
TIER_VALUES = {"none": 0, "affirming": 2, "warning": 32, "contraindicated": 96}
"""AR4SI trust tiers and the representative claim value of each."""


class TokenError(Exception):
    """An attestation result that is not one this broker issued and still valid."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind
        self.message = message


def gpu_summary(result: VerificationResult) -> dict[str, Any] | None:
    """What the result says of the bundle's GPUs: None without GPU evidence; else whether the
    ``gpu-evidence`` check passed (every device verified and bound to REPORT_DATA), whether the
    chain was a simulated one, and per device its family, kind, versions and RIM comparison."""
    evidence_check = [c for c in result.checks if c.name == EvidenceCheck.GPU_EVIDENCE.value]
    claims = result.claims.get("gpu")
    if claims is None and not any(c.outcome is Outcome.FAIL for c in evidence_check):
        return None  # no GPU evidence, and none was expected
    gpu: dict[str, Any] = dict(claims or {})
    devices = [
        {
            "family": d.get("family"),
            "kind": d.get("kind"),
            "driver_version": d.get("driver_version"),
            "firmware_version": d.get("firmware_version"),
            "measurements_match": bool(d.get("measurements_match")),
        }
        for d in gpu.get("devices", [])
        if isinstance(d, dict)
    ]
    return {
        "verified": bool(evidence_check) and evidence_check[0].outcome is Outcome.PASS,
        "simulated": bool(gpu.get("simulated")),
        "devices": devices,
    }


def appraise(result: VerificationResult, services: list[dict[str, str]]) -> dict[str, Any]:
    """The ``cairn`` appraisal of a verification result: tier, vector, evidence summary
    (``services``: the bundle's service claims, which the verified tree root covers)."""
    failed = [c.name for c in result.checks if c.outcome is Outcome.FAIL]
    tee: dict[str, Any] = dict(result.claims.get("tee") or {})
    simulated = bool(tee.get("simulated"))
    if failed:
        status = "contraindicated"
    elif result.warnings:
        status = "warning"
    else:
        status = "affirming"
    ok = not failed
    vector = {
        "instance-identity": TIER_VALUES["affirming"] if ok else TIER_VALUES["contraindicated"],
        "hardware": (
            TIER_VALUES["contraindicated"]
            if not ok
            else TIER_VALUES["warning"]
            if simulated
            else TIER_VALUES["affirming"]
        ),
        "configuration": TIER_VALUES[status] if status != "none" else 0,
    }
    system_measured = not any(w.startswith("SELF-REPORTED SYSTEM") for w in result.warnings)
    evidence = {
        "tee_kind": result.claims.get("tee_kind"),
        "simulated": simulated,
        "measurement": tee.get("measurement", tee.get("mr_td")),
        "tcb": tee.get("reported_tcb"),
        "tcb_status": tee.get("tcb_status"),
        "guest_svn": tee.get("guest_svn"),
        "system": result.claims.get("system"),
        "system_measured": system_measured,
        "services": services,
        "tree_root": result.claims.get("tree_root"),
        "gpu": gpu_summary(result),
        "failed_checks": failed,
        "warnings": list(result.warnings),
    }
    return {
        "ear.status": status,
        "ear.trustworthiness-vector": vector,
        "cairn.evidence": evidence,
    }


def build_claims(
    appraisal: dict[str, Any],
    *,
    policy_id: str,
    issuer: str,
    nonce: bytes,
    channel_jwk: dict[str, str],
    now: int,
    lifetime: int,
) -> dict[str, Any]:
    """The EAR claims-set of one appraisal (``jti``: 128 random bits)."""
    return {
        "eat_profile": EAT_PROFILE,
        "iss": issuer,
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
        "jti": secrets.token_hex(16),
        "eat_nonce": nonce.hex(),
        "ear.verifier-id": {"developer": "https://cairn.invalid", "build": f"cairn {__version__}"},
        "submods": {SUBMODULE: {**appraisal, "ear.appraisal-policy-id": policy_id}},
        "cnf": {"jwk": channel_jwk},
    }


def sign(claims: dict[str, Any], key: ECKey, kid: str) -> str:
    """The claims as a compact JWS (``typ`` JWT, ES256)."""
    return jwt.encode(
        {"alg": ALGORITHM, "typ": "JWT", "kid": kid}, claims, key, algorithms=[ALGORITHM]
    )


def _kid(token: str) -> str | None:
    """The ``kid`` of a compact JWS's protected header (unverified: it only picks a key)."""
    encoded = token.split(".", 1)[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    except (ValueError, binascii.Error, RecursionError):  # RecursionError: "[[[[…" headers
        return None
    kid = header.get("kid") if isinstance(header, dict) else None
    return kid if isinstance(kid, str) else None


def verify(token: str, keys: Mapping[str, ECKey], *, issuer: str, now: int) -> dict[str, Any]:
    """The claims of a token signed by one of this broker's ``keys`` (by ``kid``: the signing key
    and the verification keys kept through a rotation), unexpired; :class:`TokenError` otherwise."""
    if not isinstance(token, str) or len(token) > 16384 or token.count(".") != 2:
        raise TokenError("bad-token", "the bearer token is not a compact JWS")
    kid = _kid(token)
    if kid is None:
        raise TokenError(
            "bad-token",
            "the bearer token's header names no signing key: not a result of this broker",
        )
    key = keys.get(kid)
    if key is None:
        raise TokenError(
            "bad-token",
            f"the attestation result names signing key {str(kid)[:64]!r}, which this broker does "
            "not hold (a retired key, or another broker's): attest again",
        )
    try:
        decoded = jwt.decode(token, key, algorithms=[ALGORITHM])
    except (JoseError, ValueError, TypeError) as exc:
        raise TokenError(
            "bad-token",
            f"the attestation result's signature does not verify with this broker's key ({exc})",
        ) from None
    claims = dict(decoded.claims)
    if claims.get("eat_profile") != EAT_PROFILE or claims.get("iss") != issuer:
        raise TokenError("bad-token", "the token is not an attestation result of this broker")
    exp, iat = claims.get("exp"), claims.get("iat")
    if type(exp) is not int or type(iat) is not int:
        raise TokenError("bad-token", "the attestation result has no issue or expiry time")
    if now >= exp:
        raise TokenError(
            "token-expired",
            f"the attestation result expired {now - exp} s ago (it was valid for {exp - iat} s): "
            "attest again with a fresh nonce",
        )
    if now < iat - 60:
        raise TokenError("bad-token", "the attestation result was issued in the future")
    return claims
