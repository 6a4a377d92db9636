"""The chain builder both simulated platforms use: links in, keys and certificates out, each
certificate saying what its link says, signed by its issuer's key, and the same on every start."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from cairn_agent.tee.base import ProviderError
from cairn_agent.tee.simulated_ca import (
    RSA_4096,
    Link,
    StateDir,
    Vendor,
    build_chain,
    certificate_der,
    years,
)
from cairn_verifier.x509.cert import parse_certificate

VENDOR = Vendor("Cairn SIMULATED (test)", amd_style=False)
EXTENSION = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"), b"\x05\x00")
LINKS = [
    Link("root", "Test Root CA", "root", ec.SECP384R1(), years(20), path_length=1),
    Link("ca", "Test CA", "root", ec.SECP256R1(), years(10), path_length=0),
    Link(
        "leaf",
        "Test Leaf",
        "ca",
        ec.SECP256R1(),
        timedelta(days=30),
        ca=False,
        extensions=[EXTENSION],
        with_key_ids=False,
    ),
    Link("signer", "Test Signer", "root", ec.SECP256R1(), years(1), ca=False),
]


def _basic_constraints(cert: x509.Certificate) -> x509.BasicConstraints:
    value = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert isinstance(value, x509.BasicConstraints)
    return value


def test_each_link_becomes_the_certificate_it_describes(tmp_path: Path) -> None:
    chain = build_chain(StateDir(tmp_path), VENDOR, LINKS)
    for link in LINKS:
        cert = chain.certificates[link.name]
        issuer = chain.certificates[link.issuer]
        assert cert.subject == VENDOR.name(link.common_name)
        assert cert.issuer == issuer.subject
        assert cert.public_key() == chain.keys[link.name].public_key()
        assert cert.not_valid_after_utc - cert.not_valid_before_utc == link.lifetime
        constraints = _basic_constraints(cert)
        assert (constraints.ca, constraints.path_length) == (link.ca, link.path_length)
        key_ids = {type(e.value) for e in cert.extensions} & {
            x509.SubjectKeyIdentifier,
            x509.AuthorityKeyIdentifier,
        }
        assert bool(key_ids) is link.with_key_ids
        # Cairn's verifier checks every link's signature with its issuer's certificate.
        ours = parse_certificate(certificate_der(cert))
        ours.verify_signed_by(parse_certificate(certificate_der(issuer)))
    assert chain.root_certificate == chain.certificates["root"]  # the self-issued link
    assert chain.ec_key("root").curve.name == "secp384r1"
    leaf = chain.certificates["leaf"]
    assert leaf.extensions.get_extension_for_oid(EXTENSION.oid).value == EXTENSION
    assert chain.certificates["root"].signature_hash_algorithm.name == "sha384"  # P-384 signer
    assert chain.certificates["leaf"].signature_hash_algorithm.name == "sha256"  # P-256 signer


def test_a_chain_is_built_once_and_loaded_after(tmp_path: Path) -> None:
    first = build_chain(StateDir(tmp_path), VENDOR, LINKS)
    again = build_chain(StateDir(tmp_path), VENDOR, LINKS)
    assert again.certificates == first.certificates
    assert {n: k.public_key() for n, k in again.keys.items()} == {
        n: k.public_key() for n, k in first.keys.items()
    }
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"{link.name}.{suffix}" for link in LINKS for suffix in ("key", "pem")
    )


def test_an_issuer_must_come_before_what_it_signs(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="its issuer 'root' must come first"):
        build_chain(StateDir(tmp_path), VENDOR, [LINKS[1], LINKS[0]])


def test_a_stored_key_of_another_type_is_refused(tmp_path: Path) -> None:
    build_chain(StateDir(tmp_path), VENDOR, LINKS[:1])
    other_curve = [Link("root", "Test Root CA", "root", ec.SECP256R1(), years(20))]
    with pytest.raises(ProviderError, match="is not an EC secp256r1 key"):
        build_chain(StateDir(tmp_path), VENDOR, other_curve)
    not_rsa = [Link("root", "Test Root CA", "root", RSA_4096, years(20))]
    with pytest.raises(ProviderError, match="is not an RSA-4096 key"):
        build_chain(StateDir(tmp_path), VENDOR, not_rsa)
