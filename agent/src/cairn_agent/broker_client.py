"""The guest's side of ``cairn serve``: attest with channel-bound evidence, then fetch resources.

One round: ``POST /v1/challenge`` for a nonce; a fresh X25519 key pair; evidence whose REPORT_DATA
binds the nonce, the claims and the public key (channel binding v1: only this process, which
holds the private key, asks the TEE for such a report); ``POST /v1/attest`` with the evidence and
the public key as a JWK; then ``GET /v1/resources/NAME`` with the attestation result for each
resource, each answered with a JWE (ECDH-ES, A256GCM) to the channel key, decrypted here. The
private key lives in this process's memory only, so whatever the host records of the exchange
(the token, the evidence, the JWEs) is useless to it.

A round that fails on the network, on a 429 or a 5xx is retried from the challenge, with
exponential back-off (waiting at least the answer's ``Retry-After``, up to the back-off's
ceiling); a refusal (4xx: the policy, an unknown resource) is not, and its problem
document is reported.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from joserfc import jwe
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey

from cairn_verifier.api import channel_digest, dump_evidence

from .config import AgentConfig
from .errors import ExitCode, HardwareError, StartupError
from .evidence import EvidenceSource
from .inventory import Inventory, InventoryError
from .startup import open_gpu, open_provider, open_tpm

log = logging.getLogger("cairn_agent")
LOOPBACK = ("127.0.0.1", "localhost", "::1")
MAX_RESPONSE_BYTES = 1 << 20


class BrokerRefusedError(Exception):
    """The broker answered with a problem that retrying will not change (a 4xx)."""


class BrokerUnavailableError(Exception):
    """The broker could not be reached or answered 429/5xx: worth retrying (``retry_after``:
    the seconds its ``Retry-After`` asked for, if it sent one)."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


def _retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` in whole seconds (0-86400); an HTTP date or anything else: None."""
    value = response.headers.get("Retry-After", "").strip()
    return float(value) if value.isdigit() and len(value) <= 5 and int(value) <= 86400 else None


@dataclass
class BrokerClient:
    """One broker: its URL, the TLS root it is checked against, time-outs."""

    url: str
    ca_file: Path | None = None
    timeout: float = 30.0
    transport: httpx.BaseTransport | None = None
    _client: httpx.Client | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError(f"broker URL {self.url[:80]!r}: use https://HOST[:PORT]")
        if parts.scheme == "http" and parts.hostname not in LOOPBACK:
            raise ValueError(
                f"broker URL {self.url[:80]!r}: plain HTTP only to a loopback address; use https"
            )
        self.url = self.url.rstrip("/")

    def _http(self) -> httpx.Client:
        if self._client is None:
            verify: Any = str(self.ca_file) if self.ca_file is not None else True
            self._client = httpx.Client(
                timeout=self.timeout, verify=verify, transport=self.transport, trust_env=False
            )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http().request(method, f"{self.url}{path}", **kwargs)
        except httpx.HTTPError as exc:
            raise BrokerUnavailableError(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
        if len(response.content) > MAX_RESPONSE_BYTES:
            raise BrokerRefusedError(
                f"{method} {path}: the answer is larger than {MAX_RESPONSE_BYTES} bytes"
            )
        if response.status_code == 429 or response.status_code >= 500:
            raise BrokerUnavailableError(
                f"{method} {path}: {_problem(response)}", _retry_after(response)
            )
        if response.status_code >= 400:
            raise BrokerRefusedError(f"{method} {path}: {_problem(response)}")
        return response

    def challenge(self) -> bytes:
        answer = self._call("POST", "/v1/challenge", json={}).json()
        nonce = answer.get("nonce") if isinstance(answer, dict) else None
        if not isinstance(nonce, str) or len(nonce) != 64:
            raise BrokerRefusedError("the broker's challenge carries no 64-hex-digit nonce")
        return bytes.fromhex(nonce)

    def attest(self, nonce: bytes, evidence: bytes, channel: dict[str, str]) -> dict[str, Any]:
        body = {"nonce": nonce.hex(), "channel_key": channel, "evidence": json.loads(evidence)}
        answer = self._call("POST", "/v1/attest", json=body).json()
        if not isinstance(answer, dict) or not isinstance(answer.get("token"), str):
            raise BrokerRefusedError("the broker's attestation answer carries no token")
        return answer

    def resource(self, name: str, token: str) -> str:
        response = self._call(
            "GET",
            f"/v1/resources/{quote(name, safe='')}",
            headers={"Authorization": f"Bearer {token}"},
        )
        return response.text


def _problem(response: httpx.Response) -> str:
    """``STATUS type: detail`` of a problem document (or of whatever else came back)."""
    try:
        document = response.json()
    except ValueError:
        return f"{response.status_code} (no problem document)"
    if not isinstance(document, dict):
        return f"{response.status_code}"
    kind = str(document.get("type", "")).rsplit("/", 1)[-1]
    return f"{response.status_code} {kind}: {str(document.get('detail', ''))[:500]}"


def channel_key_pair() -> tuple[X25519PrivateKey, bytes, dict[str, str]]:
    """A fresh X25519 key pair: the private key, the raw public key and its public JWK."""
    private = X25519PrivateKey.generate()
    raw = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
    return private, raw, {"kty": "OKP", "crv": "X25519", "x": x}


def unwrap(jwe_text: str, private: X25519PrivateKey, name: str) -> bytes:
    """The plaintext of a compact JWE the broker encrypted to our channel key for ``name``."""
    try:
        decrypted = jwe.decrypt_compact(jwe_text.strip(), OKPKey.import_key(private))
    except (JoseError, ValueError, TypeError) as exc:
        raise BrokerRefusedError(
            f"resource {name!r}: the answer does not decrypt with our channel key ({exc})"
        ) from None
    header = decrypted.protected
    if (
        header.get("alg") != "ECDH-ES"
        or header.get("enc") != "A256GCM"
        or header.get("kid") != name
    ):
        raise BrokerRefusedError(f"resource {name!r}: the JWE is not the broker's answer for it")
    if decrypted.plaintext is None:
        raise BrokerRefusedError(f"resource {name!r}: the JWE holds no secret")
    return bytes(decrypted.plaintext)


def fetch_once(
    client: BrokerClient, source: EvidenceSource, inventory: Inventory, names: list[str]
) -> dict[str, bytes]:
    """One round: challenge, channel-bound evidence, attestation, every resource in ``names``."""
    nonce = client.challenge()
    private, public, jwk = channel_key_pair()
    log.info("attesting to %s (channel key %s…)", client.url, channel_digest(public).hex()[:16])
    bundle = source.collect(nonce, inventory.current(), channel_key=public)
    answer = client.attest(nonce, dump_evidence(bundle), jwk)
    status = answer.get("status")
    if status not in ("affirming", "warning"):
        failed = ", ".join(str(c) for c in answer.get("failed_checks", [])) or "none named"
        raise BrokerRefusedError(
            f"the broker's attestation result is {status!r} (failed checks: {failed})"
        )
    return {name: unwrap(client.resource(name, answer["token"]), private, name) for name in names}


def fetch_with_backoff(
    fetch: Callable[[], dict[str, bytes]],
    *,
    attempts: int,
    first_delay: float = 1.0,
    max_delay: float = 60.0,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, bytes]:
    """``fetch()`` until it succeeds or is refused; a BrokerUnavailableError or a hardware error is
    retried ``attempts`` times in all (0: without end), waiting 1, 2, 4 … ``max_delay`` s, and at
    least the broker's ``Retry-After`` (itself capped at ``max_delay``)."""
    delay, attempt = first_delay, 0
    while True:
        attempt += 1
        try:
            return fetch()
        except (BrokerUnavailableError, HardwareError) as exc:
            message = getattr(exc, "message", None) or str(exc)
            if attempts and attempt >= attempts:
                raise BrokerUnavailableError(
                    f"gave up after {attempt} attempts: {message}"
                ) from exc
            wait = delay
            retry_after = getattr(exc, "retry_after", None)
            if retry_after is not None:
                wait = max(delay, min(retry_after, max_delay))
            log.warning("broker round %d failed (%s); retrying in %g s", attempt, message, wait)
            sleep(wait)
            delay = min(delay * 2, max_delay)


def add_broker_arguments(group: Any) -> None:
    group.add_argument("--broker", metavar="URL", help="the key broker (cairn serve), https://…")
    group.add_argument(
        "--ca-file",
        type=Path,
        metavar="FILE",
        help="TLS root the broker's certificate must chain to",
    )
    group.add_argument(
        "--resource",
        default="state-key",
        metavar="NAME",
        help="the state key's resource name (default: state-key)",
    )
    group.add_argument(
        "--secret", action="append", default=[], metavar="NAME=FILE",
        help="also fetch resource NAME into the new file FILE (repeatable; service secrets)",
    )  # fmt: skip
    group.add_argument(
        "--with-services", action="store_true",
        help="attest the services of the agent's manifest too (default: none; at first boot "
        "their keys do not exist yet)",
    )  # fmt: skip
    group.add_argument(
        "--attempts",
        type=int,
        default=8,
        metavar="N",
        help="rounds before giving up (0: never; default 8)",
    )


def _secret_targets(specs: list[str]) -> dict[str, Path]:
    targets: dict[str, Path] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise StartupError(f"--secret {spec!r}: use NAME=FILE", ExitCode.USAGE)
        targets[name] = Path(path)
    return targets


def broker_state_key(config: AgentConfig, args: argparse.Namespace) -> dict[str, bytes]:
    """Attest to ``--broker`` and fetch the state key and every ``--secret``: name → secret."""
    if not args.broker:
        raise StartupError("--source broker needs --broker URL", ExitCode.USAGE)
    try:
        client = BrokerClient(args.broker, args.ca_file)
    except ValueError as exc:
        raise StartupError(str(exc), ExitCode.USAGE) from exc
    names = [args.resource, *(n for n in _secret_targets(args.secret) if n != args.resource)]
    provider = open_provider(config)
    tpm = open_tpm(config)
    source = EvidenceSource(
        provider, tpm, config.tpm.pcrs, config.tpm.bank, open_gpu(config), config.tee.ccel
    )
    inventory = Inventory(
        config.system.path, config.services.manifest if args.with_services else None
    )
    try:
        return fetch_with_backoff(
            lambda: fetch_once(client, source, inventory, names), attempts=args.attempts
        )
    except BrokerRefusedError as exc:
        raise StartupError(f"the broker refused: {exc}", ExitCode.UNAVAILABLE) from exc
    except BrokerUnavailableError as exc:
        raise StartupError(f"the broker is unavailable: {exc}", ExitCode.UNAVAILABLE) from exc
    except InventoryError as exc:
        raise StartupError(str(exc), ExitCode.CONFIG) from exc
    finally:
        client.close()
        if tpm is not None:
            tpm.close()


def secret_targets(args: argparse.Namespace) -> dict[str, Path]:
    return _secret_targets(args.secret)
