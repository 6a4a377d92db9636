"""The syntax of a TCTI string (how the agent reaches its TPM), checked when the config loads.

tpm2-tss's TCTI loader takes ``NAME`` or ``NAME:CONF``; the agent accepts the TCTIs it documents
(docs/agent.md, ``tpm.tcti``), each with the configuration tpm2-tss reads for it:

* ``device`` / ``device:PATH`` — a TPM character device (an absolute path, e.g. /dev/tpmrm0);
* ``swtpm`` / ``mssim`` with ``host=HOST,port=PORT`` (either may be left out); ``swtpm`` also
  takes ``path=SOCKET`` (a UNIX socket) instead;
* ``tabrmd`` with ``bus_name=NAME,bus_type=system|session`` (either may be left out).

A malformed string is a configuration error (cairn-agent exit 78); a well-formed one whose TPM
cannot be reached is found when the agent opens it (exit 69).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from typing import Final

MAX_TCTI_LENGTH: Final = 512
_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
_BUS_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)+")
FORMS: Final = (
    "device:/dev/tpmrm0, swtpm:host=HOST,port=PORT, swtpm:path=SOCKET, "
    "mssim:host=HOST,port=PORT or tabrmd:bus_name=NAME,bus_type=system|session"
)


class TctiSyntaxError(ValueError):
    """The TCTI string is not one the agent accepts; the message says what is wrong."""


def check_host(value: str) -> None:
    """A host name (RFC 1123 labels) or an IP address, else :class:`TctiSyntaxError`."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        labels = value.rstrip(".").split(".")
        if not (len(value) <= 253 and all(_HOST_LABEL.fullmatch(label) for label in labels)):
            raise TctiSyntaxError(f"host {value!r} is not a host name or IP address") from None


def _port(value: str) -> None:
    if not (value.isascii() and value.isdigit() and 1 <= int(value) <= 65535):
        raise TctiSyntaxError(f"port {value!r} is not a TCP port (1-65535)")


def _socket_path(value: str) -> None:
    if not value.startswith("/"):
        raise TctiSyntaxError(f"path {value!r} is not an absolute path")


def _bus_type(value: str) -> None:
    if value not in ("system", "session"):
        raise TctiSyntaxError(f"bus_type {value!r} is not 'system' or 'session'")


def _bus_name(value: str) -> None:
    if not _BUS_NAME.fullmatch(value):
        raise TctiSyntaxError(f"bus_name {value!r} is not a D-Bus name like com.intel.tss2.Tabrmd")


Keys = Mapping[str, Callable[[str], None]]
_NETWORK: Final[Keys] = {"host": check_host, "port": _port}
_KEYS: Final[Mapping[str, Keys]] = {
    "swtpm": {**_NETWORK, "path": _socket_path},
    "mssim": _NETWORK,
    "tabrmd": {"bus_name": _bus_name, "bus_type": _bus_type},
}


def _key_values(name: str, conf: str, keys: Keys) -> None:
    """``key=value`` pairs separated by commas, each key known and given once."""
    seen: set[str] = set()
    for item in conf.split(","):
        key, equals, value = item.partition("=")
        if not equals or not value:
            raise TctiSyntaxError(f"{name}: {item!r} is not key=value (keys: {', '.join(keys)})")
        if key not in keys:
            raise TctiSyntaxError(f"{name}: unknown key {key!r} (keys: {', '.join(keys)})")
        if key in seen:
            raise TctiSyntaxError(f"{name}: {key} is given twice")
        seen.add(key)
        keys[key](value)
    if "path" in seen and seen & {"host", "port"}:
        raise TctiSyntaxError(f"{name}: path (a UNIX socket) excludes host and port")


def check_tcti(tcti: str) -> str:
    """``tcti`` if its syntax is one the agent accepts, else :class:`TctiSyntaxError`."""
    if len(tcti) > MAX_TCTI_LENGTH:
        raise TctiSyntaxError(f"longer than {MAX_TCTI_LENGTH} characters")
    if not tcti.isprintable() or any(c.isspace() for c in tcti):
        raise TctiSyntaxError("contains spaces or control characters")
    name, colon, conf = tcti.partition(":")
    if name == "device":
        if colon and not conf.startswith("/"):
            raise TctiSyntaxError(f"device: {conf!r} is not an absolute path like /dev/tpmrm0")
        return tcti
    if name not in _KEYS:
        raise TctiSyntaxError(f"unknown TCTI {name!r}: use {FORMS}")
    if colon and not conf:
        raise TctiSyntaxError(f"{name}: nothing after ':' (leave the ':' out for the defaults)")
    if conf:
        _key_values(name, conf, _KEYS[name])
    return tcti
