"""Intel PCS / PCCS client for TDX collateral: TCB info, TD_QE identity, PCK CRL, Root CA CRL.

URLs follow Intel's "Provisioning Certification Service for ECDSA Attestation" API v4 (a PCCS
serves the same paths):

* ``/tdx/certification/v4/tcb?fmspc=<HEX>`` — ``{"tcbInfo":{...},"signature":"..."}``, issuer
  chain in the ``TCB-Info-Issuer-Chain`` header (``SGX-TCB-Info-Issuer-Chain`` from PCCS/v3);
* ``/tdx/certification/v4/qe/identity`` — ``{"enclaveIdentity":{...},"signature":"..."}``,
  chain in ``SGX-Enclave-Identity-Issuer-Chain``;
* ``/sgx/certification/v4/pckcrl?ca=platform|processor&encoding=der`` — the PCK CA's CRL, chain
  in ``SGX-PCK-CRL-Issuer-Chain``;
* the Intel SGX Root CA CRL: ``https://certificates.trustedservices.intel.com/IntelSGXRootCA.der``
  for Intel PCS, ``/sgx/certification/v4/rootcacrl`` (often hex text) for a PCCS.

Issuer chains are URL-encoded PEM. Every document is stored (cache and bundle, namespace
``pcs``, key = the PCS path above) as one small JSON envelope holding the body exactly as served
— so Intel's signature over the inner JSON still verifies — and its decoded issuer chain::

    {"format": "cairn-pcs-response", "version": 1, "issuer_chain": "-----BEGIN…" | null,
     "body_b64": "..."}

CRLs are stored as DER whatever encoding was served. Entries expire at the document's
``nextUpdate``. Sources are tried as for every collateral client
(:mod:`cairn_verifier.collateral.lookup`): offline bundle, fresh cache entry, network (unless
offline), then — only when the caller allows it — a copy past its ``nextUpdate``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Literal, NamedTuple
from urllib.parse import urlsplit

from ..collateral.cache import CacheEntry, CollateralCache
from ..collateral.lookup import Advice, CollateralClient, Found, Service
from ..collateral.lookup import CorruptError as _CorruptError
from ..documents import parse_json
from ..errors import CairnError, CollateralUnavailableError, MalformedInputError
from ..records import Record
from .pck import PLATFORM_CA_CN, PROCESSOR_CA_CN

# The bundle's models (pydantic) load only where a bundle is read or made, Intel's documents
# where one is read: building a client (e.g. for `cairn verify snp`, which needs none) is cheap.
if TYPE_CHECKING:
    from ..collateral.bundle import BundleEntry, CollateralBundle
    from ..collateral.http import FetchedResponse, HttpFetcher
    from .collateral import TdxCollateral

PCS_BASE_URL = "https://api.trustedservices.intel.com"
INTEL_ROOT_CA_CRL_URL = "https://certificates.trustedservices.intel.com/IntelSGXRootCA.der"
NAMESPACE = "pcs"
COMPONENT = "pcs"
CRL_TTL_WITHOUT_NEXT_UPDATE = timedelta(days=1)
ENVELOPE_FORMAT = "cairn-pcs-response"
ENVELOPE_VERSION = 1

QE_IDENTITY_PATH = "/tdx/certification/v4/qe/identity"
ROOT_CA_CRL_PATH = "/sgx/certification/v4/rootcacrl"
TCB_INFO_CHAIN_HEADERS = ("TCB-Info-Issuer-Chain", "SGX-TCB-Info-Issuer-Chain")
QE_IDENTITY_CHAIN_HEADERS = ("SGX-Enclave-Identity-Issuer-Chain",)
PCK_CRL_CHAIN_HEADERS = ("SGX-PCK-CRL-Issuer-Chain",)
ROOT_CA_CN = "Intel SGX Root CA"

CORRUPT_HINT = (
    "check that the base URL is Intel PCS or a PCCS serving the v4 API; retry later, "
    "or supply the collateral from local files"
)
# Library default; the CLI words its own for each command's options (cli/context.py).
DEFAULT_ADVICE = Advice(
    offline="supply the collateral from local files (dcap-qvl JSON, PCS responses or a "
    "collateral bundle), or allow network access",
    stale="supply current collateral, or verify as of a time before it expired",
    unreachable="or supply the collateral from local files (dcap-qvl JSON, PCS responses or a "
    "collateral bundle), or use a reachable PCCS",
    unavailable="or supply the collateral from local files",
)
TCB_NOT_FOUND_HINT = (
    "the FMSPC comes from the quote's PCK certificate: check that the quote is a genuine TDX "
    "quote; a PCCS only knows FMSPCs it has cached"
)
_SERVICE_HOSTS = frozenset({"api.trustedservices.intel.com"})
_SERVICE_SUFFIXES = ("/sgx/certification/v4", "/tdx/certification/v4")

PckCa = Literal["platform", "processor"]


class PcsResponse(NamedTuple):
    """One PCS answer: the body exactly as served (CRLs as DER) and its decoded issuer chain."""

    body: bytes
    issuer_chain: bytes | None


_UTC_NOW: Callable[[], datetime] = partial(datetime.now, UTC)
_CA_CNS: dict[str, str] = {"platform": PLATFORM_CA_CN, "processor": PROCESSOR_CA_CN}


# --------------------------------------------------------------------------- paths


def _check_fmspc(fmspc: bytes) -> bytes:
    if len(fmspc) != 6:
        raise MalformedInputError(
            f"FMSPC must be 6 bytes, got {len(fmspc)}",
            component=COMPONENT,
            hint="the FMSPC is read from the SGX extension of the quote's PCK certificate",
        )
    return bytes(fmspc)


def check_pck_ca(ca: str) -> PckCa:
    """``ca`` if it names a PCK CA ("platform" or "processor"), else ``MalformedInputError``."""
    if ca == "platform":
        return "platform"
    if ca == "processor":
        return "processor"
    raise MalformedInputError(
        f"unknown PCK CA {ca!r}; expected 'platform' or 'processor'",
        component=COMPONENT,
        hint="derive it from the PCK certificate's issuer (tdx.pck.pck_ca_kind)",
    )


def tcb_info_path(fmspc: bytes) -> str:
    """The PCS path and query of the TDX TCB info of ``fmspc`` (upper-case hex, as Intel)."""
    return f"/tdx/certification/v4/tcb?fmspc={_check_fmspc(fmspc).hex().upper()}"


def pck_crl_path(ca: str) -> str:
    """The PCS path and query of the DER CRL of the PCK ``ca`` ("platform" or "processor")."""
    return f"/sgx/certification/v4/pckcrl?ca={check_pck_ca(ca)}&encoding=der"


def service_base_url(base_url: str) -> str:
    """``base_url`` without a trailing slash or ``/sgx|tdx/certification/v4`` suffix."""
    base = base_url.strip().rstrip("/")
    for suffix in _SERVICE_SUFFIXES:
        if base.endswith(suffix):
            base = base[: -len(suffix)]
    if urlsplit(base).scheme not in ("http", "https"):
        raise MalformedInputError(
            f"PCS base URL {base_url!r} is not an http(s) URL", component=COMPONENT
        )
    return base


def default_root_ca_crl_url(base_url: str) -> str:
    """Intel's Root CA CRL URL for Intel PCS; the PCCS ``rootcacrl`` path for anything else."""
    base = service_base_url(base_url)
    if (urlsplit(base).hostname or "").lower() in _SERVICE_HOSTS:
        return INTEL_ROOT_CA_CRL_URL
    return base + ROOT_CA_CRL_PATH


# --------------------------------------------------------------------------- envelope


def encode_envelope(body: bytes, issuer_chain: bytes | None) -> bytes:
    """The stored form of one PCS answer: body (exact bytes) plus its decoded issuer chain."""
    return json.dumps(
        {
            "format": ENVELOPE_FORMAT,
            "version": ENVELOPE_VERSION,
            "issuer_chain": None if issuer_chain is None else issuer_chain.decode("utf-8"),
            "body_b64": base64.b64encode(body).decode("ascii"),
        },
        separators=(",", ":"),
        sort_keys=True,
    ).encode("utf-8")


def decode_envelope(data: bytes) -> tuple[bytes, bytes | None]:
    """(body, issuer chain) of a stored PCS answer; ``_CorruptError`` if it is not one."""
    try:
        doc = parse_json(data, "PCS response envelope")  # bounded: depth, 64-bit integers
    except MalformedInputError as exc:
        raise _CorruptError(f"not a PCS response envelope ({exc.message})") from None
    if not isinstance(doc, dict) or set(doc) != {"format", "version", "issuer_chain", "body_b64"}:
        raise _CorruptError("not a PCS response envelope (wrong members)")
    if doc["format"] != ENVELOPE_FORMAT or doc["version"] != ENVELOPE_VERSION:
        raise _CorruptError("unknown PCS response envelope format or version")
    chain, body_b64 = doc["issuer_chain"], doc["body_b64"]
    if chain is not None and not isinstance(chain, str):
        raise _CorruptError("issuer_chain is not a string")
    if not isinstance(body_b64, str):
        raise _CorruptError("body_b64 is not a string")
    try:
        body = base64.b64decode(body_b64, validate=True)
        chain_bytes = None if chain is None else chain.encode("utf-8")
    except (binascii.Error, ValueError) as exc:
        raise _CorruptError(f"bad envelope field ({exc})") from None
    return body, chain_bytes


# --------------------------------------------------------------------------- document kinds


class _Kind(Record):
    """How to read, check and date one kind of PCS document."""

    label: str
    chain_headers: tuple[str, ...]
    normalize: Callable[[bytes], bytes]
    check: Callable[[bytes, bytes | None], datetime | None]  # -> nextUpdate
    not_found_hint: str

    __slots__ = ("chain_headers", "check", "label", "normalize", "not_found_hint")

    def __init__(
        self,
        label: str,
        chain_headers: tuple[str, ...],
        normalize: Callable[[bytes], bytes],
        check: Callable[[bytes, bytes | None], datetime | None],
        not_found_hint: str = CORRUPT_HINT,
    ) -> None:
        object.__setattr__(self, "label", label)
        object.__setattr__(self, "chain_headers", chain_headers)
        object.__setattr__(self, "normalize", normalize)
        object.__setattr__(self, "check", check)
        object.__setattr__(self, "not_found_hint", not_found_hint)

    def decode(self, data: bytes) -> PcsResponse:
        """(body, chain) of a stored envelope; ``_CorruptError`` unless it holds a valid one."""
        body, chain = decode_envelope(data)
        self.check(body, chain)
        return PcsResponse(body, chain)

    def read(self, response: FetchedResponse, now: datetime) -> tuple[PcsResponse, datetime | None]:
        """(body, chain) of a served answer and when it expires."""
        chain = self._issuer_chain(response)
        body = self.normalize(response.body)
        next_update = self.check(body, chain)
        return PcsResponse(body, chain), next_update or now + CRL_TTL_WITHOUT_NEXT_UPDATE

    @staticmethod
    def encode(value: PcsResponse) -> bytes:
        return encode_envelope(*value)

    def _issuer_chain(self, response: FetchedResponse) -> bytes | None:
        """The decoded issuer chain header of ``response`` (None for documents without one)."""
        if not self.chain_headers:
            return None
        for name in self.chain_headers:
            value = response.header(name)
            if value is not None:
                from .signed_json import decode_issuer_chain_header

                try:
                    return decode_issuer_chain_header(value)
                except CairnError as exc:
                    raise _CorruptError(f"{name} header: {exc.message}") from None
        raise _CorruptError(
            "the answer has no " + " or ".join(self.chain_headers) + " header (issuer chain)"
        )


def _as_json_body(body: bytes) -> bytes:
    return body


def _as_der_crl(body: bytes) -> bytes:
    from .collateral import crl_to_der

    try:
        return crl_to_der(body, "CRL")
    except CairnError as exc:
        raise _CorruptError(exc.message) from None


def _check_chain(chain: bytes | None, kind_label: str) -> None:
    if chain is None:
        raise _CorruptError(f"no issuer chain for the {kind_label}")
    from cryptography import x509

    try:
        certs = x509.load_pem_x509_certificates(chain)
    except ValueError as exc:
        raise _CorruptError(f"issuer chain is not PEM certificates ({exc})") from None
    if not certs:
        raise _CorruptError("issuer chain holds no certificate")


def _check_tcb_info(fmspc: bytes, body: bytes, chain: bytes | None) -> datetime:
    _check_chain(chain, "TCB info")
    from .collateral import load_pcs_tcb_info

    try:
        info = load_pcs_tcb_info(body, chain).parsed
    except CairnError as exc:
        raise _CorruptError(str(exc)) from None
    if info.fmspc != fmspc:
        raise _CorruptError(
            f"TCB info is for FMSPC {info.fmspc.hex().upper()}, not {fmspc.hex().upper()}"
        )
    return info.next_update


def _check_qe_identity(body: bytes, chain: bytes | None) -> datetime:
    _check_chain(chain, "QE identity")
    from .collateral import load_pcs_qe_identity

    try:
        return load_pcs_qe_identity(body, chain).parsed.next_update
    except CairnError as exc:
        raise _CorruptError(str(exc)) from None


def _check_crl(
    issuer_cn: str, needs_chain: bool, body: bytes, chain: bytes | None
) -> datetime | None:
    if needs_chain:
        _check_chain(chain, "CRL")
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    try:
        crl = x509.load_der_x509_crl(body)
        names = crl.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)
    except ValueError as exc:
        raise _CorruptError(f"not a DER CRL ({exc})") from None
    found = str(names[0].value) if names else None
    if found != issuer_cn:
        raise _CorruptError(f"CRL issued by {found!r}, expected {issuer_cn!r}")
    return crl.next_update_utc


def _tcb_info_kind(fmspc: bytes) -> _Kind:
    return _Kind(
        "TCB info",
        TCB_INFO_CHAIN_HEADERS,
        _as_json_body,
        partial(_check_tcb_info, fmspc),
        TCB_NOT_FOUND_HINT,
    )


_QE_IDENTITY = _Kind("QE identity", QE_IDENTITY_CHAIN_HEADERS, _as_json_body, _check_qe_identity)
_ROOT_CA_CRL = _Kind("Root CA CRL", (), _as_der_crl, partial(_check_crl, ROOT_CA_CN, False))


def _pck_crl_kind(ca: PckCa) -> _Kind:
    return _Kind(
        "PCK CRL", PCK_CRL_CHAIN_HEADERS, _as_der_crl, partial(_check_crl, _CA_CNS[ca], True)
    )


# --------------------------------------------------------------------------- results


#: What the client returns: one answer, where it came from and how long it is valid.
PcsDocument = Found[PcsResponse]


# --------------------------------------------------------------------------- client


class PcsClient(CollateralClient):
    """Fetches TDX collateral from a bundle, the cache or Intel PCS / a PCCS, in that order."""

    _service = Service(
        namespace=NAMESPACE,
        component=COMPONENT,
        advice=DEFAULT_ADVICE,
        unusable_message="{url} returned an unusable {label} for {what} (twice): {reason}",
        unusable_hint=CORRUPT_HINT,
        rate_limit_hint="Intel PCS (or the PCCS) is rate-limiting this client: retry later",
    )

    def __init__(
        self,
        fetcher: HttpFetcher | None = None,
        cache: CollateralCache | None = None,
        *,
        base_url: str = PCS_BASE_URL,
        root_ca_crl_url: str | None = None,
        offline: bool = False,
        bundle: CollateralBundle | None = None,
        clock: Callable[[], datetime] = _UTC_NOW,
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
        self.base_url = service_base_url(base_url)
        self.root_ca_crl_url = root_ca_crl_url or default_root_ca_crl_url(self.base_url)

    def fetch_tcb_info(self, fmspc: bytes, *, allow_stale: bool = False) -> PcsDocument:
        """The TDX TCB info of ``fmspc`` and its issuer chain, cached until its nextUpdate."""
        key = tcb_info_path(fmspc)
        what = f"the TDX TCB info for FMSPC {bytes(fmspc).hex().upper()}"
        return self._obtain(
            key, self.base_url + key, what, _tcb_info_kind(bytes(fmspc)), allow_stale
        )

    def fetch_qe_identity(self, *, allow_stale: bool = False) -> PcsDocument:
        """The TD_QE identity and its issuer chain, cached until its nextUpdate."""
        url = self.base_url + QE_IDENTITY_PATH
        return self._obtain(QE_IDENTITY_PATH, url, "the TD_QE identity", _QE_IDENTITY, allow_stale)

    def fetch_pck_crl(self, ca: str, *, allow_stale: bool = False) -> PcsDocument:
        """The DER CRL of the PCK ``ca`` and its issuer chain, cached until its nextUpdate."""
        kind = check_pck_ca(ca)
        key = pck_crl_path(kind)
        what = f"the PCK {kind.capitalize()} CA CRL"
        return self._obtain(key, self.base_url + key, what, _pck_crl_kind(kind), allow_stale)

    def fetch_root_ca_crl(self, *, allow_stale: bool = False) -> PcsDocument:
        """The DER CRL of the Intel SGX Root CA (no issuer chain), cached until its nextUpdate."""
        return self._obtain(
            ROOT_CA_CRL_PATH,
            self.root_ca_crl_url,
            "the Intel SGX Root CA CRL",
            _ROOT_CA_CRL,
            allow_stale,
        )

    def fetch_collateral(
        self, fmspc: bytes, ca: str, *, allow_stale: bool = False
    ) -> TdxCollateral:
        """Everything needed to appraise a quote whose PCK has ``fmspc`` and was issued by ``ca``.

        ``source`` says where each piece came from, e.g. ``"pcs (TCB info: network, …)"``. A CRL
        that supplied collateral (a bundle) lacks, and that cannot be fetched either, is None
        with the reason in ``missing_crls``: the pipeline fails revocation then, unless the
        policy allows incomplete collateral. Without a bundle it is an error, as before.
        """
        from .collateral import TdxCollateral, load_pcs_qe_identity, load_pcs_tcb_info

        tcb = self.fetch_tcb_info(fmspc, allow_stale=allow_stale)
        qe = self.fetch_qe_identity(allow_stale=allow_stale)
        missing: dict[str, str] = {}
        pck = self._crl_if_supplied(
            "PCK CRL", partial(self.fetch_pck_crl, ca, allow_stale=allow_stale), missing
        )
        root = self._crl_if_supplied(
            "Root CA CRL", partial(self.fetch_root_ca_crl, allow_stale=allow_stale), missing
        )
        pieces = {"TCB info": tcb, "QE identity": qe, "PCK CRL": pck, "Root CA CRL": root}
        where = ", ".join(
            f"{label}: {doc.source.value if doc is not None else 'missing'}"
            for label, doc in pieces.items()
        )
        return TdxCollateral(
            tcb_info=load_pcs_tcb_info(*tcb.value),
            qe_identity=load_pcs_qe_identity(*qe.value),
            pck_crl=None if pck is None else pck.value.body,
            pck_crl_issuer_chain=None if pck is None else pck.value.issuer_chain,
            root_ca_crl=None if root is None else root.value.body,
            source=f"pcs ({where})",
            missing_crls=tuple(missing.items()),
        )

    def export_for(self, fmspc_ca_pairs: Iterable[tuple[bytes, str]]) -> list[BundleEntry]:
        """Bundle entries for the collateral of each ``(fmspc, ca)`` (fresh documents only)."""
        return [doc.to_bundle_entry() for doc in self.documents_for(fmspc_ca_pairs)]

    def documents_for(
        self,
        fmspc_ca_pairs: Iterable[tuple[bytes, str]],
        missing: dict[str, str] | None = None,
    ) -> list[PcsDocument]:
        """Every document the collateral of each ``(fmspc, ca)`` needs, once each (fresh only).

        With ``missing`` given, a CRL that a supplied bundle lacks (and that cannot be fetched)
        is left out and named there with the reason, as :meth:`fetch_collateral` does."""
        documents: dict[str, PcsDocument] = {}

        def crl(label: str, fetch: Callable[[], PcsDocument]) -> None:
            if missing is None:
                found: PcsDocument | None = fetch()
            else:
                found = self._crl_if_supplied(label, fetch, missing)
            if found is not None:
                documents[found.key] = found

        for fmspc, ca in fmspc_ca_pairs:
            tcb = self.fetch_tcb_info(fmspc)
            documents[tcb.key] = tcb
            crl(f"PCK {check_pck_ca(ca).capitalize()} CA CRL", partial(self.fetch_pck_crl, ca))
            if QE_IDENTITY_PATH not in documents:
                documents[QE_IDENTITY_PATH] = self.fetch_qe_identity()
                crl("Root CA CRL", self.fetch_root_ca_crl)
        return list(documents.values())

    def _crl_if_supplied(
        self, label: str, fetch: Callable[[], PcsDocument], missing: dict[str, str]
    ) -> PcsDocument | None:
        """``fetch()``; when it fails and collateral was supplied (a bundle), None with the reason
        in ``missing[label]`` — supplied collateral without a CRL is the policy's to judge."""
        try:
            return fetch()
        except CollateralUnavailableError as error:
            if self.bundle is None:
                raise
            missing[label] = error.message
            return None

    # -- internals -------------------------------------------------------------------------

    def _obtain(self, key: str, url: str, what: str, kind: _Kind, allow_stale: bool) -> PcsDocument:
        return self._lookup(key, url, what, kind, allow_stale=allow_stale)


# --------------------------------------------------------------------------- local documents


_CHAIN_FILES = {
    "TCB info": "tcb_info_issuer_chain.pem",
    "QE identity": "qe_identity_issuer_chain.pem",
    "PCK CRL": "pck_crl_issuer_chain.pem",
}


def _crl_ca(der_crl: bytes) -> PckCa:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    try:
        names = x509.load_der_x509_crl(der_crl).issuer.get_attributes_for_oid(NameOID.COMMON_NAME)
    except ValueError as exc:
        raise MalformedInputError(
            f"the PCK CRL is not a DER CRL ({exc})", component=COMPONENT
        ) from None
    issuer = str(names[0].value) if names else None
    for ca, cn in _CA_CNS.items():
        if issuer == cn:
            return check_pck_ca(ca)
    raise MalformedInputError(
        f"the PCK CRL is issued by {issuer!r}, not by an Intel SGX PCK Platform/Processor CA",
        component=COMPONENT,
    )


def collateral_bundle_entries(
    collateral: TdxCollateral, *, fetched_at: datetime
) -> tuple[list[BundleEntry], list[str]]:
    """Bundle entries for collateral read from local files, filed where Intel PCS serves them.

    Returns the entries and, for each piece that cannot be filed, why (e.g. a PCK CRL without
    its issuer chain). Each entry is read back as the verifier will read it, so a bundle never
    holds what ``cairn verify`` would call corrupt (``MalformedInputError`` instead).
    """
    from ..collateral.bundle import BundleEntry
    from .signed_json import pcs_response_body

    tcb, qe = collateral.tcb_info, collateral.qe_identity
    fmspc = tcb.parsed.fmspc
    pieces: list[tuple[str, _Kind, PcsResponse]] = [
        (
            tcb_info_path(fmspc),
            _tcb_info_kind(fmspc),
            PcsResponse(
                pcs_response_body("tcbInfo", tcb.signed.body, tcb.signed.signature),
                tcb.issuer_chain,
            ),
        ),
        (
            QE_IDENTITY_PATH,
            _QE_IDENTITY,
            PcsResponse(
                pcs_response_body("enclaveIdentity", qe.signed.body, qe.signed.signature),
                qe.issuer_chain,
            ),
        ),
    ]
    skipped: list[str] = []
    if collateral.pck_crl is None:
        skipped.append("PCK CRL: not in the collateral")
    elif collateral.pck_crl_issuer_chain is None:
        skipped.append("PCK CRL: its issuer chain (pck_crl_issuer_chain) is missing")
    else:
        ca = _crl_ca(collateral.pck_crl)
        pieces.append(
            (
                pck_crl_path(ca),
                _pck_crl_kind(ca),
                PcsResponse(collateral.pck_crl, collateral.pck_crl_issuer_chain),
            )
        )
    if collateral.root_ca_crl is None:
        skipped.append("Root CA CRL: not in the collateral")
    else:
        pieces.append((ROOT_CA_CRL_PATH, _ROOT_CA_CRL, PcsResponse(collateral.root_ca_crl, None)))

    entries = []
    for key, kind, (body, chain) in pieces:
        if kind.chain_headers and chain is None:
            raise MalformedInputError(
                f"the {kind.label} has no issuer chain, so it cannot be bundled",
                component=COMPONENT,
                hint=f"Intel PCS sends it in the {kind.chain_headers[0]} header: save it with the "
                "document (in a directory of PCS responses: " + _CHAIN_FILES[kind.label] + ")",
            )
        try:
            next_update = kind.check(body, chain)
        except _CorruptError as exc:
            raise MalformedInputError(
                f"the {kind.label} cannot be bundled: {exc}", component=COMPONENT
            ) from None
        expires_at = next_update or fetched_at + CRL_TTL_WITHOUT_NEXT_UPDATE
        stored = encode_envelope(body, chain)
        entries.append(
            BundleEntry.from_cache_entry(
                CacheEntry(NAMESPACE, key, stored, None, fetched_at, expires_at)
            )
        )
    return entries, skipped
