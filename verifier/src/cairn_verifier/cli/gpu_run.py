"""The bodies of ``cairn show gpu`` and ``cairn verify gpu`` (:mod:`.gpu_cmd` registers them
and imports this module only when one runs)."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from ..collateral.bundle import BundleEntry
from ..errors import MalformedInputError
from ..gpu.collateral import crl_bundle_entry, ocsp_bundle_entry
from ..gpu.rim import MAX_RIM_BYTES
from ..gpu.rim_checks import LocalRim
from ..gpu.spdm import parse_spdm_report
from ..gpu.verify import GpuVerifyRequest, verify_gpu_evidence
from ..inputs.gpu import GpuEvidenceSet, read_gpu_evidence
from ..inputs.text import decode_blob
from ..policy_document import load_policy
from ..x509.cert import Certificate, load_certificates, parse_certificate
from ..x509.crl import load_crl
from .common import (
    Output,
    load_simulated_roots,
    parse_hex_option,
    parse_time,
    pick_simulated_root,
    read_input_file,
)
from .gpu_context import gpu_sources
from .gpu_render import device_json, device_section, kind_of
from .show_document import ShowDocument


def read_gpu_input(path: Path, certs: Path | None) -> GpuEvidenceSet:
    """The devices of ``path`` (``--certs``: the chain of a bare report)."""
    chain = None
    if certs is not None:
        chain = [c.der for c in load_certificates(read_input_file(certs, "certificate chain"))]
    return read_gpu_evidence(read_input_file(path, "GPU evidence"), chain)


def parse_nonce(text: str | None) -> bytes | None:
    if text is None:
        return None
    nonce = parse_hex_option(text, "--nonce")
    if len(nonce) != 32:
        raise MalformedInputError(f"--nonce is {len(nonce)} bytes; an SPDM nonce is 32")
    return nonce


def show(args: argparse.Namespace) -> int:
    evidence = read_gpu_input(args.evidence, args.certs)
    devices = []
    certificates = []
    for device in evidence.devices:
        chain = [parse_certificate(der) for der in device.certificates]
        certificates.extend(chain)
        spdm = parse_spdm_report(device.report)
        devices.append(device_json(device.label, spdm, kind_of(chain), device.envelope))
    shown = ShowDocument(
        kind="NVIDIA GPU evidence",
        source=str(args.evidence),
        container=evidence.container,
        command="gpu",
        fields={"devices": devices},
        sections=[device_section(d) for d in devices],
        certificates=tuple(certificates),
    )
    return Output(args.json).document(shown.to_json(), shown.render_text())


def local_entries(args: argparse.Namespace) -> list[BundleEntry]:
    """Bundle entries of ``--ocsp`` and ``--crl`` files."""
    now = parse_time(None)
    entries = []
    for path in args.ocsp:
        data = read_input_file(path, "OCSP response")
        der = decode_blob(data, what=f"OCSP response {path}")
        entries.append(ocsp_bundle_entry(der, fetched_at=now))
    for path in args.crl:
        crl = load_crl(read_input_file(path, "CRL"))
        entries.append(crl_bundle_entry(crl.der, fetched_at=now))
    return entries


def local_rims(args: argparse.Namespace) -> tuple[LocalRim, ...]:
    fetched = parse_time(args.rim_fetched_at) if args.rim_fetched_at is not None else None
    return tuple(
        LocalRim(
            read_input_file(path, "RIM", limit=MAX_RIM_BYTES),
            fetched,
            f"--rim {path}",
        )
        for path in args.rim
    )


def verify(args: argparse.Namespace) -> int:
    evidence = read_gpu_input(args.evidence, args.certs)
    at = parse_time(args.at)
    roots = load_simulated_roots(args.trust_simulated_root)
    with gpu_sources(args, at, local_entries(args)) as sources:
        request = GpuVerifyRequest(
            at=at,
            policy=load_policy(args.policy).gpu,
            subject=f"{args.evidence} ({evidence.container})",
            nonce=parse_nonce(args.nonce),
            rims=sources.rim_sources(local_rims(args)),
            revocation=sources.revocation(),
            trusted_root=_simulated_root(evidence, roots),
        )
        result = verify_gpu_evidence(evidence.devices, request)
    return Output(args.json).result(dataclasses.replace(result, container=evidence.container))


def _simulated_root(evidence: GpuEvidenceSet, roots: tuple[Certificate, ...]) -> Certificate | None:
    """The ``--trust-simulated-root`` that issued the first device's chain (or the first one)."""
    if not roots or not evidence.devices:
        return None
    chain = [parse_certificate(der) for der in evidence.devices[0].certificates]
    return pick_simulated_root(chain, roots)
