"""AMD Key Distribution Service (KDS) client: VCEKs, ASK/ASVK+ARK chains and CRLs.

URLs follow AMD's "VCEK Certificate and KDS Interface Specification" (publication 57230):

* ``/vcek/v1/{product}/{hwid}?blSPL=…&teeSPL=…&snpSPL=…&ucodeSPL=…`` — the VCEK (DER). Milan and
  Genoa use the 64-byte CHIP_ID (128 hex digits); Turin uses its first 8 bytes (16 hex digits)
  and adds ``fmcSPL``.
* ``/{vcek|vlek}/v1/{product}/cert_chain`` — ASK (or ASVK) then ARK, PEM.
* ``/{vcek|vlek}/v1/{product}/crl`` — the ARK-signed CRL, DER.

Sources are tried in order (:mod:`cairn_verifier.collateral.lookup`): offline bundle, fresh cache
entry, network (unless offline), then — only for CRLs and only when the caller allows it — a stale
cached copy. Every result says where it came from (:class:`Fetched`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal

from ..collateral.cache import CacheEntry, CollateralCache
from ..collateral.lookup import Advice, CollateralClient, Found, Service
from ..collateral.lookup import CorruptError as _CorruptError
from ..collateral.lookup import Source as Source  # noqa: PLC0414 (re-exported: its old home)
from ..errors import CairnError, ChainError, MalformedInputError
from ..records import Record
from ..x509 import der
from .product import ProductLine

# The bundle's models (pydantic) and AMD's chain load only where a bundle entry is made from
# local files: a client (what `cairn verify` builds, even for TDX) is cheap to build.
if TYPE_CHECKING:
    from ..collateral.bundle import BundleEntry, CollateralBundle
    from ..collateral.http import FetchedResponse, HttpFetcher
    from ..x509.cert import Certificate
    from ..x509.crl import Crl

KDS_BASE_URL = "https://kdsintf.amd.com"
NAMESPACE = "kds"
COMPONENT = "kds"
CHAIN_TTL = timedelta(days=30)
CRL_TTL_WITHOUT_NEXT_UPDATE = timedelta(days=1)

RATE_LIMIT_HINT = "AMD KDS allows about one request per 10 s per IP: retry in a minute"
NOT_FOUND_HINT = (
    "check the product line (Milan, Genoa, Turin) and that CHIP_ID and REPORTED_TCB come from a "
    "genuine report; KDS does not serve VLEKs: a VLEK-signed report needs its VLEK supplied"
)
# Library default; the CLI words its own for each command's options (cli/context.py).
DEFAULT_ADVICE = Advice(
    offline="supply the VCEK and the CRL from local files or a collateral bundle, or allow "
    "network access",
    stale="supply a current copy, or verify as of a time before it expired",
    unreachable="or supply the VCEK and the CRL from local files or a collateral bundle, or use "
    "a reachable KDS mirror",
    unavailable="or supply the VCEK and the CRL from local files or a collateral bundle",
)

CertKind = Literal["vcek", "vlek"]

_PRODUCTS = {"milan": "Milan", "genoa": "Genoa", "turin": "Turin"}
_TCB_KEYS = ("bootloader", "tee", "snp", "microcode")


#: What the client returns: the document's bytes, where they came from, how long they are valid.
Fetched = Found[bytes]


class VcekRequest(Record):
    """A VCEK for one chip at one reported TCB."""

    product: str
    hwid: bytes
    tcb: Mapping[str, int]

    __slots__ = ("hwid", "product", "tcb")

    def __init__(self, product: str, hwid: bytes, tcb: Mapping[str, int]) -> None:
        object.__setattr__(self, "product", product)
        object.__setattr__(self, "hwid", hwid)
        object.__setattr__(self, "tcb", tcb)


class CertChainRequest(Record):
    """The ASK+ARK (``vcek``) or ASVK+ARK (``vlek``) chain of a product line."""

    product: str
    kind: CertKind

    __slots__ = ("kind", "product")

    def __init__(self, product: str, kind: CertKind = "vcek") -> None:
        object.__setattr__(self, "product", product)
        object.__setattr__(self, "kind", kind)


class CrlRequest(Record):
    """The CRL of a product line's VCEK or VLEK hierarchy."""

    product: str
    kind: CertKind

    __slots__ = ("kind", "product")

    def __init__(self, product: str, kind: CertKind = "vcek") -> None:
        object.__setattr__(self, "product", product)
        object.__setattr__(self, "kind", kind)


KdsRequest = VcekRequest | CertChainRequest | CrlRequest


def kds_product(product: str) -> str:
    """The KDS spelling ("Milan", "Genoa", "Turin") of a product line name."""
    name = _PRODUCTS.get(str(product).strip().lower())
    if name is None:
        raise MalformedInputError(
            f"unknown SEV-SNP product line {product!r}; AMD KDS knows "
            + ", ".join(_PRODUCTS.values()),
            component=COMPONENT,
        )
    return name


def _check_kind(kind: str) -> CertKind:
    if kind == "vcek":
        return "vcek"
    if kind == "vlek":
        return "vlek"
    raise MalformedInputError(
        f"unknown certificate kind {kind!r}; expected 'vcek' or 'vlek'", component=COMPONENT
    )


def _tcb_value(tcb: Mapping[str, int], name: str) -> int:
    if name not in tcb:
        raise MalformedInputError(f"TCB value {name!r} is missing", component=COMPONENT)
    value = tcb[name]
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 255:
        raise MalformedInputError(
            f"TCB value {name}={value!r} is not an SPL between 0 and 255", component=COMPONENT
        )
    return value


def _hwid_hex(product: str, hwid: bytes) -> str:
    if product == "Turin":
        if len(hwid) == 64 and any(hwid[8:]):
            raise MalformedInputError(
                "Turin CHIP_ID has non-zero bytes after the 8-byte chip ID", component=COMPONENT
            )
        if len(hwid) not in (8, 64):
            raise MalformedInputError(
                f"Turin hardware ID is {len(hwid)} bytes; expected 8 (or a 64-byte CHIP_ID)",
                component=COMPONENT,
            )
        hwid = hwid[:8]
    elif len(hwid) != 64:
        raise MalformedInputError(
            f"{product} CHIP_ID is {len(hwid)} bytes; expected 64", component=COMPONENT
        )
    if not any(hwid):
        raise MalformedInputError(
            "CHIP_ID is all zero (masked by MASK_CHIP_ID, or a VLEK-signed report): "
            "AMD KDS cannot serve a VCEK for it",
            component=COMPONENT,
            hint="pass the VCEK/VLEK with --certs",
        )
    return hwid.hex()


def vcek_url_path(product: str, hwid: bytes, tcb: Mapping[str, int]) -> str:
    """The KDS path and query of a VCEK.

    ``tcb`` has the keys "bootloader", "tee", "snp", "microcode" and, for Turin, "fmc".
    """
    name = kds_product(product)
    hwid_hex = _hwid_hex(name, bytes(hwid))
    bl, tee, snp, ucode = (_tcb_value(tcb, key) for key in _TCB_KEYS)
    query = f"blSPL={bl}&teeSPL={tee}&snpSPL={snp}&ucodeSPL={ucode}"
    if name == "Turin":
        query = f"fmcSPL={_tcb_value(tcb, 'fmc')}&{query}"
    return f"/vcek/v1/{name}/{hwid_hex}?{query}"


def cert_chain_url_path(product: str, kind: str = "vcek") -> str:
    return f"/{_check_kind(kind)}/v1/{kds_product(product)}/cert_chain"


def crl_url_path(product: str, kind: str = "vcek") -> str:
    return f"/{_check_kind(kind)}/v1/{kds_product(product)}/crl"


def check_vcek_der(data: bytes) -> None:
    """Raise ``_CorruptError`` unless ``data`` is one DER Certificate SEQUENCE."""
    try:
        cert = der.parse_single(data, "VCEK").expect(der.SEQUENCE, "certificate")
        parts = cert.children()
        if len(parts) != 3:
            raise _CorruptError(f"a certificate has 3 parts, this has {len(parts)}")
        parts[0].expect(der.SEQUENCE, "tbsCertificate")
        parts[1].expect(der.SEQUENCE, "signatureAlgorithm")
        parts[2].expect(der.BIT_STRING, "signature")
    except CairnError as exc:
        raise _CorruptError(str(exc)) from None


def check_cert_chain_pem(data: bytes) -> None:
    """Raise ``_CorruptError`` unless ``data`` is two PEM certificates (ASK/ASVK, ARK)."""
    from cryptography import x509

    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise _CorruptError(f"not PEM certificates ({exc})") from None
    if len(certs) != 2:
        raise _CorruptError(f"expected 2 certificates (ASK/ASVK, ARK), found {len(certs)}")


def crl_next_update(data: bytes) -> datetime | None:
    """The nextUpdate of a DER CRL (None if absent); ``_CorruptError`` if not a DER CRL."""
    from cryptography import x509

    try:
        crl = x509.load_der_x509_crl(data)
    except ValueError as exc:
        raise _CorruptError(f"not a DER CRL ({exc})") from None
    return crl.next_update_utc


def _utc_now() -> datetime:
    return datetime.now(UTC)


class _Kind(Record):
    """How to validate and how long to keep one kind of KDS document."""

    label: str
    validate: Callable[[bytes], None]
    expiry: Callable[[bytes, datetime], datetime | None]
    not_found_hint: str

    __slots__ = ("expiry", "label", "not_found_hint", "validate")

    def __init__(
        self,
        label: str,
        validate: Callable[[bytes], None],
        expiry: Callable[[bytes, datetime], datetime | None],
        not_found_hint: str = NOT_FOUND_HINT,
    ) -> None:
        object.__setattr__(self, "label", label)
        object.__setattr__(self, "validate", validate)
        object.__setattr__(self, "expiry", expiry)
        object.__setattr__(self, "not_found_hint", not_found_hint)

    def decode(self, data: bytes) -> bytes:
        """``data`` itself; ``_CorruptError`` unless it is a valid document of this kind."""
        self.validate(data)
        return data

    def read(self, response: FetchedResponse, now: datetime) -> tuple[bytes, datetime | None]:
        """The body of a served answer and when it expires."""
        body = self.decode(response.body)
        return body, self.expiry(body, now)

    @staticmethod
    def encode(value: bytes) -> bytes:
        return value


def _crl_expiry(data: bytes, now: datetime) -> datetime:
    return crl_next_update(data) or now + CRL_TTL_WITHOUT_NEXT_UPDATE


_VCEK = _Kind("certificate", check_vcek_der, lambda _data, _now: None)
_CHAIN = _Kind("certificate chain", check_cert_chain_pem, lambda _data, now: now + CHAIN_TTL)


def check_crl_der(data: bytes) -> None:
    """Raise ``_CorruptError`` unless ``data`` is a DER CRL."""
    crl_next_update(data)


_CRL = _Kind("CRL", check_crl_der, _crl_expiry)


class KdsClient(CollateralClient):
    """Fetches AMD KDS collateral from a bundle, the cache or the network, in that order."""

    _service = Service(
        namespace=NAMESPACE,
        component=COMPONENT,
        advice=DEFAULT_ADVICE,
        unusable_message="KDS returned a corrupt {label} for {what} at {url} (twice): {reason}",
        unusable_hint="AMD KDS (or the mirror) may be failing: retry later, or supply the "
        "document from a local file",
        rate_limit_hint=RATE_LIMIT_HINT,
    )

    def __init__(
        self,
        fetcher: HttpFetcher | None = None,
        cache: CollateralCache | None = None,
        *,
        base_url: str = KDS_BASE_URL,
        offline: bool = False,
        bundle: CollateralBundle | None = None,
        clock: Callable[[], datetime] = _utc_now,
        advice: Advice | None = None,
        bundle_label: str | None = None,
    ):
        super().__init__(
            fetcher,
            cache,
            offline=offline,
            bundle=bundle,
            clock=clock,
            advice=advice,
            bundle_label=bundle_label,
        )
        self.base_url = base_url.rstrip("/")

    vcek_url_path = staticmethod(vcek_url_path)
    cert_chain_url_path = staticmethod(cert_chain_url_path)
    crl_url_path = staticmethod(crl_url_path)

    def fetch_vcek(self, product: str, hwid: bytes, tcb: Mapping[str, int]) -> Fetched:
        """The DER VCEK of chip ``hwid`` at ``tcb`` (the report's REPORTED_TCB)."""
        key = vcek_url_path(product, hwid, tcb)
        what = f"the {kds_product(product)} VCEK"
        return self._obtain(key, what, _VCEK, allow_stale=False)

    def fetch_cert_chain(self, product: str, kind: CertKind = "vcek") -> Fetched:
        """The PEM chain ASK+ARK (``vcek``) or ASVK+ARK (``vlek``) of ``product``."""
        key = cert_chain_url_path(product, kind)
        signer = "ASK" if kind == "vcek" else "ASVK"
        what = f"the {kds_product(product)} {signer}+ARK certificate chain"
        return self._obtain(key, what, _CHAIN, allow_stale=False)

    def fetch_crl(
        self, product: str, kind: CertKind = "vcek", *, allow_stale: bool = False
    ) -> Fetched:
        """The DER CRL of ``product``'s ``kind`` hierarchy, cached until its nextUpdate.

        When the CRL cannot be fetched and only a copy past its nextUpdate is at hand, that
        copy is returned with ``source=Source.STALE_CACHE`` if ``allow_stale``; otherwise
        ``CollateralUnavailableError`` is raised. The caller decides which it wants.
        """
        key = crl_url_path(product, kind)
        what = f"the {kds_product(product)} {kind.upper()} CRL"
        return self._obtain(key, what, _CRL, allow_stale=allow_stale)

    def fetch(self, request: KdsRequest) -> Fetched:
        """Fetch whatever ``request`` names (CRLs: fresh only)."""
        if isinstance(request, VcekRequest):
            return self.fetch_vcek(request.product, request.hwid, request.tcb)
        if isinstance(request, CertChainRequest):
            return self.fetch_cert_chain(request.product, request.kind)
        return self.fetch_crl(request.product, request.kind)

    def export_for(self, requests: Iterable[KdsRequest]) -> list[BundleEntry]:
        """Bundle entries for everything ``requests`` name, fetched as usual (no stale CRLs)."""
        entries: dict[str, BundleEntry] = {}
        for request in requests:
            fetched = self.fetch(request)
            entries[fetched.key] = fetched.to_bundle_entry()
        return list(entries.values())

    # -- internals -------------------------------------------------------------------------

    def _obtain(self, key: str, what: str, kind: _Kind, *, allow_stale: bool) -> Fetched:
        return self._lookup(key, self.base_url + key, what, kind, allow_stale=allow_stale)


# --------------------------------------------------------------------------- local documents


def vcek_bundle_entry(cert: Certificate, *, fetched_at: datetime) -> BundleEntry:
    """The bundle entry of a VCEK from a local file, filed where KDS serves it.

    The key comes from the certificate's own productName, hwID and SPL extensions, so it is the
    entry a report of that chip at that TCB looks up. The VCEK must chain to AMD's pinned ASK
    and ARK (``ChainError`` otherwise); its validity is checked at verification time.
    """
    from .chain import AmdChain
    from .extensions import AmdExtensions
    from .roles import AmdCertRole, amd_cert_role
    from .roots import pinned_ark

    if amd_cert_role(cert) is not AmdCertRole.VCEK:
        raise MalformedInputError(f"'{cert.display_name}' is not a VCEK", component=COMPONENT)
    extensions = AmdExtensions.from_certificate(cert)
    product = extensions.product
    assert extensions.hwid is not None  # required for VCEKs by AmdExtensions
    chain = AmdChain.assemble(
        cert, AmdCertRole.VCEK, product, intermediate=None, ark=pinned_ark(product)
    )
    chain.verify()
    key = vcek_url_path(product.value, extensions.hwid, extensions.tcb_components())
    return _kds_entry(key, cert.der, fetched_at=fetched_at, expires_at=None)


def crl_product(crl: Crl) -> ProductLine:
    """The product line of an AMD CRL, from its issuer (``ARK-<product>``)."""
    issuer = crl.issuer.common_name or ""
    if not issuer.startswith("ARK-"):
        raise ChainError(
            f"the CRL is issued by {issuer or crl.issuer!s}, not by an AMD ARK",
            component="crl",
            hint="use AMD's CRL of the product line (KDS: /vcek/v1/<product>/crl)",
        )
    return ProductLine.parse(issuer.removeprefix("ARK-"))


def crl_bundle_entry(crl: Crl, kind: CertKind, *, fetched_at: datetime) -> BundleEntry:
    """The bundle entry of an AMD CRL from a local file, filed as ``kind``'s CRL of its product.

    The CRL must be signed by the pinned ARK of the product line its issuer names.
    """
    from .chain import verify_crl_signature
    from .roots import pinned_ark

    product = crl_product(crl)
    verify_crl_signature(crl, pinned_ark(product))
    expires_at = crl.next_update or fetched_at + CRL_TTL_WITHOUT_NEXT_UPDATE
    key = crl_url_path(product.value, kind)
    return _kds_entry(key, crl.der, fetched_at=fetched_at, expires_at=expires_at)


def _kds_entry(
    key: str, data: bytes, *, fetched_at: datetime, expires_at: datetime | None
) -> BundleEntry:
    from ..collateral.bundle import BundleEntry

    return BundleEntry.from_cache_entry(
        CacheEntry(NAMESPACE, key, data, None, fetched_at, expires_at)
    )
