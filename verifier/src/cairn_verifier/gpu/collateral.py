"""NVIDIA collateral: RIMs from NVIDIA's RIM service, OCSP answers, stored CRLs.

Looked up like every collateral (:mod:`cairn_verifier.collateral.lookup`): a bundle, the cache,
then the network unless offline; the same fetcher (retries, back-off, ``Retry-After``), cache
and bundle format as AMD KDS and Intel PCS. Namespaces and keys:

* ``nvidia-rim``, key ``<RIM id>/sha384:<digest of the XML>``: the RIM document exactly as
  NVIDIA signed it, filed by content hash (NVIDIA has re-signed RIMs under the same id) with the
  time it was fetched, which is the time its signer chain is verified at; it never expires (the
  policy's ``rim_max_age_days`` bounds how old it may be). Several entries for one id: the most
  recently fetched one is used. The service answers ``GET /v1/rim/<id>`` with
  ``{"id", "rim": base64 of the XML, …}``.
* ``nvidia-ocsp``, key ``sha384/<issuer key hash>/<serial hex>`` (the CertID): a DER OCSP
  response, expiring at its ``nextUpdate`` but usable later (its age is the policy's
  ``ocsp_max_age_hours``). Fetched with RFC 6960's GET form (no nonce, so answers cache).
* ``nvidia-crl``, key ``<SHA-256 of the issuer name DER>``: a DER CRL from a local file
  (``--crl``); Cairn does not fetch CRLs (OCSP is the online path).

Nothing looked up here is trusted: :mod:`.verify` checks every signature and chain.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Final

from cryptography.x509 import ocsp as crypto_ocsp

from ..collateral.bundle import BundleEntry, CollateralBundle
from ..collateral.cache import CacheEntry, CollateralCache
from ..collateral.http import FetchedResponse, HttpFetcher
from ..collateral.lookup import Advice, CollateralClient, Found, Service, Source, found_entry
from ..collateral.lookup import CorruptError as _CorruptError
from ..documents import parse_json
from ..errors import CairnError, MalformedInputError
from ..x509.cert import Certificate
from ..x509.crl import Crl, load_crl
from .ocsp import cert_id_key, get_url_path, load_response, ocsp_request
from .rim import load_rim

RIM_SERVICE_URL: Final = "https://rim.attestation.nvidia.com/v1/rim"
OCSP_SERVICE_URL: Final = "https://ocsp.ndis.nvidia.com"
RIM_NAMESPACE: Final = "nvidia-rim"
OCSP_NAMESPACE: Final = "nvidia-ocsp"
CRL_NAMESPACE: Final = "nvidia-crl"
COMPONENT: Final = "nvidia"

DEFAULT_ADVICE: Final = Advice(
    offline="supply the RIMs and OCSP responses in a collateral bundle (`cairn collateral "
    "export --gpu EVIDENCE` where NVIDIA's services are reachable) or as files, or allow network "
    "access",
    stale="supply a current OCSP response, or verify as of a time before it expired",
    unreachable="or supply the RIMs and OCSP responses in a collateral bundle",
    unavailable="or supply the RIMs and OCSP responses in a collateral bundle",
)


def rim_key(rim_id: str, xml: bytes) -> str:
    return f"{rim_id}/sha384:{hashlib.sha384(xml).hexdigest()}"


def crl_key(crl: Crl) -> str:
    return hashlib.sha256(crl.issuer.der).hexdigest()


@dataclass(frozen=True)
class _RimKind:
    """A RIM: stored as the XML itself; served inside the RIM service's JSON."""

    rim_id: str = ""
    label: str = "RIM"
    not_found_hint: str = (
        "NVIDIA publishes no RIM under this identifier: the driver or VBIOS may be too new, too "
        "old or not a production build"
    )

    def decode(self, data: bytes) -> bytes:
        try:
            load_rim(data)
        except CairnError as exc:
            raise _CorruptError(exc.message) from None
        return data

    def read(self, response: FetchedResponse, now: datetime) -> tuple[bytes, datetime | None]:
        try:
            doc = parse_json(response.body, "RIM service answer")
        except MalformedInputError as exc:
            raise _CorruptError(exc.message) from None
        if not isinstance(doc, dict) or not isinstance(doc.get("rim"), str):
            raise _CorruptError("the answer has no 'rim' member")
        if "id" in doc and doc["id"] != self.rim_id:
            raise _CorruptError(f"the answer is for RIM {doc['id']!r:.80}, not {self.rim_id}")
        try:
            xml = base64.b64decode(doc["rim"], validate=True)
        except (binascii.Error, ValueError):
            raise _CorruptError("the 'rim' member is not base64") from None
        return self.decode(xml), None

    @staticmethod
    def encode(value: bytes) -> bytes:
        return value


@dataclass(frozen=True)
class _OcspKind:
    """An OCSP response: stored as DER; expires at the single response's nextUpdate."""

    label: str = "OCSP response"
    not_found_hint: str = "NVIDIA's OCSP service does not know this certificate"

    def decode(self, data: bytes) -> bytes:
        try:
            load_response(data)
        except CairnError as exc:
            raise _CorruptError(exc.message) from None
        return data

    def read(self, response: FetchedResponse, now: datetime) -> tuple[bytes, datetime | None]:
        body = self.decode(response.body)
        return body, next_update(body)

    @staticmethod
    def encode(value: bytes) -> bytes:
        return value


def next_update(der: bytes) -> datetime | None:
    """The earliest nextUpdate of a response's single responses (None when it has none)."""
    response = crypto_ocsp.load_der_ocsp_response(der)
    times = [s.next_update_utc for s in response.responses if s.next_update_utc is not None]
    return min(times).astimezone(UTC) if times else None


RimFound = Found[bytes]


class NvidiaClient(CollateralClient):
    """A client of one of NVIDIA's services: its base URL and the lookup options."""

    default_url = RIM_SERVICE_URL

    def __init__(
        self,
        fetcher: HttpFetcher | None = None,
        cache: CollateralCache | None = None,
        *,
        base_url: str | None = None,
        offline: bool = False,
        bundle: CollateralBundle | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
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
        self.base_url = (base_url or self.default_url).rstrip("/")


class RimClient(NvidiaClient):
    """RIMs by identifier from a bundle, the cache or NVIDIA's RIM service."""

    _service = Service(
        namespace=RIM_NAMESPACE,
        component=COMPONENT,
        advice=DEFAULT_ADVICE,
        unusable_message="NVIDIA's RIM service returned an unusable {label} for {what} at "
        "{url} (twice): {reason}",
        unusable_hint="the RIM service may be failing: retry later, or supply the RIM from a "
        "local file or a collateral bundle",
    )

    def _stored(self, rim_id: str, kind: _RimKind) -> RimFound | None:
        """The most recently fetched copy in the bundle, else in the cache."""
        prefix = f"{rim_id}/"
        url = f"{self.base_url}/{rim_id}"
        if self.bundle is not None:
            entries = [
                e
                for e in self.bundle.entries
                if e.namespace == RIM_NAMESPACE and e.key.startswith(prefix)
            ]
            if entries:
                entry = max(entries, key=lambda e: (e.fetched_at, e.key))
                try:
                    value = kind.decode(entry.data)
                except _CorruptError as exc:
                    raise MalformedInputError(
                        f"the collateral bundle holds a corrupt RIM {entry.key}: {exc}",
                        component=COMPONENT,
                        hint="re-create the bundle with `cairn collateral export --gpu`",
                    ) from None
                return found_entry(value, entry.to_cache_entry(), Source.BUNDLE, url, kind)
        if self.cache is not None:
            cached = [e for e in self.cache.entries(RIM_NAMESPACE) if e.key.startswith(prefix)]
            for item in sorted(cached, key=lambda e: e.fetched_at, reverse=True):
                try:
                    value = kind.decode(item.data)
                except _CorruptError as exc:
                    self.cache.report(f"cached RIM {item.key} is corrupt; ignored: {exc}")
                    continue
                return found_entry(value, item, Source.CACHE, url, kind)
        return None

    def fetch_rim(self, rim_id: str) -> RimFound:
        """The RIM ``rim_id``; its ``fetched_at`` is the time its signer is verified at."""
        kind = _RimKind(rim_id=rim_id)
        url = f"{self.base_url}/{rim_id}"
        what = f"the RIM {rim_id}"
        stored = self._stored(rim_id, kind)
        if stored is not None:
            return stored
        if self.offline:
            raise self._offline_miss(url, what, None)
        now = self._clock()
        value, _ = self._download(url, what, kind, now)
        key = rim_key(rim_id, value)
        if self.cache is not None:
            self.cache.put(RIM_NAMESPACE, key, value, url=url, fetched_at=now, expires_at=None)
        return Found(value, Source.NETWORK, url, key, now, None, RIM_NAMESPACE, kind)


_OCSP = _OcspKind()


class OcspClient(NvidiaClient):
    """OCSP responses from a bundle, the cache or NVIDIA's OCSP service."""

    _service = Service(
        namespace=OCSP_NAMESPACE,
        component=COMPONENT,
        advice=DEFAULT_ADVICE,
        unusable_message="NVIDIA's OCSP service returned an unusable {label} for {what} at "
        "{url} (twice): {reason}",
        unusable_hint="the OCSP service may be failing: retry later, or supply the response "
        "in a collateral bundle",
    )

    default_url = OCSP_SERVICE_URL

    def fetch_ocsp(self, cert: Certificate, issuer: Certificate) -> Found[bytes]:
        """The response about ``cert``; a copy past its nextUpdate is returned too (the
        caller judges its age)."""
        key = cert_id_key(cert, issuer)
        url = self.base_url + get_url_path(ocsp_request(cert, issuer))
        what = f"the OCSP status of '{cert.display_name}'"
        return self._lookup(key, url, what, _OCSP, allow_stale=True)


def ocsp_bundle_entry(der: bytes, *, fetched_at: datetime) -> BundleEntry:
    """The bundle entry of an OCSP response from a local file, filed by its own CertID (which
    must be SHA-384, as NVIDIA's are)."""
    response = load_response(der)
    singles = list(response.responses)
    if len(singles) != 1 or singles[0].hash_algorithm.name != "sha384":
        raise MalformedInputError(
            "the OCSP response must hold one single response with a SHA-384 CertID",
            component=COMPONENT,
        )
    single = singles[0]
    key = f"sha384/{single.issuer_key_hash.hex()}/{single.serial_number:x}"
    return BundleEntry.from_cache_entry(
        CacheEntry(OCSP_NAMESPACE, key, der, None, fetched_at, next_update(der))
    )


def rim_bundle_entry(rim_id: str, xml: bytes, *, fetched_at: datetime) -> BundleEntry:
    """The bundle entry of a RIM from a local file, filed under ``rim_id``."""
    load_rim(xml)
    return BundleEntry.from_cache_entry(
        CacheEntry(RIM_NAMESPACE, rim_key(rim_id, xml), xml, None, fetched_at, None)
    )


def crl_bundle_entry(der: bytes, *, fetched_at: datetime) -> BundleEntry:
    crl = load_crl(der)
    return BundleEntry.from_cache_entry(
        CacheEntry(CRL_NAMESPACE, crl_key(crl), crl.der, None, fetched_at, crl.next_update)
    )


def bundled_crls(bundle: CollateralBundle | None) -> tuple[Crl, ...]:
    """The CRLs a bundle carries (the user's input: a corrupt one is malformed input)."""
    if bundle is None:
        return ()
    crls = []
    for entry in bundle.entries:
        if entry.namespace == CRL_NAMESPACE:
            crls.append(load_crl(entry.data))
    return tuple(crls)


def with_fetch_time(found: RimFound, fetched_at: datetime) -> RimFound:
    return replace(found, fetched_at=fetched_at)


def entries_of(found: Iterable[Found[bytes]]) -> list[BundleEntry]:
    return [item.to_bundle_entry() for item in found]
