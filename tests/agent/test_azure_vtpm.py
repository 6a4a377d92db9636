"""The azure-vtpm provider against a fake Azure VM made of real Azure bytes (swtpm with the real
HCL report as its NV index 0x01400001, a fake instance metadata service serving the real TD
quote and the real VCEK chain), and what a verifier makes of the result: every hardware check
passes, and the vTPM's key, which is swtpm's and not the HCLAkPub the hardware vouches for,
fails ``azure-ak`` (exit 1). An NV index written by a test is not an Azure vTPM."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes.agent_server import ServerThread, agent_config
from fakes.azure import FakeAzureVm, RealAzure, fake_azure_vm, real_snp, real_tdx
from fakes.http_server import Reply

from cairn_agent.app import make_app
from cairn_agent.config import AgentConfig
from cairn_agent.startup import build_state
from cairn_agent.tee.azure_vtpm import AzureVtpmProvider
from cairn_agent.tee.base import ProviderError, provider_simulated
from cairn_agent.tpm import AgentTpm
from cairn_verifier.api import tee_model
from cairn_verifier.cli.main import main

POLICY = """
[azure]
allow_console = true

[tdx]
require_sept_ve_disable = false
"""
# one day after the PCK (TDX) / VCEK (Genoa) notBefore: tests/verifier/azure/azure_vectors.py
AT = {"tdx": "2023-09-14T21:00:51Z", "snp-genoa": "2025-01-25T02:21:48Z"}


@pytest.fixture(params=["tdx", "snp-genoa"])
def real(request: pytest.FixtureRequest, testdata: Path) -> RealAzure:
    return real_tdx(testdata) if request.param == "tdx" else real_snp(testdata)


@pytest.fixture
def vm(tmp_path: Path, real: RealAzure) -> Iterator[FakeAzureVm]:
    with fake_azure_vm(tmp_path / "vtpm", real) as fake:
        yield fake


@pytest.fixture
def tpm(vm: FakeAzureVm) -> Iterator[AgentTpm]:
    with AgentTpm.open(vm.tcti, ak_handle=0x81000003) as opened:
        yield opened


def _report_size(hcl: bytes) -> int:
    return int.from_bytes(hcl[8:12], "little")


def test_the_provider_hands_out_the_real_hcl_report(
    vm: FakeAzureVm, tpm: AgentTpm, real: RealAzure
) -> None:
    provider = AzureVtpmProvider(tpm, imds_url=vm.imds.base_url)
    evidence = provider.get_evidence(bytes(64))
    size = _report_size(real.hcl_report)
    assert vm.proxy.served and sum(n for _, n in vm.proxy.served) == len(real.hcl_report)
    if real.td_quote is None:
        assert evidence.kind == "azure-sev-snp-vtpm"
        assert evidence.report == real.hcl_report[:size]
        assert evidence.certificates == real.vcek_chain
        [request] = vm.imds.requests
        assert (request.method, request.target) == ("GET", "/metadata/THIM/amd/certification")
        assert request.headers["metadata"] == "true"
        return
    assert evidence.kind == "azure-tdx-vtpm"
    assert evidence.report == real.hcl_report[:size] + real.td_quote
    assert evidence.certificates == ()
    [request] = vm.imds.requests
    assert (request.method, request.target) == ("POST", "/acc/tdquote")
    posted = json.loads(request.body)["report"]
    td_report = real.hcl_report[0x20 : 0x20 + 1024]
    assert base64.urlsafe_b64decode(posted + "=" * (-len(posted) % 4)) == td_report


def test_failures_of_the_metadata_service_are_provider_errors(
    vm: FakeAzureVm, tpm: AgentTpm, real: RealAzure
) -> None:
    target = "/acc/tdquote" if real.td_quote else "/metadata/THIM/amd/certification"
    provider = AzureVtpmProvider(tpm, imds_url=vm.imds.base_url)
    vm.imds.script(target, Reply(500, b"busy"))
    with pytest.raises(ProviderError, match="answered HTTP 500") as raised:
        provider.get_evidence(bytes(64))
    assert raised.value.retryable
    vm.imds.script(target, Reply(200, b"<html>"))
    with pytest.raises(ProviderError, match="did not answer JSON"):
        provider.get_evidence(bytes(64))
    pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    garbage = {"quote": "AAAA"} if real.td_quote else {"vcekCert": pem, "certificateChain": ""}
    vm.imds.script(target, Reply(200, json.dumps(garbage).encode()))
    with pytest.raises(ProviderError, match=r"not a TDX quote|certificate that cannot be read"):
        provider.get_evidence(bytes(64))
    unreachable = AzureVtpmProvider(tpm, imds_url="http://127.0.0.1:9")
    with pytest.raises(ProviderError, match="cannot reach"):
        unreachable.get_evidence(bytes(64))


def test_a_tpm_without_the_hcl_report_is_named(vm: FakeAzureVm, tpm: AgentTpm) -> None:
    provider = AzureVtpmProvider(tpm, nv_index=0x01400002, imds_url=vm.imds.base_url)
    with pytest.raises(ProviderError, match="cannot read the HCL report") as raised:
        provider.get_evidence(bytes(64))
    assert "Azure confidential VM" in (raised.value.hint or "")
    with pytest.raises(ProviderError, match="exactly 64 bytes"):
        provider.get_evidence(b"short")


def _config(tmp_path: Path, vm: FakeAzureVm) -> AgentConfig:
    config = agent_config(tmp_path, vm.tcti, "azure-vtpm", self_check=False)
    tee = config.tee.model_copy(update={"azure_imds_url": vm.imds.base_url})
    return config.model_copy(update={"tee": tee})


def test_the_agent_serves_it_and_the_verifier_refuses_the_software_vtpm(
    tmp_path: Path, vm: FakeAzureVm, real: RealAzure, capsys: pytest.CaptureFixture[str]
) -> None:
    """Agent over HTTP → `cairn verify evidence`: the real hardware evidence verifies, the
    claims are bound into the quote (its extraData is the claims digest), and the quote's key
    is not the one the hardware vouches for: ``azure-ak`` fails with exit 1."""
    state = build_state(_config(tmp_path, vm))
    assert state.source.tpm is not None and state.source.tpm.ak_handle == 0x81000003
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY)
    with ServerThread(make_app(state)) as url:
        argv = ["verify", "evidence", url, "--policy", str(policy), "--at", AT[real.name]]
        code = main([*argv, "--offline", "--no-cache", "--json"])
    doc = json.loads(capsys.readouterr().out)
    outcomes = {c["name"]: (c["outcome"], c.get("exit_code")) for c in doc["checks"]}
    assert outcomes["azure-ak"] == ("fail", 1)
    [ak] = [c for c in doc["checks"] if c["name"] == "azure-ak"]
    assert "not HCLAkPub" in ak["summary"]
    hardware = "quote-signature" if real.td_quote else "report-signature"
    for name in ("azure-hcl-report", "azure-runtime-data", hardware, "report-data"):
        assert outcomes[name] == ("pass", None), name
    assert outcomes["tpm-quote-signature"] == ("pass", None)  # by swtpm's key, which it names
    [nonce] = [c for c in doc["checks"] if c["name"] == "tpm-quote-nonce"]
    assert nonce["outcome"] == "pass" and "the claims digest" in nonce["summary"]
    failures = [(c["name"], c["exit_code"]) for c in doc["checks"] if c["outcome"] == "fail"]
    if real.td_quote:  # Intel collateral for the quote's FMSPC is not at hand offline
        assert failures == [("collateral", 5), ("azure-ak", 1)] and code == 5
    else:
        assert failures == [("azure-ak", 1)] and code == 1
    assert doc["claims"]["tee_kind"] == (
        "azure-tdx-vtpm" if real.td_quote else "azure-sev-snp-vtpm"
    )


def test_a_bundle_of_the_fake_vm_is_a_bundle_of_the_real_kind(
    tmp_path: Path, vm: FakeAzureVm, real: RealAzure
) -> None:
    """The bytes are Azure's, so the kind is the real one (not *-simulated): only the verifier's
    azure-ak check tells the software vTPM apart, and it does."""
    state = build_state(_config(tmp_path, vm))
    bundle = state.source.collect(bytes(range(32)), state.inventory.current())
    assert not bundle.agent.simulated
    assert bundle.tpm is not None and bundle.tpm.ak_public[:2] == b"\x00\x01"  # RSA
    assert bundle.tee.kind == ("azure-tdx-vtpm" if real.td_quote else "azure-sev-snp-vtpm")


def test_simulated_is_what_the_evidence_kinds_say_not_the_provider_name(
    vm: FakeAzureVm, tpm: AgentTpm
) -> None:
    """/healthz's ``simulated`` and the self-check's warning come from the models of the kinds
    a provider produces: the Azure reader of the simulated paravisor is named ``azure-vtpm``
    but produces ``*-simulated`` kinds (a name test called it real)."""
    real = AzureVtpmProvider(tpm, imds_url=vm.imds.base_url)
    evidence = real.get_evidence(bytes(64))
    assert evidence.kind in real.kinds and not evidence.simulated
    assert provider_simulated(real) is False
    reader = AzureVtpmProvider(tpm, imds_url=vm.imds.base_url, simulated=True, thim=False)
    assert reader.name == "azure-vtpm" and provider_simulated(reader) is True
    assert all(tee_model(kind).simulated for kind in reader.kinds)
    assert evidence.kind.replace("vtpm", "vtpm-simulated") in reader.kinds
