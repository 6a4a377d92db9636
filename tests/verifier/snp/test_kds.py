"""AMD KDS client against a local fake KDS serving real AMD bytes from tests/vectors/snp."""

from __future__ import annotations

import re
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from fakes.http_server import Delay, Drop, RecordedServer, Reply

from cairn_verifier.collateral.bundle import BundleEntry, build_bundle, export_bundle, load_bundle
from cairn_verifier.collateral.cache import CollateralCache
from cairn_verifier.collateral.http import (
    CollateralNotFoundError,
    FailureKind,
    FetchError,
    HttpFetcher,
    RetryPolicy,
)
from cairn_verifier.collateral.lookup import Advice
from cairn_verifier.errors import (
    ChainError,
    CollateralUnavailableError,
    ExitCode,
    MalformedInputError,
)
from cairn_verifier.snp.kds import (
    CHAIN_TTL,
    DEFAULT_ADVICE,
    NAMESPACE,
    RATE_LIMIT_HINT,
    CertChainRequest,
    CrlRequest,
    KdsClient,
    Source,
    VcekRequest,
    cert_chain_url_path,
    crl_bundle_entry,
    crl_url_path,
    vcek_bundle_entry,
    vcek_url_path,
)
from cairn_verifier.x509.cert import load_certificates, parse_certificate
from cairn_verifier.x509.crl import parse_crl
from cairn_verifier.x509.der import parse_single

pytest_plugins = ["fakes.fixtures"]

AMD_TCB_OID = "1.3.6.1.4.1.3704.1.3."
AMD_HWID_OID = "1.3.6.1.4.1.3704.1.4"
# SPL extension number -> the tcb key the client takes and the KDS query parameter.
SPL_EXTENSIONS = {
    1: ("bootloader", "blSPL"),
    2: ("tee", "teeSPL"),
    3: ("snp", "snpSPL"),
    8: ("microcode", "ucodeSPL"),
    9: ("fmc", "fmcSPL"),
}
MILAN_CRL_NEXT_UPDATE = datetime(2026, 5, 12, tzinfo=UTC)  # `openssl crl -nextupdate`
BEFORE = MILAN_CRL_NEXT_UPDATE - timedelta(days=10)
AFTER = MILAN_CRL_NEXT_UPDATE + timedelta(days=1)


# -- real vectors ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def snp(testdata: Path) -> Path:
    return testdata / "snp"


@pytest.fixture(scope="module")
def report(snp: Path) -> bytes:
    return (snp / "go-sev-guest/attestation.bin").read_bytes()


@pytest.fixture(scope="module")
def chip_id(report: bytes) -> bytes:
    return report[0x1A0 : 0x1A0 + 64]


@pytest.fixture(scope="module")
def reported_tcb(report: bytes) -> dict[str, int]:
    raw = report[0x180 : 0x180 + 8]  # Milan layout: [0]=BL [1]=TEE [6]=SNP [7]=UCODE
    return {"bootloader": raw[0], "tee": raw[1], "snp": raw[6], "microcode": raw[7]}


@pytest.fixture(scope="module")
def vcek(snp: Path) -> bytes:
    return (snp / "go-sev-guest/vcek.testcer").read_bytes()


@pytest.fixture(scope="module")
def chain(snp: Path) -> bytes:
    return (snp / "go-sev-guest/milan.testcer").read_bytes()


@pytest.fixture(scope="module")
def milan_crl(snp: Path) -> bytes:
    text = (snp / "openpcc/sev_certificates.txt").read_text()
    match = re.search(r"^-- test_amd_milan_crl\.pem --\n(.*?)(?=^-- )", text, re.M | re.S)
    assert match, "Milan CRL section missing from the txtar"
    crl = x509.load_pem_x509_crl(match.group(1).encode())
    return crl.public_bytes(Encoding.DER)


def _vcek_extensions(cert_bytes: bytes) -> tuple[bytes, dict[int, int]]:
    """hwID and SPL extension values of an AMD VCEK (DER or the first PEM block)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # VCEK serial number 0
        if b"-----BEGIN CERTIFICATE-----" in cert_bytes:
            cert = x509.load_pem_x509_certificates(cert_bytes)[0]
        else:
            cert = x509.load_der_x509_certificate(cert_bytes)
    hwid = b""
    spls: dict[int, int] = {}
    for ext in cert.extensions:
        oid = ext.oid.dotted_string
        if oid == AMD_HWID_OID:
            hwid = ext.value.value
        elif oid.startswith(AMD_TCB_OID):
            spls[int(oid.rsplit(".", 1)[1])] = parse_single(ext.value.value).as_int()
    return hwid, spls


def _tcb_from_extensions(spls: dict[int, int]) -> dict[str, int]:
    return {SPL_EXTENSIONS[n][0]: v for n, v in spls.items() if n in SPL_EXTENSIONS}


def _query(path: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(path).query, strict_parsing=True).items()}


# -- URLs ------------------------------------------------------------------------------------


def test_milan_vcek_url_from_report_matches_the_vceks_own_extensions(chip_id, reported_tcb, vcek):
    path = vcek_url_path("Milan", chip_id, reported_tcb)
    hwid, spls = _vcek_extensions(vcek)
    assert urlsplit(path).path == f"/vcek/v1/Milan/{hwid.hex()}"
    assert len(hwid.hex()) == 128 and hwid == chip_id
    expected = {SPL_EXTENSIONS[n][1]: str(spls[n]) for n in (1, 2, 3, 8)}
    assert _query(path) == expected
    assert "fmcSPL" not in path
    # The go-sev-guest report: BL 2, TEE 0, SNP 5, UCODE 0x44.
    assert expected == {"blSPL": "2", "teeSPL": "0", "snpSPL": "5", "ucodeSPL": "68"}


def test_turin_vcek_url_matches_the_url_oak_downloaded(snp):
    header = (snp / "oak/turin_oc_endorsements.textproto").read_text()
    oak_url = re.search(r"https://kdsintf\.amd\.com(/vcek/v1/Turin/\S+)", header).group(1)
    hwid, spls = _vcek_extensions((snp / "routex-client-lua/vcek-chain-turin.pem").read_bytes())
    assert len(hwid) == 8
    tcb = _tcb_from_extensions(spls)
    ours = vcek_url_path("Turin", hwid, tcb)
    assert urlsplit(ours).path == urlsplit(oak_url).path == "/vcek/v1/Turin/3b42092f69c656d3"
    assert _query(ours) == _query(oak_url)
    assert set(_query(ours)) == {"fmcSPL", "blSPL", "teeSPL", "snpSPL", "ucodeSPL"}
    # The 64-byte CHIP_ID of a Turin report (8-byte ID, 56 zero bytes) gives the same URL.
    assert vcek_url_path("turin", hwid + bytes(56), tcb) == ours


def test_chain_and_crl_paths():
    assert cert_chain_url_path("Genoa") == "/vcek/v1/Genoa/cert_chain"
    assert cert_chain_url_path("Milan", "vlek") == "/vlek/v1/Milan/cert_chain"
    assert crl_url_path("Turin", "vcek") == "/vcek/v1/Turin/crl"
    assert crl_url_path("milan", "vlek") == "/vlek/v1/Milan/crl"


@pytest.mark.parametrize(
    ("product", "hwid", "tcb", "message"),
    [
        ("Rome", bytes(range(64)), {}, "unknown SEV-SNP product line"),
        ("Milan", bytes(range(8)), {}, "64"),
        ("Turin", bytes(range(16)), {}, "expected 8"),
        ("Turin", bytes(range(1, 65)), {}, "non-zero bytes after"),
        ("Milan", bytes(64), {}, "all zero"),
    ],
)
def test_bad_hwid_or_product_is_malformed_input(product, hwid, tcb, message):
    tcb = tcb or {"bootloader": 1, "tee": 0, "snp": 1, "microcode": 1, "fmc": 0}
    with pytest.raises(MalformedInputError, match=message) as info:
        vcek_url_path(product, hwid, tcb)
    assert info.value.exit_code is ExitCode.MALFORMED_INPUT


@pytest.mark.parametrize(
    ("product", "tcb", "message"),
    [
        ("Milan", {"bootloader": 1, "tee": 0, "snp": 1}, "'microcode' is missing"),
        ("Turin", {"bootloader": 1, "tee": 0, "snp": 1, "microcode": 1}, "'fmc' is missing"),
        ("Milan", {"bootloader": 256, "tee": 0, "snp": 1, "microcode": 1}, "between 0 and 255"),
        ("Milan", {"bootloader": -1, "tee": 0, "snp": 1, "microcode": 1}, "between 0 and 255"),
        ("Milan", {"bootloader": True, "tee": 0, "snp": 1, "microcode": 1}, "between 0 and 255"),
    ],
)
def test_bad_tcb_is_malformed_input(product, tcb, message):
    with pytest.raises(MalformedInputError, match=message):
        vcek_url_path(product, bytes(range(1, 65)) if product == "Milan" else b"\x01" * 8, tcb)


def test_unknown_kind_is_malformed_input():
    with pytest.raises(MalformedInputError, match="'vcek' or 'vlek'"):
        crl_url_path("Milan", "ark")


# -- client against the fake KDS ------------------------------------------------------------


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def fetcher():
    policy = RetryPolicy(attempts=3, base_delay=1.0)
    with HttpFetcher(timeout=2.0, policy=policy, sleep=lambda _s: None) as f:
        yield f


@pytest.fixture
def cache(tmp_path) -> CollateralCache:
    return CollateralCache(tmp_path / "cache")


@pytest.fixture
def clock() -> Clock:
    return Clock(BEFORE)


@pytest.fixture
def kds(recorded_server, fetcher, cache, clock) -> KdsClient:
    return KdsClient(fetcher, cache, base_url=recorded_server.base_url, clock=clock)


def test_vcek_miss_fetches_caches_forever_then_hits(
    recorded_server, kds, cache, clock, chip_id, reported_tcb, vcek
):
    path = vcek_url_path("Milan", chip_id, reported_tcb)
    recorded_server.script(path, Reply(200, vcek))
    first = kds.fetch_vcek("Milan", chip_id, reported_tcb)
    assert (first.value, first.source, first.url) == (
        vcek,
        Source.NETWORK,
        recorded_server.url(path),
    )
    assert first.expires_at is None and first.fetched_at == BEFORE
    assert recorded_server.count(path) == 1
    assert [r.target for r in recorded_server.requests] == [path]

    clock.now = BEFORE + timedelta(days=2000)  # VCEKs are immutable: still a hit years later
    second = kds.fetch_vcek("Milan", chip_id, reported_tcb)
    assert (second.value, second.source) == (vcek, Source.CACHE)
    assert recorded_server.count() == 1
    assert cache.get(NAMESPACE, path, at=clock.now).expires_at is None


def test_cache_hit_makes_no_request(recorded_server, kds, cache, chip_id, reported_tcb, vcek):
    path = vcek_url_path("Milan", chip_id, reported_tcb)
    url = "https://kdsintf.amd.com" + path
    cache.put(NAMESPACE, path, vcek, url=url, fetched_at=BEFORE, expires_at=None)
    fetched = kds.fetch_vcek("Milan", chip_id, reported_tcb)
    assert fetched.source is Source.CACHE and fetched.value == vcek
    assert fetched.url == url
    assert recorded_server.requests == []


def test_cert_chain_is_cached_for_chain_ttl(recorded_server, kds, clock, chain):
    path = "/vcek/v1/Milan/cert_chain"
    recorded_server.script(path, Reply(200, chain))
    fetched = kds.fetch_cert_chain("Milan")
    assert fetched.source is Source.NETWORK and fetched.value == chain
    assert fetched.expires_at == BEFORE + CHAIN_TTL
    clock.now = BEFORE + CHAIN_TTL - timedelta(seconds=1)
    assert kds.fetch_cert_chain("Milan").source is Source.CACHE
    clock.now = BEFORE + CHAIN_TTL
    assert kds.fetch_cert_chain("Milan").source is Source.NETWORK
    assert recorded_server.count(path) == 2


def test_crl_cached_until_next_update_then_refetched(recorded_server, kds, clock, milan_crl):
    path = "/vcek/v1/Milan/crl"
    recorded_server.script(path, Reply(200, milan_crl))
    first = kds.fetch_crl("Milan")
    assert first.source is Source.NETWORK and first.value == milan_crl
    assert first.expires_at == MILAN_CRL_NEXT_UPDATE
    assert kds.fetch_crl("Milan").source is Source.CACHE
    assert recorded_server.count(path) == 1
    clock.now = AFTER  # past nextUpdate: the cached CRL is stale and is fetched again
    again = kds.fetch_crl("Milan")
    assert again.source is Source.NETWORK and again.fetched_at == AFTER
    assert recorded_server.count(path) == 2


def test_outage_with_stale_crl_returns_it_only_when_allowed(
    recorded_server, kds, cache, clock, milan_crl
):
    path = "/vcek/v1/Milan/crl"
    cache.put(
        NAMESPACE, path, milan_crl, url=None, fetched_at=BEFORE, expires_at=MILAN_CRL_NEXT_UPDATE
    )
    recorded_server.script(path, Reply(503, b"down"))
    clock.now = AFTER
    stale = kds.fetch_crl("Milan", allow_stale=True)
    assert stale.source is Source.STALE_CACHE and stale.stale
    assert stale.value == milan_crl and stale.expires_at == MILAN_CRL_NEXT_UPDATE
    with pytest.raises(CollateralUnavailableError) as info:
        kds.fetch_crl("Milan")
    assert info.value.exit_code is ExitCode.COLLATERAL_UNAVAILABLE
    assert "HTTP 503" in info.value.message
    assert recorded_server.count(path) == 6  # 3 attempts per call


def test_outage_without_cache_is_exit_5_with_hint(recorded_server, fetcher, clock):
    recorded_server.script("/vcek/v1/Genoa/crl", Reply(503))
    kds = KdsClient(fetcher, None, base_url=recorded_server.base_url, clock=clock)
    with pytest.raises(CollateralUnavailableError) as info:
        kds.fetch_crl("Genoa", allow_stale=True)
    assert info.value.exit_code == 5
    assert recorded_server.url("/vcek/v1/Genoa/crl") in info.value.message
    assert "the Genoa VCEK CRL" in info.value.message
    # A failing service is not a rate limit: the hint says what is true for a 503.
    assert info.value.hint == "the service is failing: retry later; " + DEFAULT_ADVICE.unavailable


def test_rate_limit_hint_names_the_kds_rule(recorded_server, fetcher, clock):
    recorded_server.script("/vcek/v1/Genoa/crl", Reply(429, b"Too Many Requests"))
    kds = KdsClient(fetcher, None, base_url=recorded_server.base_url, clock=clock)
    with pytest.raises(FetchError) as info:
        kds.fetch_crl("Genoa")
    assert (info.value.kind, info.value.attempts) == (FailureKind.RATE_LIMITED, 3)
    assert info.value.hint == RATE_LIMIT_HINT + "; " + DEFAULT_ADVICE.unavailable
    assert "10 s" in info.value.hint


def test_unreachable_kds_fails_at_once_with_the_callers_advice(fetcher, clock):
    advice = Advice(offline="o", stale="s", unreachable="or use --offline", unavailable="u")
    kds = KdsClient(fetcher, None, base_url="http://cairn-test.invalid", clock=clock, advice=advice)
    with pytest.raises(FetchError) as info:
        kds.fetch_crl("Milan")
    err = info.value
    assert (err.kind, err.attempts, err.component) == (FailureKind.NAME_RESOLUTION, 1, "kds")
    assert "cannot resolve cairn-test.invalid" in err.message
    assert err.hint == "check the network connection and DNS; or use --offline"


def test_dropped_connections_then_success(recorded_server, kds, chain):
    recorded_server.script("/vlek/v1/Milan/cert_chain", Drop(), Reply(200, chain))
    fetched = kds.fetch_cert_chain("Milan", "vlek")
    assert fetched.source is Source.NETWORK and fetched.value == chain


def test_vcek_404_says_what_was_not_found(recorded_server, kds, chip_id, reported_tcb):
    with pytest.raises(CollateralNotFoundError) as info:
        kds.fetch_vcek("Milan", chip_id, reported_tcb)  # unscripted: the fake answers 404
    assert "the Milan VCEK was not found" in info.value.message
    assert info.value.exit_code == 5
    assert info.value.component == "kds" and "REPORTED_TCB" in info.value.hint


def test_corrupt_vcek_is_retried_once_and_never_cached(
    recorded_server, kds, cache, chip_id, reported_tcb, vcek
):
    path = vcek_url_path("Milan", chip_id, reported_tcb)
    recorded_server.script(path, Reply(200, vcek[:-1]))  # truncated DER
    with pytest.raises(CollateralUnavailableError) as info:
        kds.fetch_vcek("Milan", chip_id, reported_tcb)
    assert "KDS returned a corrupt certificate" in info.value.message
    assert recorded_server.count(path) == 2
    assert cache.get_stale(NAMESPACE, path) is None

    recorded_server.script(path, Reply(200, b"<html>rate limited</html>"), Reply(200, vcek))
    fetched = kds.fetch_vcek("Milan", chip_id, reported_tcb)
    assert fetched.value == vcek and recorded_server.count(path) == 4
    assert cache.get_stale(NAMESPACE, path).data == vcek


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("chain", "/vcek/v1/Milan/cert_chain", b"-----BEGIN CERTIFICATE-----\nAAAA\n"),
        ("crl", "/vcek/v1/Milan/crl", b"\x30\x03\x02\x01\x00"),
    ],
)
def test_corrupt_chain_or_crl_is_rejected(recorded_server, kds, cache, method, path, body):
    recorded_server.script(path, Reply(200, body))
    with pytest.raises(CollateralUnavailableError, match="KDS returned a corrupt"):
        kds.fetch_cert_chain("Milan") if method == "chain" else kds.fetch_crl("Milan")
    assert cache.get_stale(NAMESPACE, path) is None


def test_chain_with_only_one_certificate_is_corrupt(recorded_server, kds, chain):
    one = chain[: chain.index(b"-----END CERTIFICATE-----") + 26]
    recorded_server.script("/vcek/v1/Milan/cert_chain", Reply(200, one))
    with pytest.raises(CollateralUnavailableError, match="expected 2 certificates"):
        kds.fetch_cert_chain("Milan")


def test_corrupt_cache_content_is_a_reported_miss(recorded_server, kds, cache, chain):
    path = "/vcek/v1/Milan/cert_chain"
    cache.put(NAMESPACE, path, b"not pem", url=None, fetched_at=BEFORE, expires_at=None)
    recorded_server.script(path, Reply(200, chain))
    assert kds.fetch_cert_chain("Milan").source is Source.NETWORK
    assert any("corrupt" in p for p in cache.problems)
    assert kds.fetch_cert_chain("Milan").source is Source.CACHE


def test_offline_never_requests_and_a_miss_is_exit_5(
    recorded_server, fetcher, cache, chip_id, reported_tcb, vcek, clock
):
    path = vcek_url_path("Milan", chip_id, reported_tcb)
    recorded_server.script(path, Reply(200, vcek))
    kds = KdsClient(fetcher, cache, base_url=recorded_server.base_url, offline=True, clock=clock)
    with pytest.raises(CollateralUnavailableError) as info:
        kds.fetch_vcek("Milan", chip_id, reported_tcb)
    assert info.value.exit_code == 5
    assert info.value.message.startswith("the Milan VCEK is not in the cache, and offline mode")
    assert info.value.hint == DEFAULT_ADVICE.offline
    cache.put(NAMESPACE, path, vcek, url=None, fetched_at=BEFORE, expires_at=None)
    assert kds.fetch_vcek("Milan", chip_id, reported_tcb).source is Source.CACHE
    assert recorded_server.requests == []


def test_offline_with_only_a_stale_crl(cache, clock, milan_crl):
    cache.put(
        NAMESPACE,
        "/vcek/v1/Milan/crl",
        milan_crl,
        url=None,
        fetched_at=BEFORE,
        expires_at=MILAN_CRL_NEXT_UPDATE,
    )
    clock.now = AFTER
    kds = KdsClient(None, cache, offline=True, clock=clock)
    expired = r"the only copy of the Milan VCEK CRL \(in the cache\) expired at 2026-05-12"
    with pytest.raises(CollateralUnavailableError, match=expired) as info:
        kds.fetch_crl("Milan")
    assert info.value.hint == DEFAULT_ADVICE.stale
    assert kds.fetch_crl("Milan", allow_stale=True).source is Source.STALE_CACHE


def test_export_then_offline_verification_from_the_bundle(
    recorded_server, kds, tmp_path, fetcher, clock, chip_id, reported_tcb, vcek, chain, milan_crl
):
    vcek_path = vcek_url_path("Milan", chip_id, reported_tcb)
    recorded_server.script(vcek_path, Reply(200, vcek))
    recorded_server.script("/vcek/v1/Milan/cert_chain", Reply(200, chain))
    recorded_server.script("/vcek/v1/Milan/crl", Reply(200, milan_crl))
    requests = [
        VcekRequest("Milan", chip_id, reported_tcb),
        CertChainRequest("Milan"),
        CrlRequest("Milan"),
        CertChainRequest("Milan"),  # duplicates collapse
    ]
    entries = kds.export_for(requests)
    chain_path, crl_path = "/vcek/v1/Milan/cert_chain", "/vcek/v1/Milan/crl"
    assert [e.key for e in entries] == [vcek_path, chain_path, crl_path]
    assert all(e.namespace == "kds" for e in entries)
    assert recorded_server.count() == 3

    bundle_path = tmp_path / "collateral.json"
    export_bundle(entries, bundle_path)
    bundle = load_bundle(bundle_path)
    seen = len(recorded_server.requests)
    offline = KdsClient(None, None, offline=True, bundle=bundle, clock=clock)
    got_vcek = offline.fetch_vcek("Milan", chip_id, reported_tcb)
    assert (got_vcek.source, got_vcek.value) == (Source.BUNDLE, vcek)
    assert got_vcek.url == recorded_server.url(vcek_path)
    assert offline.fetch_cert_chain("Milan").value == chain
    crl = offline.fetch_crl("Milan")
    assert (crl.source, crl.value) == (Source.BUNDLE, milan_crl)
    assert crl.expires_at == MILAN_CRL_NEXT_UPDATE
    assert len(recorded_server.requests) == seen

    # The bundle's CRL goes stale at its nextUpdate like a cached one.
    clock.now = AFTER
    with pytest.raises(CollateralUnavailableError, match="offline"):
        offline.fetch_crl("Milan")
    assert offline.fetch_crl("Milan", allow_stale=True).source is Source.STALE_CACHE


def test_bundle_takes_precedence_over_cache_and_network(
    recorded_server, fetcher, cache, clock, chain
):
    path = "/vcek/v1/Milan/cert_chain"
    cache.put(NAMESPACE, path, chain, url=None, fetched_at=BEFORE, expires_at=None)
    bundle = build_bundle(
        KdsClient(None, cache, offline=True, clock=clock).export_for([CertChainRequest("Milan")])
    )
    recorded_server.script(path, Reply(200, chain))
    kds = KdsClient(fetcher, cache, base_url=recorded_server.base_url, bundle=bundle, clock=clock)
    assert kds.fetch_cert_chain("Milan").source is Source.BUNDLE
    assert recorded_server.requests == []


def test_corrupt_bundle_entry_is_malformed_input(tmp_path, clock, chain):
    bad = BundleEntry(
        namespace="kds",
        key="/vcek/v1/Milan/cert_chain",
        fetched_at=BEFORE,
        data_b64="bm90IGEgY2hhaW4=",  # "not a chain"
    )
    kds = KdsClient(None, None, offline=True, bundle=build_bundle([bad]), clock=clock)
    with pytest.raises(MalformedInputError, match="corrupt certificate chain"):
        kds.fetch_cert_chain("Milan")


def test_default_fetcher_is_created_lazily_and_closed(recorded_server, chain, clock):
    recorded_server.script("/vcek/v1/Milan/cert_chain", Reply(200, chain))
    with KdsClient(base_url=recorded_server.base_url + "/", clock=clock) as kds:
        fetched = kds.fetch_cert_chain("Milan")
    assert fetched.source is Source.NETWORK
    assert recorded_server.requests[0].headers["user-agent"].startswith("cairn-verifier/")


def test_recorded_server_stops_cleanly_with_pending_delay():
    server = RecordedServer({"/slow": Delay(30.0, Reply(200))}).start()
    fetcher = HttpFetcher(timeout=0.2, policy=RetryPolicy(attempts=1))
    with fetcher, pytest.raises(CollateralUnavailableError, match="timed out"):
        fetcher.get(server.url("/slow"))
    server.stop()
    assert server.count("/slow") == 1


# -- local documents filed as bundle entries (collateral export --certs/--crl) ----------------


def test_a_local_vcek_is_filed_where_kds_serves_it(clock, chip_id, reported_tcb, vcek):
    entry = vcek_bundle_entry(parse_certificate(vcek), fetched_at=BEFORE)
    path = vcek_url_path("Milan", chip_id, reported_tcb)  # from the report, not the certificate
    assert (entry.namespace, entry.key, entry.data, entry.expires_at) == ("kds", path, vcek, None)
    offline = KdsClient(None, None, offline=True, bundle=build_bundle([entry]), clock=clock)
    fetched = offline.fetch_vcek("Milan", chip_id, reported_tcb)
    assert (fetched.source, fetched.value) == (Source.BUNDLE, vcek)


def test_a_turin_vcek_is_filed_under_its_8_byte_chip_id(testdata):
    pem = (testdata / "snp/routex-client-lua/vcek-chain-turin.pem").read_bytes()
    entry = vcek_bundle_entry(load_certificates(pem)[0], fetched_at=BEFORE)
    # The URL Oak downloaded this VCEK from (test_turin_vcek_url_matches_the_url_oak_downloaded).
    assert entry.key == (
        "/vcek/v1/Turin/3b42092f69c656d3?fmcSPL=0&blSPL=1&teeSPL=0&snpSPL=2&ucodeSPL=71"
    )


def test_a_vcek_that_does_not_chain_to_amd_is_refused(vcek):
    forged = vcek[:-1] + bytes([vcek[-1] ^ 1])  # last byte of the signature
    with pytest.raises(ChainError):
        vcek_bundle_entry(parse_certificate(forged), fetched_at=BEFORE)


def test_only_a_vcek_can_be_filed_as_one(chain):
    ask = load_certificates(chain)[0]
    with pytest.raises(MalformedInputError, match="is not a VCEK"):
        vcek_bundle_entry(ask, fetched_at=BEFORE)


@pytest.mark.parametrize("kind", ["vcek", "vlek"])
def test_a_local_crl_is_filed_as_the_crl_of_its_product_and_kind(clock, milan_crl, kind):
    entry = crl_bundle_entry(parse_crl(milan_crl), kind, fetched_at=BEFORE)
    assert (entry.key, entry.data) == (f"/{kind}/v1/Milan/crl", milan_crl)
    assert entry.expires_at == MILAN_CRL_NEXT_UPDATE
    offline = KdsClient(None, None, offline=True, bundle=build_bundle([entry]), clock=clock)
    assert offline.fetch_crl("Milan", kind).source is Source.BUNDLE


def test_a_crl_not_signed_by_the_ark_is_refused(milan_crl, testdata):
    with pytest.raises(ChainError, match="not by an AMD ARK"):
        intel = (testdata / "tdx/go-tdx-guest/testdata/rootcrl.der").read_bytes()
        crl_bundle_entry(parse_crl(intel), "vcek", fetched_at=BEFORE)
    # An AMD CRL altered after signing: the issuer is right, the signature is not.
    tampered = bytearray(milan_crl)
    tampered[-1] ^= 1
    with pytest.raises(ChainError):
        crl_bundle_entry(parse_crl(bytes(tampered)), "vcek", fetched_at=BEFORE)
