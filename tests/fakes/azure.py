"""A fake Azure confidential VM built from real Azure bytes: swtpm holding an RSA attestation key
at 0x81000003, the real HCL report served as its NV index 0x01400001 (through
:class:`~fakes.vtpm_proxy.NvIndexProxy`: swtpm cannot hold 2600 bytes in one index), and a fake
instance metadata service answering the quote endpoint with the real TD quote and THIM with the
real VCEK chain.

What such a VM can and cannot prove: the HCL report and the TD quote (or SEV-SNP report) are
genuine Azure and AMD/Intel bytes, but the vTPM is a software TPM whose attestation key is not
the HCLAkPub the hardware report binds; the verifier must say so (``azure-ak``, exit 1).
"""

from __future__ import annotations

import base64
import json
import subprocess
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cairn_verifier.x509.cert import load_certificates
from fakes.http_server import RecordedServer, Reply
from fakes.swtpm import running_swtpm
from fakes.vtpm_proxy import NvIndexProxy

HCL_NV_INDEX = 0x01400001
AK_HANDLE = 0x81000003
RSA_AK_ATTRIBUTES = "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|sign"


@dataclass(frozen=True)
class RealAzure:
    """One real Azure vector, as the fake VM serves it."""

    name: str
    hcl_report: bytes
    """The vTPM NV index's content (2600 bytes)."""
    td_quote: bytes | None
    vcek_chain: tuple[bytes, ...]
    """VCEK, ASK, ARK (DER), as THIM serves them (SEV-SNP)."""


def real_tdx(testdata: Path) -> RealAzure:
    folder = testdata / "tdx/trustee-azure"
    return RealAzure(
        "tdx",
        (folder / "hcl-report.bin").read_bytes(),
        (folder / "td-quote.bin").read_bytes(),
        (),
    )


def real_snp(testdata: Path) -> RealAzure:
    """trustee's Genoa evidence: its HCL report and VCEK, with the Genoa ASK and ARK."""
    trustee = testdata / "snp/trustee"
    evidence = json.loads((trustee / "az-snp-vtpm_evidence-genoa.json").read_text())
    [vcek] = load_certificates(evidence["vcek"].encode())
    ask, ark = load_certificates((trustee / "genoa_ask_ark_asvk.pem").read_bytes())[:2]
    return RealAzure("snp-genoa", bytes(evidence["report"]), None, (vcek.der, ask.der, ark.der))


def _pem(der: bytes) -> str:
    lines = textwrap.wrap(base64.b64encode(der).decode(), 64)
    return "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"


def imds_routes(vm: RealAzure) -> dict[str, Reply]:
    """Azure's instance metadata service as the fake VM's agent sees it."""
    routes: dict[str, Reply] = {}
    if vm.td_quote is not None:
        quote = base64.urlsafe_b64encode(vm.td_quote).decode().rstrip("=")
        routes["/acc/tdquote"] = Reply(200, json.dumps({"quote": quote}).encode())
    if vm.vcek_chain:
        vcek, *chain = vm.vcek_chain
        body = {
            "vcekCert": _pem(vcek),
            "certificateChain": "".join(_pem(der) for der in chain),
            "tcbm": "0000000000000000",
            "cacheControl": "86400",
        }
        routes["/metadata/THIM/amd/certification"] = Reply(200, json.dumps(body).encode())
    return routes


def provision_ak(tcti: str, workdir: Path) -> None:
    """An RSA-2048 restricted signing key (RSASSA-SHA256) persisted at 0x81000003, as Azure's
    paravisor provisions the vTPM's AK (here: a software key of swtpm's, not HCLAkPub)."""
    env = {"TPM2TOOLS_TCTI": tcti, "PATH": "/usr/bin:/bin"}
    context = workdir / "ak.ctx"
    for argv in (
        ["tpm2_createprimary", "-C", "o", "-G", "rsa2048:rsassa-sha256:null", "-a",
         RSA_AK_ATTRIBUTES, "-c", str(context)],
        ["tpm2_evictcontrol", "-C", "o", "-c", str(context), hex(AK_HANDLE)],
    ):  # fmt: skip
        subprocess.run(argv, env=env, check=True, capture_output=True, timeout=30)


@dataclass(frozen=True)
class FakeAzureVm:
    tcti: str
    """The vTPM: swtpm behind the NV index proxy."""
    imds: RecordedServer
    proxy: NvIndexProxy


@contextmanager
def fake_azure_vm(workdir: Path, vm: RealAzure) -> Iterator[FakeAzureVm]:
    """swtpm with an AK at 0x81000003, the real HCL report as NV index 0x01400001, and IMDS."""
    with running_swtpm(workdir) as tpm:
        tcti = tpm.env["TPM2TOOLS_TCTI"]
        provision_ak(tcti, workdir)
        port = int(tcti.rsplit("=", 1)[1])
        proxy = NvIndexProxy(port, HCL_NV_INDEX, vm.hcl_report)
        with proxy.running(), RecordedServer(imds_routes(vm)) as imds:
            yield FakeAzureVm(proxy.tcti, imds, proxy)
