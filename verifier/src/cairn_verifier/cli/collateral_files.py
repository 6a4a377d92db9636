"""Collateral from local files, in every format Cairn reads, as collateral-bundle entries.

``--collateral`` (verify and ``collateral export``) and ``cairn collateral import`` accept:

* a Cairn collateral bundle (``cairn collateral export``);
* dcap-qvl's collateral JSON (``QuoteCollateralV3``: TDX TCB info, QE identity, CRLs);
* a directory of Intel PCS responses (``tcb_info.json``, ``qe_identity.json``, issuer chains,
  CRLs; see :data:`cairn_verifier.tdx.collateral.DIR_FILE_NAMES`);
* a directory of PCS responses saved under Intel's file names (``tcb_info_<fmspc>.json``,
  ``*_chain.txt`` issuer-chain headers; :mod:`cairn_verifier.tdx.pcs_files`), where a quote
  picks the FMSPC and PCK CA when it holds several.

The format is detected from the content, named in messages, and every defect is a typed error
that names the file, the format and the field. ``collateral export`` also seeds bundles from
SEV-SNP certificates and CRLs (``--certs``, ``--crl``): :func:`read_snp_seeds`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from ..collateral.bundle_format import is_bundle_file
from ..errors import CairnError, MalformedInputError
from ..records import Record
from ..tdx.collateral import (
    DIR_FILE_NAMES,
    TdxCollateral,
    load_collateral_dir,
    load_dcap_qvl_collateral,
)
from ..tdx.pcs_files import collateral_key, is_pcs_file_dir, load_pcs_file_dir
from .common import read_input_file

if TYPE_CHECKING:  # the bundle's models (pydantic) load only when a bundle is read or made
    from ..collateral.bundle import BundleEntry, CollateralBundle
    from ..snp.certs import CertCollection
    from ..snp.kds import CertKind
    from ..snp.product import ProductLine
    from ..tdx.quote import Quote
    from ..x509.crl import Crl

BUNDLE = "Cairn collateral bundle"
DCAP_QVL = "dcap-qvl collateral JSON"
PCS_DIRECTORY = "directory of Intel PCS responses"
PCS_FILES = "directory of Intel PCS files (Intel's file names)"
ACCEPTED = (
    "a Cairn collateral bundle (`cairn collateral export`), dcap-qvl collateral JSON "
    "(QuoteCollateralV3) or a directory of Intel PCS responses (tcb_info.json, "
    "qe_identity.json, issuer chains, CRLs)"
)
_DCAP_QVL_KEYS = frozenset({"tcb_info", "qe_identity", "tcb_info_issuer_chain"})
_PCS_RESPONSE_KEYS = frozenset({"tcbInfo", "enclaveIdentity"})
_COMPONENT = "collateral"


@dataclass(frozen=True)
class LocalCollateral:
    """What one ``--collateral`` file or directory holds, as bundle entries."""

    path: Path
    format: str
    entries: list[BundleEntry]
    skipped: list[str] = field(default_factory=list)  # pieces that could not be filed, and why

    @property
    def label(self) -> str:
        return f"{self.path} ({self.format})"

    def bundle(self) -> CollateralBundle:
        from ..collateral.bundle import build_bundle

        return build_bundle(self.entries)


def read_collateral(path: Path, *, fetched_at: datetime) -> LocalCollateral:
    """Detect the format of ``path`` and read it as bundle entries (typed errors naming the file,
    the format and the field).

    ``fetched_at`` is recorded in the entries made from dcap-qvl JSON or PCS files (a Cairn
    bundle keeps its own).
    """
    from ..tdx.pcs import collateral_bundle_entries

    detected = _detect(path)
    if detected.format == BUNDLE:
        bundle = detected.within(lambda: _read_bundle(path, detected.data))
        return LocalCollateral(path, BUNDLE, list(bundle.entries))
    collateral = detected.within(detected.tdx_collateral)
    entries, skipped = detected.within(
        lambda: collateral_bundle_entries(collateral, fetched_at=fetched_at)
    )
    return LocalCollateral(path, detected.format, entries, skipped)


def read_embedded_dcap_qvl(
    data: bytes, label: str, *, fetched_at: datetime
) -> tuple[list[BundleEntry], list[str]]:
    """dcap-qvl collateral JSON that came with evidence (an evidence bundle's
    ``tee.collateral``) as bundle entries, as :func:`read_collateral` reads a file of it, and
    the pieces that could not be filed; typed errors name ``label`` and the format."""
    from ..tdx.pcs import collateral_bundle_entries

    try:
        collateral = load_dcap_qvl_collateral(data)
        return collateral_bundle_entries(collateral, fetched_at=fetched_at)
    except CairnError as error:
        error.message = f"{label} ({DCAP_QVL}): {error.message}"
        raise


def read_tdx_collateral(path: Path, quote: Quote | None = None) -> TdxCollateral | None:
    """TDX collateral from dcap-qvl JSON or a PCS directory; None when ``path`` is a bundle.

    ``quote`` picks the FMSPC and PCK CA in a directory of PCS files that holds several.
    """
    detected = _detect(path)
    if detected.format == BUNDLE:
        return None
    return detected.within(lambda: detected.tdx_collateral(quote))


def is_collateral_bundle(path: Path) -> bool:
    """Whether ``--collateral`` names a Cairn bundle (read through the cache's lookup) rather
    than TDX collateral read directly; typed errors as :func:`read_collateral`."""
    return _detect(path).format == BUNDLE


T = TypeVar("T")


class _Detected(Record):
    """The format of a ``--collateral`` path, and its content when it is one file."""

    path: Path
    format: str
    data: bytes | None

    __slots__ = ("data", "format", "path")

    def __init__(self, path: Path, format: str, data: bytes | None = None) -> None:
        object.__setattr__(self, "path", path)
        object.__setattr__(self, "format", format)
        object.__setattr__(self, "data", data)

    def within(self, read: Callable[[], T]) -> T:
        """Run ``read``; a typed error it raises names the file and the detected format."""
        try:
            return read()
        except CairnError as error:
            if str(self.path) not in error.message:
                error.message = f"{self.path} ({self.format}): {error.message}"
            elif self.format not in error.message:
                error.message = f"{error.message} [read as {self.format}]"
            raise

    def tdx_collateral(self, quote: Quote | None = None) -> TdxCollateral:
        """The TDX collateral read, its ``source`` naming the file and the format."""
        if self.format == PCS_FILES:
            select = None if quote is None else (lambda: collateral_key(quote))
            collateral = load_pcs_file_dir(self.path, select)
        elif self.format == PCS_DIRECTORY:
            collateral = load_collateral_dir(self.path)
        else:
            assert self.data is not None
            collateral = load_dcap_qvl_collateral(self.data)
        return dataclasses.replace(collateral, source=f"{self.path} ({self.format})")


def _read_bundle(path: Path, data: bytes | None) -> CollateralBundle:
    from ..collateral.bundle import load_bundle, parse_bundle

    return load_bundle(path) if data is None else parse_bundle(data, str(path))


def _detect(path: Path) -> _Detected:
    """Which collateral format ``path`` holds, from its content (never its name)."""
    if is_pcs_file_dir(path):
        return _Detected(path, PCS_FILES)
    if path.is_dir():
        _check_pcs_directory(path)
        return _Detected(path, PCS_DIRECTORY)
    if is_bundle_file(path):
        return _Detected(path, BUNDLE)
    data = read_input_file(path, "collateral")
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError, huge numbers
        raise MalformedInputError(
            f"{path} is not collateral Cairn reads (not JSON); accepted: {ACCEPTED}",
            component=_COMPONENT,
            hint=_not_json_hint(data),
        ) from None
    keys = set(doc) if isinstance(doc, dict) else set()
    if keys & _DCAP_QVL_KEYS:
        return _Detected(path, DCAP_QVL, data)
    if keys & _PCS_RESPONSE_KEYS:
        member, own = ("tcbInfo", "tcb_info.json")
        if "tcbInfo" not in keys:
            member, own = ("enclaveIdentity", "qe_identity.json")
        raise MalformedInputError(
            f"{path} is a single Intel PCS response ({member}); Cairn reads PCS responses as a "
            "directory holding all of them",
            component=_COMPONENT,
            hint=f"save it as {own} in a directory with the others (tcb_info.json, "
            "qe_identity.json, tcb_info_issuer_chain.pem, qe_identity_issuer_chain.pem, "
            "pck_crl.der, pck_crl_issuer_chain.pem, root_ca_crl.der) and pass the directory",
        )
    if keys & {"format", "entries", "created_at"}:
        return _Detected(path, BUNDLE, data)
    raise MalformedInputError(
        f"{path} is JSON but not collateral Cairn reads; accepted: {ACCEPTED}",
        component=_COMPONENT,
    )


def _check_pcs_directory(path: Path) -> None:
    try:
        names = {p.name.lower() for p in path.iterdir()}
    except OSError as exc:
        raise MalformedInputError(
            f"cannot list {path}: {exc.strerror}", component=_COMPONENT
        ) from None
    known = {name for names_of_role in DIR_FILE_NAMES.values() for name in names_of_role}
    if not names & known:
        raise MalformedInputError(
            f"{path} is a directory without Intel PCS responses; accepted: {ACCEPTED}",
            component=_COMPONENT,
            hint="SEV-SNP certificates and CRLs are passed with --certs and --crl",
        )


def _not_json_hint(data: bytes) -> str | None:
    if b"-----BEGIN CERTIFICATE-----" in data or b"-----BEGIN X509 CRL-----" in data:
        return "SEV-SNP certificates and CRLs are passed with --certs and --crl"
    if data[:1] == b"\x30":
        return "a DER certificate or CRL is passed with --certs or --crl"
    return None


# --------------------------------------------------------------------------- SEV-SNP seeds


class Seed(Record):
    """A bundle entry read from a local file, and which option and file it came from."""

    entry: BundleEntry
    origin: str

    __slots__ = ("entry", "origin")

    def __init__(self, entry: BundleEntry, origin: str) -> None:
        object.__setattr__(self, "entry", entry)
        object.__setattr__(self, "origin", origin)


class SnpSeeds(Record):
    """Bundle entries from ``--certs`` and ``--crl``, and what was left out (and why)."""

    seeds: list[Seed]
    skipped: list[str]

    __slots__ = ("seeds", "skipped")

    def __init__(self, seeds: list[Seed], skipped: list[str]) -> None:
        object.__setattr__(self, "seeds", seeds)
        object.__setattr__(self, "skipped", skipped)


def read_snp_seeds(
    certs: Iterable[Path],
    crls: Iterable[Path],
    *,
    crl_kinds: Mapping[ProductLine, set[CertKind]],
    fetched_at: datetime,
) -> SnpSeeds:
    """VCEKs and CRLs from local files, filed where AMD KDS serves them.

    ``crl_kinds`` says, per product line, which hierarchies the reports being exported use: a
    CRL is filed as the VCEK CRL of its product line, or as its VLEK CRL when the reports of
    that product line are all VLEK-signed (the two CRLs cannot be told apart by content).
    """
    from ..snp.certs import load_cert_collection
    from ..snp.kds import crl_bundle_entry, crl_product
    from ..x509.crl import load_crl

    seeds: list[Seed] = []
    skipped: list[str] = []
    found_crls: list[tuple[Crl, str]] = []
    for path in certs:
        collection = load_cert_collection(path)
        origin = f"--certs {path}"
        seeds.extend(_leaf_seeds(collection, origin, skipped, fetched_at, _VLEK_FROM_FILES))
        if collection.crl is not None:
            found_crls.append((collection.crl, origin))
    for path in crls:
        found_crls.append((load_crl(read_input_file(path, "CRL")), f"--crl {path}"))
    for crl, origin in found_crls:
        try:
            product = crl_product(crl)
            kind = _crl_kind(product, crl_kinds.get(product, set()), origin)
            entry = crl_bundle_entry(crl, kind, fetched_at=fetched_at)
        except CairnError as error:
            error.message = f"{origin}: {error.message}"
            raise
        seeds.append(Seed(entry, origin))
    return SnpSeeds(seeds, skipped)


def certificate_seeds(
    collection: CertCollection, origin: str, *, fetched_at: datetime, vlek_advice: str
) -> SnpSeeds:
    """The VCEK among certificates that came with evidence (an evidence bundle's
    ``tee.certificates``), filed as :func:`read_snp_seeds` files one; ``vlek_advice`` says where
    a verification finds a VLEK, which is never bundled."""
    skipped: list[str] = []
    seeds = _leaf_seeds(collection, origin, skipped, fetched_at, vlek_advice)
    return SnpSeeds(seeds, skipped)


_VLEK_FROM_FILES = "pass it with --certs when verifying"


def _leaf_seeds(
    collection: CertCollection,
    origin: str,
    skipped: list[str],
    fetched_at: datetime,
    vlek_advice: str,
) -> list[Seed]:
    from ..snp.kds import vcek_bundle_entry

    seeds = []
    if collection.vcek is not None:
        try:
            entry = vcek_bundle_entry(collection.vcek, fetched_at=fetched_at)
        except CairnError as error:
            error.message = f"{origin}: {error.message}"
            raise
        seeds.append(Seed(entry, origin))
    if collection.vlek is not None:
        skipped.append(
            f"VLEK from {origin}: AMD KDS does not serve VLEKs, so a bundle cannot stand in "
            f"for one; {vlek_advice}"
        )
    pinned = [c for c in ("ark", "ask", "asvk") if getattr(collection, c) is not None]
    if pinned:
        skipped.append(
            f"{', '.join(p.upper() for p in pinned)} from {origin}: Cairn pins AMD's ARK, ASK "
            "and ASVK, so bundles do not carry them"
        )
    return seeds


def _crl_kind(product: ProductLine, kinds: set[CertKind], origin: str) -> CertKind:
    if kinds == {"vlek"}:
        return "vlek"
    if kinds == {"vcek", "vlek"}:
        raise MalformedInputError(
            f"cannot tell whether this {product} CRL is AMD's VCEK or VLEK CRL: the reports "
            "being exported use both",
            component=_COMPONENT,
            hint="export the VCEK-signed and the VLEK-signed reports in separate runs, each with "
            "its CRL",
        )
    return "vcek"
