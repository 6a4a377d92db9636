"""TDX collateral saved under Intel PCS names, issuer chains as the URL-encoded response headers.

This is how Tinfoil (tinfoilsh/tinfoil-go ``verifier/attestation/collateral/fetch.sh``) stores
the PCS answers it embeds: each response body under a name that says what it is, and each
``*-Issuer-Chain`` response header saved verbatim — URL-encoded PEM — beside it::

    tcb_info_<fmspc>.json   + tcb_info_<fmspc>_chain.txt   (/tdx/certification/v4/tcb)
    qe_identity.json        + qe_identity_chain.txt        (/tdx/certification/v4/qe/identity)
    pck_crl_platform.crl    + pck_crl_platform_chain.txt   (pck-crl?ca=platform, DER)
    pck_crl_processor.crl   + pck_crl_processor_chain.txt  (pck-crl?ca=processor, DER)
    root_ca.crl                                            (IntelSGXRootCA.der)

A directory may hold the TCB info of several FMSPCs and both PCK CRLs; the quote decides which
apply (its PCK certificate names its FMSPC and its issuing CA). Without a quote, a directory with
more than one candidate is refused with the candidates named. Chain files may also be plain PEM.
Everything read here is checked later like any collateral (signatures up to Intel's pinned root).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from ..errors import MalformedInputError
from ..x509.cert import load_certificates
from .collateral import TdxCollateral, crl_to_der, load_pcs_qe_identity, load_pcs_tcb_info
from .pck import SGX_EXTENSIONS_OID, SgxExtensions, pck_ca_kind
from .quote import Quote
from .signed_json import decode_issuer_chain_header

COMPONENT = "tdx-collateral"
MAX_FILE_BYTES = 4 * 1024 * 1024
_TCB_INFO = re.compile(r"tcb_info_([0-9a-f]{12})\.json")
_PCK_CRL = re.compile(r"pck_crl_(platform|processor)\.crl")
_MARKERS = ("qe_identity_chain.txt", "root_ca.crl")

CollateralKey = tuple[bytes, str]
"""(FMSPC, PCK CA kind 'platform' | 'processor') of a quote."""


def collateral_key(quote: Quote) -> CollateralKey:
    """The FMSPC and PCK CA of ``quote``, read from its PCK certificate chain (not yet trusted)."""
    certs = load_certificates(quote.certification.pck_cert_chain_pem)
    if len(certs) < 2:
        raise MalformedInputError(
            "the quote's PCK certificate chain has fewer than two certificates",
            component=COMPONENT,
        )
    extension = certs[0].extensions.get(SGX_EXTENSIONS_OID)
    if extension is None:
        raise MalformedInputError(
            "the quote's PCK certificate lacks Intel's SGX extensions", component=COMPONENT
        )
    return SgxExtensions.parse(extension.value).fmspc, pck_ca_kind(certs[1].subject.common_name)


def _names(path: Path) -> dict[str, Path]:
    try:
        return {p.name.lower(): p for p in path.iterdir() if p.is_file()}
    except OSError as exc:
        raise MalformedInputError(
            f"cannot list {path}: {exc.strerror}", component=COMPONENT
        ) from exc


def is_pcs_file_dir(path: Path) -> bool:
    """True when ``path`` is a directory using the Intel PCS file names described above."""
    if not path.is_dir():
        return False
    names = _names(path)
    return any(_TCB_INFO.fullmatch(n) or _PCK_CRL.fullmatch(n) for n in names) or any(
        marker in names for marker in _MARKERS
    )


def _read(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise MalformedInputError(
            f"cannot read {path}: {exc.strerror}", component=COMPONENT
        ) from exc
    if len(data) > MAX_FILE_BYTES:
        raise MalformedInputError(
            f"{path} is larger than {MAX_FILE_BYTES} bytes; no PCS response is that large",
            component=COMPONENT,
        )
    return data


def read_chain_file(path: Path) -> bytes:
    """An issuer chain file: the URL-encoded ``*-Issuer-Chain`` header value, or plain PEM."""
    data = _read(path).strip()
    if data.startswith(b"-----BEGIN CERTIFICATE-----"):
        return data + b"\n"
    if data.startswith(b"-----BEGIN%20CERTIFICATE-----"):
        try:
            return decode_issuer_chain_header(data.decode("ascii"))
        except (UnicodeDecodeError, MalformedInputError) as exc:
            raise MalformedInputError(
                f"{path}: not a URL-encoded PEM issuer chain", component=COMPONENT
            ) from exc
    raise MalformedInputError(
        f"{path}: an issuer chain file must hold the URL-encoded *-Issuer-Chain header value "
        "(-----BEGIN%20CERTIFICATE-----…) or PEM",
        component=COMPONENT,
        hint="save the header value exactly as Intel PCS sends it, or the decoded PEM",
    )


def _choose(
    found: dict[str, Path], wanted: str | None, what: str, directory: Path, how: str
) -> str:
    if wanted is not None:
        if wanted not in found:
            have = ", ".join(sorted(found)) or "none"
            raise MalformedInputError(
                f"{directory} has no {what} for {wanted} (it has: {have})",
                component=COMPONENT,
                hint=how,
            )
        return wanted
    if len(found) == 1:
        return next(iter(found))
    raise MalformedInputError(
        f"{directory} holds {what} for {', '.join(sorted(found)) or 'nothing'}; which one applies "
        "depends on the quote, and none was given",
        component=COMPONENT,
        hint="verify with the quote (`cairn verify tdx QUOTE --collateral DIR`), which names its "
        "FMSPC and PCK CA",
    )


def load_pcs_file_dir(
    path: Path, select: Callable[[], CollateralKey] | None = None
) -> TdxCollateral:
    """The collateral in a directory of PCS-named files, for the quote ``select`` describes."""
    names = _names(path)
    tcb_infos = {m.group(1): p for n, p in names.items() if (m := _TCB_INFO.fullmatch(n))}
    pck_crls = {m.group(1): p for n, p in names.items() if (m := _PCK_CRL.fullmatch(n))}
    key = select() if select is not None and (len(tcb_infos) != 1 or len(pck_crls) > 1) else None
    fmspc = _choose(
        tcb_infos,
        key[0].hex() if key else None,
        "TCB info (tcb_info_<fmspc>.json)",
        path,
        "fetch it from Intel PCS: "
        f"/tdx/certification/v4/tcb?fmspc={key[0].hex().upper() if key else 'FMSPC'}",
    )
    if "qe_identity.json" not in names:
        raise MalformedInputError(
            f"{path} has tcb_info_{fmspc}.json but no qe_identity.json",
            component=COMPONENT,
            hint="fetch /tdx/certification/v4/qe/identity from Intel PCS into qe_identity.json",
        )

    def chain(name: str) -> bytes | None:
        return read_chain_file(names[name]) if name in names else None

    pck_crl = pck_chain = None
    if pck_crls:
        ca = _choose(
            pck_crls,
            key[1] if key else None,
            "a PCK CRL (pck_crl_<ca>.crl)",
            path,
            "fetch it from Intel PCS: /sgx/certification/v4/pckcrl?ca=CA&encoding=der",
        )
        pck_crl = crl_to_der(_read(pck_crls[ca]), f"pck_crl_{ca}.crl")
        pck_chain = chain(f"pck_crl_{ca}_chain.txt")
    root = names.get("root_ca.crl")
    return TdxCollateral(
        tcb_info=load_pcs_tcb_info(_read(tcb_infos[fmspc]), chain(f"tcb_info_{fmspc}_chain.txt")),
        qe_identity=load_pcs_qe_identity(
            _read(names["qe_identity.json"]), chain("qe_identity_chain.txt")
        ),
        pck_crl=pck_crl,
        pck_crl_issuer_chain=pck_chain,
        root_ca_crl=crl_to_der(_read(root), "root_ca.crl") if root is not None else None,
        source=f"Intel PCS files in {path} (FMSPC {fmspc.upper()})",
    )
