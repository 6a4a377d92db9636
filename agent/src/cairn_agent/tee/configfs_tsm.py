"""Evidence through the kernel's configfs-tsm report interface (Linux >= 6.7).

Documentation/ABI/testing/configfs-tsm-report: ``mkdir`` a report entry under
``/sys/kernel/config/tsm/report``, write ``inblob`` (the REPORT_DATA) and optionally
``privlevel``, read ``outblob`` (SEV-SNP report or TDX quote, per ``provider``) and ``auxblob``
(for ``sev_guest`` the GHCB certificate table), then check that ``generation`` advanced by
exactly our writes: any other value means another writer changed the entry in between.

All filesystem access goes through a :class:`TsmFilesystem`, so tests can animate a fake
configfs tree the way the kernel would.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, TypeVar

from cairn_verifier.api import ParseError, Platform, parse_quote, tee_model

from .base import ProviderError, TeeEvidence, TeeKind
from .derived_key import DerivedKeyRequest
from .sev_guest import certificates_from_table, check_report_data, check_snp_report

DEFAULT_ROOT = Path("/sys/kernel/config/tsm/report")
PRIVLEVEL_MAX = 3
PROVIDER_KINDS: dict[str, TeeKind] = {"sev_guest": "sev-snp", "tdx_guest": "tdx"}
T = TypeVar("T")


class TsmFilesystem(Protocol):
    """The few filesystem operations configfs-tsm needs (real: plain os calls)."""

    def mkdir(self, path: Path) -> None: ...

    def rmdir(self, path: Path) -> None: ...

    def read(self, path: Path) -> bytes: ...

    def write(self, path: Path, data: bytes) -> None: ...

    def exists(self, path: Path) -> bool: ...


class OsTsmFilesystem:
    """configfs through os calls; each attribute write is one ``write(2)`` as configfs wants."""

    def mkdir(self, path: Path) -> None:
        os.mkdir(path)

    def rmdir(self, path: Path) -> None:
        os.rmdir(path)

    def read(self, path: Path) -> bytes:
        with open(path, "rb") as f:
            return f.read()

    def write(self, path: Path, data: bytes) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            written = os.write(fd, data)
        finally:
            os.close(fd)
        if written != len(data):
            raise OSError(errno.EIO, f"short write ({written} of {len(data)} bytes)", str(path))

    def exists(self, path: Path) -> bool:
        return os.path.isdir(path)


_ERRNO_HINTS = {
    errno.ENOENT: "configfs-tsm is not available: needs Linux >= 6.7 with configfs mounted at"
    " /sys/kernel/config (mount -t configfs none /sys/kernel/config) and the tsm module",
    errno.ENXIO: "no TSM provider is registered: load the guest driver (sev-guest or tdx-guest)"
    " or check that this VM is a confidential guest",
    errno.EACCES: "the agent needs write access to the configfs-tsm tree (run it as root)",
    errno.EPERM: "the agent needs write access to the configfs-tsm tree (run it as root)",
    errno.EBUSY: "the report entry is busy (concurrent use); retry",
    errno.EAGAIN: "the TSM asked to try again; retry",
    errno.EINVAL: "the kernel rejected the request: check privlevel against privlevel_floor",
    errno.EFBIG: "the report exceeds configfs-tsm's maximum size; update the kernel",
    errno.EIO: "the TSM failed to produce the report; for TDX check the host's quote"
    " generation service (QGS); see dmesg",
}
_RETRYABLE = {errno.EBUSY, errno.EAGAIN, errno.EINTR, errno.ETIMEDOUT}


def _os_error(action: str, path: Path, exc: OSError) -> ProviderError:
    return ProviderError(
        f"configfs-tsm: cannot {action} {path}: {exc.strerror or exc}",
        hint=_ERRNO_HINTS.get(exc.errno or 0),
        retryable=(exc.errno or 0) in _RETRYABLE,
    )


def _parse_generation(raw: bytes, path: Path) -> int:
    text = raw.decode("ascii", "replace").strip()
    if not text.isdigit():
        raise ProviderError(f"configfs-tsm: {path} holds {text!r}, not a generation counter")
    return int(text)


def check_tdx_quote(quote: bytes, report_data: bytes, source: str) -> bytes:
    """A TDX quote from the device, minus zero padding, whose REPORT_DATA is ours."""
    try:
        parsed = parse_quote(quote)
    except ParseError as exc:
        raise ProviderError(
            f"{source} returned a malformed TDX quote: {exc}", hint=exc.hint
        ) from exc
    if parsed.trailing.strip(b"\0"):
        raise ProviderError(
            f"{source} returned {len(parsed.trailing)} unexpected bytes after the TDX quote"
        )
    if parsed.body.report_data != report_data:
        raise ProviderError(
            f"{source} returned a quote whose REPORT_DATA is not the one requested",
            hint="another process may be using the same report entry; retry",
            retryable=True,
        )
    return parsed.raw


class ConfigfsTsmProvider:
    """SEV-SNP reports or TDX quotes through configfs-tsm."""

    name = "configfs-tsm"
    kinds: tuple[TeeKind, ...] = tuple(PROVIDER_KINDS.values())

    def __init__(
        self,
        root: Path = DEFAULT_ROOT,
        privlevel: int | None = None,
        *,
        fs: TsmFilesystem | None = None,
    ):
        if privlevel is not None and not 0 <= privlevel <= PRIVLEVEL_MAX:
            raise ProviderError(f"privlevel must be 0-{PRIVLEVEL_MAX}, got {privlevel}")
        self.root = Path(root)
        self.privlevel = privlevel
        self.fs: TsmFilesystem = fs or OsTsmFilesystem()

    def describe(self) -> str:
        level = "" if self.privlevel is None else f" at privlevel {self.privlevel}"
        return f"configfs-tsm: reports from {self.root}{level}"

    def available(self) -> bool:
        """Whether the report root exists (configfs mounted, tsm loaded)."""
        return self.fs.exists(self.root)

    def probe(self) -> TeeKind:
        """The TEE kind the registered TSM provider produces; ProviderError if there is none."""
        entry = self._create_entry()
        return self._with_entry(entry, lambda: self._kind(entry))

    def get_evidence(self, report_data: bytes) -> TeeEvidence:
        data = check_report_data(report_data)
        entry = self._create_entry()
        return self._with_entry(entry, lambda: self._generate(entry, data))

    def derived_key(self, request: DerivedKeyRequest) -> bytes:
        """Not offered: configfs-tsm has report entries only (Documentation/ABI/testing/
        configfs-tsm-report); no kernel derives keys through it. The SEV-SNP guest driver that
        registers the ``sev_guest`` TSM provider also creates ``/dev/sev-guest``, whose
        ``SNP_GET_DERIVED_KEY`` ioctl does (:class:`~.sev_guest.SevGuestProvider`)."""
        raise ProviderError(
            "configfs-tsm cannot derive keys: the kernel's TSM interface offers attestation "
            "reports only",
            hint="derived keys come from /dev/sev-guest (tee.sev_guest_device), which the same "
            "sev-guest driver provides",
        )

    # --- steps -------------------------------------------------------------------------------

    def _create_entry(self) -> Path:
        entry = self.root / f"cairn-{os.getpid()}-{secrets.token_hex(8)}"
        try:
            self.fs.mkdir(entry)
        except OSError as exc:
            if exc.errno == errno.EEXIST:
                raise ProviderError(
                    f"configfs-tsm: report entry {entry} already exists",
                    hint="retry",
                    retryable=True,
                ) from exc
            raise _os_error("create report entry", entry, exc) from exc
        return entry

    def _with_entry(self, entry: Path, work: Callable[[], T]) -> T:
        """Run ``work`` and remove ``entry`` afterwards; the first error wins."""
        try:
            result = work()
        except BaseException:
            with contextlib.suppress(ProviderError):
                self._remove_entry(entry)
            raise
        self._remove_entry(entry)
        return result

    def _remove_entry(self, entry: Path) -> None:
        try:
            self.fs.rmdir(entry)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise _os_error("remove report entry", entry, exc) from exc

    def _read(self, path: Path, *, optional: bool = False) -> bytes:
        try:
            return self.fs.read(path)
        except FileNotFoundError as exc:
            if optional:
                return b""
            raise _os_error("read", path, exc) from exc
        except OSError as exc:
            raise _os_error("read", path, exc) from exc

    def _write(self, path: Path, data: bytes) -> None:
        try:
            self.fs.write(path, data)
        except OSError as exc:
            raise _os_error("write", path, exc) from exc

    def _kind(self, entry: Path) -> TeeKind:
        name = self._read(entry / "provider").decode("ascii", "replace").strip()
        kind = PROVIDER_KINDS.get(name)
        if kind is None:
            raise ProviderError(
                f"configfs-tsm: unknown TSM provider {name!r}",
                hint="Cairn understands sev_guest (SEV-SNP) and tdx_guest (TDX); configure"
                " another provider explicitly",
            )
        return kind

    def _generate(self, entry: Path, data: bytes) -> TeeEvidence:
        gen_path = entry / "generation"
        before = _parse_generation(self._read(gen_path), gen_path)
        writes = 0
        if self.privlevel is not None:
            self._write(entry / "privlevel", f"{self.privlevel}\n".encode())
            writes += 1
        self._write(entry / "inblob", data)
        writes += 1
        outblob = self._read(entry / "outblob")
        auxblob = self._read(entry / "auxblob", optional=True)
        kind = self._kind(entry)
        after = _parse_generation(self._read(gen_path), gen_path)
        if after != before + writes:
            raise ProviderError(
                f"configfs-tsm: generation went from {before} to {after} across our {writes}"
                " write(s): another writer changed the report entry",
                hint="a concurrent writer raced this request; retry",
                retryable=True,
            )
        source = f"configfs-tsm ({entry.name})"
        if tee_model(kind).platform is Platform.SNP:
            report = check_snp_report(outblob, data, self.privlevel, source)
            certs = certificates_from_table(auxblob, source)
            return TeeEvidence(kind=kind, report=report, certificates=certs)
        return TeeEvidence(kind=kind, report=check_tdx_quote(outblob, data, source))
