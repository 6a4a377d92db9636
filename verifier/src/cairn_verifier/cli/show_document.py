"""What every ``cairn show`` command prints: one JSON shape and one text layout for all kinds.

JSON: ``{"kind", "source", "container", "verified": false, "note", "fields", "certificates"}``
where ``fields`` is the decoded structure and ``certificates`` summarises every certificate
the input carries (subject, issuer, serial, validity, SHA-256 fingerprint). Text: a title line,
the not-verified note, then titled sections of aligned rows (:mod:`cairn_verifier.sections`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..sections import Row, Section, render_sections
from ..timefmt import iso_time
from ..x509.cert import Certificate

NOT_VERIFIED = (
    "decoded only: nothing was verified (signatures, certificate chains, freshness, policy); "
    "use `cairn verify {command}` for that"
)


def certificate_summary(cert: Certificate) -> dict[str, Any]:
    """Subject, issuer, serial, validity and SHA-256 fingerprint of ``cert`` (JSON-ready)."""
    return {
        "subject": str(cert.subject),
        "issuer": str(cert.issuer),
        "serial": f"{cert.serial:x}",
        "not_before": iso_time(cert.not_before),
        "not_after": iso_time(cert.not_after),
        "sha256": cert.fingerprint_sha256.hex(),
    }


def certificate_rows(certs: Sequence[Certificate]) -> list[Row]:
    """Text rows of the certificate summaries (``(none)`` when there are none)."""
    if not certs:
        return [("certificates", "(none in the input)")]
    rows: list[Row] = []
    for index, cert in enumerate(certs):
        summary = certificate_summary(cert)
        rows += [
            (f"[{index}] subject", summary["subject"]),
            ("    issuer", summary["issuer"]),
            ("    serial", summary["serial"]),
            ("    valid", f"{summary['not_before']} .. {summary['not_after']}"),
            ("    sha256", summary["sha256"]),
        ]
    return rows


@dataclass(frozen=True)
class ShowDocument:
    """A decoded input, ready to print as text or JSON."""

    kind: str
    """What was decoded, e.g. ``SEV-SNP attestation report``."""
    source: str
    """The file it came from."""
    container: str
    """How it was found in the file (encoding, wrapper)."""
    command: str
    """The ``cairn verify`` subcommand that verifies this kind (for the note)."""
    fields: dict[str, Any]
    sections: list[Section]
    certificates: tuple[Certificate, ...] = ()

    @property
    def note(self) -> str:
        return NOT_VERIFIED.format(command=self.command)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "source": self.source,
            "container": self.container,
            "verified": False,
            "note": self.note,
            "fields": self.fields,
            "certificates": [certificate_summary(c) for c in self.certificates],
        }

    def render_text(self) -> str:
        head = f"{self.kind}: {self.source} ({self.container})\n{self.note}\n\n"
        sections = [*self.sections, ("Certificates", certificate_rows(self.certificates))]
        return (head + render_sections(sections)).rstrip("\n")
