"""Catalogue of every real SEV-SNP attestation report pairing in tests/vectors/snp.

One :class:`SnpVector` per line of section 2 of ``tests/vectors/snp/PROVENANCE.md`` that
carries a report: the exact 1184 report bytes, the DER certificates supplied with it
(VCEK or VLEK, then ASK or ASVK, then ARK), and what a correct verifier must conclude.

Import it from a test module in this directory with ``from vectors import load_vectors``
and pass the ``testdata`` fixture: ``load_vectors(testdata)``.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from _extract import (
    azure_evidence,
    exact_report,
    pem_blocks,
    pem_certificates,
    protobuf_path,
    report_from_base64,
    report_from_hcl,
    report_from_hex,
    sev_json_evidence,
    txtar_sections,
)
from cryptography import x509
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import NameOID

Product = Literal["Milan", "Genoa", "Turin"]
SigningKey = Literal["vcek", "vlek"]
Expected = Literal["verified", "bad-signature", "wrong-chip", "tampered-vcek", "parse-only"]


@dataclass(frozen=True)
class SnpVector:
    """One report with the certificates supplied for it and the expected verdict."""

    name: str
    report: bytes  # exactly 1184 bytes
    certs: tuple[bytes, ...]  # DER: VCEK/VLEK, ASK/ASVK, ARK (empty for parse-only reports)
    product: Product | None
    signing_key: SigningKey
    expected: Expected
    at: datetime | None  # a time inside the validity window of every certificate in ``certs``
    container: str  # how the report was lifted out of its source file

    @property
    def leaf(self) -> bytes:
        """The VCEK or VLEK certificate (DER)."""
        if not self.certs:
            raise LookupError(f"{self.name} has no certificates")
        return self.certs[0]


# Loaders take the testdata root. Shapes: report; (report, VCEK/VLEK) before the AMD chain is
# attached; the ASK/ASVK + ARK chain; (report, all certificates) for a catalogue entry.
_ReportLoader = Callable[[Path], bytes]
_Loaded = tuple[bytes, bytes]
_Loader = Callable[[Path], _Loaded]
_ChainLoader = Callable[[Path], tuple[bytes, ...]]
_EntryLoader = Callable[[Path], tuple[bytes, tuple[bytes, ...]]]


@dataclass(frozen=True)
class _Entry:
    name: str
    load: _EntryLoader
    product: Product | None
    signing_key: SigningKey
    expected: Expected
    at: str | None
    container: str


def _read(root: Path, relative: str) -> bytes:
    return (root / "snp" / relative).read_bytes()


def _subject_cn(der: bytes) -> str:
    """Subject CN of a certificate (AMD VCEK/VLEK serial 0 makes cryptography warn: expected)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        cert = x509.load_der_x509_certificate(der)
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def _pick(bundle: tuple[bytes, ...], *common_names: str) -> tuple[bytes, ...]:
    """The certificates with these subject CNs, in the order asked, from a PEM bundle."""
    by_cn = {_subject_cn(der): der for der in bundle}
    missing = [cn for cn in common_names if cn not in by_cn]
    if missing:
        raise ValueError(f"certificate bundle lacks {missing}; has {sorted(by_cn)}")
    return tuple(by_cn[cn] for cn in common_names)


def _chain_from(relative: str, product: Product, signing_key: SigningKey) -> _ChainLoader:
    """Loader for ASK+ARK (VCEK) or ASVK+ARK (VLEK) of ``product`` out of a PEM bundle."""
    middle = f"SEV-{product}" if signing_key == "vcek" else f"SEV-VLEK-{product}"

    def load(root: Path) -> tuple[bytes, ...]:
        bundle = pem_certificates(_read(root, relative), relative)
        return _pick(bundle, middle, f"ARK-{product}")

    return load


def _with_chain(loader: _Loader, chain: _ChainLoader) -> _EntryLoader:
    def load(root: Path) -> tuple[bytes, tuple[bytes, ...]]:
        report, leaf = loader(root)
        return report, (leaf, *chain(root))

    return load


def _full_bundle(report_loader: _ReportLoader, relative: str, product: Product) -> _EntryLoader:
    """A report whose source ships VCEK + ASK + ARK together in one PEM file."""

    def load(root: Path) -> tuple[bytes, tuple[bytes, ...]]:
        bundle = pem_certificates(_read(root, relative), relative)
        ask_ark = _pick(bundle, f"SEV-{product}", f"ARK-{product}")
        leaves = [der for der in bundle if der not in ask_ark]
        if len(leaves) != 1:
            raise ValueError(f"{relative}: expected one VCEK besides ASK/ARK, got {len(leaves)}")
        return report_loader(root), (leaves[0], *ask_ark)

    return load


def _no_certs(
    report_loader: _ReportLoader,
) -> _EntryLoader:
    return lambda root: (report_loader(root), ())


# --- report loaders ------------------------------------------------------------------------


def _raw(relative: str) -> _ReportLoader:
    return lambda root: exact_report(_read(root, relative), relative)


def _hex(relative: str) -> _ReportLoader:
    return lambda root: report_from_hex(_read(root, relative), relative)


def _b64(relative: str) -> _ReportLoader:
    return lambda root: report_from_base64(_read(root, relative), relative)


def _hcl(relative: str) -> _ReportLoader:
    return lambda root: report_from_hcl(_read(root, relative), relative)


def _prefix(relative: str, trailing: int) -> _ReportLoader:
    """A report followed by exactly ``trailing`` extra bytes (constellation attestation.bin)."""

    def load(root: Path) -> bytes:
        data = _read(root, relative)
        return exact_report(data[: len(data) - trailing], relative)

    return load


def _txtar_report(relative: str, section: str, *, hcl: bool) -> _ReportLoader:
    """openpcc txtar: a ``-----BEGIN REPORT-----`` block, optionally an Azure HCL report."""

    def load(root: Path) -> bytes:
        text = txtar_sections(_read(root, relative), relative)[section]
        (blob,) = pem_blocks(text, "REPORT", f"{relative}:{section}")
        return report_from_hcl(blob, relative) if hcl else exact_report(blob, relative)

    return load


def _oak_report(stem: str) -> _ReportLoader:
    """Oak Evidence protobuf: root_layer (1) -> remote_attestation_report (2)."""

    def load(root: Path) -> bytes:
        relative = f"oak/{stem}_evidence.binarypb"
        return exact_report(protobuf_path(_read(root, relative), (1, 2), relative), relative)

    return load


# --- leaf (VCEK/VLEK) loaders ----------------------------------------------------------------


def _der(report_loader: _ReportLoader, relative: str) -> _Loader:
    return lambda root: (report_loader(root), _read(root, relative))


def _pem_leaf(report_loader: _ReportLoader, relative: str) -> _Loader:
    def load(root: Path) -> _Loaded:
        (leaf,) = pem_certificates(_read(root, relative), relative)
        return report_loader(root), leaf

    return load


def _oak(stem: str, vcek_path: tuple[int, ...]) -> _Loader:
    """Oak evidence report with the VCEK at ``vcek_path`` inside the endorsements protobuf."""

    def load(root: Path) -> _Loaded:
        relative = f"oak/{stem}_endorsements.binarypb"
        return _oak_report(stem)(root), protobuf_path(_read(root, relative), vcek_path, relative)

    return load


def _azure_json(relative: str) -> _Loader:
    def load(root: Path) -> _Loaded:
        hcl, vcek = azure_evidence(_read(root, relative), relative)
        return report_from_hcl(hcl, relative), vcek

    return load


def _sev_json(relative: str) -> _Loader:
    def load(root: Path) -> _Loaded:
        report, certs = sev_json_evidence(_read(root, relative), relative)
        (vcek,) = certs
        return report, vcek

    return load


def _openpcc_azure(root: Path) -> _Loaded:
    relative = "openpcc/sev_certificates.txt"
    sections = txtar_sections(_read(root, relative), relative)
    (vcek,) = pem_certificates(sections["test_vcek.pem"], f"{relative}:test_vcek.pem")
    report = _txtar_report(
        "openpcc/azure_sevsnp_report.txt", "test_azure_sevsnp_report.pem", hcl=True
    )
    return report(root), vcek


def _openpcc_genoa_roots(root: Path) -> tuple[bytes, ...]:
    relative = "openpcc/sev_certificates.txt"
    section = "test_amd_sev_genoa_root_certs.pem"
    text = txtar_sections(_read(root, relative), relative)[section]
    return _pick(pem_certificates(text, f"{relative}:{section}"), "SEV-Genoa", "ARK-Genoa")


_MILAN_TRUSTEE = _chain_from("trustee/milan_ask_ark_asvk.pem", "Milan", "vcek")
_MILAN_TRUSTEE_VLEK = _chain_from("trustee/milan_ask_ark_asvk.pem", "Milan", "vlek")
_GENOA_TRUSTEE = _chain_from("trustee/genoa_ask_ark_asvk.pem", "Genoa", "vcek")
_TRUSTEE_REPORT = _raw("trustee/snp_test-report.bin")


def _oak_chain(product: Product) -> _ChainLoader:
    lower = product.lower()

    def load(root: Path) -> tuple[bytes, ...]:
        (ask,) = pem_certificates(_read(root, f"oak/ask_{lower}.pem"), f"oak/ask_{lower}.pem")
        (ark,) = pem_certificates(_read(root, f"oak/ark_{lower}.pem"), f"oak/ark_{lower}.pem")
        return _pick((ask, ark), f"SEV-{product}", f"ARK-{product}")

    return load


def _oak_entry(
    stem: str, product: Product, vcek_path: tuple[int, ...], at: str | None, note: str
) -> _Entry:
    where = ".".join(str(n) for n in vcek_path)
    return _Entry(
        f"oak/{stem}",
        _with_chain(_oak(stem, vcek_path), _oak_chain(product)),
        product,
        "vcek",
        "verified",
        at,
        f"Oak Evidence protobuf field 1.2; VCEK at Endorsements field {where}; {note}",
    )


# Each ``at`` is the latest notBefore among the vector's certificates plus one day (checked
# against every notBefore/notAfter in test_vectors.py). ``None``: no certificates supplied.
_CATALOGUE: tuple[_Entry, ...] = (
    _Entry(
        "go-sev-guest/attestation",
        _with_chain(
            _der(_raw("go-sev-guest/attestation.bin"), "go-sev-guest/vcek.testcer"),
            _chain_from("go-sev-guest/milan.testcer", "Milan", "vcek"),
        ),
        "Milan",
        "vcek",
        "verified",
        # VCEK notBefore 2022-09-24 00:55:28 + 1 day (first notAfter: VCEK 2029-09-24)
        "2022-09-25T00:55:28+00:00",
        "raw 1184-byte file; VCEK DER vcek.testcer; ASK+ARK milan.testcer",
    ),
    _Entry(
        "virtee-sev/report_milan",
        _with_chain(
            _der(_hex("virtee-sev/report_milan.hex"), "virtee-sev/vcek_milan.der"),
            _chain_from("virtee-sev/cert_chain_milan", "Milan", "vcek"),
        ),
        "Milan",
        "vcek",
        "verified",
        # VCEK notBefore 2023-04-03 19:23:43 + 1 day (first notAfter: VCEK 2030-04-03)
        "2023-04-04T19:23:43+00:00",
        "2368 uppercase hex digits, no newline; VCEK vcek_milan.der; ASK+ARK cert_chain_milan",
    ),
    _Entry(
        "trustee/test-report",
        _with_chain(_der(_TRUSTEE_REPORT, "trustee/snp_test-vcek.der"), _MILAN_TRUSTEE),
        "Milan",
        "vcek",
        "verified",
        # VCEK notBefore 2023-01-24 17:58:26 + 1 day (first notAfter: VCEK 2030-01-24)
        "2023-01-25T17:58:26+00:00",
        "raw 1184-byte file; VCEK snp_test-vcek.der; ASK+ARK milan_ask_ark_asvk.pem",
    ),
    _Entry(
        "trustee/test-report+vcek-invalid-legacy",
        _with_chain(
            _der(_TRUSTEE_REPORT, "trustee/snp_test-vcek-invalid-legacy.der"), _MILAN_TRUSTEE
        ),
        "Milan",
        "vcek",
        "tampered-vcek",
        # VCEK notBefore 2023-02-03 22:41:55 + 1 day (first notAfter: VCEK 2030-02-03)
        "2023-02-04T22:41:55+00:00",
        "raw 1184-byte file; tampered VCEK (raw 64-byte hwID 00 01 02..); ASK+ARK Milan",
    ),
    _Entry(
        "trustee/test-report+vcek-invalid-new",
        _with_chain(_der(_TRUSTEE_REPORT, "trustee/snp_test-vcek-invalid-new.der"), _MILAN_TRUSTEE),
        "Milan",
        "vcek",
        "tampered-vcek",
        # VCEK notBefore 2023-08-17 14:27:09 + 1 day (first notAfter: VCEK 2030-08-17)
        "2023-08-18T14:27:09+00:00",
        "raw 1184-byte file; tampered VCEK (hwID wrapped in OCTET STRING 04 40); ASK+ARK Milan",
    ),
    _Entry(
        "trustee/test-vlek-report",
        _with_chain(
            _der(_raw("trustee/snp_test-vlek-report.bin"), "trustee/snp_test-vlek.der"),
            _MILAN_TRUSTEE_VLEK,
        ),
        "Milan",
        "vlek",
        "verified",
        # VLEK notBefore 2024-12-10 22:14:21 + 1 day (first notAfter: VLEK 2025-12-10)
        "2024-12-11T22:14:21+00:00",
        "raw 1184-byte file (AWS); VLEK snp_test-vlek.der; ASVK+ARK milan_ask_ark_asvk.pem",
    ),
    _Entry(
        "trustee/as-e2e",
        _with_chain(_sev_json("trustee/as-e2e_evidence.json"), _GENOA_TRUSTEE),
        "Genoa",
        "vcek",
        "verified",
        # VCEK notBefore 2025-05-27 17:57:03 + 1 day (first notAfter: VCEK 2032-05-27)
        "2025-05-28T17:57:03+00:00",
        "sev-crate serde JSON attestation_report re-serialised to 1184 bytes; VCEK = cert_chain[0]"
        " int list; ASK+ARK genoa_ask_ark_asvk.pem",
    ),
    _Entry(
        "trustee/az-hcl-report",
        _full_bundle(
            _hcl("trustee/az-snp-vtpm_hcl-report.bin"), "trustee/az-snp-vtpm_vcek.pem", "Milan"
        ),
        "Milan",
        "vcek",
        "verified",
        # VCEK notBefore 2023-05-02 21:22:19 + 1 day (first notAfter: VCEK 2030-05-02)
        "2023-05-03T21:22:19+00:00",
        "Azure HCL report (HCLA header), report at 0x20; VCEK+ASK+ARK az-snp-vtpm_vcek.pem",
    ),
    _Entry(
        "trustee/az-evidence-v0",
        _with_chain(_azure_json("trustee/az-snp-vtpm_evidence-v0.json"), _MILAN_TRUSTEE),
        "Milan",
        "vcek",
        "verified",
        # VCEK notBefore 2025-01-28 16:26:55 + 1 day (first notAfter: VCEK 2032-01-28)
        "2025-01-29T16:26:55+00:00",
        "evidence JSON v0: 'report' int list = HCL report, report at 0x20; 'vcek' PEM;"
        " ASK+ARK milan_ask_ark_asvk.pem",
    ),
    _Entry(
        "trustee/az-evidence-v1",
        _with_chain(_azure_json("trustee/az-snp-vtpm_evidence-v1.json"), _MILAN_TRUSTEE),
        "Milan",
        "vcek",
        "verified",
        # VCEK notBefore 2025-01-28 16:26:55 + 1 day (first notAfter: VCEK 2032-01-28)
        "2025-01-29T16:26:55+00:00",
        "evidence JSON v1: 'hcl_report' base64url, report at 0x20; 'vcek' base64url DER;"
        " ASK+ARK milan_ask_ark_asvk.pem",
    ),
    _Entry(
        "trustee/az-evidence-v2",
        _with_chain(_azure_json("trustee/az-snp-vtpm_evidence-v2.json"), _MILAN_TRUSTEE),
        "Milan",
        "vcek",
        "verified",
        # VCEK notBefore 2025-01-28 16:33:43 + 1 day (first notAfter: VCEK 2032-01-28)
        "2025-01-29T16:33:43+00:00",
        "evidence JSON v2: 'hcl_report' base64url, report at 0x20; 'vcek' base64url DER;"
        " ASK+ARK milan_ask_ark_asvk.pem",
    ),
    _Entry(
        "trustee/az-evidence-genoa",
        _with_chain(_azure_json("trustee/az-snp-vtpm_evidence-genoa.json"), _GENOA_TRUSTEE),
        "Genoa",
        "vcek",
        "verified",
        # VCEK notBefore 2025-01-24 02:21:48 + 1 day (first notAfter: VCEK 2032-01-24)
        "2025-01-25T02:21:48+00:00",
        "evidence JSON (v0 form): 'report' int list = HCL report, report at 0x20; 'vcek' PEM;"
        " ASK+ARK genoa_ask_ark_asvk.pem",
    ),
    # VCEK notBefore 2025-02-03 18:21:46 + 1 day (first notAfter: VCEK 2032-02-03)
    _oak_entry("cb", "Milan", (3, 1, 1), "2025-02-04T18:21:46+00:00", "Oak CB, Milan v3"),
    _oak_entry(
        "milan_oc_release",
        "Milan",
        (2, 1, 1),
        # VCEK notBefore 2025-01-15 21:21:54 + 1 day (first notAfter: VCEK 2032-01-15)
        "2025-01-16T21:21:54+00:00",
        "Oak Containers release, Milan v3",
    ),
    _oak_entry(
        "milan_oc_staging",
        "Milan",
        (2, 1, 1),
        # VCEK notBefore 2025-01-15 21:21:54 + 1 day (first notAfter: VCEK 2032-01-15)
        "2025-01-16T21:21:54+00:00",
        "Oak Containers staging, Milan v3",
    ),
    _oak_entry(
        "milan_rk_release",
        "Milan",
        (1, 1, 1),
        # VCEK notBefore 2025-01-15 23:04:19 + 1 day (first notAfter: VCEK 2032-01-15)
        "2025-01-16T23:04:19+00:00",
        "Restricted Kernel release, Milan v3",
    ),
    _oak_entry(
        "milan_rk_staging",
        "Milan",
        (1, 1, 1),
        # VCEK notBefore 2025-01-15 23:04:19 + 1 day (first notAfter: VCEK 2032-01-15)
        "2025-01-16T23:04:19+00:00",
        "Restricted Kernel staging, Milan v3",
    ),
    _oak_entry(
        "genoa_oc",
        "Genoa",
        (2, 1, 1),
        # VCEK notBefore 2025-08-07 17:21:41 + 1 day (first notAfter: VCEK 2032-08-07)
        "2025-08-08T17:21:41+00:00",
        "Oak Containers, Genoa v5",
    ),
    _oak_entry(
        "turin_oc",
        "Turin",
        (2, 1, 1),
        # VCEK notBefore 2025-07-17 17:04:46 + 1 day (first notAfter: VCEK 2032-07-17)
        "2025-07-18T17:04:46+00:00",
        "Oak Containers, Turin v5",
    ),
    _Entry(
        "constellation/azure+thim-vcek",
        _with_chain(
            _pem_leaf(
                _prefix("constellation/snp_attestation.bin", 20), "constellation/snp_vcek.pem"
            ),
            _chain_from("constellation/snp_certchain.pem", "Milan", "vcek"),
        ),
        "Milan",
        "vcek",
        "verified",
        # VCEK notBefore 2023-08-30 12:15:24 + 1 day (first notAfter: VCEK 2030-08-30)
        "2023-08-31T12:15:24+00:00",
        "first 1184 of 1204 bytes (20 trailing bytes dropped); VCEK from Azure THIM snp_vcek.pem;"
        " ASK+ARK snp_certchain.pem",
    ),
    _Entry(
        "constellation/azure+kds-vcek",
        _with_chain(
            _der(_prefix("constellation/snp_attestation.bin", 20), "constellation/snp_vcek.cert"),
            _chain_from("constellation/snp_certchain.pem", "Milan", "vcek"),
        ),
        "Milan",
        "vcek",
        "verified",
        # VCEK notBefore 2023-08-30 12:15:24 + 1 day (first notAfter: VCEK 2030-08-30)
        "2023-08-31T12:15:24+00:00",
        "first 1184 of 1204 bytes (20 trailing bytes dropped); VCEK from AMD KDS snp_vcek.cert"
        " (DER); ASK+ARK snp_certchain.pem",
    ),
    _Entry(
        "constellation/vlek-bad-signature",
        _with_chain(
            _pem_leaf(
                _hex("constellation/snp_AttestationReportVLEK.hex"), "constellation/snp_vlek.pem"
            ),
            _chain_from("constellation/snp_vlekcertchain.pem", "Milan", "vlek"),
        ),
        "Milan",
        "vlek",
        "bad-signature",
        # VLEK notBefore 2023-07-19 08:29:28 + 1 day (first notAfter: VLEK 2024-07-19)
        "2023-07-20T08:29:28+00:00",
        "hex with trailing newline (Go constant AttestationReportVLEK); VLEK snp_vlek.pem;"
        " ASVK+ARK snp_vlekcertchain.pem",
    ),
    _Entry(
        "constellation/aws-vlek",
        _with_chain(
            _pem_leaf(_b64("constellation/aws-snp_report.txt"), "constellation/aws-snp_vlek.pem"),
            _chain_from("constellation/aws-snp_certchain.pem", "Milan", "vlek"),
        ),
        "Milan",
        "vlek",
        "verified",
        # VLEK notBefore 2024-12-10 22:30:16 + 1 day (first notAfter: VLEK 2025-12-10)
        "2024-12-11T22:30:16+00:00",
        "base64 with trailing newline (AWS); VLEK aws-snp_vlek.pem; ASVK+ARK aws-snp_certchain.pem",
    ),
    _Entry(
        "azure-cvm-tooling/hcl-report+other-chip-vcek",
        _full_bundle(
            _hcl("azure-cvm-tooling/hcl-report-snp.bin"), "azure-cvm-tooling/certs.pem", "Milan"
        ),
        "Milan",
        "vcek",
        "wrong-chip",
        # VCEK notBefore 2023-01-01 04:48:19 + 1 day (first notAfter: VCEK 2030-01-01)
        "2023-01-02T04:48:19+00:00",
        "Azure HCL report (HCLA header), report at 0x20; VCEK+ASK+ARK certs.pem for another chip",
    ),
    _Entry(
        "lit-sev-snp-utils/guest_report",
        _no_certs(_raw("lit-sev-snp-utils/guest_report.bin")),
        None,
        "vcek",
        "parse-only",
        None,
        "raw 1184-byte file; no VCEK upstream",
    ),
    _Entry(
        "openpcc/azure",
        _with_chain(_openpcc_azure, _openpcc_genoa_roots),
        "Genoa",
        "vcek",
        "verified",
        # VCEK notBefore 2025-06-11 12:07:37 + 1 day (first notAfter: VCEK 2032-06-11)
        "2025-06-12T12:07:37+00:00",
        "txtar section test_azure_sevsnp_report.pem: PEM REPORT block = Azure HCL report, report"
        " at 0x20; VCEK sev_certificates.txt:test_vcek.pem; ASK+ARK from its section"
        " test_amd_sev_genoa_root_certs.pem",
    ),
    _Entry(
        "openpcc/gce",
        _no_certs(
            _txtar_report("openpcc/gce_sevsnp_report.txt", "test_gce_sevsnp_report.pem", hcl=False)
        ),
        "Milan",
        "vcek",
        "parse-only",
        None,
        "txtar section test_gce_sevsnp_report.pem: PEM REPORT block = raw v4 report;"
        " no VCEK upstream",
    ),
    _Entry(
        "routex-client-lua/genoa-v3",
        _full_bundle(
            _b64("routex-client-lua/report-genoa-v3.b64"),
            "routex-client-lua/vcek-chain-genoa.pem",
            "Genoa",
        ),
        "Genoa",
        "vcek",
        "verified",
        # VCEK notBefore 2025-07-20 22:15:42 + 1 day (first notAfter: VCEK 2032-07-20)
        "2025-07-21T22:15:42+00:00",
        "base64 with trailing newline; VCEK+ASK+ARK vcek-chain-genoa.pem",
    ),
    _Entry(
        "routex-client-lua/milan-chain+oak-milan_oc_release",
        _full_bundle(
            _oak_report("milan_oc_release"), "routex-client-lua/vcek-chain-milan.pem", "Milan"
        ),
        "Milan",
        "vcek",
        "verified",
        # VCEK notBefore 2025-01-15 21:21:54 + 1 day (first notAfter: VCEK 2032-01-15)
        "2025-01-16T21:21:54+00:00",
        "Oak milan_oc_release Evidence protobuf field 1.2; VCEK+ASK+ARK routex"
        " vcek-chain-milan.pem",
    ),
    _Entry(
        "routex-client-lua/turin-chain+oak-turin_oc",
        _full_bundle(_oak_report("turin_oc"), "routex-client-lua/vcek-chain-turin.pem", "Turin"),
        "Turin",
        "vcek",
        "verified",
        # VCEK notBefore 2025-07-17 17:04:46 + 1 day (first notAfter: VCEK 2032-07-17)
        "2025-07-18T17:04:46+00:00",
        "Oak turin_oc Evidence protobuf field 1.2; VCEK+ASK+ARK routex vcek-chain-turin.pem",
    ),
    _Entry(
        "routex-client-lua/genoa-v2",
        _no_certs(_b64("routex-client-lua/report-genoa-v2-parseonly.b64")),
        None,
        "vcek",
        "parse-only",
        None,
        "base64 with trailing newline; v2 report labelled Genoa upstream; no VCEK upstream",
    ),
)


@functools.cache
def _load_all(root: Path) -> tuple[SnpVector, ...]:
    vectors = []
    for entry in _CATALOGUE:
        report, certs = entry.load(root)
        vectors.append(
            SnpVector(
                name=entry.name,
                report=exact_report(report, entry.name),
                certs=certs,
                product=entry.product,
                signing_key=entry.signing_key,
                expected=entry.expected,
                at=None if entry.at is None else datetime.fromisoformat(entry.at),
                container=entry.container,
            )
        )
    return tuple(vectors)


def load_vectors(testdata: Path) -> list[SnpVector]:
    """Every catalogued report pairing, loaded from ``testdata`` (the shared testdata root)."""
    return list(_load_all(testdata.resolve()))


def verified_vectors(testdata: Path) -> list[SnpVector]:
    """The pairings that verify end to end (report signature, VCEK/VLEK, ASK/ASVK, ARK)."""
    return [v for v in load_vectors(testdata) if v.expected == "verified"]


def by_name(testdata: Path, name: str) -> SnpVector:
    """One vector by its catalogue name, e.g. ``"oak/turin_oc"``."""
    for vector in load_vectors(testdata):
        if vector.name == name:
            return vector
    raise KeyError(f"no SNP vector named {name!r}")
