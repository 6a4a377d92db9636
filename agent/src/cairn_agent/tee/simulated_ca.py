"""Shared machinery of the simulated TEE providers: a private state directory holding the
simulated vendor keys and certificates, and one chain builder fed a list of links.

A simulated vendor chain is data (as go-sev-guest's ``testing/fake_certs.go`` builds AMD's):
each :class:`Link` names the key it certifies, its subject, its issuer and lifetime, and
overrides only what differs from a CA certificate (path length, extensions, no key ids, not a
CA); :func:`build_chain` turns the links into keys and certificates.

Everything here is persistent and never overwritten: keys and certificates are created once
(atomically, with ``os.link`` so a concurrent creator cannot clobber them) and loaded on every
later start, so a verifier that trusts an exported simulated root keeps trusting the same one.
The directory is mode 0700 and private keys are mode 0600.
"""

from __future__ import annotations

import contextlib
import functools
import os
import stat
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from cairn_verifier.api import Certificate, parse_certificate

from .base import ProviderError

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey

RSA_4096: Final = "RSA-4096"
"""The key type of AMD's ARK and ASK; an :class:`ec.EllipticCurve` names an EC key type."""
KeyType = str | ec.EllipticCurve

_DIR_MODE = 0o700
_KEY_MODE = 0o600
_PUBLIC_MODE = 0o644
_SKEW = timedelta(days=1)


def amd_pss() -> padding.PSS:
    """RSASSA-PSS as AMD signs every SEV-SNP certificate: SHA-384, MGF1-SHA-384, salt 48."""
    return padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48)


def now() -> datetime:
    """The current time (UTC, whole seconds: certificates and Intel JSON carry no fractions)."""
    return datetime.now(UTC).replace(microsecond=0)


def years(count: int) -> timedelta:
    """A certificate lifetime of ``count`` years of 365 days."""
    return timedelta(days=count * 365)


def name(*attributes: tuple[x509.ObjectIdentifier, str]) -> x509.Name:
    """An X.501 name with its attributes in exactly the given encoding order."""
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in attributes])


def vendor_name(organisation: str, common_name: str, *, amd_style: bool) -> x509.Name:
    """A subject shaped like AMD's (OU, C, L, ST, O, CN) or Intel's (C, ST, L, O, CN)."""
    if amd_style:
        return name(
            (NameOID.ORGANIZATIONAL_UNIT_NAME, "Engineering"),
            (NameOID.COUNTRY_NAME, "US"),
            (NameOID.LOCALITY_NAME, "Santa Clara"),
            (NameOID.STATE_OR_PROVINCE_NAME, "CA"),
            (NameOID.ORGANIZATION_NAME, organisation),
            (NameOID.COMMON_NAME, common_name),
        )
    return name(
        (NameOID.COUNTRY_NAME, "US"),
        (NameOID.STATE_OR_PROVINCE_NAME, "CA"),
        (NameOID.LOCALITY_NAME, "Santa Clara"),
        (NameOID.ORGANIZATION_NAME, organisation),
        (NameOID.COMMON_NAME, common_name),
    )


@dataclass(frozen=True)
class Vendor:
    """Whose chain is simulated: the organisation every subject names, and the name layout."""

    organisation: str
    amd_style: bool

    def name(self, common_name: str) -> x509.Name:
        return vendor_name(self.organisation, common_name, amd_style=self.amd_style)


@dataclass(frozen=True)
class Link:
    """One certificate of a simulated chain; the defaults describe a CA certificate.

    The key and certificate live in the state directory as ``<name>.key`` and ``<name>.pem``;
    ``issuer`` is the name of the link whose key signs this one (its own name for a root).
    """

    name: str
    common_name: str
    issuer: str
    key_type: KeyType
    lifetime: timedelta
    ca: bool = True
    path_length: int | None = None
    extensions: Sequence[x509.ExtensionType] = ()
    with_key_ids: bool = True


@dataclass(frozen=True)
class Chain:
    """The keys and certificates of a simulated vendor, by link name; ``root`` names the first
    self-issued link."""

    keys: dict[str, PrivateKey]
    certificates: dict[str, x509.Certificate]
    root: str

    @property
    def root_certificate(self) -> x509.Certificate:
        return self.certificates[self.root]

    def ec_key(self, name: str) -> ec.EllipticCurvePrivateKey:
        """The EC key of link ``name`` (the links say which keys are EC)."""
        key = self.keys[name]
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise TypeError(f"link {name!r} does not certify an EC key")
        return key


def build_chain(state: StateDir, vendor: Vendor, links: Sequence[Link]) -> Chain:
    """Load (or create, on first use) every link's key and certificate; issuers come first."""
    keys = {link.name: state.key(f"{link.name}.key", link.key_type) for link in links}
    subjects: dict[str, x509.Name] = {}
    certificates: dict[str, x509.Certificate] = {}
    for link in links:
        subjects[link.name] = vendor.name(link.common_name)
        if link.issuer not in subjects:
            raise ValueError(f"link {link.name!r}: its issuer {link.issuer!r} must come first")
        certificates[link.name] = state.certificate(
            f"{link.name}.pem",
            keys[link.name],
            functools.partial(
                build_certificate,
                link,
                subjects[link.name],
                subjects[link.issuer],
                keys[link.name].public_key(),
                keys[link.issuer],
            ),
        )
    root = next(link.name for link in links if link.issuer == link.name)
    return Chain(keys, certificates, root)


class SimulatedRoot:
    """A simulated provider's root of trust, for a verifier that trusts it explicitly
    (``cairn verify --trust-simulated-root``, tests, the agent's self-check)."""

    chain: Chain
    trust_root_name: str

    def trust_roots(self) -> tuple[Certificate, ...]:
        """The simulated root, as the verifier reads it."""
        return (parse_certificate(certificate_der(self.chain.root_certificate)),)

    def trust_root_pem(self) -> bytes:
        """The simulated root as PEM (what ``cairn verify --trust-simulated-root`` reads)."""
        return certificate_pem(self.chain.root_certificate)

    def export_trust_root(self, path: Path) -> None:
        """Write the simulated root as PEM (for ``--trust-simulated-root``); never overwrites."""
        export_new_file(Path(path), self.trust_root_pem(), self.trust_root_name)


def build_certificate(
    link: Link,
    subject: x509.Name,
    issuer: x509.Name,
    public_key: PublicKey,
    issuer_key: PrivateKey,
) -> x509.Certificate:
    """Sign ``link``'s certificate with ``issuer_key``: RSA keys sign RSASSA-PSS SHA-384 (AMD),
    EC keys ECDSA with SHA-384 on P-384 and SHA-256 on P-256 (Intel). Serials are random, > 0."""
    start = now() - _SKEW
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + link.lifetime)
        .add_extension(
            x509.BasicConstraints(ca=link.ca, path_length=link.path_length if link.ca else None),
            critical=True,
        )
        .add_extension(
            x509.KeyUsage(
                digital_signature=not link.ca,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=link.ca,
                crl_sign=link.ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )
    if link.with_key_ids:
        builder = builder.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False
        ).add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    for extension in link.extensions:
        builder = builder.add_extension(extension, critical=False)
    if isinstance(issuer_key, rsa.RSAPrivateKey):
        return builder.sign(issuer_key, hashes.SHA384(), rsa_padding=amd_pss())
    digest = hashes.SHA384() if issuer_key.curve.key_size >= 384 else hashes.SHA256()
    return builder.sign(issuer_key, digest)


def certificate_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def certificate_der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


# --------------------------------------------------------------------------- files


def write_new_file(path: Path, data: bytes, *, mode: int = _PUBLIC_MODE) -> bool:
    """Atomically create ``path`` with ``data``; False (and nothing written) if it exists.

    The content goes to a temporary file in the same directory first and is then hard-linked
    into place, so readers never see a partial file and an existing file is never replaced.
    """
    directory = path.parent
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


def export_new_file(path: Path, data: bytes, what: str) -> None:
    """Write an export (trust root, collateral); ProviderError instead of overwriting."""
    try:
        created = write_new_file(path, data)
    except OSError as exc:
        raise ProviderError(f"cannot write {what} to {path}: {exc.strerror}") from exc
    if not created:
        raise ProviderError(
            f"{path} already exists: refusing to overwrite it with the {what}",
            hint="choose another path or remove the old file first",
        )


class StateDir:
    """A private directory of simulated key material, created on first use (mode 0700)."""

    def __init__(self, path: Path):
        self.path = path
        try:
            path.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
            info = path.stat()
        except OSError as exc:
            raise ProviderError(
                f"cannot create the simulated TEE state directory {path}: {exc.strerror}",
                hint="point the agent's state directory at a writable location",
            ) from exc
        if not stat.S_ISDIR(info.st_mode):
            raise ProviderError(f"{path} is not a directory")
        if stat.S_IMODE(info.st_mode) & 0o077:
            try:
                path.chmod(_DIR_MODE)
            except OSError as exc:
                raise ProviderError(
                    f"{path} is readable by others and cannot be made private: {exc.strerror}"
                ) from exc

    def _load_or_store(self, file_name: str, create: Callable[[], bytes], mode: int) -> bytes:
        path = self.path / file_name
        try:
            if not path.exists():
                write_new_file(path, create(), mode=mode)
            return path.read_bytes()
        except OSError as exc:
            raise ProviderError(
                f"cannot read or write simulated TEE state {path}: {exc.strerror}"
            ) from exc

    def _private_key(self, file_name: str, generate: Callable[[], PrivateKey]) -> PrivateKey:
        def create() -> bytes:
            return generate().private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )

        data = self._load_or_store(file_name, create, _KEY_MODE)
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as exc:
            raise ProviderError(f"{self.path / file_name} is not a readable private key") from exc
        if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise ProviderError(f"{self.path / file_name} holds the wrong kind of key")
        return key

    def rsa_key(self, file_name: str) -> rsa.RSAPrivateKey:
        """The RSA-4096 key stored in ``file_name`` (PKCS#8 PEM), generated on first use."""
        key = self._private_key(file_name, new_rsa4096)
        if not isinstance(key, rsa.RSAPrivateKey) or key.key_size != 4096:
            raise ProviderError(f"{self.path / file_name} is not an RSA-4096 key")
        return key

    def ec_key(self, file_name: str, curve: ec.EllipticCurve) -> ec.EllipticCurvePrivateKey:
        """The EC key on ``curve`` stored in ``file_name``, generated on first use."""
        key = self._private_key(file_name, lambda: ec.generate_private_key(curve))
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != curve.name:
            raise ProviderError(f"{self.path / file_name} is not an EC {curve.name} key")
        return key

    def key(self, file_name: str, key_type: KeyType) -> PrivateKey:
        """The key of ``key_type`` stored in ``file_name``, generated on first use."""
        if isinstance(key_type, ec.EllipticCurve):
            return self.ec_key(file_name, key_type)
        if key_type != RSA_4096:
            raise ValueError(f"unknown key type {key_type!r}")
        return self.rsa_key(file_name)

    def certificate(
        self, file_name: str, key: PrivateKey, build: Callable[[], x509.Certificate]
    ) -> x509.Certificate:
        """The certificate stored in ``file_name`` (PEM), built on first use; it must certify
        ``key`` (a mismatch means the state directory was tampered with or mixed up)."""
        data = self._load_or_store(file_name, lambda: certificate_pem(build()), _PUBLIC_MODE)
        try:
            cert = x509.load_pem_x509_certificate(data)
        except ValueError as exc:
            raise ProviderError(f"{self.path / file_name} is not a readable certificate") from exc
        if cert.public_key() != key.public_key():
            raise ProviderError(
                f"{self.path / file_name} does not certify the key stored next to it",
                hint="the simulated state directory is inconsistent: move it away to start over",
            )
        return cert

    def random_bytes(self, file_name: str, size: int) -> bytes:
        """``size`` random bytes stored in ``file_name`` (hex), generated on first use."""
        data = self._load_or_store(file_name, lambda: os.urandom(size).hex().encode(), _KEY_MODE)
        try:
            value = bytes.fromhex(data.decode("ascii").strip())
        except (UnicodeDecodeError, ValueError) as exc:
            raise ProviderError(f"{self.path / file_name} is not hex") from exc
        if len(value) != size:
            raise ProviderError(f"{self.path / file_name} holds {len(value)} bytes, not {size}")
        return value


def new_rsa4096() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=4096)
