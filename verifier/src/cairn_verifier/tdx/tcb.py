"""TDX TCB status evaluation with the semantics of Intel's Quote Verification Library (QVL).

Follows intel/SGX-TDX-DCAP-QuoteVerificationLibrary ``QuoteVerifier.cpp`` (4.1.2.4.10-17),
``TcbLevelCheck.cpp``, ``TdxModuleCheck.cpp``, ``TDRelaunchCheck.cpp`` and
``EnclaveReportVerifier.cpp``:

1. TCB info FMSPC / PCE-ID must equal the PCK certificate's.
2. TDX module identity: MRSIGNERSEAM and masked SEAMATTRIBUTES must match ``tdxModule`` or,
   when the module major version TEE_TCB_SVN[1] > 0, the ``TDX_%02X`` entry of
   ``tdxModuleIdentities``.
3. QE identity: masked MISCSELECT / ATTRIBUTES, MRSIGNER and ISVPRODID must match; the QE level
   is the first (highest) level with ``isvsvn <= QE ISVSVN``.
4. Platform level: levels in QVL order (highest first); the SGX level is the first whose 16 SGX
   SVNs and PCESVN are <= the PCK's; the TDX level is the first of those whose TDX SVNs are
   <= TEE_TCB_SVN (indexes 0 and 1 skipped when TEE_TCB_SVN[1] > 0). None -> TCB_NOT_SUPPORTED.
5. TDX module level (version > 0): first identity level with ``isvsvn <= TEE_TCB_SVN[0]``;
   converged with the platform status; Revoked stops here.
6. TD report 1.5: "TD relaunch advised" when only the TDX module the TD was launched on is out
   of date and TEE_TCB_SVN2 (the module it runs on now) is at the latest level.
7. Converge with the QE status (QE OutOfDate turns UpToDate into OutOfDate, etc.).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..errors import CollateralUnavailableError, MalformedInputError, PolicyError
from ..records import Record
from ..timefmt import iso_time
from .pck import SgxExtensions
from .qe_identity import QeIdentity
from .quote import Quote
from .tcb_info import (
    IdentityTcbLevel,
    TcbComponent,
    TcbInfo,
    TcbLevel,
    TcbStatus,
    TdxModuleIdentity,
)

__all__ = [
    "QeIdentityMismatchError",
    "TcbEvaluation",
    "TcbStatus",
    "TdxModuleMismatchError",
    "check_tcb_info_matches_pck",
    "evaluate_quote_tcb",
    "evaluate_tcb",
]

_CONFIGURATION = frozenset(
    {
        TcbStatus.CONFIGURATION_NEEDED,
        TcbStatus.OUT_OF_DATE_CONFIGURATION_NEEDED,
        TcbStatus.CONFIGURATION_AND_SW_HARDENING_NEEDED,
        TcbStatus.TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED,
    }
)
_QE_BAD = frozenset({TcbStatus.OUT_OF_DATE, TcbStatus.REVOKED, TcbStatus.NOT_SUPPORTED})
_QE_HINT = "update the Intel TD Quoting Enclave (DCAP quote-generation packages on the host)"


class QeIdentityMismatchError(PolicyError):
    """The QE report does not match Intel's TD_QE identity (not Intel's TD quoting enclave)."""


class TdxModuleMismatchError(PolicyError):
    """MRSIGNERSEAM / SEAMATTRIBUTES do not match the TDX module identity of the TCB info."""


class TcbEvaluation(Record):
    """The QVL TCB status of a TDX quote and why."""

    status: TcbStatus
    advisory_ids: tuple[str, ...]
    platform_level: TcbLevel | None
    platform_status: TcbStatus | None
    sgx_level: TcbLevel | None
    module_identity_id: str | None
    module_level: IdentityTcbLevel | None
    module_status: TcbStatus | None
    qe_level: IdentityTcbLevel | None
    qe_status: TcbStatus
    tcb_evaluation_data_number: int
    explanation: tuple[str, ...]

    __slots__ = (
        "advisory_ids",
        "explanation",
        "module_identity_id",
        "module_level",
        "module_status",
        "platform_level",
        "platform_status",
        "qe_level",
        "qe_status",
        "sgx_level",
        "status",
        "tcb_evaluation_data_number",
    )

    def __init__(  # noqa: PLR0917
        self,
        status: TcbStatus,
        advisory_ids: tuple[str, ...],
        platform_level: TcbLevel | None,
        platform_status: TcbStatus | None,
        sgx_level: TcbLevel | None,
        module_identity_id: str | None,
        module_level: IdentityTcbLevel | None,
        module_status: TcbStatus | None,
        qe_level: IdentityTcbLevel | None,
        qe_status: TcbStatus,
        tcb_evaluation_data_number: int,
        explanation: tuple[str, ...],
    ) -> None:
        object.__setattr__(self, "status", status)
        object.__setattr__(self, "advisory_ids", advisory_ids)
        object.__setattr__(self, "platform_level", platform_level)
        object.__setattr__(self, "platform_status", platform_status)
        object.__setattr__(self, "sgx_level", sgx_level)
        object.__setattr__(self, "module_identity_id", module_identity_id)
        object.__setattr__(self, "module_level", module_level)
        object.__setattr__(self, "module_status", module_status)
        object.__setattr__(self, "qe_level", qe_level)
        object.__setattr__(self, "qe_status", qe_status)
        object.__setattr__(self, "tcb_evaluation_data_number", tcb_evaluation_data_number)
        object.__setattr__(self, "explanation", explanation)

    @property
    def tcb_date(self) -> datetime | None:
        """tcbDate of the matched platform (TDX) TCB level."""
        return self.platform_level.tcb_date if self.platform_level else None

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "advisory_ids": list(self.advisory_ids),
            "tcb_date": _iso(self.tcb_date),
            "platform_status": self.platform_status.value if self.platform_status else None,
            "module_identity": self.module_identity_id,
            "module_status": self.module_status.value if self.module_status else None,
            "qe_status": self.qe_status.value,
            "qe_tcb_date": _iso(self.qe_level.tcb_date if self.qe_level else None),
            "tcb_evaluation_data_number": self.tcb_evaluation_data_number,
            "explanation": list(self.explanation),
        }


def _iso(t: datetime | None) -> str | None:
    return iso_time(t) if t else None


# --------------------------------------------------------------------------- identity checks


def check_tcb_info_matches_pck(tcb_info: TcbInfo, sgx: SgxExtensions) -> None:
    """QVL 4.1.2.4.10: the TCB info must be the one for the PCK's FMSPC and PCE-ID."""
    if tcb_info.fmspc != sgx.fmspc or tcb_info.pce_id != sgx.pce_id:
        raise CollateralUnavailableError(
            f"TCB info fmspc/pceId {tcb_info.fmspc.hex().upper()}/{tcb_info.pce_id.hex().upper()}"
            f" != PCK {sgx.fmspc.hex()}/{sgx.pce_id.hex()}",
            component="tdx-tcb",
            hint=f"fetch the TDX TCB info for FMSPC {sgx.fmspc.hex().upper()} "
            "(/tdx/certification/v4/tcb?fmspc=...)",
        )


def _check_module_identity(
    tcb_info: TcbInfo, tee_tcb_svn: bytes, mr_signer_seam: bytes, seam_attributes: bytes
) -> TdxModuleIdentity | None:
    """QVL 4.1.2.4.11: the signer/attributes of the TDX module; returns the identity used."""
    version = tee_tcb_svn[1]
    identity = None
    expected = tcb_info.tdx_module
    mrsigner, attributes, mask = expected.mrsigner, expected.attributes, expected.attributes_mask
    where = "tdxModule"
    if version > 0:
        identity = tcb_info.module_identity(version)
        if identity is None:
            raise TdxModuleMismatchError(
                f"TCB info has no tdxModuleIdentities entry TDX_{version:02X} for the TD's "
                f"TDX module (major version {version})",
                component="tdx-module",
                hint="fetch a current TDX TCB info from Intel PCS; the module may be too new "
                "or not an Intel release",
            )
        mrsigner, attributes, mask = (
            identity.mrsigner,
            identity.attributes,
            identity.attributes_mask,
        )
        where = identity.id
    if mr_signer_seam != mrsigner:
        raise TdxModuleMismatchError(
            f"MRSIGNERSEAM {mr_signer_seam.hex()} != {where} mrsigner {mrsigner.hex()}",
            component="tdx-module",
            hint="the TD does not run on an Intel-signed TDX module",
        )
    masked = bytes(a & m for a, m in zip(seam_attributes, mask, strict=True))
    if masked != attributes:
        raise TdxModuleMismatchError(
            f"SEAMATTRIBUTES {seam_attributes.hex()} (masked {masked.hex()}) != {where} "
            f"attributes {attributes.hex()}",
            component="tdx-module",
            hint="the TDX module runs with attributes Intel does not accept (e.g. debug)",
        )
    return identity


def _check_qe_identity(
    qe: QeIdentity, mrsigner: bytes, isvprodid: int, miscselect: int, attributes: bytes
) -> None:
    """QVL 4.1.2.9.5-8: the QE report must be Intel's TD quoting enclave."""
    problems = []
    if miscselect & qe.miscselect_mask != qe.miscselect:
        problems.append(
            f"MISCSELECT {miscselect:08x} & mask {qe.miscselect_mask:08x} != {qe.miscselect:08x}"
        )
    masked = bytes(a & m for a, m in zip(attributes, qe.attributes_mask, strict=True))
    if masked != qe.attributes:
        problems.append(
            f"ATTRIBUTES {attributes.hex()} (masked {masked.hex()}) != {qe.attributes.hex()}"
        )
    if mrsigner != qe.mrsigner:
        problems.append(f"MRSIGNER {mrsigner.hex()} != {qe.mrsigner.hex()}")
    if isvprodid != qe.isvprodid:
        problems.append(f"ISVPRODID {isvprodid} != {qe.isvprodid}")
    if problems:
        raise QeIdentityMismatchError(
            "QE identity mismatch: " + "; ".join(problems),
            component="tdx-qe",
            hint="the quote was not produced by Intel's TD Quoting Enclave, or the QE identity "
            "is the SGX one (id QE) instead of TD_QE",
        )


def _qe_level(qe: QeIdentity, isvsvn: int) -> tuple[IdentityTcbLevel | None, TcbStatus]:
    for level in qe.sorted_levels():
        if isvsvn >= level.isv_svn:
            if level.tcb_status is TcbStatus.UP_TO_DATE:
                return level, TcbStatus.UP_TO_DATE
            if level.tcb_status is TcbStatus.REVOKED:
                return level, TcbStatus.REVOKED
            return level, TcbStatus.OUT_OF_DATE
    return None, TcbStatus.NOT_SUPPORTED


# --------------------------------------------------------------------------- level matching


def _sgx_ok(level: TcbLevel, sgx: SgxExtensions) -> bool:
    return sgx.pce_svn >= level.pce_svn and all(
        have >= need for have, need in zip(sgx.tcb_components, level.sgx_svns, strict=True)
    )


def _tdx_start(tee_tcb_svn: bytes) -> int:
    return 2 if tee_tcb_svn[1] > 0 else 0


def _tdx_ok(level: TcbLevel, tee_tcb_svn: bytes) -> bool:
    start = _tdx_start(tee_tcb_svn)
    return all(tee_tcb_svn[i] >= level.tdx_svns[i] for i in range(start, 16))


def _match_levels(
    levels: tuple[TcbLevel, ...], sgx: SgxExtensions, tee_tcb_svn: bytes
) -> tuple[TcbLevel | None, TcbLevel | None]:
    sgx_level = None
    for level in levels:
        if _sgx_ok(level, sgx):
            sgx_level = sgx_level or level
            if _tdx_ok(level, tee_tcb_svn):
                return sgx_level, level
    return sgx_level, None


def _module_level(identity: TdxModuleIdentity, isvsvn: int) -> IdentityTcbLevel | None:
    for level in sorted(identity.tcb_levels, key=lambda lvl: lvl.isv_svn, reverse=True):
        if isvsvn >= level.isv_svn:
            return level
    return None


def _converge(status: TcbStatus, other: TcbStatus | None) -> TcbStatus:
    """QVL convergeTcbStatusWith{TdxModule,QeTcb}Status (other = module or QE status)."""
    if other is TcbStatus.OUT_OF_DATE:
        if status in (TcbStatus.UP_TO_DATE, TcbStatus.SW_HARDENING_NEEDED):
            return TcbStatus.OUT_OF_DATE
        if status in (
            TcbStatus.CONFIGURATION_NEEDED,
            TcbStatus.CONFIGURATION_AND_SW_HARDENING_NEEDED,
        ):
            return TcbStatus.OUT_OF_DATE_CONFIGURATION_NEEDED
    if other is TcbStatus.REVOKED:
        return TcbStatus.REVOKED
    if other is TcbStatus.NOT_SUPPORTED:
        return TcbStatus.NOT_SUPPORTED
    return status


def _relaunch(
    tcb_info: TcbInfo,
    tee_tcb_svn2: bytes,
    *,
    sgx_status: TcbStatus,
    tdx_status: TcbStatus,
    module_status: TcbStatus,
    qe_status: TcbStatus,
) -> TcbStatus:
    """QVL checkForRelaunch (TD report 1.5)."""
    if qe_status in _QE_BAD or sgx_status not in (
        TcbStatus.UP_TO_DATE,
        TcbStatus.SW_HARDENING_NEEDED,
        TcbStatus.CONFIGURATION_NEEDED,
        TcbStatus.CONFIGURATION_AND_SW_HARDENING_NEEDED,
    ):
        return tdx_status
    if tdx_status not in (TcbStatus.OUT_OF_DATE, TcbStatus.OUT_OF_DATE_CONFIGURATION_NEEDED):
        return tdx_status
    if module_status is not TcbStatus.OUT_OF_DATE:
        return tdx_status
    latest = tcb_info.sorted_levels()[0]
    if tee_tcb_svn2[1] == 0:
        required_module_svn = latest.tdx_svns[0]
    else:
        identity2 = tcb_info.module_identity(tee_tcb_svn2[1])
        if identity2 is None:
            raise TdxModuleMismatchError(
                f"TCB info has no tdxModuleIdentities entry TDX_{tee_tcb_svn2[1]:02X} for the "
                "updated TDX module (TEE_TCB_SVN2)",
                component="tdx-module",
                hint="fetch a current TDX TCB info from Intel PCS",
            )
        required_module_svn = max(lvl.isv_svn for lvl in identity2.tcb_levels)
    if tee_tcb_svn2[0] >= required_module_svn and tee_tcb_svn2[2] >= latest.tdx_svns[2]:
        if sgx_status in _CONFIGURATION or tdx_status in _CONFIGURATION:
            return TcbStatus.TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED
        return TcbStatus.TD_RELAUNCH_ADVISED
    return tdx_status


# --------------------------------------------------------------------------- explanations


def _advice(component: TcbComponent) -> str:
    kind = (component.type or "").lower()
    if "tdx module" in kind:
        return "update the TDX module"
    if "seamldr" in kind:
        return "update the platform BIOS/microcode (SEAMLDR ACM)"
    if "sinit" in kind:
        return "update the platform BIOS/firmware (TXT SINIT ACM)"
    if "microcode" in kind:
        if component.category == "BIOS":
            return "update the platform BIOS (early microcode)"
        return "update the CPU microcode (late microcode load by the host OS/VMM)"
    if component.category == "OS/VMM":
        return "update the host OS/VMM software"
    return "update the platform BIOS/microcode"


def _name(kind: str, index: int, component: TcbComponent) -> str:
    label = component.label()
    return f"{kind} TCB component {index + 1}" + (f" ({label})" if label else "")


def _explain_no_sgx_level(levels: tuple[TcbLevel, ...], sgx: SgxExtensions) -> list[str]:
    lines = []
    for i, have in enumerate(sgx.tcb_components):
        need = min(level.sgx_svns[i] for level in levels)
        if have < need:
            comp = levels[-1].sgx_components[i]
            lines.append(
                f"{_name('SGX', i, comp)} is {have}, every TCB level requires >= {need}: "
                f"{_advice(comp)}"
            )
    need_pce = min(level.pce_svn for level in levels)
    if sgx.pce_svn < need_pce:
        lines.append(
            f"PCESVN is {sgx.pce_svn}, every TCB level requires >= {need_pce}: update the Intel "
            "SGX/DCAP platform software (PCE) and re-provision the PCK certificate"
        )
    if not lines:
        lowest = levels[-1]
        behind = _behind_sgx(lowest, sgx)
        lines.append(
            "no TCB level is met by the combination of SGX components and PCESVN; the lowest "
            f"level ({_iso(lowest.tcb_date)}) needs: " + "; ".join(behind)
        )
    return ["no TCB level matches the platform (TCB_NOT_SUPPORTED)", *lines]


def _behind_sgx(level: TcbLevel, sgx: SgxExtensions, why: str = "") -> list[str]:
    out = [
        f"{_name('SGX', i, comp)} is {have} < {comp.svn}{why}: {_advice(comp)}"
        for i, (have, comp) in enumerate(zip(sgx.tcb_components, level.sgx_components, strict=True))
        if have < comp.svn
    ]
    if sgx.pce_svn < level.pce_svn:
        out.append(
            f"PCESVN is {sgx.pce_svn} < {level.pce_svn}{why}: update the SGX/DCAP platform "
            "software (PCE) and re-provision the PCK certificate"
        )
    return out


def _behind_tdx(level: TcbLevel, tee_tcb_svn: bytes, why: str = "") -> list[str]:
    return [
        f"{_name('TDX', i, level.tdx_components[i])} is {tee_tcb_svn[i]} < "
        f"{level.tdx_svns[i]}{why}: {_advice(level.tdx_components[i])}"
        for i in range(_tdx_start(tee_tcb_svn), 16)
        if tee_tcb_svn[i] < level.tdx_svns[i]
    ]


def _explain_no_tdx_level(
    levels: tuple[TcbLevel, ...], sgx: SgxExtensions, tee_tcb_svn: bytes
) -> list[str]:
    candidates = [level for level in levels if _sgx_ok(level, sgx)]
    lines = ["no TCB level matches the TD's TEE_TCB_SVN (TCB_NOT_SUPPORTED)"]
    for i in range(_tdx_start(tee_tcb_svn), 16):
        need = min(level.tdx_svns[i] for level in candidates)
        if tee_tcb_svn[i] < need:
            comp = candidates[-1].tdx_components[i]
            lines.append(
                f"{_name('TDX', i, comp)} is {tee_tcb_svn[i]}, every TCB level the platform "
                f"meets requires >= {need}: {_advice(comp)}"
            )
    if len(lines) == 1:
        lines += _behind_tdx(candidates[-1], tee_tcb_svn)
    return lines


def _best(levels: tuple[TcbLevel, ...]) -> TcbLevel | None:
    return next((lvl for lvl in levels if lvl.tcb_status is TcbStatus.UP_TO_DATE), None)


def _explain_level(
    levels: tuple[TcbLevel, ...],
    level: TcbLevel,
    sgx: SgxExtensions,
    tee_tcb_svn: bytes,
) -> list[str]:
    lines = [f"platform TCB level {_iso(level.tcb_date)} is {level.tcb_status.value}"]
    if level.tcb_status is TcbStatus.UP_TO_DATE:
        return lines
    best = _best(levels)
    if best is not None and best is not level:
        why = " required for UpToDate"
        lines += _behind_sgx(best, sgx, why) + _behind_tdx(best, tee_tcb_svn, why)
    if level.tcb_status in _CONFIGURATION:
        lines.append("the platform needs configuration changes (see the advisories)")
    if level.tcb_status in (
        TcbStatus.SW_HARDENING_NEEDED,
        TcbStatus.CONFIGURATION_AND_SW_HARDENING_NEEDED,
    ):
        lines.append("software hardening (mitigations in the TD) is needed (see the advisories)")
    if level.tcb_status is TcbStatus.REVOKED:
        lines.append("Intel revoked this TCB level: the platform must be updated")
    return lines


def _explain_identity(
    what: str,
    levels: tuple[IdentityTcbLevel, ...],
    level: IdentityTcbLevel | None,
    svn: int,
    hint: str,
) -> list[str]:
    if level is None:
        lowest = min(lvl.isv_svn for lvl in levels)
        return [f"{what} SVN {svn} is below every level (>= {lowest} required): {hint}"]
    line = f"{what} SVN {svn} matches level {_iso(level.tcb_date)} ({level.tcb_status.value})"
    if level.tcb_status is TcbStatus.UP_TO_DATE:
        return [line]
    best = max(
        (lvl.isv_svn for lvl in levels if lvl.tcb_status is TcbStatus.UP_TO_DATE), default=None
    )
    if best is not None:
        return [line, f"{what} SVN {svn} < {best} required for UpToDate: {hint}"]
    return [line, f"{hint}"]


# --------------------------------------------------------------------------- evaluation


def _require_size(value: bytes, size: int, name: str) -> None:
    if len(value) != size:
        raise MalformedInputError(
            f"{name} is {len(value)} bytes, expected {size}", component="tdx-tcb"
        )


def _union(*groups: tuple[str, ...]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for group in groups:
        for advisory in group:
            seen.setdefault(advisory, None)
    return tuple(seen)


def evaluate_tcb(
    tcb_info: TcbInfo,
    sgx: SgxExtensions,
    *,
    tee_tcb_svn: bytes,
    mr_signer_seam: bytes,
    seam_attributes: bytes,
    tee_tcb_svn2: bytes | None,
    qe_identity: QeIdentity,
    qe_isvsvn: int,
    qe_mrsigner: bytes,
    qe_isvprodid: int,
    qe_miscselect: int,
    qe_attributes: bytes,
) -> TcbEvaluation:
    """The QVL TCB status of a TDX quote (see the module docstring for the steps).

    Raises :class:`CollateralUnavailableError` (wrong FMSPC), :class:`TdxModuleMismatchError`
    or :class:`QeIdentityMismatchError`; every other outcome is a :class:`TcbEvaluation`.
    """
    _require_size(tee_tcb_svn, 16, "TEE_TCB_SVN")
    _require_size(mr_signer_seam, 48, "MRSIGNERSEAM")
    _require_size(seam_attributes, 8, "SEAMATTRIBUTES")
    _require_size(qe_mrsigner, 32, "QE MRSIGNER")
    _require_size(qe_attributes, 16, "QE ATTRIBUTES")
    if tee_tcb_svn2 is not None:
        _require_size(tee_tcb_svn2, 16, "TEE_TCB_SVN2")

    check_tcb_info_matches_pck(tcb_info, sgx)
    identity = _check_module_identity(tcb_info, tee_tcb_svn, mr_signer_seam, seam_attributes)
    _check_qe_identity(qe_identity, qe_mrsigner, qe_isvprodid, qe_miscselect, qe_attributes)
    qe_level, qe_status = _qe_level(qe_identity, qe_isvsvn)
    qe_lines = _explain_identity("QE", qe_identity.tcb_levels, qe_level, qe_isvsvn, _QE_HINT)

    levels = tcb_info.sorted_levels()
    sgx_level, level = _match_levels(levels, sgx, tee_tcb_svn)
    module_level: IdentityTcbLevel | None = None
    module_status: TcbStatus | None = None

    def result(
        status: TcbStatus, lines: list[str], platform_status: TcbStatus | None
    ) -> TcbEvaluation:
        return TcbEvaluation(
            status=status,
            advisory_ids=_union(
                level.advisory_ids if level else (),
                module_level.advisory_ids if module_level else (),
                qe_level.advisory_ids if qe_level else (),
            ),
            platform_level=level,
            platform_status=platform_status,
            sgx_level=sgx_level,
            module_identity_id=identity.id if identity else None,
            module_level=module_level,
            module_status=module_status,
            qe_level=qe_level,
            qe_status=qe_status,
            tcb_evaluation_data_number=tcb_info.tcb_evaluation_data_number,
            explanation=tuple(lines),
        )

    if sgx_level is None:
        return result(TcbStatus.NOT_SUPPORTED, _explain_no_sgx_level(levels, sgx), None)
    if level is None:
        return result(
            TcbStatus.NOT_SUPPORTED, _explain_no_tdx_level(levels, sgx, tee_tcb_svn), None
        )

    lines = _explain_level(levels, level, sgx, tee_tcb_svn)
    if identity is not None:
        module_level = _module_level(identity, tee_tcb_svn[0])
        lines += _explain_identity(
            f"TDX module ({identity.id})",
            identity.tcb_levels,
            module_level,
            tee_tcb_svn[0],
            "update the TDX module",
        )
        if module_level is None:
            module_status = TcbStatus.NOT_SUPPORTED
            return result(TcbStatus.NOT_SUPPORTED, lines, level.tcb_status)
        module_status = module_level.tcb_status

    tdx_status = _converge(level.tcb_status, module_status)
    if tdx_status is TcbStatus.REVOKED:
        return result(tdx_status, lines, level.tcb_status)

    if tee_tcb_svn2 is not None:
        relaunched = _relaunch(
            tcb_info,
            tee_tcb_svn2,
            sgx_status=sgx_level.tcb_status,
            tdx_status=tdx_status,
            module_status=module_status or TcbStatus.UP_TO_DATE,
            qe_status=qe_status,
        )
        if relaunched is not tdx_status:
            lines.append(
                f"the TDX module was updated in place since the TD launched (TEE_TCB_SVN2 "
                f"{tee_tcb_svn2[:3].hex()} is current, TEE_TCB_SVN {tee_tcb_svn[:3].hex()} is "
                "not): relaunch the TD to run on the up-to-date module"
            )
        tdx_status = relaunched

    return result(_converge(tdx_status, qe_status), lines + qe_lines, level.tcb_status)


def evaluate_quote_tcb(
    tcb_info: TcbInfo, qe_identity: QeIdentity, sgx: SgxExtensions, quote: Quote
) -> TcbEvaluation:
    """:func:`evaluate_tcb` with the fields taken from a parsed ``tdx.quote.Quote``."""
    body = quote.body
    qe = quote.certification.qe_report
    return evaluate_tcb(
        tcb_info,
        sgx,
        tee_tcb_svn=body.tee_tcb_svn,
        mr_signer_seam=body.mr_signer_seam,
        seam_attributes=body.seam_attributes,
        tee_tcb_svn2=body.tee_tcb_svn2,
        qe_identity=qe_identity,
        qe_isvsvn=qe.isv_svn,
        qe_mrsigner=qe.mr_signer,
        qe_isvprodid=qe.isv_prod_id,
        qe_miscselect=qe.misc_select,
        qe_attributes=qe.attributes,
    )
