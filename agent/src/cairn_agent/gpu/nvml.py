"""NVIDIA GPUs through NVML (``libnvidia-ml.so.1``, called with ctypes): the system's
confidential-computing state, one attestation report per GPU for the agent's SPDM nonce, each
GPU's attestation certificate chain, and NVIDIA's "GPUs ready" state.

The structures are NVML's (nvml.h, r535 and later)::

    nvmlConfComputeSystemState_t          { uint environment, ccFeature, devToolsMode }
    nvmlConfComputeGpuAttestationReport_t { uint isCecAttestationReportPresent,
                                            attestationReportSize, cecAttestationReportSize;
                                            uchar nonce[32] (in), attestationReport[0x2000],
                                            cecAttestationReport[0x1000] }
    nvmlConfComputeGpuCertificate_t       { uint certChainSize, attestationCertChainSize;
                                            uchar certChain[0x1000], attestationCertChain[0x1400] }

The CC mode is *not* in the signed report (NVIDIA's tools read it from NVML too, i.e. from the
host driver); the provider refuses to attest when NVML says CC is off or developer tools mode is
on, and the verifier says a pass does not prove CC mode. NVSwitches are reached through NSCQ, not
NVML; this provider attests GPUs only.
"""

from __future__ import annotations

import ctypes
import logging
import threading
from typing import Any, Final

from cairn_verifier.api import CairnError, load_certificates

from .base import GpuDevice, ProviderError, load_library

log = logging.getLogger(__name__)

LIBRARY: Final = "libnvidia-ml.so.1"
NONCE_SIZE: Final = 0x20
REPORT_SIZE: Final = 0x2000
CEC_REPORT_SIZE: Final = 0x1000
CERT_CHAIN_SIZE: Final = 0x1000
ATTESTATION_CERT_CHAIN_SIZE: Final = 0x1400
MAX_GPUS: Final = 64

NVML_SUCCESS: Final = 0
CC_FEATURE_ENABLED: Final = 1
CC_DEVTOOLS_ON: Final = 1
CC_ENVIRONMENTS: Final = {0: "unavailable", 1: "simulation", 2: "production"}


class ConfComputeSystemState(ctypes.Structure):
    _fields_ = [
        ("environment", ctypes.c_uint),
        ("ccFeature", ctypes.c_uint),
        ("devToolsMode", ctypes.c_uint),
    ]


class ConfComputeGpuAttestationReport(ctypes.Structure):
    _fields_ = [
        ("isCecAttestationReportPresent", ctypes.c_uint),
        ("attestationReportSize", ctypes.c_uint),
        ("cecAttestationReportSize", ctypes.c_uint),
        ("nonce", ctypes.c_ubyte * NONCE_SIZE),
        ("attestationReport", ctypes.c_ubyte * REPORT_SIZE),
        ("cecAttestationReport", ctypes.c_ubyte * CEC_REPORT_SIZE),
    ]


class ConfComputeGpuCertificate(ctypes.Structure):
    _fields_ = [
        ("certChainSize", ctypes.c_uint),
        ("attestationCertChainSize", ctypes.c_uint),
        ("certChain", ctypes.c_ubyte * CERT_CHAIN_SIZE),
        ("attestationCertChain", ctypes.c_ubyte * ATTESTATION_CERT_CHAIN_SIZE),
    ]


_Device = ctypes.c_void_p
_SIGNATURES: Final[dict[str, list[Any]]] = {
    "nvmlInit_v2": [],
    "nvmlShutdown": [],
    "nvmlErrorString": [ctypes.c_int],
    "nvmlDeviceGetCount_v2": [ctypes.POINTER(ctypes.c_uint)],
    "nvmlDeviceGetHandleByIndex_v2": [ctypes.c_uint, ctypes.POINTER(_Device)],
    "nvmlSystemGetConfComputeState": [ctypes.POINTER(ConfComputeSystemState)],
    "nvmlDeviceGetConfComputeGpuAttestationReport": [
        _Device,
        ctypes.POINTER(ConfComputeGpuAttestationReport),
    ],
    "nvmlDeviceGetConfComputeGpuCertificate": [_Device, ctypes.POINTER(ConfComputeGpuCertificate)],
    "nvmlSystemGetConfComputeGpusReadyState": [ctypes.POINTER(ctypes.c_uint)],
    "nvmlSystemSetConfComputeGpusReadyState": [ctypes.c_uint],
}


def _bytes(buffer: Any, size: int, limit: int, what: str) -> bytes:
    if not 0 < size <= limit:
        raise ProviderError(f"NVML returned a {what} of {size} bytes (its buffer holds {limit})")
    return bytes(buffer[:size])


class NvmlGpuProvider:
    """Every GPU NVML lists, attested for the agent's nonce (needs CC mode on)."""

    name = "nvml"
    simulated = False

    def __init__(self, library: str = LIBRARY):
        self._lib = load_library(
            library,
            {
                function: (ctypes.c_char_p if function == "nvmlErrorString" else ctypes.c_int, args)
                for function, args in _SIGNATURES.items()
            },
            name="NVML",
            install_hint="install the NVIDIA datacenter driver (NixOS: cairn.gpu.enable) or set "
            'gpu.provider = "none"',
            too_old="the driver predates confidential computing (r535 or later is needed)",
        )
        self._lock = threading.Lock()
        self._call("nvmlInit_v2")
        self.library = library

    def _call(self, function: str, *args: Any) -> None:
        code = int(getattr(self._lib, function)(*args))
        if code != NVML_SUCCESS:
            text = self._lib.nvmlErrorString(code)
            reason = text.decode("ascii", "replace") if isinstance(text, bytes) else str(code)
            raise ProviderError(
                f"NVML {function} failed: {reason} ({code})",
                hint="is this a confidential VM with GPUs in CC mode and the driver loaded?",
            )

    def cc_state(self) -> dict[str, object]:
        """NVML's confidential-computing state (unsigned: the host driver answers it)."""
        state = ConfComputeSystemState()
        self._call("nvmlSystemGetConfComputeState", ctypes.byref(state))
        return {
            "environment": CC_ENVIRONMENTS.get(state.environment, str(state.environment)),
            "cc_feature": state.ccFeature == CC_FEATURE_ENABLED,
            "devtools_mode": state.devToolsMode == CC_DEVTOOLS_ON,
        }

    def _check_cc(self) -> None:
        state = self.cc_state()
        if not state["cc_feature"]:
            raise ProviderError(
                "NVML reports confidential computing off: the GPUs would attest, but their "
                "memory is not protected",
                hint="enable CC mode on the host (nvidia_gpu_tools.py --set-cc-mode=on) and "
                "reboot the VM",
            )
        if state["devtools_mode"]:
            raise ProviderError(
                "NVML reports CC developer-tools mode on: GPU memory can be inspected",
                hint="switch the GPUs to CC mode 'on' instead of 'devtools'",
            )

    def _devices(self) -> list[Any]:
        count = ctypes.c_uint()
        self._call("nvmlDeviceGetCount_v2", ctypes.byref(count))
        if not 0 < count.value <= MAX_GPUS:
            raise ProviderError(f"NVML lists {count.value} GPUs (1..{MAX_GPUS} attestable)")
        handles = []
        for index in range(count.value):
            handle = _Device()
            self._call("nvmlDeviceGetHandleByIndex_v2", index, ctypes.byref(handle))
            handles.append(handle)
        return handles

    def _device(self, handle: Any, nonce: bytes, index: int) -> GpuDevice:
        report = ConfComputeGpuAttestationReport()
        ctypes.memmove(report.nonce, nonce, NONCE_SIZE)
        self._call("nvmlDeviceGetConfComputeGpuAttestationReport", handle, ctypes.byref(report))
        raw = _bytes(report.attestationReport, report.attestationReportSize, REPORT_SIZE, "report")
        certificate = ConfComputeGpuCertificate()
        self._call("nvmlDeviceGetConfComputeGpuCertificate", handle, ctypes.byref(certificate))
        pem = _bytes(
            certificate.attestationCertChain,
            certificate.attestationCertChainSize,
            ATTESTATION_CERT_CHAIN_SIZE,
            "certificate chain",
        )
        try:
            chain = tuple(c.der for c in load_certificates(pem.rstrip(b"\0")))
        except CairnError as exc:
            raise ProviderError(f"GPU {index}'s certificate chain cannot be read: {exc}") from exc
        return GpuDevice(raw, chain)

    def get_gpu_evidence(self, nonce: bytes) -> tuple[GpuDevice, ...]:
        if len(nonce) != NONCE_SIZE:
            raise ProviderError(f"an SPDM nonce is 32 bytes, not {len(nonce)}")
        with self._lock:
            self._check_cc()
            return tuple(
                self._device(handle, nonce, index) for index, handle in enumerate(self._devices())
            )

    def ready_state(self) -> bool:
        value = ctypes.c_uint()
        self._call("nvmlSystemGetConfComputeGpusReadyState", ctypes.byref(value))
        return bool(value.value)

    def set_ready(self) -> None:
        """Let the GPUs accept work (what NVIDIA's tools do after local verification)."""
        with self._lock:
            self._call("nvmlSystemSetConfComputeGpusReadyState", 1)
        log.info("NVML: GPUs set ready to accept work (CC ready state)")

    def describe(self) -> str:
        return f"NVIDIA GPUs through NVML ({self.library})"
