"""Intel PCS / PCCS client against a local fake PCS serving real Intel-signed bytes.

PCS-form bodies are rebuilt byte-exactly from dcap-qvl's collateral JSON (set qvl-b0c06f-2025-06
of tests/vectors/tdx/PROVENANCE.md); go-tdx-guest's PCS bodies are served as they are.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from fakes.http_server import Reply
from fakes.pcs import (
    PCK_PATH,
    TCB_PATH,
    PcsSet,
    issuer_header,
    load_qvl_pcs_set,
    serve_pcs,
)

from cairn_verifier.collateral.bundle import (
    BundleEntry,
    build_bundle,
    export_bundle,
    import_bundle,
    load_bundle,
)
from cairn_verifier.collateral.cache import CollateralCache
from cairn_verifier.collateral.http import CollateralNotFoundError, HttpFetcher, RetryPolicy
from cairn_verifier.errors import CollateralUnavailableError, ExitCode, MalformedInputError
from cairn_verifier.snp.kds import Source
from cairn_verifier.tdx.collateral import TdxCollateral, load_dcap_qvl_collateral
from cairn_verifier.tdx.pcs import (
    DEFAULT_ADVICE,
    INTEL_ROOT_CA_CRL_URL,
    NAMESPACE,
    QE_IDENTITY_PATH,
    ROOT_CA_CRL_PATH,
    PcsClient,
    collateral_bundle_entries,
    decode_envelope,
    default_root_ca_crl_url,
    encode_envelope,
    pck_crl_path,
    service_base_url,
    tcb_info_path,
)
from cairn_verifier.tdx.signed_json import SignedJson, verify_signed_json

pytest_plugins = ["fakes.fixtures"]

FMSPC = bytes.fromhex("B0C06F000000")
# nextUpdate of each document of set qvl-b0c06f-2025-06 (read from the documents themselves).
TCB_NEXT = datetime(2025, 7, 19, 10, 16, 3, tzinfo=UTC)
QE_NEXT = datetime(2025, 7, 19, 10, 32, 27, tzinfo=UTC)
PCK_CRL_NEXT = datetime(2025, 7, 19, 10, 0, 35, tzinfo=UTC)
ROOT_CRL_NEXT = datetime(2026, 4, 3, 11, 21, 57, tzinfo=UTC)
NOW = datetime(2025, 6, 20, tzinfo=UTC)


# -- real vectors ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def qvl(testdata: Path) -> PcsSet:
    return load_qvl_pcs_set(testdata)


def _signer(chain: bytes | None) -> ec.EllipticCurvePublicKey:
    assert chain is not None
    key = x509.load_pem_x509_certificates(chain)[0].public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    return key


def _assert_verifies(c: TdxCollateral) -> None:
    """Intel's signatures over what was fetched still verify: the bytes were kept exactly."""
    verify_signed_json(c.tcb_info.signed, _signer(c.tcb_info_issuer_chain))
    verify_signed_json(c.qe_identity.signed, _signer(c.qe_identity_issuer_chain))
    assert c.pck_crl is not None and c.root_ca_crl is not None
    pck_ca = x509.load_pem_x509_certificates(c.pck_crl_issuer_chain or b"")[0]
    assert x509.load_der_x509_crl(c.pck_crl).is_signature_valid(pck_ca.public_key())  # type: ignore[arg-type]


# -- client fixtures -------------------------------------------------------------------------


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def fetcher(sleeps: list[float]):
    policy = RetryPolicy(attempts=3, base_delay=1.0, max_retry_after=60.0)
    with HttpFetcher(timeout=2.0, policy=policy, sleep=sleeps.append) as f:
        yield f


@pytest.fixture
def cache(tmp_path: Path) -> CollateralCache:
    return CollateralCache(tmp_path / "cache")


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def pcs(recorded_server, fetcher, cache, clock) -> PcsClient:
    return PcsClient(fetcher, cache, base_url=recorded_server.base_url, clock=clock)


# -- URLs ------------------------------------------------------------------------------------


def test_paths_and_urls():
    assert tcb_info_path(FMSPC) == TCB_PATH
    assert pck_crl_path("processor") == "/sgx/certification/v4/pckcrl?ca=processor&encoding=der"
    assert default_root_ca_crl_url("https://api.trustedservices.intel.com/") == (
        INTEL_ROOT_CA_CRL_URL
    )
    assert default_root_ca_crl_url("https://pccs.example:8081") == (
        "https://pccs.example:8081/sgx/certification/v4/rootcacrl"
    )
    assert service_base_url("https://pccs.example/sgx/certification/v4/") == "https://pccs.example"
    assert PcsClient().root_ca_crl_url == INTEL_ROOT_CA_CRL_URL
    client = PcsClient(root_ca_crl_url="https://mirror.example/root.der")
    assert client.root_ca_crl_url == "https://mirror.example/root.der"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: tcb_info_path(FMSPC[:5]), "FMSPC must be 6 bytes, got 5"),
        (lambda: pck_crl_path("root"), "'platform' or 'processor'"),
        (lambda: PcsClient(base_url="ftp://pcs.example"), "not an http"),
    ],
)
def test_bad_arguments_are_malformed_input(call, message):
    with pytest.raises(MalformedInputError, match=message) as info:
        call()
    assert info.value.exit_code is ExitCode.MALFORMED_INPUT and info.value.component == "pcs"


# -- fetching --------------------------------------------------------------------------------


def test_full_fetch_then_cache_hit_without_requests(
    recorded_server, pcs, cache, fetcher, clock, qvl
):
    serve_pcs(recorded_server, qvl)
    first = pcs.fetch_collateral(FMSPC, "platform")
    assert first.source == (
        "pcs (TCB info: network, QE identity: network, PCK CRL: network, Root CA CRL: network)"
    )
    assert sorted(r.target for r in recorded_server.requests) == sorted(
        [TCB_PATH, QE_IDENTITY_PATH, PCK_PATH, ROOT_CA_CRL_PATH]
    )
    assert first.tcb_info.signed == SignedJson(
        qvl.tcb_signed, bytes.fromhex(qvl.tcb_body[-130:-2].decode())
    )
    assert first.qe_identity.signed.body == qvl.qe_signed
    assert (first.tcb_info_issuer_chain, first.qe_identity_issuer_chain) == (
        qvl.tcb_chain,
        qvl.qe_chain,
    )
    assert (first.pck_crl, first.pck_crl_issuer_chain, first.root_ca_crl) == (
        qvl.pck_crl,
        qvl.pck_chain,
        qvl.root_crl,
    )
    _assert_verifies(first)
    first.check_current(NOW)

    # Same client, then a new client on the same cache (another process): no request at all.
    again = pcs.fetch_collateral(FMSPC, "platform")
    other = PcsClient(fetcher, cache, base_url=recorded_server.base_url, clock=clock)
    for c in (again, other.fetch_collateral(FMSPC, "platform")):
        assert c.source.count("cache") == 4
        _assert_verifies(c)
        assert c.tcb_info.signed == first.tcb_info.signed and c.pck_crl == first.pck_crl
    assert recorded_server.count() == 4


def test_each_document_is_cached_until_its_next_update(recorded_server, pcs, cache, clock, qvl):
    serve_pcs(recorded_server, qvl)
    expiries = {
        "tcb": pcs.fetch_tcb_info(FMSPC).expires_at,
        "qe": pcs.fetch_qe_identity().expires_at,
        "pck": pcs.fetch_pck_crl("platform").expires_at,
        "root": pcs.fetch_root_ca_crl().expires_at,
    }
    assert expiries == {"tcb": TCB_NEXT, "qe": QE_NEXT, "pck": PCK_CRL_NEXT, "root": ROOT_CRL_NEXT}
    stored = cache.get_stale(NAMESPACE, TCB_PATH)
    assert stored is not None and stored.expires_at == TCB_NEXT
    assert stored.url == recorded_server.url(TCB_PATH)
    assert decode_envelope(stored.data) == (qvl.tcb_body, qvl.tcb_chain)

    clock.now = PCK_CRL_NEXT  # the PCK CRL has expired; the TCB info has not
    assert pcs.fetch_pck_crl("platform").source is Source.NETWORK
    assert pcs.fetch_tcb_info(FMSPC).source is Source.CACHE
    assert recorded_server.count(PCK_PATH) == 2 and recorded_server.count(TCB_PATH) == 1
    clock.now = TCB_NEXT
    refetched = pcs.fetch_tcb_info(FMSPC)
    assert (refetched.source, refetched.fetched_at) == (Source.NETWORK, TCB_NEXT)
    assert pcs.fetch_qe_identity().source is Source.CACHE
    assert recorded_server.count(TCB_PATH) == 2


@pytest.mark.parametrize(
    "header", ["TCB-Info-Issuer-Chain", "SGX-TCB-Info-Issuer-Chain", "sgx-tcb-info-issuer-chain"]
)
def test_tcb_info_issuer_chain_header_variants(recorded_server, pcs, qvl, header):
    serve_pcs(recorded_server, qvl, tcb_header=header)
    doc = pcs.fetch_tcb_info(FMSPC)
    assert (doc.value.body, doc.value.issuer_chain) == (qvl.tcb_body, qvl.tcb_chain)


@pytest.mark.parametrize(
    ("target", "fetch", "header"),
    [
        (TCB_PATH, lambda p: p.fetch_tcb_info(FMSPC), "TCB-Info-Issuer-Chain"),
        (QE_IDENTITY_PATH, lambda p: p.fetch_qe_identity(), "SGX-Enclave-Identity-Issuer-Chain"),
        (PCK_PATH, lambda p: p.fetch_pck_crl("platform"), "SGX-PCK-CRL-Issuer-Chain"),
    ],
)
def test_missing_issuer_chain_header_is_a_typed_error(
    recorded_server, pcs, cache, qvl, target, fetch, header
):
    serve_pcs(recorded_server, qvl)
    body = {TCB_PATH: qvl.tcb_body, QE_IDENTITY_PATH: qvl.qe_body, PCK_PATH: qvl.pck_crl}[target]
    recorded_server.script(target, Reply(200, body, {"X-Other": "1"}))
    with pytest.raises(CollateralUnavailableError) as info:
        fetch(pcs)
    assert info.value.exit_code is ExitCode.COLLATERAL_UNAVAILABLE
    assert header in info.value.message and "issuer chain" in info.value.message
    assert info.value.component == "pcs" and "PCCS" in info.value.hint
    assert recorded_server.count(target) == 2  # fetched once more, then given up
    assert cache.get_stale(NAMESPACE, target) is None


def test_undecodable_issuer_chain_header_is_a_typed_error(recorded_server, pcs, qvl):
    serve_pcs(recorded_server, qvl)
    recorded_server.script(
        TCB_PATH, Reply(200, qvl.tcb_body, {"TCB-Info-Issuer-Chain": "not%20a%20chain"})
    )
    with pytest.raises(CollateralUnavailableError, match="TCB-Info-Issuer-Chain header"):
        pcs.fetch_tcb_info(FMSPC)


def test_tcb_info_for_another_fmspc_or_crl_of_another_ca_is_rejected(
    recorded_server, pcs, cache, qvl, testdata
):
    other = (testdata / "tdx/go-tdx-guest/testdata/sample_tcbInfo_response").read_bytes()
    recorded_server.script(
        TCB_PATH, Reply(200, other, {"TCB-Info-Issuer-Chain": issuer_header(qvl.tcb_chain)})
    )
    with pytest.raises(CollateralUnavailableError, match="FMSPC 50806F000000, not B0C06F000000"):
        pcs.fetch_tcb_info(FMSPC)
    recorded_server.script(
        pck_crl_path("processor"),
        Reply(200, qvl.pck_crl, {"SGX-PCK-CRL-Issuer-Chain": issuer_header(qvl.pck_chain)}),
    )
    with pytest.raises(CollateralUnavailableError, match="expected 'Intel SGX PCK Processor CA'"):
        pcs.fetch_pck_crl("processor")
    assert list(cache.entries(NAMESPACE)) == []


def test_unknown_fmspc_404_is_not_found_with_hint(recorded_server, pcs):
    with pytest.raises(CollateralNotFoundError) as info:
        pcs.fetch_tcb_info(FMSPC)  # unscripted: the fake answers 404
    assert "FMSPC B0C06F000000 was not found" in info.value.message
    assert info.value.exit_code == 5 and info.value.component == "pcs"
    assert "PCK certificate" in info.value.hint


def test_429_retry_after_is_honoured(recorded_server, pcs, sleeps, qvl):
    serve_pcs(recorded_server, qvl)
    chain = {"SGX-Enclave-Identity-Issuer-Chain": issuer_header(qvl.qe_chain)}
    recorded_server.script(
        QE_IDENTITY_PATH,
        Reply(429, b"slow down", {"Retry-After": "7"}),
        Reply(200, qvl.qe_body, chain),
    )
    doc = pcs.fetch_qe_identity()
    assert doc.source is Source.NETWORK and doc.value.body == qvl.qe_body
    assert sleeps == [7.0] and recorded_server.count(QE_IDENTITY_PATH) == 2

    recorded_server.script(TCB_PATH, Reply(429, b"", {"Retry-After": "3600"}))
    with pytest.raises(CollateralUnavailableError) as info:
        pcs.fetch_tcb_info(FMSPC)
    assert info.value.hint.startswith("retry after ")
    assert info.value.hint.endswith("; " + DEFAULT_ADVICE.unavailable)
    assert recorded_server.count(TCB_PATH) == 1


def test_outage_with_an_expired_cached_copy(recorded_server, pcs, clock, qvl):
    serve_pcs(recorded_server, qvl)
    pcs.fetch_collateral(FMSPC, "platform")
    for target in (TCB_PATH, QE_IDENTITY_PATH, PCK_PATH, ROOT_CA_CRL_PATH):
        recorded_server.script(target, Reply(503, b"maintenance"))
    clock.now = QE_NEXT + timedelta(days=1)  # all but the Root CA CRL have expired
    with pytest.raises(CollateralUnavailableError) as info:
        pcs.fetch_collateral(FMSPC, "platform")
    assert info.value.exit_code == 5 and "HTTP 503" in info.value.message
    assert info.value.hint == "the service is failing: retry later; " + DEFAULT_ADVICE.unavailable

    stale = pcs.fetch_collateral(FMSPC, "platform", allow_stale=True)
    assert stale.source == (
        "pcs (TCB info: stale-cache, QE identity: stale-cache, PCK CRL: stale-cache, "
        "Root CA CRL: cache)"
    )
    _assert_verifies(stale)
    doc = pcs.fetch_pck_crl("platform", allow_stale=True)
    assert doc.stale and doc.expires_at == PCK_CRL_NEXT


def test_outage_without_cache_is_exit_5(recorded_server, fetcher, clock):
    recorded_server.script(QE_IDENTITY_PATH, Reply(502, b"bad gateway"))
    pcs = PcsClient(fetcher, None, base_url=recorded_server.base_url, clock=clock)
    with pytest.raises(CollateralUnavailableError) as info:
        pcs.fetch_qe_identity(allow_stale=True)
    assert info.value.exit_code is ExitCode.COLLATERAL_UNAVAILABLE
    assert "the TD_QE identity" in info.value.message and "after 3 attempt(s)" in info.value.message
    assert recorded_server.count(QE_IDENTITY_PATH) == 3


def test_offline_never_requests_and_a_miss_is_exit_5(recorded_server, fetcher, cache, clock, qvl):
    serve_pcs(recorded_server, qvl)
    pcs = PcsClient(fetcher, cache, base_url=recorded_server.base_url, offline=True, clock=clock)
    with pytest.raises(CollateralUnavailableError) as info:
        pcs.fetch_collateral(FMSPC, "platform")
    assert info.value.exit_code == 5 and "offline mode forbids" in info.value.message
    assert info.value.hint == DEFAULT_ADVICE.offline
    assert recorded_server.requests == []

    online = PcsClient(fetcher, cache, base_url=recorded_server.base_url, clock=clock)
    online.fetch_collateral(FMSPC, "platform")
    assert pcs.fetch_collateral(FMSPC, "platform").source.count("cache") == 4
    clock.now = TCB_NEXT
    with pytest.raises(CollateralUnavailableError, match="the only copy of the TDX TCB info"):
        pcs.fetch_tcb_info(FMSPC)
    assert pcs.fetch_tcb_info(FMSPC, allow_stale=True).source is Source.STALE_CACHE
    assert recorded_server.count() == 4


def test_bundle_export_import_round_trip(recorded_server, pcs, tmp_path, clock, qvl):
    serve_pcs(recorded_server, qvl)
    entries = pcs.export_for([(FMSPC, "platform"), (FMSPC, "platform")])  # duplicates collapse
    assert sorted(e.key for e in entries) == sorted(
        [TCB_PATH, QE_IDENTITY_PATH, PCK_PATH, ROOT_CA_CRL_PATH]
    )
    assert {e.namespace for e in entries} == {"pcs"}
    path = tmp_path / "bundle.json"
    export_bundle(entries, path)
    bundle = load_bundle(path)

    offline = PcsClient(None, None, offline=True, bundle=bundle, clock=clock)
    from_bundle = offline.fetch_collateral(FMSPC, "platform")
    assert from_bundle.source.count("bundle") == 4
    _assert_verifies(from_bundle)
    assert from_bundle.tcb_info.signed.body == qvl.tcb_signed
    assert offline.fetch_tcb_info(FMSPC).url == recorded_server.url(TCB_PATH)

    fresh_cache = CollateralCache(tmp_path / "imported")
    assert import_bundle(bundle, fresh_cache) == 4
    cached = PcsClient(None, fresh_cache, offline=True, clock=clock)
    from_cache = cached.fetch_collateral(FMSPC, "platform")
    assert from_cache.source.count("cache") == 4
    assert from_cache.qe_identity.signed == from_bundle.qe_identity.signed
    assert recorded_server.count() == 4


def test_corrupt_bundle_entry_is_malformed_input(recorded_server, pcs, clock, qvl):
    serve_pcs(recorded_server, qvl)
    entries = pcs.export_for([(FMSPC, "platform")])
    tampered = qvl.qe_body.replace(b'"TD_QE"', b'"QE"')  # no longer a TD_QE identity
    bundle = build_bundle(
        [*entries, _entry(QE_IDENTITY_PATH, encode_envelope(tampered, qvl.qe_chain))]
    )
    offline = PcsClient(None, None, offline=True, bundle=bundle, clock=clock)
    with pytest.raises(MalformedInputError, match="corrupt QE identity") as info:
        offline.fetch_qe_identity()
    assert "cairn collateral export" in info.value.hint


def test_corrupt_cache_entry_is_a_reported_miss(recorded_server, pcs, cache, qvl):
    serve_pcs(recorded_server, qvl)
    cache.put(NAMESPACE, PCK_PATH, b"not an envelope", url=None, fetched_at=NOW, expires_at=None)
    cache.put(
        NAMESPACE,
        ROOT_CA_CRL_PATH,
        encode_envelope(qvl.pck_crl, None),  # a real CRL, but not the Root CA's
        url=None,
        fetched_at=NOW,
        expires_at=None,
    )
    assert pcs.fetch_pck_crl("platform").source is Source.NETWORK
    assert pcs.fetch_root_ca_crl().source is Source.NETWORK
    assert sum("corrupt" in p for p in cache.problems) == 2
    assert pcs.fetch_pck_crl("platform").source is Source.CACHE


def test_pccs_base_url_and_hex_root_ca_crl(recorded_server, fetcher, clock, qvl):
    serve_pcs(recorded_server, qvl, root_body=qvl.root_crl.hex().encode() + b"\n")  # PCCS: hex text
    pccs = PcsClient(
        fetcher, None, base_url=recorded_server.base_url + "/sgx/certification/v4", clock=clock
    )
    assert pccs.base_url == recorded_server.base_url
    assert pccs.root_ca_crl_url == recorded_server.url(ROOT_CA_CRL_PATH)
    c = pccs.fetch_collateral(FMSPC, "platform")
    assert c.root_ca_crl == qvl.root_crl
    _assert_verifies(c)


def test_configured_root_ca_crl_url(recorded_server, fetcher, cache, clock, qvl):
    serve_pcs(recorded_server, qvl, root_target="/IntelSGXRootCA.der")
    url = recorded_server.url("/IntelSGXRootCA.der")
    pcs = PcsClient(
        fetcher, cache, base_url=recorded_server.base_url, root_ca_crl_url=url, clock=clock
    )
    doc = pcs.fetch_root_ca_crl()
    assert (doc.url, doc.key, doc.value.body, doc.value.issuer_chain) == (
        url,
        ROOT_CA_CRL_PATH,
        qvl.root_crl,
        None,
    )
    assert recorded_server.count(ROOT_CA_CRL_PATH) == 0


def test_go_tdx_guest_pcs_bodies_served_as_is(recorded_server, fetcher, clock, testdata):
    gtg = testdata / "tdx/go-tdx-guest/testdata"
    tcb_body = (gtg / "sample_tcbInfo_response").read_bytes()
    qe_body = (gtg / "sample_qeIdentity_response").read_bytes()
    old_chain = json.loads(
        (testdata / "tdx/dcap-qvl/history-eadf882/tdx_quote_collateral.json").read_bytes()
    )["tcb_info_issuer_chain"].encode()
    platform_chain = json.loads(
        (testdata / "tdx/dcap-qvl/sample/tdx_quote_collateral.json").read_bytes()
    )["pck_crl_issuer_chain"].encode()
    fmspc = bytes.fromhex("50806F000000")
    recorded_server.script(
        tcb_info_path(fmspc),
        Reply(200, tcb_body, {"SGX-TCB-Info-Issuer-Chain": issuer_header(old_chain)}),
    )
    recorded_server.script(
        QE_IDENTITY_PATH,
        Reply(200, qe_body, {"SGX-Enclave-Identity-Issuer-Chain": issuer_header(old_chain)}),
    )
    recorded_server.script(
        PCK_PATH,
        Reply(
            200,
            (gtg / "pckcrl").read_bytes(),
            {"SGX-PCK-CRL-Issuer-Chain": issuer_header(platform_chain)},
        ),
    )
    recorded_server.script(ROOT_CA_CRL_PATH, Reply(200, (gtg / "rootcrl.der").read_bytes()))
    clock.now = datetime(2023, 6, 20, tzinfo=UTC)
    pcs = PcsClient(fetcher, None, base_url=recorded_server.base_url, clock=clock)
    c = pcs.fetch_collateral(fmspc, "platform")
    _assert_verifies(c)
    assert tcb_body.startswith(b'{"tcbInfo":' + c.tcb_info.signed.body + b',"signature":"')
    assert c.tcb_info.parsed.fmspc == fmspc
    assert pcs.fetch_tcb_info(fmspc).expires_at == datetime(2023, 7, 18, 8, 42, 58, tzinfo=UTC)


def _entry(key: str, data: bytes) -> BundleEntry:
    return BundleEntry(
        namespace=NAMESPACE,
        key=key,
        fetched_at=NOW,
        expires_at=None,
        data_b64=base64.b64encode(data).decode(),
    )


def test_envelope_round_trip_is_byte_exact():
    body = b'{"x":1}\r\n\x00\xff'
    assert decode_envelope(encode_envelope(body, b"pem")) == (body, b"pem")
    assert decode_envelope(encode_envelope(body, None)) == (body, None)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"[]",
        b'{"format":"cairn-pcs-response","version":2,"issuer_chain":null,"body_b64":""}',
        b'{"format":"cairn-pcs-response","version":1,"issuer_chain":1,"body_b64":""}',
        b'{"format":"cairn-pcs-response","version":1,"issuer_chain":null,"body_b64":"**"}',
        b'{"format":"cairn-pcs-response","version":1,"issuer_chain":"\\ud800","body_b64":""}',
        b'{"format":"cairn-pcs-response","version":1,"issuer_chain":null,"body_b64":"","x":0}',
        b"[" * 100_000,
        b"\xff\xfe",
    ],
)
def test_junk_bundle_entry_is_malformed_input(data, clock):
    bundle = build_bundle([_entry(ROOT_CA_CRL_PATH, data)])
    offline = PcsClient(None, None, offline=True, bundle=bundle, clock=clock)
    with pytest.raises(MalformedInputError, match="corrupt Root CA CRL") as info:
        offline.fetch_root_ca_crl()
    assert info.value.exit_code is ExitCode.MALFORMED_INPUT


# -- local collateral filed as bundle entries (collateral export/import --collateral) ---------


def test_dcap_qvl_collateral_is_filed_exactly_as_pcs_serves_it(
    recorded_server, pcs, clock, qvl, testdata
):
    doc = (testdata / "tdx/dcap-qvl/sample/tdx_quote_collateral.json").read_bytes()
    local, skipped = collateral_bundle_entries(load_dcap_qvl_collateral(doc), fetched_at=NOW)
    assert skipped == []
    serve_pcs(recorded_server, qvl)
    served = {e.key: e for e in pcs.export_for([(FMSPC, "platform")])}
    # The same keys, bodies, issuer chains and expiry as the documents fetched from PCS.
    assert {e.key: (e.data, e.expires_at) for e in local} == {
        key: (e.data, e.expires_at) for key, e in served.items()
    }
    offline = PcsClient(None, None, offline=True, bundle=build_bundle(local), clock=clock)
    from_files = offline.fetch_collateral(FMSPC, "platform")
    assert from_files.source.count("bundle") == 4
    _assert_verifies(from_files)


def test_pieces_that_cannot_be_filed_are_named(testdata):
    doc = json.loads((testdata / "tdx/dcap-qvl/sample/tdx_quote_collateral.json").read_bytes())
    del doc["pck_crl_issuer_chain"], doc["root_ca_crl"]
    collateral = load_dcap_qvl_collateral(json.dumps(doc).encode())
    entries, skipped = collateral_bundle_entries(collateral, fetched_at=NOW)
    assert sorted(e.key for e in entries) == sorted([TCB_PATH, QE_IDENTITY_PATH])
    assert skipped == [
        "PCK CRL: its issuer chain (pck_crl_issuer_chain) is missing",
        "Root CA CRL: not in the collateral",
    ]


def test_a_pck_crl_of_another_issuer_cannot_be_filed(testdata, qvl):
    doc = json.loads((testdata / "tdx/dcap-qvl/sample/tdx_quote_collateral.json").read_bytes())
    doc["pck_crl"] = doc["root_ca_crl"]  # issued by the Intel SGX Root CA, not a PCK CA
    collateral = load_dcap_qvl_collateral(json.dumps(doc).encode())
    with pytest.raises(MalformedInputError, match="not by an Intel SGX PCK Platform/Processor CA"):
        collateral_bundle_entries(collateral, fetched_at=NOW)
