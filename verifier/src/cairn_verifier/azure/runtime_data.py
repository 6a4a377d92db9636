"""The HCL report's runtime data: the JSON document the hardware report's REPORT_DATA commits to.

Azure's paravisor writes it (docs/cloud.md)::

    {"keys": [{"kid": "HCLAkPub", "key_ops": ["sign"], "kty": "RSA", "e": "AQAB", "n": "…"},
              {"kid": "HCLEkPub", "key_ops": ["encrypt"], "kty": "RSA", "e": "AQAB", "n": "…"}],
     "vm-configuration": {"console-enabled": true, "secure-boot": true, "tpm-enabled": true,
                          "vmUniqueId": "…", …},
     "user-data": "<64 bytes as 128 hex digits>"}

``HCLAkPub`` is the vTPM's attestation key (persistent handle 0x81000003), ``HCLEkPub`` its
endorsement key. Parsing is strict: UTF-8 JSON within the document limits, no member twice,
no member Cairn does not know (a newer paravisor's new flag could be one a relying party must
see: Cairn refuses to skip it), every value of its type, keys as RSA JWKs in canonical base64url
(RFC 7518), exactly one ``HCLAkPub``. Any defect is a :class:`MalformedInputError` (exit 10).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ..documents import parse_json
from ..errors import MalformedInputError

COMPONENT: Final = "runtime data"
AK_KID: Final = "HCLAkPub"
EK_KID: Final = "HCLEkPub"
USER_DATA_BYTES: Final = 64
MAX_KEYS: Final = 16
MAX_TEXT: Final = 256
RSA_BITS: Final = (2048, 4096)

_B64URL: Final = re.compile(r"[A-Za-z0-9_-]+")
_HEX: Final = re.compile(r"[0-9A-Fa-f]*")
_KEY_MEMBERS: Final = frozenset({"kid", "key_ops", "kty", "e", "n"})
_TOP_MEMBERS: Final = frozenset({"keys", "vm-configuration", "user-data"})


def _error(message: str, hint: str | None = None) -> MalformedInputError:
    return MalformedInputError(
        f"HCL runtime data: {message}",
        component=COMPONENT,
        hint=hint
        or "the runtime data is Azure's; it cannot be fixed by hand: read the vTPM's "
        "HCL report again (a newer paravisor may need a newer cairn-verifier)",
    )


@dataclass(frozen=True)
class RsaJwk:
    """An RSA public key as a JWK (``kty`` RSA), with its identifier and permitted operations."""

    kid: str
    key_ops: tuple[str, ...]
    n: int
    e: int

    def public_key(self) -> rsa.RSAPublicKey:
        return rsa.RSAPublicNumbers(self.e, self.n).public_key()

    @property
    def bits(self) -> int:
        return self.n.bit_length()

    def fingerprint(self) -> str:
        """SHA-256 of the key's DER SubjectPublicKeyInfo, as hex (how the output names a key)."""
        der = self.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return hashlib.sha256(der).hexdigest()

    def same_key(self, key: object) -> bool:
        """Whether ``key`` (a ``cryptography`` public key) is this RSA key."""
        if not isinstance(key, rsa.RSAPublicKey):
            return False
        numbers = key.public_numbers()
        return (numbers.n, numbers.e) == (self.n, self.e)


@dataclass(frozen=True)
class VmFlag:
    """One member of ``vm-configuration``: its JSON name and the type of its value."""

    name: str
    kind: type
    meaning: str


VM_CONFIGURATION: Final[tuple[VmFlag, ...]] = (
    VmFlag("secure-boot", bool, "UEFI Secure Boot is on in the VM's firmware"),
    VmFlag("tpm-enabled", bool, "the VM has a vTPM"),
    VmFlag("tpm-persisted", bool, "the vTPM's state persists across VM restarts"),
    VmFlag("console-enabled", bool, "the Azure serial console is attached to the VM"),
    VmFlag(
        "interactive-console-enabled",
        bool,
        "the Azure serial console accepts input (newer paravisors)",
    ),
    VmFlag(
        "filtered-vpci-devices-allowed",
        bool,
        "filtered virtual PCI devices may be assigned (newer paravisors)",
    ),
    VmFlag("root-cert-thumbprint", str, "thumbprint of the root of the vTPM AK certificate"),
    VmFlag("hardware-sealing-policy", str, "the paravisor's hardware sealing policy"),
    VmFlag("vmUniqueId", str, "Azure's identifier of the VM"),
    VmFlag("current-time", int, "a time the paravisor put in (seconds since 1970)"),
)
"""Every ``vm-configuration`` member Cairn knows (Azure's names); any other is refused."""
_FLAGS: Final[Mapping[str, VmFlag]] = {flag.name: flag for flag in VM_CONFIGURATION}


@dataclass(frozen=True)
class RuntimeData:
    """The parsed runtime data; ``raw`` is exactly the bytes REPORT_DATA commits to."""

    keys: tuple[RsaJwk, ...]
    vm_configuration: Mapping[str, bool | str | int]
    """The members of ``vm-configuration`` that are present, by their JSON names."""
    user_data: bytes | None
    raw: bytes

    @property
    def ak(self) -> RsaJwk:
        """``HCLAkPub``: the vTPM attestation key (the parser guarantees exactly one)."""
        return next(key for key in self.keys if key.kid == AK_KID)

    @property
    def ek(self) -> RsaJwk | None:
        return next((key for key in self.keys if key.kid == EK_KID), None)

    def flag(self, name: str) -> bool | str | int | None:
        """A ``vm-configuration`` member by its JSON name; None when the paravisor left it out."""
        if name not in _FLAGS:
            raise KeyError(name)
        return self.vm_configuration.get(name)

    def to_json(self) -> dict[str, Any]:
        return {
            "ak": {"kid": self.ak.kid, "bits": self.ak.bits, "sha256": self.ak.fingerprint()},
            "ek": None
            if self.ek is None
            else {"bits": self.ek.bits, "sha256": self.ek.fingerprint()},
            "vm_configuration": dict(self.vm_configuration),
            "user_data": None if self.user_data is None else self.user_data.hex(),
        }


def _b64url_int(text: object, where: str) -> int:
    if not isinstance(text, str) or not _B64URL.fullmatch(text) or len(text) > 1024:
        raise _error(f"{where} is not unpadded base64url text")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise _error(f"{where} is not valid base64url") from None
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != text:
        raise _error(f"{where} is not canonical base64url")
    return int.from_bytes(raw, "big")


def _text(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.isprintable() or len(value) > MAX_TEXT:
        raise _error(f"{where} must be printable text of at most {MAX_TEXT} characters")
    return value


def _key(value: object, index: int) -> RsaJwk:
    where = f"keys[{index}]"
    if not isinstance(value, dict):
        raise _error(f"{where} is not a JSON object")
    unknown = sorted(set(value) - _KEY_MEMBERS)
    missing = sorted(_KEY_MEMBERS - set(value))
    if unknown or missing:
        problems = [f"unknown member(s) {', '.join(unknown)}"] if unknown else []
        problems += [f"missing {', '.join(missing)}"] if missing else []
        raise _error(f"{where}: {'; '.join(problems)}")
    kid = _text(value["kid"], f"{where}.kid")
    if value["kty"] != "RSA":
        raise _error(f"{where} ({kid}) has kty {str(value['kty'])[:16]!r}; Azure's keys are RSA")
    ops = value["key_ops"]
    if not isinstance(ops, list) or len(ops) > 8:
        raise _error(f"{where}.key_ops is not a list of at most 8 operations")
    key_ops = tuple(_text(op, f"{where}.key_ops") for op in ops)
    n = _b64url_int(value["n"], f"{where}.n")
    e = _b64url_int(value["e"], f"{where}.e")
    low, high = RSA_BITS
    if not low <= n.bit_length() <= high:
        raise _error(f"{where} ({kid}) is a {n.bit_length()}-bit RSA key; expected {low}-{high}")
    if e < 3 or e % 2 == 0 or e.bit_length() > 64:
        raise _error(f"{where} ({kid}) has an invalid RSA exponent {e}")
    try:
        rsa.RSAPublicNumbers(e, n).public_key()
    except ValueError as exc:
        raise _error(f"{where} ({kid}) is not a valid RSA public key: {exc}") from None
    return RsaJwk(kid=kid, key_ops=key_ops, n=n, e=e)


def _vm_configuration(value: object) -> dict[str, bool | str | int]:
    if not isinstance(value, dict):
        raise _error("vm-configuration is not a JSON object")
    unknown = sorted(set(value) - set(_FLAGS))
    if unknown:
        raise _error(
            f"vm-configuration has member(s) Cairn does not know: {', '.join(unknown)[:200]}",
            hint="a newer Azure paravisor reports more about the VM than this version of Cairn "
            "can appraise; rather than ignore it, Cairn refuses: upgrade cairn-verifier",
        )
    checked: dict[str, bool | str | int] = {}
    for name, item in value.items():
        kind = _FLAGS[name].kind
        if type(item) is not kind or not isinstance(item, bool | str | int):
            raise _error(f"vm-configuration.{name} must be a JSON {_type_name(kind)}")
        checked[name] = _text(item, f"vm-configuration.{name}") if kind is str else item
    return checked


def _type_name(kind: type) -> str:
    names: dict[type, str] = {bool: "boolean", str: "string", int: "integer"}
    return names[kind]


def _user_data(value: object) -> bytes:
    if not isinstance(value, str) or len(value) != 2 * USER_DATA_BYTES or not _HEX.fullmatch(value):
        raise _error(
            f"user-data must be {USER_DATA_BYTES} bytes as {2 * USER_DATA_BYTES} hex digits"
        )
    return bytes.fromhex(value)


def parse_runtime_data(raw: bytes) -> RuntimeData:
    """Parse the runtime data strictly (see the module docstring)."""
    raw = bytes(raw)
    document = parse_json(raw, "HCL runtime data", component=COMPONENT)
    if not isinstance(document, dict):
        raise _error("is not a JSON object")
    unknown = sorted(set(document) - _TOP_MEMBERS)
    if unknown:
        raise _error(
            f"has member(s) Cairn does not know: {', '.join(unknown)[:200]}",
            hint="a newer Azure paravisor may write more: upgrade cairn-verifier",
        )
    for required in ("keys", "vm-configuration"):
        if required not in document:
            raise _error(f"has no {required!r} member")
    keys_value = document["keys"]
    if not isinstance(keys_value, list) or not 1 <= len(keys_value) <= MAX_KEYS:
        raise _error(f"keys must be a list of 1 to {MAX_KEYS} JWKs")
    keys = tuple(_key(value, index) for index, value in enumerate(keys_value))
    kids = [key.kid for key in keys]
    duplicates = sorted({kid for kid in kids if kids.count(kid) > 1})
    if duplicates:
        raise _error(f"key id(s) {', '.join(duplicates)} appear more than once")
    if AK_KID not in kids:
        raise _error(
            f"no {AK_KID} key: the runtime data names no vTPM attestation key",
            hint="this is not the runtime data of an Azure vTPM HCL report",
        )
    vm_configuration = _vm_configuration(document["vm-configuration"])
    user_data = _user_data(document["user-data"]) if "user-data" in document else None
    return RuntimeData(keys=keys, vm_configuration=vm_configuration, user_data=user_data, raw=raw)
