"""Inputs that are not evidence for the command at hand, named so the user knows what to do.

Used when no container detector accepted the input: a certificate or CRL, an SGX quote, Oak
endorsements. (The other platform's evidence is named by running that platform's reader; see
:mod:`.reader`.)
"""

from __future__ import annotations

import struct

from ..errors import CairnError, MalformedInputError
from ..x509.cert import parse_certificate
from ..x509.crl import parse_crl
from .base import Platform, input_error
from .dstack import VARIANTS, looks_like_dstack
from .oak import read_oak_tee_certificate
from .protobuf import WireError

_CERTS_HINT = {
    Platform.SNP: "give AMD certificates with --certs (and a CRL with --crl) to "
    "`cairn verify snp`, and the report itself as REPORT",
    Platform.TDX: "a TDX quote carries its own PCK certificate chain; Intel collateral "
    "(TCB info, QE identity, CRLs) goes with --collateral",
}


def certificate_error(
    kind: str, subject: str, platform: Platform, what: str
) -> MalformedInputError:
    return input_error(
        f"this is {kind}{subject}, not {platform.an_evidence}", what, hint=_CERTS_HINT[platform]
    )


_CERT_LABELS = {"CERTIFICATE", "TRUSTED CERTIFICATE", "X509 CRL"}


def pem_labels_error(
    labels: list[str], platform: Platform, what: str
) -> MalformedInputError | None:
    """A named error for PEM text whose blocks are certificates, CRLs or keys."""
    if not labels:
        return None
    if all(label in _CERT_LABELS for label in labels):
        certs = sum(label != "X509 CRL" for label in labels)
        crls = len(labels) - certs
        parts = [
            f"{n} {noun}{'s' if n > 1 else ''}"
            for n, noun in ((certs, "X.509 certificate"), (crls, "certificate revocation list"))
            if n
        ]
        kind = (
            " and ".join(parts)
            if len(labels) > 1
            else ("an X.509 certificate" if certs else "a certificate revocation list")
        )
        return certificate_error(f"{kind} (PEM)", "", platform, what)
    keys = [label for label in labels if label.endswith(("PRIVATE KEY", "PUBLIC KEY"))]
    if keys:
        return input_error(
            f"this is a key (PEM {keys[0]}), not {platform.an_evidence}",
            what,
            hint="give the evidence file itself (docs/inputs.md lists the formats)",
        )
    return None


def _utf8_text(data: bytes) -> str | None:
    """``data`` as text if it is UTF-8 with only printable characters and whitespace."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text if all(c.isprintable() or c in "\t\n\r" for c in text) else None


def identify(data: bytes, platform: Platform, what: str) -> MalformedInputError | None:
    """A named error if ``data`` (already decoded) is a known non-evidence binary."""
    if len(data) >= 8:
        version, key_type, tee_type = struct.unpack_from("<HHI", data, 0)
        if version in (3, 4, 5) and key_type in (2, 3) and tee_type == 0:
            return input_error(
                f"this is an Intel SGX quote (v{version}, TEE type 0), not {platform.an_evidence}",
                what,
                hint="Cairn verifies TDX quotes and SEV-SNP reports; it does not verify SGX "
                "enclave quotes",
            )
    if looks_like_dstack(data) and VARIANTS[data[1]] == "DstackNitroEnclave":
        return input_error(
            "this is a dstack attestation from an AWS Nitro Enclave (DstackNitroEnclave), "
            f"not {platform.an_evidence}",
            what,
            hint="Cairn verifies SEV-SNP reports and TDX quotes; it does not verify Nitro "
            "Enclave attestation documents",
        )
    text = _utf8_text(data)
    if text is not None:
        return input_error(
            f"the input is text ({len(text)} characters of UTF-8) that is not hex, base64, PEM "
            f"or JSON, so it is not {platform.an_evidence}",
            what,
            hint="give the evidence file itself; docs/inputs.md lists the formats Cairn reads",
        )
    if data[:1] == b"\x30":
        try:
            cert = parse_certificate(data)
        except CairnError:
            pass
        else:
            subject = f" ('{cert.display_name}')"
            return certificate_error("an X.509 certificate (DER)", subject, platform, what)
        try:
            crl = parse_crl(data)
        except CairnError:
            pass
        else:
            issuer = f" (issuer '{crl.issuer}')"
            return certificate_error("a certificate revocation list (DER)", issuer, platform, what)
    if data[:1] == b"\x0a" or data[:1] == b"\x12" or data[:1] == b"\x1a":
        try:
            kind, _ = read_oak_tee_certificate(data)
        except WireError:
            return None
        hint = (
            "give the matching Oak evidence file as REPORT and this file with --certs: "
            "`cairn verify snp EVIDENCE.binarypb --certs ENDORSEMENTS.binarypb`"
            if platform is Platform.SNP
            else "Oak endorsements carry an AMD certificate; they belong to `cairn verify snp`"
        )
        return input_error(
            f"this is an Oak endorsements protobuf ({kind}: it carries the TEE certificate), "
            f"not {platform.an_evidence}",
            what,
            hint=hint,
        )
    return None
