"""Rotating the EAR signing key: a broker signing with a new key and keeping the old one in
``signing.verification_keys`` publishes both in ``/v1/jwks`` (the signing key first), signs new
results with the new key only, and still releases resources for results the old key signed; once
the old key is dropped its results are refused (401 bad-token, naming the key). Configuration
errors: the signing key listed again, a key of the wrong curve."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet
from serve_helpers import (
    CAIRN,
    Broker,
    BrokerFiles,
    Guest,
    make_guest,
    put_resource,
    running_broker,
    write_broker,
)

from cairn_agent.broker_client import channel_key_pair, unwrap
from cairn_verifier.api import dump_evidence

SECRET = b"rotated"


def _with_verification_keys(files: BrokerFiles, keys: list[Path]) -> None:
    text = files.config.read_text()
    listed = json.dumps([str(k) for k in keys])
    files.config.write_text(
        text.replace(
            "result_lifetime_seconds", f"verification_keys = {listed}\nresult_lifetime_seconds"
        )
    )


def _attest(broker: Broker, guest: Guest) -> tuple[str, Any]:
    private, public, jwk = channel_key_pair()
    with broker.client() as http:
        nonce = http.post("/v1/challenge").json()["nonce"]
        bundle = guest.source.collect(
            bytes.fromhex(nonce), guest.inventory.current(), channel_key=public
        )
        evidence = json.loads(dump_evidence(bundle))
        answer = http.post(
            "/v1/attest", json={"nonce": nonce, "channel_key": jwk, "evidence": evidence}
        )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["token"]), private


def _kid(token: str) -> str:
    header = token.split(".", maxsplit=1)[0]
    return str(json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"])


def _get(broker: Broker, token: str) -> Any:
    with broker.client() as http:
        return http.get("/v1/resources/state-key", headers={"Authorization": f"Bearer {token}"})


def test_a_rotation_publishes_both_keys_and_accepts_the_old_results(tmp_path: Path) -> None:
    guest = make_guest(tmp_path / "guest")
    old_key, new_key = tmp_path / "old.pem", tmp_path / "new.pem"
    old = ECKey.generate_key("P-256")
    old_key.write_bytes(old.as_pem(private=True))
    old_public = tmp_path / "old-public.pem"
    old_public.write_bytes(old.as_pem(private=False))  # a public key is enough to verify
    new_key.write_bytes(ECKey.generate_key("P-256").as_pem(private=True))
    database = f"sqlite:///{tmp_path / 'state.db'}"

    before = write_broker(
        tmp_path / "before", database=database, root_pem=guest.root_pem, key=old_key
    )
    with running_broker(before) as broker:
        put_resource(
            broker, before, "state-key", SECRET,
            {"allow_simulated": True, "allow_tiers": ["affirming", "warning"]},
        )  # fmt: skip
        old_token, old_private = _attest(broker, guest)
    assert _kid(old_token) == old.thumbprint()

    during = write_broker(
        tmp_path / "during", database=database, root_pem=guest.root_pem, key=new_key
    )
    _with_verification_keys(during, [old_public])
    with running_broker(during) as broker:
        with broker.client() as http:
            published = http.get("/v1/jwks").json()
        new_kid = ECKey.import_key(new_key.read_bytes()).thumbprint()
        assert [k["kid"] for k in published["keys"]] == [new_kid, old.thumbprint()]
        assert all("d" not in k for k in published["keys"])  # never a private part
        new_token, new_private = _attest(broker, guest)
        assert _kid(new_token) == new_kid
        # Both results verify with the published set, each by its own key.
        keys = KeySet.import_key_set(published)
        for token in (old_token, new_token):
            assert jwt.decode(token, keys, algorithms=["ES256"]).claims["iss"]
        released_old = _get(broker, old_token)
        released_new = _get(broker, new_token)
    assert released_old.status_code == 200, released_old.text
    assert unwrap(released_old.text, old_private, "state-key") == SECRET
    assert released_new.status_code == 200, released_new.text
    assert unwrap(released_new.text, new_private, "state-key") == SECRET

    after = write_broker(
        tmp_path / "after", database=database, root_pem=guest.root_pem, key=new_key
    )
    with running_broker(after) as broker:
        with broker.client() as http:
            assert [k["kid"] for k in http.get("/v1/jwks").json()["keys"]] == [new_kid]
        refused = _get(broker, old_token)
    assert refused.status_code == 401, refused.text
    problem = refused.json()
    assert problem["type"] == "https://cairn.invalid/problems/bad-token"
    assert old.thumbprint() in problem["detail"] and "does not hold" in problem["detail"]


def test_verification_keys_are_checked_at_start(tmp_path: Path) -> None:
    guest = make_guest(tmp_path / "guest")
    files = write_broker(
        tmp_path / "b", database=f"sqlite:///{tmp_path / 's.db'}", root_pem=guest.root_pem
    )
    signing = files.directory / "ear-es256.pem"
    p384 = tmp_path / "p384.pem"
    p384.write_bytes(
        ec.generate_private_key(ec.SECP384R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    text = files.config.read_text()
    for keys, message in (([signing], "the same key as signing.key"), ([p384], "P-256 key")):
        files.config.write_text(text)
        _with_verification_keys(files, keys)
        done = subprocess.run(
            [str(CAIRN), "serve", "--config", str(files.config)],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 10, done.stderr
        assert "signing.verification_keys" in done.stderr and message in done.stderr


def test_a_tokens_key_id_is_read_safely() -> None:
    """The unverified header only picks a key: no key id, an unknown one, or a header nested
    thousands deep is a bad token (401), never a crash."""
    from cairn_verifier.serve.ear import TokenError, verify

    key = ECKey.generate_key("P-256")
    keys = {key.thumbprint(): key}

    def header(document: str) -> str:
        return base64.urlsafe_b64encode(document.encode()).decode().rstrip("=")

    for document, message in (
        ("[" * 12000, "names no signing key"),
        ("{}", "names no signing key"),
        ('{"kid": "elsewhere"}', "'elsewhere', which this broker does not"),
    ):
        token = f"{header(document)}.e30.c2ln"
        try:
            verify(token, keys, issuer="x", now=0)
        except TokenError as error:
            assert error.kind == "bad-token" and message in error.message, error.message
        else:
            raise AssertionError("accepted")
