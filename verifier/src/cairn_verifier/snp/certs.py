"""The AMD SEV-SNP certificates a user supplies (``--certs``, an evidence bundle, a host's
certificate table), sorted by role: VCEK/VLEK, ASK/ASVK, ARK, and optionally AMD's CRL.

The hierarchy itself: :mod:`.roles` (who is who), :mod:`.extensions` (VCEK/VLEK extensions),
:mod:`.roots` (AMD's pinned certificates) and :mod:`.chain` (checking the chain).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import MalformedInputError, ParseError
from ..input_files import (
    DirectoryFile,
    list_input_directory,
    read_directory_files,
    read_input_file,
)
from ..x509.cert import Certificate, looks_like_der, parse_certificate, pem_blocks
from ..x509.crl import Crl, parse_crl
from .extensions import AMD_OID, AmdExtensions
from .product import ProductLine
from .roles import COMPONENT, AmdCertRole, amd_cert_product, amd_cert_role

_CERT_SUFFIXES = {".pem", ".der", ".crt", ".cer", ".crl"}


@dataclass
class CertCollection:
    """The AMD certificates (and optionally a CRL) a user supplied, sorted by role."""

    ark: Certificate | None = None
    ask: Certificate | None = None
    asvk: Certificate | None = None
    vcek: Certificate | None = None
    vlek: Certificate | None = None
    crl: Crl | None = None

    @classmethod
    def from_bytes(cls, data: bytes, *, source: str = "input") -> CertCollection:
        collection = cls()
        collection.add_bytes(data, source=source)
        return collection

    @classmethod
    def from_certificates(cls, certs: list[Certificate]) -> CertCollection:
        collection = cls()
        for cert in certs:
            collection.add(cert)
        return collection

    def get(self, role: AmdCertRole) -> Certificate | None:
        cert: Certificate | None = getattr(self, role.value.lower())
        return cert

    def __len__(self) -> int:
        return sum(self.get(role) is not None for role in AmdCertRole)

    def add(self, cert: Certificate, *, source: str | None = None) -> AmdCertRole:
        """File ``cert`` under its role; MalformedInputError on a conflicting certificate."""
        where = f"{source}: " if source else ""
        try:
            role = amd_cert_role(cert)
            product = amd_cert_product(cert)
        except MalformedInputError as exc:
            raise MalformedInputError(where + exc.message, component=COMPONENT) from exc
        existing = self.get(role)
        if existing is not None and existing.der != cert.der:
            raise MalformedInputError(
                f"{where}two different certificates claim the {role} role "
                f"('{existing.display_name}' sha256 {existing.fingerprint_sha256.hex()[:16]}… and "
                f"'{cert.display_name}' sha256 {cert.fingerprint_sha256.hex()[:16]}…)",
                component=COMPONENT,
                hint="supply one certificate per role",
            )
        current = self.product
        if product is not None and current is not None and product is not current:
            raise MalformedInputError(
                f"{where}{role} '{cert.display_name}' is for {product}, but the other "
                f"certificates are for {current}",
                component=COMPONENT,
                hint="do not mix certificates of different product lines",
            )
        setattr(self, role.value.lower(), cert)
        return role

    def add_crl(self, crl: Crl, *, source: str | None = None) -> None:
        if self.crl is not None and self.crl.der != crl.der:
            where = f"{source}: " if source else ""
            raise MalformedInputError(f"{where}more than one CRL supplied", component=COMPONENT)
        self.crl = crl

    def add_bytes(self, data: bytes, *, source: str = "input") -> int:
        """Add the certificates (and CRL) in a DER blob or PEM text; returns how many."""
        try:
            if looks_like_der(data):
                try:
                    certs = [parse_certificate(data)]
                    crls: list[Crl] = []
                except ParseError as cert_error:
                    try:
                        crls = [parse_crl(data)]
                        certs = []
                    except ParseError:
                        raise cert_error from None
            else:
                certs = [parse_certificate(b) for b in pem_blocks(data, "CERTIFICATE")]
                crls = [parse_crl(b) for b in pem_blocks(data, "X509 CRL")]
        except MalformedInputError as exc:
            exc.message = f"{source}: {exc.message}"
            raise
        if not certs and not crls:
            raise MalformedInputError(
                f"{source}: no certificate found (expected DER or PEM 'BEGIN CERTIFICATE')",
                component=COMPONENT,
            )
        for cert in certs:
            self.add(cert, source=source)
        for crl in crls:
            self.add_crl(crl, source=source)
        return len(certs) + len(crls)

    @property
    def product(self) -> ProductLine | None:
        """The product line the certificates name (CNs, else the leaf's productName)."""
        for role in AmdCertRole:
            cert = self.get(role)
            if cert is not None:
                product = amd_cert_product(cert)
                if product is not None:
                    return product
        for leaf in (self.vcek, self.vlek):
            if leaf is not None and f"{AMD_OID}.2" in leaf.extensions:
                try:
                    return AmdExtensions.from_certificate(leaf).product
                except MalformedInputError:
                    return None
        return None


def load_cert_collection(path: Path) -> CertCollection:
    """Load a PEM bundle / DER file, or a directory of *.pem/*.der/*.crt/*.cer (snpguest).

    Reading is bounded (:mod:`cairn_verifier.input_files`): a file larger than the input limit
    is refused by its size, and a directory is read for a bounded number of files and bytes.
    """
    what = "certificate"
    if not path.exists():
        raise MalformedInputError(f"{path}: no such file or directory", component=COMPONENT)
    if path.is_dir():
        files = list_input_directory(
            path,
            what,
            accept=lambda name: Path(name).suffix.lower() in _CERT_SUFFIXES,
            component=COMPONENT,
        )
        if not files:
            raise MalformedInputError(
                f"{path}: no *.pem, *.der, *.crt, *.cer or *.crl files in this directory",
                component=COMPONENT,
                hint="point --certs at the directory `snpguest certificates` wrote, or a file",
            )
        contents = read_directory_files(files, what, component=COMPONENT)
    else:
        contents = [DirectoryFile(path, read_input_file(path, what, component=COMPONENT))]
    collection = CertCollection()
    for content in contents:
        collection.add_bytes(content.data, source=str(content.path))
    if len(collection) == 0:
        raise MalformedInputError(f"{path}: no certificates found", component=COMPONENT)
    return collection
