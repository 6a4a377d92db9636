"""Catalogue of the real NVIDIA evidence in tests/vectors/gpu (section 2 of its PROVENANCE.md).

Each :class:`GpuSource` is one input file as a user holds it (a bare report with its chain, or
an envelope of several devices), the nonce its source says the reports were requested with
(written out here from PROVENANCE.md and the sources' JSON, not read from the reports), the
families of its devices in order, and what a correct verifier concludes. Import it with
``from gpu_vectors import SOURCES`` in a test module of this directory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

SDK = "attestation-sdk/unit-tests/testdata"
SAMPLES = f"{SDK}/sample_attestation_data"
SERIALIZED = "attestation-sdk/common-test-data/serialized_test_evidence"
GNAT = "go-nvattest-tools/testing/testdata"

NVTRUST_TEST_NONCE = "931d8dd0add203ac3d8b4fbde75e115278eefcdceac5b87671a748f32364dfcb"
NVTRUST_OLD_NONCE = "4cff7f5380ead8fad8ec2c531c110aca4302a88f603792801a8ca29ee151af2e"
PPCIE_NONCE = "4760e30534a0621357d458b1a7936551b5dc4cd1e69718adf7ed9fb0252a537e"
SDK_580_NONCE = "5bb22e377702d4e1e8215a903ba094826b9ac7f731dee1fe8102958bf2840aca"
SDK_535_NONCE = "27a328247bf7935c993341cf587be6f05986ccce4fe7ba2c54100bd616a58f66"
SDK_590_NONCE = "e97b23a1718095a0e9e35edca810768c70a6a5a389b705e753b197912bc11576"
GNAT_NONCE = "1234567890123456789012345678901234567890123456789012345678901234"
MPT_NONCE = "cdb72201e569085d6de41863745f6f77db1f75962c29564ec6abe91f0221861f"

Expected = Literal["verified", "bad-signature", "duplicate-devices"]
H, B, S = "GH100", "GB100", "LS_10"


@dataclass(frozen=True)
class GpuSource:
    name: str
    evidence: str
    """Relative to tests/vectors/gpu."""
    certs: str | None
    """The chain of a bare report (``--certs``)."""
    nonce: str
    families: tuple[str, ...]
    expected: Expected = "verified"

    def argv(self, gpu: Path) -> list[str]:
        argv = ["verify", "gpu", str(gpu / self.evidence), "--nonce", self.nonce]
        if self.certs is not None:
            argv += ["--certs", str(gpu / self.certs)]
        return [*argv, "--offline", "--no-cache", "--json"]


SOURCES: tuple[GpuSource, ...] = (
    GpuSource("nvtrust-hopper-sample", "nvtrust/hopperAttestationReport.txt",
              "nvtrust/hopperCertChain.txt", NVTRUST_TEST_NONCE, (H,)),
    GpuSource("nvtrust-old-sample-545", "nvtrust/attestationReport.txt",
              "nvtrust/gpuAkCertChain.txt", NVTRUST_OLD_NONCE, (H,)),
    GpuSource("nvtrust-ppcie-8gpu", "nvtrust/gpu_evidence.json", None, PPCIE_NONCE, (H,) * 8),
    GpuSource("nvtrust-ppcie-4switch", "nvtrust/switch_evidence.json", None, PPCIE_NONCE,
              (S,) * 4),
    GpuSource("nvattest-hopper-580.159.03", f"{SDK}/hopperAttestationReport.txt",
              f"{SDK}/hopperCertChain.txt", SDK_580_NONCE, (H,)),
    GpuSource("nvattest-hopper-535.86.09", f"{SAMPLES}/gpu/hopperAttestationReport.txt",
              f"{SAMPLES}/gpu/hopperCertChain.txt", SDK_535_NONCE, (H,)),
    GpuSource("nvattest-hopper-expired-570.124.03",
              f"{SAMPLES}/gpu/hopperAttestationReportExpired.txt",
              f"{SAMPLES}/gpu/hopperCertChainExpired.txt", NVTRUST_TEST_NONCE, (H,)),
    GpuSource("nvattest-hopper-invalid-signature",
              f"{SAMPLES}/gpu/hopperAttestationReportInvalidSignature.txt",
              f"{SAMPLES}/gpu/hopperCertChain.txt", NVTRUST_TEST_NONCE, (H,), "bad-signature"),
    GpuSource("nvattest-blackwell-575.32", f"{SAMPLES}/gpu/blackwellAttestationReport.txt",
              f"{SAMPLES}/gpu/blackwellCertChain.txt", NVTRUST_TEST_NONCE, (B,)),
    GpuSource("nvattest-switch-ls10", f"{SDK}/switchAttestationReport.txt",
              f"{SDK}/switchCertChain.txt", NVTRUST_TEST_NONCE, (S,)),
    GpuSource("nvattest-switch-ls10-sample", f"{SAMPLES}/switch/switchAttestationReport.txt",
              f"{SAMPLES}/switch/switchCertChain.txt", NVTRUST_TEST_NONCE, (S,)),
    GpuSource("nvattest-switch-invalid-signature",
              f"{SAMPLES}/switch/switchAttestationReportInvalidSignature.txt",
              f"{SAMPLES}/switch/switchCertChain.txt", NVTRUST_TEST_NONCE, (S,), "bad-signature"),
    GpuSource("nvattest-evidence-590.12", f"{SDK}/evidence_hopper_590_12.json", None,
              SDK_590_NONCE, (H,)),
    GpuSource("nvattest-hopper-evidence", f"{SERIALIZED}/hopper_evidence.json", None,
              SDK_590_NONCE, (H,)),
    GpuSource("nvattest-multi-gpu-hopper", f"{SERIALIZED}/multi_gpu_hopper.json", None,
              SDK_590_NONCE, (H,) * 4),
    GpuSource("nvattest-hopper-cert-hold", f"{SERIALIZED}/hopper_evidence_cert_hold.json", None,
              NVTRUST_TEST_NONCE, (H,)),
    GpuSource("nvattest-switch-evidence-ls10", f"{SERIALIZED}/switch_evidence_ls10.json", None,
              NVTRUST_TEST_NONCE, (S,)),
    GpuSource("nvattest-multi-switch-ls10", f"{SERIALIZED}/multi_switch_ls10.json", None,
              NVTRUST_TEST_NONCE, (S,) * 4, "duplicate-devices"),
    GpuSource("gnat-hopper-raw", f"{GNAT}/test_raw_gpu_attestation_report.dat",
              f"{GNAT}/test_gpu_attestation_certificate_chain.dat", NVTRUST_TEST_NONCE, (H,)),
    GpuSource("gnat-switch-raw-as-paired", f"{GNAT}/test_raw_switch_attestation_report.dat",
              f"{GNAT}/test_switch_attestation_certificate_chain.dat", GNAT_NONCE, (S,),
              "bad-signature"),
    GpuSource("gnat-mpt-8x-blackwell", f"{GNAT}/test_mpt_data.json", None, MPT_NONCE, (B,) * 8),
    GpuSource("gnat-ppcie-8gpu-4switch", f"{GNAT}/test_ppcie_data.json", None, GNAT_NONCE,
              (H,) * 8 + (S,) * 4),
)  # fmt: skip

BY_NAME = {source.name: source for source in SOURCES}
