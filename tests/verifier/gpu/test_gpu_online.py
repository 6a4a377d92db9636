"""RIMs and OCSP answers fetched online: a local HTTP server replays NVIDIA's recorded RIMs (in
the RIM service's JSON) and stored OCSP responses for go-nvattest-tools' Hopper report; what
was fetched is cached and verifies again offline without a request."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from fakes.fixtures import recorded_server  # noqa: F401
from fakes.http_server import RecordedServer, Reply
from gpu_vectors import GNAT, NVTRUST_TEST_NONCE

from cairn_verifier.cli.main import main

RIM_IDS = ("NV_GPU_DRIVER_GH100_550.90.07", "NV_GPU_VBIOS_1010_0200_882_96009F0001")
AT = "2025-10-24T12:00:00Z"


def _serve_rims(server: RecordedServer, gpu: Path) -> None:
    for rim_id in RIM_IDS:
        xml = (gpu / GNAT / "rim" / f"{rim_id}.xml").read_bytes()
        body = json.dumps({"id": rim_id, "rim": base64.b64encode(xml).decode()}).encode()
        server.script(f"/v1/rim/{rim_id}", Reply(body=body))


@dataclass
class Online:
    """The vectors, a started local server standing in for NVIDIA's services, a scratch folder."""

    gpu: Path
    server: RecordedServer
    tmp: Path
    capsys: pytest.CaptureFixture[str]

    def verify(self, cache: str, *extra: str) -> tuple[int, dict[str, str]]:
        """``cairn verify gpu --json`` on the Hopper report with the cache folder ``cache``:
        the exit code and each check's outcome by name and component."""
        gpu = self.gpu / GNAT
        argv = ["verify", "gpu", str(gpu / "test_raw_gpu_attestation_report.dat")]
        argv += ["--certs", str(gpu / "test_gpu_attestation_certificate_chain.dat")]
        argv += ["--nonce", NVTRUST_TEST_NONCE, "--at", AT, "--json"]
        argv += ["--cache-dir", str(self.tmp / cache), "--rim-url", self.server.url("/v1/rim")]
        argv += ["--ocsp-url", self.server.url("/ocsp"), *extra]
        code = main(argv)
        doc: dict[str, Any] = json.loads(self.capsys.readouterr().out)
        return code, {f"{c['name']} {c['component']}": c["outcome"] for c in doc["checks"]}

    def policy(self, text: str) -> str:
        path = self.tmp / "policy.toml"
        path.write_text("[gpu]\n" + text)
        return str(path)


@pytest.fixture
def online(
    testdata: Path,
    tmp_path: Path,
    recorded_server: RecordedServer,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> Online:
    return Online(testdata / "gpu", recorded_server, tmp_path, capsys)


def _stored_responses(gpu: Path) -> list[ocsp.OCSPResponse]:
    files = sorted((gpu / GNAT / "ocsp").glob("*.dat"))
    return [ocsp.load_der_ocsp_response(base64.b64decode(f.read_bytes())) for f in files]


def _answer_ocsp_requests(server: RecordedServer, gpu: Path) -> int:
    """Script, for each OCSP GET the verifier sent, the stored response about the same
    certificate (matched by serial and issuer key hash, read with cryptography)."""
    responses = _stored_responses(gpu)
    answered = 0
    for target in {r.target for r in server.requests if r.target.startswith("/ocsp/")}:
        request = ocsp.load_der_ocsp_request(base64.b64decode(unquote(target[len("/ocsp/") :])))
        for response in responses:
            if (response.serial_number, response.issuer_key_hash) == (
                request.serial_number,
                request.issuer_key_hash,
            ):
                der = response.public_bytes(Encoding.DER)
                server.script(target, Reply(body=der))
                answered += 1
    return answered


def test_rims_fetched_online_give_the_golden_match(online: Online) -> None:
    _serve_rims(online.server, online.gpu)
    code, checks = online.verify("cache")
    assert code == 0
    assert checks["measurements GPU 0"] == "pass"
    assert checks["rim-signature GPU 0 driver RIM"] == "pass"
    assert checks["rim-signature GPU 0 VBIOS RIM"] == "pass"
    # the OCSP service knows none of the certificates here: revocation is skipped, not failed
    assert checks["device-revocation GPU 0"] == "skipped"
    assert [r.target for r in online.server.requests if r.target.startswith("/v1/rim/")] == [
        f"/v1/rim/{rim_id}" for rim_id in RIM_IDS
    ]


def test_ocsp_answers_fetched_online_are_cached_for_offline_use(online: Online) -> None:
    _serve_rims(online.server, online.gpu)
    online.verify("first")
    assert _answer_ocsp_requests(online.server, online.gpu) == 7
    policy = online.policy(
        "require_rim_match = true\nrequire_revocation = true\nocsp_max_age_hours = 1600\n"
    )
    code, checks = online.verify("cache", "--policy", policy)
    assert (code, set(checks.values())) == (0, {"pass"})
    assert checks["device-revocation GPU 0"] == "pass"
    assert checks["rim-revocation GPU 0 driver RIM"] == "pass"
    served = online.server.count()
    assert online.verify("cache", "--policy", policy, "--offline") == (0, checks)
    assert online.server.count() == served


def test_a_rim_the_service_does_not_know_is_collateral_unavailable(online: Online) -> None:
    """The server answers 404 for the RIMs: the comparison is skipped with its reason, or fails
    with exit 5 when the policy requires it."""
    code, checks = online.verify("a")
    assert (code, checks["measurements GPU 0"]) == (0, "skipped")
    code, checks = online.verify("b", "--policy", online.policy("require_rim_match = true\n"))
    assert code == 5
    assert checks["rim-available GPU 0 driver RIM"] == "fail"
