"""The agent's TPM: a deterministic attestation key (AK) and PCR quotes, via tpm2-pytss.

**Which AK.** The AK is a *primary* key of the endorsement hierarchy (configurable: owner),
created with ``TPM2_CreatePrimary`` from a fixed template: ECC NIST P-256, nameAlg SHA-256,
restricted signing with the ECDSA-SHA256 scheme, attributes
``fixedTPM|fixedParent|sensitiveDataOrigin|userWithAuth|restricted|sign``, empty policy, and
``unique.ecc.x`` = :data:`AK_UNIQUE` so the key is Cairn's own and differs from any other
primary of the hierarchy. A primary key is derived from the hierarchy's seed and the template
alone, so the same TPM yields the same AK on every connection and every boot, with nothing
persisted in NV memory: no persistent handle to own, to collide with or to evict, no owner
authorization needed for ``TPM2_EvictControl``. The endorsement seed survives ``TPM2_Clear``
(the owner seed does not), so the AK changes only if the TPM's identity does. A child key of a
storage primary would instead get fresh random key material on every ``TPM2_Create``.

**Transient objects.** Without a resource manager (swtpm, ``device:/dev/tpm0``) a TPM holds
only a few transient objects. Transient objects left behind are flushed at connect, and the AK
is created for each operation and flushed right after it, so nothing stays loaded between
calls. With the kernel resource manager (``/dev/tpmrm0``, the default) this process sees only
its own objects.

**Errors.** A TPM that cannot be reached (no device, no permission, nothing listening, bad
TCTI string) raises :class:`TpmUnavailable`; whether that is acceptable is the policy's call.
A TPM that answers with an error raises :class:`TpmCommandError` with the decoded response code.
Both derive from :class:`TpmError`, which carries a ``hint`` saying what to do.

Calls block and the class is not thread-safe: the agent serialises them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

from tpm2_pytss import ESAPI, TSS2_Exception
from tpm2_pytss.constants import (
    ESYS_TR,
    TPM2_ALG,
    TPM2_CAP,
    TPM2_ECC,
    TPM2_HC,
    TPM2_RC,
    TPM2_SU,
    TPMA_OBJECT,
    TSS2_RC,
)
from tpm2_pytss.types import (
    TPM2B_PUBLIC,
    TPM2B_SENSITIVE_CREATE,
    TPML_PCR_SELECTION,
    TPMS_ATTEST,
    TPMT_PUBLIC,
)

from .errors import HardwareError

DEFAULT_TCTI = "device:/dev/tpmrm0"
DEFAULT_EVENT_LOG = Path("/sys/kernel/security/tpm0/binary_bios_measurements")

#: ``unique.ecc.x`` of the AK template: makes the primary key Cairn's own.
AK_UNIQUE = hashlib.sha256(b"cairn-agent attestation key v1").digest()
AK_ATTRIBUTES = "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|sign"

NONCE_SIZE = 32
PCR_COUNT = 24
"""PCRs 0-23, the PC Client platform's PCRs (a three-byte selection bitmap)."""
PCR_READ_CHUNK = 8
"""``TPM2_PCR_Read`` returns at most eight digests per call."""
QUOTE_ATTEMPTS = 3
"""Quotes tried before giving up when a PCR changes between the quote and the PCR read."""
MAX_EVENT_LOG_SIZE = 16 * 1024 * 1024

Hierarchy = Literal["endorsement", "owner"]
PcrBank = Literal["sha1", "sha256", "sha384", "sha512"]
"""PCR banks by their tpm2-tools names: the ones Cairn's verifier can check."""

_BANKS: dict[str, tuple[int, int]] = {
    "sha1": (TPM2_ALG.SHA1, 20),
    "sha256": (TPM2_ALG.SHA256, 32),
    "sha384": (TPM2_ALG.SHA384, 48),
    "sha512": (TPM2_ALG.SHA512, 64),
}
_HIERARCHIES = {"endorsement": ESYS_TR.ENDORSEMENT, "owner": ESYS_TR.OWNER}
_TRANSIENT_FIRST = TPM2_HC.TRANSIENT_FIRST
_MAX_HANDLES_PER_CALL = 64


class TpmError(HardwareError):
    """Base of this module's errors: the TPM could not do what was asked; ``hint`` says why."""


class TpmUnavailable(TpmError):  # noqa: N818 - the name the agent's policy refers to
    """No TPM could be reached: no device, no permission, nothing listening, bad TCTI string."""

    hint: str

    def __init__(self, message: str, *, hint: str, tcti: str):
        super().__init__(message, hint=hint)
        self.tcti = tcti


class TpmCommandError(TpmError):
    """A TPM command failed; ``rc`` is the TSS response code, ``decoded`` its meaning."""

    def __init__(self, command: str, rc: int, decoded: str, *, hint: str | None = None):
        super().__init__(f"TPM2_{command} failed with 0x{rc:x} ({decoded})", hint=hint)
        self.command = command
        self.rc = rc
        self.decoded = decoded


@dataclass(frozen=True)
class TpmQuote:
    """A signed quote and the PCR values it covers, in the TPM's wire formats."""

    attest: bytes
    """The signed ``TPMS_ATTEST``."""
    signature: bytes
    """``TPMT_SIGNATURE`` (ECDSA-SHA256)."""
    ak_public: bytes
    """The AK's ``TPMT_PUBLIC``."""
    pcrs: dict[int, bytes]
    """Quoted PCR index -> value in ``bank``; their SHA-256 digest is the quote's pcrDigest."""
    bank: PcrBank


class AgentTpm:
    """One connection to the TPM; create it with :meth:`open`."""

    def __init__(
        self,
        esapi: Any,
        *,
        tcti: str,
        hierarchy: Hierarchy,
        event_log_path: Path,
    ):
        self._esapi: Any = esapi
        self.tcti = tcti
        self.hierarchy: Hierarchy = hierarchy
        self.event_log_path = event_log_path

    @classmethod
    def open(
        cls,
        tcti: str | None = None,
        *,
        hierarchy: Hierarchy = "endorsement",
        hierarchy_auth: bytes | None = None,
        event_log_path: Path = DEFAULT_EVENT_LOG,
    ) -> AgentTpm:
        """Connect to the TPM at ``tcti`` (default ``device:/dev/tpmrm0``), e.g. ``swtpm:port=P``.

        Starts the TPM if nobody has (``TPM2_Startup(CLEAR)``) and flushes left-over transient
        objects. Raises :class:`TpmUnavailable` when no TPM answers.
        """
        if hierarchy not in _HIERARCHIES:
            raise ValueError(f"hierarchy must be one of {sorted(_HIERARCHIES)}, not {hierarchy!r}")
        tcti = tcti or DEFAULT_TCTI
        try:
            esapi = ESAPI(tcti)
        except TSS2_Exception as error:
            raise _unavailable(tcti, error) from error
        agent_tpm = cls(esapi, tcti=tcti, hierarchy=hierarchy, event_log_path=event_log_path)
        try:
            agent_tpm._start()
            if hierarchy_auth:
                esapi.tr_set_auth(_HIERARCHIES[hierarchy], hierarchy_auth)
            agent_tpm._flush_transient_objects()
        except BaseException:
            agent_tpm.close()
            raise
        return agent_tpm

    def describe(self) -> str:
        """One line for logs: which TPM and which AK."""
        return f"TPM via {self.tcti}, AK: ECC P-256 primary of the {self.hierarchy} hierarchy"

    def ak_public(self) -> bytes:
        """The AK's marshalled ``TPMT_PUBLIC`` (REPORT_DATA binds its SHA-256)."""
        with self._loaded_ak() as (_, public):
            return public

    def quote(self, nonce: bytes, pcrs: Sequence[int], bank: PcrBank = "sha256") -> TpmQuote:
        """Quote PCRs ``pcrs`` of ``bank`` with the AK; ``extraData`` is ``nonce`` (32 bytes).

        The PCR values returned are read after the quote and checked against its pcrDigest;
        if a PCR changed in between, the quote is taken again.
        """
        if len(nonce) != NONCE_SIZE:
            raise ValueError(f"the quote nonce must be {NONCE_SIZE} bytes, got {len(nonce)}")
        indexes = _pcr_indexes(pcrs)
        selection = _selection(bank, indexes)
        with self._loaded_ak() as (ak, ak_public):
            for _ in range(QUOTE_ATTEMPTS):
                with self._command("Quote"):
                    attest, signature = self._esapi.quote(ak, selection, bytes(nonce))
                attest_bytes = bytes(attest)
                values = self.read_pcrs(indexes, bank)
                if _quoted_pcr_digest(attest_bytes) == _pcr_digest(values):
                    return TpmQuote(
                        attest=attest_bytes,
                        signature=bytes(signature.marshal()),
                        ak_public=ak_public,
                        pcrs=values,
                        bank=bank,
                    )
        raise TpmError(
            f"PCRs changed between the quote and reading them, {QUOTE_ATTEMPTS} times in a row",
            hint="something is extending the quoted PCRs continuously; retry later",
        )

    def read_pcrs(self, pcrs: Sequence[int], bank: PcrBank = "sha256") -> dict[int, bytes]:
        """Current values of PCRs ``pcrs`` in ``bank``, ascending, read eight at a time."""
        indexes = _pcr_indexes(pcrs)
        algorithm, size = _bank(bank)
        values: dict[int, bytes] = {}
        for start in range(0, len(indexes), PCR_READ_CHUNK):
            wanted = indexes[start : start + PCR_READ_CHUNK]
            while remaining := [index for index in wanted if index not in values]:
                with self._command("PCR_Read"):
                    _, returned, digests = self._esapi.pcr_read(_selection(bank, remaining))
                read = _selected(returned)
                if not read or any(alg != algorithm for alg, _ in read):
                    raise TpmError(
                        f"the TPM returned no {bank} value for PCRs {remaining}",
                        hint=f"the TPM may not have a {bank} PCR bank allocated; "
                        "`tpm2_getcap pcrs` lists the banks",
                    )
                digest_values = [bytes(digest) for digest in digests]
                if len(digest_values) != len(read):
                    raise TpmError(
                        f"PCR_Read returned {len(digest_values)} digests for {len(read)} PCRs"
                    )
                for (_, index), value in zip(read, digest_values, strict=True):
                    if index not in remaining or len(value) != size:
                        raise TpmError(f"PCR_Read returned an unrequested or malformed PCR {index}")
                    values[index] = value
        return values

    def event_log(self) -> bytes | None:
        """The firmware's TCG event log, or None when it is missing, unreadable or empty."""
        try:
            with self.event_log_path.open("rb") as log:
                data = log.read(MAX_EVENT_LOG_SIZE + 1)
        except OSError:
            return None
        if len(data) > MAX_EVENT_LOG_SIZE:
            raise TpmError(
                f"the event log {self.event_log_path} is larger than {MAX_EVENT_LOG_SIZE} bytes"
            )
        return data or None

    def close(self) -> None:
        """Release the connection (idempotent)."""
        esapi, self._esapi = self._esapi, None
        if esapi is not None:
            esapi.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # --- internals ---------------------------------------------------------------------------

    @contextmanager
    def _command(self, command: str) -> Iterator[None]:
        """Translate tpm2-pytss failures of ``command`` into this module's errors."""
        if self._esapi is None:
            raise TpmError("the TPM connection is closed")
        try:
            yield
        except TSS2_Exception as error:
            rc = int(error.rc)
            if rc & TSS2_RC.RC_LAYER_MASK == TSS2_RC.TCTI_RC_LAYER:
                raise _unavailable(self.tcti, error) from error
            raise TpmCommandError(
                command, rc, str(error), hint=_hint(int(error.error), rc, self.hierarchy)
            ) from error

    def _start(self) -> None:
        """Run ``TPM2_Startup(CLEAR)`` if the TPM has not been started (a bare simulator)."""
        try:
            with self._command("GetCapability"):
                self._esapi.get_capability(TPM2_CAP.HANDLES, _TRANSIENT_FIRST, 1)
        except TpmCommandError as error:
            if error.rc != TPM2_RC.INITIALIZE:
                raise
            with self._command("Startup"):
                self._esapi.startup(TPM2_SU.CLEAR)

    def _transient_handles(self) -> list[int]:
        handles: list[int] = []
        more = True
        while more:
            start = handles[-1] + 1 if handles else _TRANSIENT_FIRST
            with self._command("GetCapability"):
                more, data = self._esapi.get_capability(
                    TPM2_CAP.HANDLES, start, _MAX_HANDLES_PER_CALL
                )
            found = [int(handle) for handle in data.data.handles]
            handles += [handle for handle in found if handle >> 24 == _TRANSIENT_FIRST >> 24]
            more = bool(more) and bool(found)
        return handles

    def _flush_transient_objects(self) -> None:
        for handle in self._transient_handles():
            with self._command("ReadPublic"):
                loaded = self._esapi.tr_from_tpmpublic(handle)
            self._flush(loaded)

    @contextmanager
    def _loaded_ak(self) -> Iterator[tuple[Any, bytes]]:
        """Create the AK, yield (ESYS handle, TPMT_PUBLIC bytes), flush it afterwards."""
        with self._command("CreatePrimary"):
            handle, public, *_ = self._esapi.create_primary(
                TPM2B_SENSITIVE_CREATE(), _ak_template(), _HIERARCHIES[self.hierarchy]
            )
        try:
            yield handle, bytes(public.publicArea.marshal())
        except BaseException:
            with suppress(TpmError):  # report the first failure, not the flush's
                self._flush(handle)
            raise
        self._flush(handle)

    def _flush(self, handle: Any) -> None:
        with self._command("FlushContext"):
            self._esapi.flush_context(handle)


def _ak_template() -> Any:
    """The AK's ``TPM2B_PUBLIC`` template (see the module docstring)."""
    area = TPMT_PUBLIC(
        type=TPM2_ALG.ECC,
        nameAlg=TPM2_ALG.SHA256,
        objectAttributes=TPMA_OBJECT.parse(AK_ATTRIBUTES),
    )
    ecc = area.parameters.eccDetail
    ecc.symmetric.algorithm = TPM2_ALG.NULL
    ecc.scheme.scheme = TPM2_ALG.ECDSA
    ecc.scheme.details.ecdsa.hashAlg = TPM2_ALG.SHA256
    ecc.curveID = TPM2_ECC.NIST_P256
    ecc.kdf.scheme = TPM2_ALG.NULL
    area.unique.ecc.x = AK_UNIQUE
    return TPM2B_PUBLIC(publicArea=area)


def _bank(bank: str) -> tuple[int, int]:
    """(TPM_ALG_ID, digest size) of a PCR bank named as in tpm2-tools."""
    try:
        return _BANKS[bank]
    except KeyError:
        raise ValueError(f"unknown PCR bank {bank!r}; known: {', '.join(_BANKS)}") from None


def _pcr_indexes(pcrs: Sequence[int]) -> list[int]:
    indexes = sorted(set(pcrs))
    if not indexes:
        raise ValueError("select at least one PCR")
    bad = [index for index in indexes if not 0 <= index < PCR_COUNT]
    if bad:
        raise ValueError(f"PCR indexes must be 0-{PCR_COUNT - 1}, got {bad}")
    return indexes


def _selection(bank: str, indexes: Sequence[int]) -> Any:
    _bank(bank)
    return TPML_PCR_SELECTION.parse(f"{bank}:{','.join(map(str, indexes))}")


def _selected(selection: Any) -> list[tuple[int, int]]:
    """(algorithm, index) of every PCR a ``TPML_PCR_SELECTION`` selects, in wire order."""
    selected: list[tuple[int, int]] = []
    for item in list(selection.pcrSelections)[: int(selection.count)]:
        bitmap = bytes(item.pcrSelect)[: int(item.sizeofSelect)]
        for byte_index, byte in enumerate(bitmap):
            selected += [
                (int(item.hash), byte_index * 8 + bit) for bit in range(8) if byte >> bit & 1
            ]
    return selected


def _quoted_pcr_digest(attest: bytes) -> bytes:
    parsed, _ = TPMS_ATTEST.unmarshal(attest)
    return bytes(parsed.attested.quote.pcrDigest)


def _pcr_digest(values: dict[int, bytes]) -> bytes:
    """pcrDigest of a one-bank quote: SHA-256 (the AK's scheme hash) of the values, ascending."""
    return hashlib.sha256(b"".join(values[index] for index in sorted(values))).digest()


def _unavailable(tcti: str, error: Exception) -> TpmUnavailable:
    kind, _, config = tcti.partition(":")
    if kind == "device":
        hint = (
            f"give the VM a TPM (e.g. a vTPM) and check that {config or 'the device'} exists and "
            "that the agent may open it (group tss)"
        )
    elif kind == "swtpm":
        port = _tcti_port(config, 2321)
        hint = (
            f"start swtpm: swtpm socket --tpm2 --server type=tcp,port={port} --ctrl "
            f"type=tcp,port={port + 1} --flags not-need-init,startup-clear --tpmstate dir=DIR "
            "--daemon"
        )
    elif kind == "mssim":
        hint = f"start the mssim TPM simulator listening at '{config or 'its default port'}'"
    else:
        hint = "use a TCTI such as device:/dev/tpmrm0 or swtpm:port=2321"
    return TpmUnavailable(f"no TPM at {tcti} ({error})", hint=hint, tcti=tcti)


def _tcti_port(config: str, default: int) -> int:
    """The ``port=`` of a swtpm/mssim TCTI configuration ("port=2321", "host=h,port=2321")."""
    for item in config.split(","):
        key, _, value = item.partition("=")
        if key.strip() == "port" and value.strip().isdigit():
            return int(value)
    return default


def _hint(error: int, rc: int, hierarchy: str) -> str | None:
    """What to do about the common TPM response codes (``error`` without handle/parameter)."""
    if error in {TPM2_RC.BAD_AUTH, TPM2_RC.AUTH_FAIL}:
        return f"the {hierarchy} hierarchy has an authorization value: pass hierarchy_auth"
    if error == TPM2_RC.HASH:
        return "the TPM does not implement this hash or PCR bank; `tpm2_getcap pcrs` lists them"
    if error == TPM2_RC.HIERARCHY:
        return f"the {hierarchy} hierarchy is disabled; enable it or choose the other hierarchy"
    if rc == TPM2_RC.LOCKOUT:
        return "the TPM is in dictionary-attack lockout; wait or reset it with the lockout auth"
    if rc == TPM2_RC.FAILURE:
        return (
            "the TPM is in failure mode; a swtpm gets there when it cannot write its state "
            "directory (with --daemon it changes to /, so give --tpmstate an absolute path): "
            "restart it"
        )
    if rc == TPM2_RC.OBJECT_MEMORY:
        return "the TPM is out of object slots: flush objects (tpm2_flushcontext -t) or use tpmrm"
    return None
