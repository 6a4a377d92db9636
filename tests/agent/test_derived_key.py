"""SEV-SNP derived keys: SNP_GET_DERIVED_KEY against a fake kernel that reads the request from the
caller's memory byte for byte (linux/sev-guest.h's struct snp_derived_key_req) and writes a
MSG_KEY_RSP into the response buffer; configfs-tsm's refusal; the simulated firmware's
determinism per chip and selected field; the state volume key derived from it."""

from __future__ import annotations

import ctypes
import errno
import hashlib
import hmac
import os
import struct
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from cairn_agent.tee.base import ProviderError
from cairn_agent.tee.configfs_tsm import ConfigfsTsmProvider
from cairn_agent.tee.derived_key import (
    DerivedKeyRequest,
    GuestField,
    RootKey,
    parse_fields,
    state_volume_key,
)
from cairn_agent.tee.sev_guest import GUEST_REQUEST, SNP_GET_DERIVED_KEY, SevGuestProvider
from cairn_agent.tee.simulated_snp import SimulatedSnpProvider

KEY = bytes(range(0xA0, 0xC0))
DEFAULT = DerivedKeyRequest()


class FakeKeyKernel:
    """The sev-guest driver and firmware for SNP_GET_DERIVED_KEY only."""

    def __init__(self) -> None:
        self.requests: list[bytes] = []
        self.status = 0
        self.key = KEY
        self.failure: tuple[int, int] | None = None  # (errno, exitinfo2)

    def __call__(self, fd: int, request: int, arg: bytearray) -> None:
        assert fd >= 0 and len(arg) == 32
        if request != SNP_GET_DERIVED_KEY:
            raise OSError(errno.ENOTTY, os.strerror(errno.ENOTTY))
        version, req_addr, resp_addr, exitinfo2 = GUEST_REQUEST.unpack(bytes(arg))
        assert version == 1 and exitinfo2 == 0 and req_addr and resp_addr
        self.requests.append(ctypes.string_at(req_addr, 32))
        if self.failure is not None:
            code, info = self.failure
            arg[24:32] = info.to_bytes(8, "little")
            raise OSError(code, os.strerror(code))
        response = struct.pack("<I28s32s", self.status, bytes(28), self.key)
        ctypes.memmove(resp_addr, response, 64)


@pytest.fixture
def device(tmp_path: Path) -> Path:
    path = tmp_path / "sev-guest"
    path.touch()
    return path


def test_ioctl_number_and_request_layout_match_the_uapi() -> None:
    assert SNP_GET_DERIVED_KEY == 0xC0205301  # _IOWR('S', 0x1, struct snp_guest_request_ioctl)
    request = DerivedKeyRequest(
        root_key=RootKey.VMRK,
        fields=GuestField.MEASUREMENT | GuestField.GUEST_SVN | GuestField.TCB_VERSION,
        vmpl=2,
        guest_svn=0x01020304,
        tcb_version=0x1122334455667788,
    )
    # root_key_select u32, rsvd u32, guest_field_select u64, vmpl u32, guest_svn u32,
    # tcb_version u64 -- written out by hand, little-endian.
    expected = (
        bytes.fromhex("01000000")
        + bytes(4)
        + bytes.fromhex("3800000000000000")
        + bytes.fromhex("02000000")
        + bytes.fromhex("04030201")
        + bytes.fromhex("8877665544332211")
    )
    assert request.pack() == expected and len(expected) == 32


def test_the_kernel_reads_exactly_the_request_and_the_key_comes_back(device: Path) -> None:
    kernel = FakeKeyKernel()
    provider = SevGuestProvider(device, ioctl=kernel)
    request = DerivedKeyRequest(fields=parse_fields("measurement,guest-policy"))
    assert provider.derived_key(request) == KEY
    assert kernel.requests == [request.pack()]
    assert request.pack()[8:16] == (0b1001).to_bytes(8, "little")


def test_a_firmware_status_in_the_response_is_refused(device: Path) -> None:
    kernel = FakeKeyKernel()
    kernel.status = 0x16
    with pytest.raises(ProviderError, match=r"INVALID_PARAM \(0x16\)") as info:
        SevGuestProvider(device, ioctl=kernel).derived_key(DEFAULT)
    assert "guest SVN above" in (info.value.hint or "")


@pytest.mark.parametrize(
    ("failure", "words", "retryable"),
    [
        ((errno.EIO, 0x16), "SEV firmware error INVALID_PARAM (0x16)", False),
        ((errno.EIO, 2 << 32), "SNP_GUEST_VMM_ERR_BUSY", True),
        ((errno.EIO, 7 << 32), "hypervisor error 0x7", False),
        ((errno.EACCES, 0), "permission denied", False),
        ((errno.ENOTTY, 0), "does not offer SNP_GET_DERIVED_KEY", False),
    ],
)
def test_ioctl_errors_are_explained(
    device: Path, failure: tuple[int, int], words: str, retryable: bool
) -> None:
    kernel = FakeKeyKernel()
    kernel.failure = failure
    with pytest.raises(ProviderError) as info:
        SevGuestProvider(device, ioctl=kernel).derived_key(DEFAULT)
    assert words in info.value.message and "SNP_GET_DERIVED_KEY" in info.value.message
    assert info.value.retryable is retryable


def test_an_all_zero_key_is_never_used(device: Path) -> None:
    kernel = FakeKeyKernel()
    kernel.key = bytes(32)
    with pytest.raises(ProviderError, match="all-zero key"):
        SevGuestProvider(device, ioctl=kernel).derived_key(DEFAULT)


def test_a_vmpl_more_privileged_than_the_caller_is_not_asked_for(device: Path) -> None:
    kernel = FakeKeyKernel()
    with pytest.raises(ProviderError, match="VMPL 0 cannot be asked for at VMPL 2"):
        SevGuestProvider(device, vmpl=2, ioctl=kernel).derived_key(DerivedKeyRequest(vmpl=0))
    assert kernel.requests == []


def test_no_device_is_explained(tmp_path: Path) -> None:
    with pytest.raises(ProviderError, match="cannot open") as info:
        SevGuestProvider(tmp_path / "missing", ioctl=FakeKeyKernel()).derived_key(DEFAULT)
    assert "sev-guest" in (info.value.hint or "")


@pytest.mark.parametrize(
    "kwargs",
    [{"vmpl": 4}, {"guest_svn": -1}, {"guest_svn": 1 << 32}, {"tcb_version": 1 << 64}],
)
def test_out_of_range_requests_are_refused_before_the_device(kwargs: dict[str, int]) -> None:
    with pytest.raises(ProviderError):
        DerivedKeyRequest(**kwargs)  # type: ignore[arg-type]


def test_undefined_field_bits_are_refused() -> None:
    with pytest.raises(ProviderError, match="does not define"):
        DerivedKeyRequest(fields=GuestField(1 << 6))
    with pytest.raises(ValueError, match="unknown guest field 'host-data'"):
        parse_fields("measurement,host-data")


def test_configfs_tsm_says_it_cannot_derive_keys(tmp_path: Path) -> None:
    with pytest.raises(ProviderError, match="reports only") as info:
        ConfigfsTsmProvider(tmp_path).derived_key(DEFAULT)
    assert "/dev/sev-guest" in (info.value.hint or "")


# --- the simulated firmware ---------------------------------------------------------------------


def _simulated(state: Path, **kwargs: object) -> SimulatedSnpProvider:
    return SimulatedSnpProvider(state, "Genoa", **kwargs)  # type: ignore[arg-type]


def test_simulated_keys_are_deterministic_per_chip(tmp_path: Path) -> None:
    first = _simulated(tmp_path / "chip-a").derived_key(DEFAULT)
    again = _simulated(tmp_path / "chip-a").derived_key(DEFAULT)  # a reboot: state reloaded
    other_chip = _simulated(tmp_path / "chip-b").derived_key(DEFAULT)
    assert first == again and len(first) == 32
    assert other_chip != first


def test_simulated_keys_follow_the_selected_fields_only(tmp_path: Path) -> None:
    chip = tmp_path / "chip"
    measurement_bound = DerivedKeyRequest(fields=GuestField.MEASUREMENT)
    family_bound = DerivedKeyRequest(fields=GuestField.FAMILY_ID | GuestField.GUEST_SVN)
    base = _simulated(chip, family_id=b"F" * 16, guest_svn=3)
    updated = _simulated(chip, launch_description=b"v2", family_id=b"F" * 16, guest_svn=4)
    # An update changes the measurement: a measurement-bound key changes with it...
    assert base.derived_key(measurement_bound) != updated.derived_key(measurement_bound)
    # ...a family-and-SVN-bound key does not, and the new image can still ask for the old SVN.
    assert base.derived_key(family_bound) == updated.derived_key(family_bound)
    # Selecting no field, or another family, gives other keys.
    assert base.derived_key(DerivedKeyRequest(fields=GuestField(0))) != base.derived_key(
        measurement_bound
    )
    other_family = _simulated(chip, family_id=b"G" * 16, guest_svn=3)
    assert other_family.derived_key(family_bound) != base.derived_key(family_bound)


def test_the_simulated_derivation_is_the_documented_hmac(tmp_path: Path) -> None:
    provider = _simulated(tmp_path / "chip")
    secret = bytes.fromhex(
        (tmp_path / "chip" / "simulated-snp-genoa" / "chip_secret.hex").read_text().strip()
    )
    request = DerivedKeyRequest(fields=GuestField.MEASUREMENT, vmpl=1)
    context = (
        b"cairn simulated MSG_KEY_REQ v1"
        + bytes([1])
        + (8).to_bytes(8, "little")
        + hashlib.sha384(b"Cairn simulated SEV-SNP launch, version 1: no firmware, kernel or "
                         b"initrd was measured").digest()
    )  # fmt: skip
    assert provider.derived_key(request) == hmac.new(secret, context, hashlib.sha256).digest()


def test_the_simulated_firmware_refuses_what_real_firmware_refuses(tmp_path: Path) -> None:
    provider = _simulated(tmp_path / "chip", guest_svn=2)
    with pytest.raises(ProviderError, match="guest SVN 3 is above the guest's SVN 2"):
        provider.derived_key(DerivedKeyRequest(fields=GuestField.GUEST_SVN, guest_svn=3))
    with pytest.raises(ProviderError, match="above the committed TCB"):
        provider.derived_key(DerivedKeyRequest(tcb_version=0xFF << 56))
    with pytest.raises(ProviderError, match="no VMRK"):
        provider.derived_key(DerivedKeyRequest(root_key=RootKey.VMRK))
    # A TCB floor at or below the committed TCB is fine, and binds the key to it.
    floor = DerivedKeyRequest(fields=GuestField.TCB_VERSION, tcb_version=provider.tcb.raw()[0])
    unbound = DerivedKeyRequest(fields=GuestField.TCB_VERSION)
    assert provider.derived_key(floor) != provider.derived_key(unbound)


def test_the_state_volume_key_is_hkdf_of_the_derived_key() -> None:
    request = DerivedKeyRequest()
    expected = HKDF(
        algorithm=hashes.SHA256(),
        length=64,
        salt=request.pack(),
        info=b"cairn/state-volume-key/v1",
    ).derive(KEY)
    assert state_volume_key(KEY, request) == expected
    other = DerivedKeyRequest(fields=GuestField.MEASUREMENT)
    assert state_volume_key(KEY, other) != expected
