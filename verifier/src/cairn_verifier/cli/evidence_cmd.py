"""``cairn verify evidence`` (a bundle file or a live agent) and ``cairn tree proof|verify``."""

from __future__ import annotations

import argparse
import json
import secrets
from pathlib import Path
from typing import Any

import httpx

from ..binding.proof_document import proof_document, verify_proof_document
from ..binding.services import ServiceEntry, build_service_tree
from ..checks import VerificationResult
from ..documents import parse_json
from ..errors import EvidenceUnavailableError, MalformedInputError
from ..evidence.models import EvidenceBundle, load_evidence
from ..evidence.verify import EvidenceVerifyRequest, verify_evidence
from ..input_files import MAX_DOCUMENT_BYTES
from ..policy_document import load_policy
from ..tdx.pcs import PCS_BASE_URL
from .common import (
    Output,
    add_json_option,
    add_verify_options,
    check_http_url,
    load_simulated_roots,
    parse_hex_option,
    parse_time,
    read_input_file,
)
from .context import collateral_sources, tdx_collateral_option

AGENT_TIMEOUT = 30.0
MAX_EVIDENCE_BYTES = 32 * 1024 * 1024


def register(verify: Any, commands: Any) -> None:
    evidence = verify.add_parser(
        "evidence",
        help="verify a Cairn evidence bundle (file) or a live agent (URL)",
        description="Verify the claims, their REPORT_DATA binding, the TEE report/quote, the TPM "
        "quote and the [evidence] policy. Given a URL, fetch fresh evidence from a cairn-agent.",
    )
    evidence.add_argument("source", help="evidence bundle file, or an agent URL (http[s]://…)")
    evidence.add_argument(
        "--nonce", metavar="HEX", help="the 32-byte nonce the evidence must answer (hex)"
    )
    evidence.add_argument("--kds-url", default="https://kdsintf.amd.com")
    evidence.add_argument("--pccs", default=PCS_BASE_URL, metavar="URL")
    evidence.add_argument(
        "--collateral",
        type=Path,
        metavar="FILE|DIR",
        help="TDX collateral: a Cairn bundle, a dcap-qvl JSON file or a directory of PCS "
        "responses (e.g. what a simulated agent exported)",
    )
    add_verify_options(evidence)
    evidence.set_defaults(func=verify_evidence_command)

    tree = commands.add_parser("tree", help="service-tree inclusion proofs")
    sub = tree.add_subparsers(dest="action", required=True, metavar="ACTION")
    prove = sub.add_parser("proof", help="prove that a service is in an evidence bundle's tree")
    prove.add_argument("evidence", type=Path, help="evidence bundle (JSON)")
    prove.add_argument("service", help="service name")
    add_json_option(prove)
    prove.set_defaults(func=tree_proof_command)
    check = sub.add_parser("verify", help="check a service inclusion proof against a tree root")
    check.add_argument("proof", type=Path, help="a proof document from `cairn tree proof`")
    check.add_argument("--root", required=True, metavar="HEX", help="the attested tree root")
    add_json_option(check)
    check.set_defaults(func=tree_verify_command)


def parse_nonce(text: str | None) -> bytes | None:
    """``--nonce``: exactly 32 bytes of hex (empty values are refused)."""
    if text is None:
        return None
    nonce = parse_hex_option(text, "--nonce")
    if len(nonce) != 32:
        raise MalformedInputError(f"--nonce must be 32 bytes (64 hex digits), got {len(nonce)}")
    return nonce


def parse_tree_root(text: str) -> int:
    """``--root``: the 32-byte tree root as 64 hex digits (no padding of shorter values)."""
    raw = parse_hex_option(text, "--root", variable="$TREE_ROOT")
    if len(raw) != 32:
        raise MalformedInputError(
            f"--root must be 32 bytes (64 hex digits), got {len(raw)}",
            hint="pass the tree root the verified evidence attests (`cairn verify evidence "
            "--json`: claims.tree_root)",
        )
    return int.from_bytes(raw, "big")


def fetch_agent_evidence(url: str, nonce: bytes) -> bytes:
    """GET ``/v1/evidence?nonce=`` from a cairn-agent (typed errors, bounded size)."""
    endpoint = url.rstrip("/") + "/v1/evidence"
    try:
        with httpx.Client(timeout=AGENT_TIMEOUT) as client:
            response = client.get(endpoint, params={"nonce": nonce.hex()})
    except httpx.HTTPError as exc:
        raise EvidenceUnavailableError(
            f"cannot reach the agent at {endpoint}: {exc}",
            component="agent",
            hint="check the URL and that cairn-agent is running and reachable",
        ) from exc
    if response.status_code != 200:
        raise EvidenceUnavailableError(
            f"the agent answered {response.status_code} at {endpoint}: {response.text[:300]}",
            component="agent",
        )
    if len(response.content) > MAX_EVIDENCE_BYTES:
        raise MalformedInputError(f"the agent's evidence is larger than {MAX_EVIDENCE_BYTES} bytes")
    return response.content


def verify_evidence_command(args: argparse.Namespace) -> int:
    nonce = parse_nonce(args.nonce)
    source: str = args.source
    if source.startswith(("http://", "https://")):
        nonce = nonce or secrets.token_bytes(32)
        agent = check_http_url(
            source, "agent URL", "http://127.0.0.1:8080 (IPv6: http://[::1]:8080)"
        )
        raw = fetch_agent_evidence(agent, nonce)
    else:
        if nonce is None:
            raise MalformedInputError(
                "--nonce is required to verify a bundle file",
                hint="pass the nonce you sent the agent; without it freshness cannot be proven",
            )
        raw = read_input_file(Path(source), "evidence bundle")
    bundle = load_evidence(raw, source)
    return Output(args.json).result(verify_evidence_with_options(args, bundle, nonce, source))


def verify_evidence_with_options(
    args: argparse.Namespace, bundle: EvidenceBundle, nonce: bytes, subject: str
) -> VerificationResult:
    """Verify ``bundle`` with the collateral, policy, time and trust options of ``args``.

    Shared by ``cairn verify evidence`` and ``cairn zk verify``.
    """
    at = parse_time(args.at)
    roots = load_simulated_roots(args.trust_simulated_root)
    tdx_collateral, bundle_path = tdx_collateral_option(args.collateral)
    sources = collateral_sources(args, at=at, bundle_path=bundle_path)
    with sources.kds(args.kds_url) as kds, sources.pcs(args.pccs) as pcs:
        request = EvidenceVerifyRequest(
            nonce=nonce,
            at=at,
            policy=load_policy(args.policy),
            kds=kds,
            fetch_tdx_collateral=pcs.fetch_collateral,
            subject=subject,
            tdx_collateral=tdx_collateral,
            simulated_roots=roots,
        )
        return verify_evidence(bundle, request)


def _service(bundle: EvidenceBundle, name: str) -> ServiceEntry:
    for service in bundle.claims.services:
        if service.name == name:
            return ServiceEntry(service.name, service.store_path, service.public_key)
    names = ", ".join(s.name for s in bundle.claims.services) or "none"
    raise MalformedInputError(f"no service {name!r} in the evidence (services: {names})")


def tree_proof_command(args: argparse.Namespace) -> int:
    bundle = load_evidence(read_input_file(args.evidence, "evidence bundle"), str(args.evidence))
    tree = build_service_tree(bundle.service_entries())
    print(json.dumps(proof_document(tree, _service(bundle, args.service)), indent=2))
    return 0


def tree_verify_command(args: argparse.Namespace) -> int:
    root = parse_tree_root(args.root)
    doc = parse_json(
        read_input_file(args.proof, "proof document", limit=MAX_DOCUMENT_BYTES),
        f"proof document {args.proof}",
    )
    service, ok = verify_proof_document(doc, root)
    result = {"verified": ok, "service": service.name, "root": f"{root:064x}"}
    text = (
        f"service {service.name!r} is in the tree with root {root:064x}"
        if ok
        else f"NOT VERIFIED: the proof does not place {service.name!r} in tree {root:064x}"
    )
    Output(args.json).document(result, text)
    return 0 if ok else 1
