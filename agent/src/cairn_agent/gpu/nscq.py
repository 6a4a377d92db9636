"""NVIDIA NVSwitches through NSCQ (``libnvidia-nscq.so.2``, the NVSwitch Configuration and Query
library, called with ctypes): every switch's attestation report for the agent's SPDM nonce and
its attestation certificate chain, refused unless the switch is in Trusted NVLink (TNVL) mode and
locked.

The API is the one NVIDIA publishes with its attestation tools (nvtrust's
``guest_tools/attestation_sdk/.../nv_switch_verifier/nscq/nscq_attestation.h`` and
``nscq_attestation_path.h``, NSCQ API 2.0.0; the same calls in attestation-sdk's C++
``nscq_client.cpp``, which opens ``libnvidia-nscq.so.2``)::

    nscq_session_result_t nscq_session_create(uint32_t flags)     { int8_t rc; session* }
    nscq_rc_t nscq_session_path_observe(session, const char* path, fn callback, void* user,
                                        uint32_t flags)
    nscq_rc_t nscq_session_set_input(session, uint32_t flags, void* input, uint32_t size)
    nscq_rc_t nscq_uuid_to_label(const nscq_uuid_t*, nscq_label_t*, uint32_t flags)

    nscq_uuid_t { uint8_t bytes[16] }           nscq_label_t { char data[64] }
    nscq_attestation_report_t      { uint32_t report_size; uint8_t report[0x2000] }
    nscq_attestation_certificate_t { uint8_t cert_chain[0x1400]; uint32_t cert_chain_size }

``nscq_rc_t`` is 0 for success, 1..127 for a warning (success with a caveat), negative for an
error. Paths: ``/drv/nvswitch/{device}/uuid`` lists the switches; ``/<label>/config/pcie_mode``
(TNVL status: bit 0 TNVL enabled, bit 1 locked), ``/<label>/config/certificate`` and, after
``nscq_session_set_input`` with the 32-byte nonce, ``/<label>/config/attestation_report`` answer
one switch. Each observation calls back ``(const nscq_uuid_t* device, nscq_rc_t rc, VALUE,
void* user)``, where VALUE is a uuid pointer, an ``int8_t`` or one of the structures above
*passed by value*.

Nothing here has run against a real NSCQ library or NVSwitch: the tests use a fake compiled
from C with these declarations (tests/fakes/fake_nscq.c), serving real LS10 evidence.
"""

from __future__ import annotations

import ctypes
import logging
import re
import threading
from collections.abc import Callable
from typing import Any, Final

from cairn_verifier.api import CairnError, load_certificates

from .base import GpuDevice, ProviderError, load_library

log = logging.getLogger(__name__)

LIBRARY: Final = "libnvidia-nscq.so.2"
NONCE_SIZE: Final = 0x20
REPORT_SIZE: Final = 0x2000
CERT_CHAIN_SIZE: Final = 0x1400
MAX_SWITCHES: Final = 64
SESSION_CREATE_MOUNT_DEVICES: Final = 0x1

UUID_PATH: Final = b"/drv/nvswitch/{device}/uuid"
PCIE_MODE: Final = b"/config/pcie_mode"
CERTIFICATE: Final = b"/config/certificate"
ATTESTATION_REPORT: Final = b"/config/attestation_report"

_LABEL: Final = re.compile(rb"[\x21-\x2e\x30-\x7e]{1,63}")
"""A label NSCQ gives a switch: printable ASCII without ``/`` (it becomes a path component)."""
TNVL_ENABLED: Final = 0x1
TNVL_LOCKED: Final = 0x2
RETURN_CODES: Final = {
    1: "NSCQ_RC_WARNING_RDT_INIT_FAILURE",
    -1: "NSCQ_RC_ERROR_NOT_IMPLEMENTED",
    -2: "NSCQ_RC_ERROR_INVALID_UUID",
    -3: "NSCQ_RC_ERROR_RESOURCE_NOT_MOUNTABLE",
    -4: "NSCQ_RC_ERROR_OVERFLOW",
    -5: "NSCQ_RC_ERROR_UNEXPECTED_VALUE",
    -6: "NSCQ_RC_ERROR_UNSUPPORTED_DRV",
    -7: "NSCQ_RC_ERROR_DRV",
    -8: "NSCQ_RC_ERROR_TIMEOUT",
    -127: "NSCQ_RC_ERROR_EXT",
    -128: "NSCQ_RC_ERROR_UNSPECIFIED",
}


class NscqUuid(ctypes.Structure):
    _fields_ = [("bytes", ctypes.c_uint8 * 16)]


class NscqLabel(ctypes.Structure):
    _fields_ = [("data", ctypes.c_char * 64)]


class NscqAttestationReport(ctypes.Structure):
    _fields_ = [("report_size", ctypes.c_uint32), ("report", ctypes.c_uint8 * REPORT_SIZE)]


class NscqAttestationCertificate(ctypes.Structure):
    _fields_ = [
        ("cert_chain", ctypes.c_uint8 * CERT_CHAIN_SIZE),
        ("cert_chain_size", ctypes.c_uint32),
    ]


class NscqSessionResult(ctypes.Structure):
    _fields_ = [("rc", ctypes.c_int8), ("session", ctypes.c_void_p)]


_Rc = ctypes.c_int8
_UuidPointer = ctypes.POINTER(NscqUuid)
_UUID_CALLBACK = ctypes.CFUNCTYPE(None, _UuidPointer, _Rc, _UuidPointer, ctypes.c_void_p)
_MODE_CALLBACK = ctypes.CFUNCTYPE(None, _UuidPointer, _Rc, ctypes.c_int8, ctypes.c_void_p)
_CERTIFICATE_CALLBACK = ctypes.CFUNCTYPE(
    None, _UuidPointer, _Rc, NscqAttestationCertificate, ctypes.c_void_p
)
_REPORT_CALLBACK = ctypes.CFUNCTYPE(None, _UuidPointer, _Rc, NscqAttestationReport, ctypes.c_void_p)

_SIGNATURES: Final[dict[str, tuple[Any, list[Any]]]] = {
    "nscq_session_create": (NscqSessionResult, [ctypes.c_uint32]),
    "nscq_session_path_observe": (
        _Rc,
        [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint32],
    ),
    "nscq_session_set_input": (
        _Rc,
        [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_void_p, ctypes.c_uint32],
    ),
    "nscq_uuid_to_label": (
        _Rc,
        [ctypes.POINTER(NscqUuid), ctypes.POINTER(NscqLabel), ctypes.c_uint32],
    ),
}


def _rc_name(rc: int) -> str:
    return f"{RETURN_CODES.get(rc, 'unknown NSCQ return code')} ({rc})"


class NscqSwitchProvider:
    """Every NVSwitch NSCQ lists, attested for the agent's nonce (needs TNVL mode, locked)."""

    name = "nscq"
    simulated = False

    def __init__(self, library: str = LIBRARY):
        self._lib = load_library(
            library,
            _SIGNATURES,
            name="NSCQ",
            install_hint="install NVIDIA's NSCQ library (libnvidia-nscq, shipped with the NVSwitch "
            'driver and Fabric Manager) or set gpu.switches = "none"',
            too_old="not an NSCQ library with the attestation API (NSCQ 2.0, NVSwitch driver r535 "
            "or later)",
        )
        self._lock = threading.Lock()
        created = self._lib.nscq_session_create(SESSION_CREATE_MOUNT_DEVICES)
        self._check("nscq_session_create", int(created.rc))
        if not created.session:
            raise ProviderError("NSCQ nscq_session_create returned no session")
        self._session = created.session
        self.library = library

    def _check(self, what: str, rc: int) -> None:
        if rc < 0:
            raise ProviderError(
                f"NSCQ {what} failed: {_rc_name(rc)}",
                hint="is this a confidential VM with its NVSwitches passed through (PPCIe mode) "
                "and the NVSwitch driver loaded?",
            )
        if rc > 0:
            log.warning("NSCQ %s: warning %s", what, _rc_name(rc))

    def _observe(self, path: bytes, callback: Any) -> None:
        rc = int(
            self._lib.nscq_session_path_observe(
                self._session, path, ctypes.cast(callback, ctypes.c_void_p), None, 0
            )
        )
        self._check(f"path {path.decode('ascii', 'replace')!r}", rc)

    def _label(self, uuid: Any) -> str:
        label = NscqLabel()
        self._check("nscq_uuid_to_label", int(self._lib.nscq_uuid_to_label(uuid, label, 0)))
        raw = bytes(label.data)
        if _LABEL.fullmatch(raw) is None:
            raise ValueError(f"NSCQ labels a switch {raw!r}: not a path component")
        return raw.decode("ascii")

    def _answers(self, path: bytes, callback_type: Any, read: Callable[[Any], Any]) -> list[Any]:
        """What every callback of one observation delivered (``read`` of its value); an error
        code in a callback fails the observation."""
        answers: list[Any] = []
        failures: list[int] = []

        def deliver(_device: Any, rc: int, value: Any, _user: Any) -> None:
            try:
                if rc < 0:
                    failures.append(rc)
                else:
                    answers.append(read(value))
            except Exception as exc:
                answers.append(exc)

        callback = callback_type(deliver)
        self._observe(path, callback)
        what = path.decode("ascii", "replace")
        if failures:
            raise ProviderError(f"NSCQ answered {what!r} with {_rc_name(failures[0])}")
        for answer in answers:
            if isinstance(answer, Exception):
                raise ProviderError(f"NSCQ's answer to {what!r} cannot be read: {answer}")
        return answers

    def switches(self) -> list[str]:
        """The labels of the NVSwitches NSCQ lists, in its order."""
        labels = self._answers(UUID_PATH, _UUID_CALLBACK, self._label)
        if not 0 < len(labels) <= MAX_SWITCHES:
            raise ProviderError(
                f"NSCQ lists {len(labels)} NVSwitches (1..{MAX_SWITCHES} attestable)",
                hint='a node without NVSwitches needs gpu.switches = "none"',
            )
        if len(set(labels)) != len(labels):
            raise ProviderError(f"NSCQ lists a switch twice: {', '.join(labels)}")
        return labels

    def _one(self, label: str, path: bytes, callback_type: Any, read: Callable[[Any], Any]) -> Any:
        answers = self._answers(b"/" + label.encode("ascii") + path, callback_type, read)
        if len(answers) != 1:
            raise ProviderError(
                f"NSCQ gave {len(answers)} answers to {path.decode()} for switch {label}, not one"
            )
        return answers[0]

    def tnvl_mode(self, label: str) -> int:
        """The switch's TNVL status (bit 0: TNVL enabled, bit 1: locked); unsigned."""
        mode: int = self._one(label, PCIE_MODE, _MODE_CALLBACK, int)
        return mode

    def _check_tnvl(self, label: str) -> None:
        mode = self.tnvl_mode(label)
        if mode < 0 or not mode & TNVL_ENABLED:
            raise ProviderError(
                f"NVSwitch {label} is not in Trusted NVLink (TNVL) mode (status {mode}): its "
                "links would carry GPU traffic unprotected",
                hint="enable PPCIe mode on the host (nvidia_gpu_tools.py --set-ppcie-mode=on) "
                "and reboot the VM",
            )
        if not mode & TNVL_LOCKED:
            raise ProviderError(
                f"NVSwitch {label} is in TNVL mode but not locked (status {mode}): its "
                "configuration can still change",
                hint="let the Fabric Manager finish configuring the switches (it locks them)",
            )

    def _switch(self, label: str, nonce: bytes) -> GpuDevice:
        buffer = (ctypes.c_uint8 * NONCE_SIZE).from_buffer_copy(nonce)
        rc = self._lib.nscq_session_set_input(self._session, 0, buffer, NONCE_SIZE)
        self._check("nscq_session_set_input", int(rc))
        report = self._one(label, ATTESTATION_REPORT, _REPORT_CALLBACK, _report_bytes)
        pem = self._one(label, CERTIFICATE, _CERTIFICATE_CALLBACK, _chain_bytes)
        try:
            chain = tuple(c.der for c in load_certificates(pem.rstrip(b"\0")))
        except CairnError as exc:
            raise ProviderError(
                f"NVSwitch {label}'s certificate chain cannot be read: {exc}"
            ) from exc
        return GpuDevice(report, chain)

    def get_gpu_evidence(self, nonce: bytes) -> tuple[GpuDevice, ...]:
        if len(nonce) != NONCE_SIZE:
            raise ProviderError(f"an SPDM nonce is 32 bytes, not {len(nonce)}")
        with self._lock:
            labels = self.switches()
            for label in labels:
                self._check_tnvl(label)
            return tuple(self._switch(label, nonce) for label in labels)

    def describe(self) -> str:
        return f"NVIDIA NVSwitches through NSCQ ({self.library})"


def _report_bytes(value: NscqAttestationReport) -> bytes:
    size = int(value.report_size)
    if not 0 < size <= REPORT_SIZE:
        raise ValueError(f"a report of {size} bytes (its buffer holds {REPORT_SIZE})")
    return bytes(value.report[:size])


def _chain_bytes(value: NscqAttestationCertificate) -> bytes:
    size = int(value.cert_chain_size)
    if not 0 < size <= CERT_CHAIN_SIZE:
        raise ValueError(
            f"a certificate chain of {size} bytes (its buffer holds {CERT_CHAIN_SIZE})"
        )
    return bytes(value.cert_chain[:size])
