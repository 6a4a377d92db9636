"""Intel TDX collateral: the set a quote is appraised with, and its loaders.

The documents are modelled in :mod:`.tcb_info` and :mod:`.qe_identity`; their signed bytes,
signatures and issuer chains in :mod:`.signed_json`. Accepted forms:

* dcap-qvl's collateral JSON (``QuoteCollateralV3``) — :func:`load_dcap_qvl_collateral`;
* raw Intel PCS response bodies (+ the issuer chain from the HTTP header, URL-encoded PEM) —
  :func:`load_pcs_tcb_info`, :func:`load_pcs_qe_identity`
  (:func:`.signed_json.decode_issuer_chain_header` decodes the header);
* a directory of PCS files — :func:`load_collateral_dir` (file names in :data:`DIR_FILE_NAMES`).

Loading is strict: a field or file that is unknown, duplicated, mistyped or ambiguous is a
:class:`MalformedInputError` (exit 10), never silently skipped, so whoever supplies collateral
cannot rename a CRL away. A CRL that is simply absent loads as ``None``; the verification
pipeline then fails revocation unless the policy allows incomplete collateral.

Validity windows (issueDate..nextUpdate) are checked by ``check_current`` and fail with
:class:`ChainError` (exit code 3, "expired or not yet valid"), like certificates and CRLs.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from ..errors import MalformedInputError
from ..input_files import list_input_directory, read_directory_files, read_input_file
from .json_fields import PCS_HINT, load_json_object
from .qe_identity import QeIdentity
from .signed_json import (
    Signed,
    SignedJson,
    check_pem_chain,
    signature_hex,
    split_pcs_body,
)
from .tcb_info import TcbInfo

SignedTcbInfo = Signed[TcbInfo]
SignedQeIdentity = Signed[QeIdentity]


@dataclass(frozen=True)
class TdxCollateral:
    """Everything needed to appraise a TDX quote offline.

    A CRL may be ``None`` (collateral supplied without it); the pipeline fails revocation then,
    unless the policy sets ``allow_collateral_without_crl``."""

    tcb_info: SignedTcbInfo
    qe_identity: SignedQeIdentity
    pck_crl: bytes | None = None
    pck_crl_issuer_chain: bytes | None = None
    root_ca_crl: bytes | None = None
    source: str = ""
    missing_crls: tuple[tuple[str, str], ...] = ()
    """Why a CRL is None when supplied collateral (a bundle) lacks it: (component, reason),
    e.g. ``("PCK CRL", "the PCK Platform CA CRL is not in …")``."""

    @property
    def tcb_info_issuer_chain(self) -> bytes | None:
        return self.tcb_info.issuer_chain

    @property
    def qe_identity_issuer_chain(self) -> bytes | None:
        return self.qe_identity.issuer_chain

    def check_current(self, at: datetime) -> None:
        """Both signed documents must be inside their issueDate..nextUpdate window."""
        self.tcb_info.parsed.check_current(at)
        self.qe_identity.parsed.check_current(at)


# --------------------------------------------------------------------------- loaders


def load_pcs_tcb_info(body: bytes, issuer_chain: bytes | None) -> SignedTcbInfo:
    """Load an Intel PCS TDX TCB info response body ``{"tcbInfo":{...},"signature":"..."}``."""
    inner, signature = split_pcs_body(body, "tcbInfo", "TCB info response")
    chain = check_pem_chain(issuer_chain, "TCB info issuer chain") if issuer_chain else None
    return Signed(TcbInfo.parse(inner), SignedJson(inner, signature), chain)


def load_pcs_qe_identity(body: bytes, issuer_chain: bytes | None) -> SignedQeIdentity:
    """Load an Intel PCS TD_QE identity body ``{"enclaveIdentity":{...},"signature":"..."}``."""
    inner, signature = split_pcs_body(body, "enclaveIdentity", "QE identity response")
    chain = check_pem_chain(issuer_chain, "QE identity issuer chain") if issuer_chain else None
    return Signed(QeIdentity.parse(inner), SignedJson(inner, signature), chain)


#: dcap-qvl ``QuoteCollateralV3`` JSON: every field it has. The three CRL fields may be absent
#: (older dcap-qvl samples lack them); revocation then fails unless the policy allows it.
DCAP_QVL_REQUIRED: Final = (
    "tcb_info_issuer_chain",
    "tcb_info",
    "tcb_info_signature",
    "qe_identity_issuer_chain",
    "qe_identity",
    "qe_identity_signature",
)
DCAP_QVL_OPTIONAL: Final = ("pck_crl_issuer_chain", "root_ca_crl", "pck_crl")
_DCAP_QVL_HINT = (
    "expected dcap-qvl QuoteCollateralV3 JSON: string fields "
    + ", ".join(DCAP_QVL_REQUIRED + DCAP_QVL_OPTIONAL)
    + " and nothing else"
)


def _collateral_error(message: str) -> MalformedInputError:
    return MalformedInputError(message, component="tdx-collateral", hint=_DCAP_QVL_HINT)


def _check_members(doc: Mapping[str, Any]) -> None:
    """Exactly dcap-qvl's fields: a renamed or unknown one (e.g. ``pck_crl_x``) is an error,
    never a silently absent CRL; every value is a non-empty string."""
    unknown = sorted(set(doc) - set(DCAP_QVL_REQUIRED) - set(DCAP_QVL_OPTIONAL))
    if unknown:
        raise _collateral_error(
            f"collateral JSON has unknown field(s) {', '.join(map(repr, unknown))}"
        )
    missing = [key for key in DCAP_QVL_REQUIRED if key not in doc]
    if missing:
        raise _collateral_error(f"collateral JSON lacks {', '.join(map(repr, missing))}")
    for key, value in doc.items():
        if not isinstance(value, str):
            raise _collateral_error(f"collateral {key!r} must be a string, not {_json_type(value)}")
        if not value:
            raise _collateral_error(
                f"collateral {key!r} is empty (omit a CRL field rather than leaving it empty)"
            )


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _hex_der(doc: Mapping[str, Any], key: str) -> bytes | None:
    """A hex-encoded DER field (no spaces, even length), or None when the field is absent."""
    if key not in doc:
        return None
    value = doc[key]
    if not re.fullmatch(r"(?:[0-9A-Fa-f]{2})+", value):
        raise _collateral_error(f"collateral {key!r} is not hex (an even number of hex digits)")
    return bytes.fromhex(value)


def _utf8(text: str, key: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise MalformedInputError(
            f"collateral {key!r} is not valid Unicode text", component="tdx-collateral"
        ) from exc


def _pem_field(doc: Mapping[str, Any], key: str) -> bytes:
    return check_pem_chain(_utf8(doc[key], key), key)


def load_dcap_qvl_collateral(data: bytes) -> TdxCollateral:
    """Load dcap-qvl's ``QuoteCollateralV3`` JSON, strictly (:func:`_check_members`).

    The CRL fields may be absent (older samples lack them); the pipeline then fails revocation
    unless the policy sets ``allow_collateral_without_crl``.
    """
    doc = load_json_object(data, "collateral JSON")
    _check_members(doc)
    tcb_body = _utf8(doc["tcb_info"], "tcb_info")
    qe_body = _utf8(doc["qe_identity"], "qe_identity")
    pck_chain = _pem_field(doc, "pck_crl_issuer_chain") if "pck_crl_issuer_chain" in doc else None
    return TdxCollateral(
        tcb_info=Signed(
            TcbInfo.parse(tcb_body),
            SignedJson(tcb_body, signature_hex(doc["tcb_info_signature"], "tcb_info_signature")),
            _pem_field(doc, "tcb_info_issuer_chain"),
        ),
        qe_identity=Signed(
            QeIdentity.parse(qe_body),
            SignedJson(
                qe_body, signature_hex(doc["qe_identity_signature"], "qe_identity_signature")
            ),
            _pem_field(doc, "qe_identity_issuer_chain"),
        ),
        pck_crl=_hex_der(doc, "pck_crl"),
        pck_crl_issuer_chain=pck_chain,
        root_ca_crl=_hex_der(doc, "root_ca_crl"),
        source="dcap-qvl collateral JSON",
    )


# File names accepted by load_collateral_dir (case-insensitive), first = Cairn's own name.
DIR_FILE_NAMES: Mapping[str, Sequence[str]] = {
    "tcb_info": ("tcb_info.json", "tcbinfo.json", "sample_tcbinfo_response", "tcbinfo"),
    "qe_identity": (
        "qe_identity.json",
        "qeidentity.json",
        "sample_qeidentity_response",
        "qeidentity",
    ),
    "tcb_info_issuer_chain": (
        "tcb_info_issuer_chain.pem",
        "tcb_signing_chain.pem",
        "tcbsigningchain.pem",
    ),
    "qe_identity_issuer_chain": (
        "qe_identity_issuer_chain.pem",
        "tcb_signing_chain.pem",
        "tcbsigningchain.pem",
    ),
    "pck_crl": ("pck_crl.der", "pckcrl.der", "pckcrl", "pck_crl.pem", "pck_crl.crl"),
    "pck_crl_issuer_chain": ("pck_crl_issuer_chain.pem", "pckcrlsigningchain.pem"),
    "root_ca_crl": (
        "root_ca_crl.der",
        "rootcrl.der",
        "rootcrl",
        "root_ca_crl.pem",
        "root_ca_crl.crl",
    ),
}


def _find(files: Mapping[str, bytes], role: str) -> bytes | None:
    """The one file of ``role``; two candidates (e.g. ``pck_crl.der`` and ``pckcrl``) are an
    error rather than a silent choice."""
    found = [name for name in DIR_FILE_NAMES[role] if name in files]
    if len(found) > 1:
        raise MalformedInputError(
            f"the collateral directory has {len(found)} files for the {role}: " + ", ".join(found),
            component="tdx-collateral",
            hint="keep exactly one file per document",
        )
    return files[found[0]] if found else None


def _read(path: Path) -> bytes:
    """One collateral file, bounded like every input (:mod:`cairn_verifier.input_files`)."""
    return read_input_file(path, "collateral file", component="tdx-collateral")


def _read_dir(path: Path) -> dict[str, bytes]:
    """The files of a PCS directory with a known name (lower-cased), bounded in count and size."""
    known = {name for names in DIR_FILE_NAMES.values() for name in names}
    listed = list_input_directory(
        path, "collateral", accept=lambda name: name.lower() in known, component="tdx-collateral"
    )
    read = read_directory_files(listed, "collateral file", component="tdx-collateral")
    return {file.path.name.lower(): file.data for file in read}


def crl_to_der(data: bytes, what: str) -> bytes:
    """A CRL given as DER, PEM ("X509 CRL") or hex text, returned as DER."""
    stripped = data.strip()
    if stripped.startswith(b"-----BEGIN X509 CRL-----"):
        match = re.search(rb"-----BEGIN X509 CRL-----(.*?)-----END X509 CRL-----", stripped, re.S)
        if match is None:
            raise MalformedInputError(f"{what}: unterminated PEM CRL", component="tdx-collateral")
        try:
            return base64.b64decode(b"".join(match.group(1).split()), validate=True)
        except binascii.Error as exc:
            raise MalformedInputError(
                f"{what}: bad base64 in PEM CRL", component="tdx-collateral"
            ) from exc
    if stripped[:1] == b"\x30":
        return data
    if re.fullmatch(rb"[0-9A-Fa-f]+", stripped):
        try:
            return bytes.fromhex(stripped.decode())
        except ValueError as exc:
            raise MalformedInputError(f"{what}: bad hex CRL", component="tdx-collateral") from exc
    raise MalformedInputError(f"{what} is neither DER, PEM nor hex", component="tdx-collateral")


def load_collateral_dir(path: Path) -> TdxCollateral:
    """Load raw Intel PCS files from a directory (names: :data:`DIR_FILE_NAMES`).

    ``tcb_info.json`` / ``qe_identity.json`` are the PCS response bodies as served; chains are
    PEM files (the decoded ``*-Issuer-Chain`` headers); CRLs DER, PEM or hex. go-tdx-guest's
    test-data names (``sample_tcbInfo_response``, ``pckcrl``, ``rootcrl.der``) are accepted too.
    """
    if not path.is_dir():
        raise MalformedInputError(f"{path} is not a directory", component="tdx-collateral")
    files = _read_dir(path)
    tcb_data, qe_data = _find(files, "tcb_info"), _find(files, "qe_identity")
    if tcb_data is None or qe_data is None:
        missing = [
            DIR_FILE_NAMES[r][0]
            for r, p in (("tcb_info", tcb_data), ("qe_identity", qe_data))
            if p is None
        ]
        raise MalformedInputError(
            f"collateral directory {path} lacks {', '.join(missing)}",
            component="tdx-collateral",
            hint=PCS_HINT,
        )

    def optional(role: str) -> bytes | None:
        return _find(files, role)

    pck_crl, root_crl = optional("pck_crl"), optional("root_ca_crl")
    pck_chain = optional("pck_crl_issuer_chain")
    return TdxCollateral(
        tcb_info=load_pcs_tcb_info(tcb_data, optional("tcb_info_issuer_chain")),
        qe_identity=load_pcs_qe_identity(qe_data, optional("qe_identity_issuer_chain")),
        pck_crl=crl_to_der(pck_crl, "PCK CRL") if pck_crl is not None else None,
        pck_crl_issuer_chain=check_pem_chain(pck_chain, "PCK CRL issuer chain")
        if pck_chain
        else None,
        root_ca_crl=crl_to_der(root_crl, "Root CA CRL") if root_crl is not None else None,
        source=f"PCS files in {path}",
    )


def load_collateral_path(path: Path) -> TdxCollateral:
    """A directory of PCS files, or one dcap-qvl collateral JSON file."""
    if path.is_dir():
        return load_collateral_dir(path)
    collateral = load_dcap_qvl_collateral(_read(path))
    return dataclasses.replace(collateral, source=f"{path} (dcap-qvl collateral JSON)")
