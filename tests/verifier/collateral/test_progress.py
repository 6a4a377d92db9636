"""StreamProgress: the lines a terminal sees while collateral is fetched (real local server)."""

from __future__ import annotations

import io

from fakes.http_server import RecordedServer, Reply

from cairn_verifier.collateral.http import HttpFetcher, RetryPolicy
from cairn_verifier.collateral.progress import StreamProgress

pytest_plugins = ["fakes.fixtures"]


def test_slow_request_is_announced_and_each_retry_says_why(recorded_server: RecordedServer):
    recorded_server.script(
        "/vcek/v1/Milan/crl",
        Reply(503, b"busy", {"Retry-After": "0"}),
        Reply(200, b"crl"),
    )
    url = recorded_server.url("/vcek/v1/Milan/crl")
    stream = io.StringIO()
    progress = StreamProgress(stream, slow_after=0)  # 0: announce every request at once
    with HttpFetcher(policy=RetryPolicy(attempts=4), progress=progress) as fetcher:
        assert fetcher.get(url, what="the Milan VCEK CRL").body == b"crl"
    assert stream.getvalue().splitlines() == [
        f"fetching the Milan VCEK CRL from {url} …",
        f"fetching the Milan VCEK CRL from {url}: retry 2/4 in 0 s after HTTP 503: 'busy'",
        f"fetching the Milan VCEK CRL from {url} …",
    ]


def test_fast_requests_print_nothing(recorded_server: RecordedServer):
    recorded_server.script("/x", Reply(200, b"ok"))
    stream = io.StringIO()
    progress = StreamProgress(stream, slow_after=3600)
    with HttpFetcher(progress=progress) as fetcher:
        assert fetcher.get(recorded_server.url("/x")).body == b"ok"
    assert stream.getvalue() == ""


def test_a_closed_stream_never_fails_the_fetch(recorded_server: RecordedServer):
    recorded_server.script("/x", Reply(200, b"ok"))
    stream = io.StringIO()
    stream.close()
    with HttpFetcher(progress=StreamProgress(stream, slow_after=0)) as fetcher:
        assert fetcher.get(recorded_server.url("/x")).body == b"ok"
