"""``cairn verify evidence`` (a bundle file or a live agent) and ``cairn tree proof|verify``."""

from __future__ import annotations

import argparse
import json
import re
import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..binding.proof_document import proof_document, verify_proof_document
from ..binding.services import ServiceEntry, build_service_tree
from ..checks import VerificationResult
from ..documents import parse_json
from ..errors import EvidenceUnavailableError, MalformedInputError, UsageError
from ..evidence.models import EvidenceBundle, load_evidence
from ..evidence.verify import EvidenceVerifyRequest, verify_evidence
from ..input_files import MAX_DOCUMENT_BYTES
from ..output_files import write_output_file
from ..policy_document import load_policy
from ..snp.reference_values import merge_into, read_reference_values
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
from .context import CollateralSources, collateral_sources, tdx_collateral_option

AGENT_TIMEOUT = 30.0
MAX_EVIDENCE_BYTES = 32 * 1024 * 1024
EVIDENCE_PATH = "/v1/evidence"


def configure_verify(evidence: argparse.ArgumentParser) -> None:
    evidence.description = (
        "Verify the claims, their REPORT_DATA binding, the TEE report/quote, the TPM "
        "quote and the [evidence] policy. Given an agent address, fetch fresh evidence for a "
        "new random nonce (or --nonce) from a cairn-agent; --save keeps the fetched bundle for "
        "`cairn tree proof`, `cairn zk` or a later re-verification."
    )
    evidence.add_argument(
        "source",
        help="evidence bundle file ('-' = stdin), or an agent address: http[s]://HOST:PORT[/PATH] "
        "(/v1/evidence is appended unless the path ends with it) or HOST:PORT (http assumed)",
    )
    evidence.add_argument(
        "--nonce",
        metavar="HEX",
        help="the 32-byte nonce (64 hex digits) the evidence must answer: required for a file; "
        "for an agent, the nonce to send (default: a fresh random one)",
    )
    evidence.add_argument(
        "-o",
        "--save",
        type=Path,
        metavar="FILE",
        help="agent only: write the fetched bundle, byte for byte, to FILE (even if it does not "
        "verify); an existing file is kept unless --force",
    )
    evidence.add_argument(
        "--force", action="store_true", help="let --save replace an existing file"
    )
    evidence.add_argument(
        "--kds-url",
        default="https://kdsintf.amd.com",
        metavar="URL",
        help="AMD KDS base URL (or a mirror) for SEV-SNP collateral",
    )
    evidence.add_argument(
        "--pccs",
        default=PCS_BASE_URL,
        metavar="URL",
        help="Intel PCS or a PCCS / cloud cache for TDX collateral (default: Intel PCS)",
    )
    evidence.add_argument(
        "--collateral",
        type=Path,
        metavar="FILE|DIR",
        help="collateral: a Cairn bundle (SEV-SNP and TDX), a dcap-qvl JSON file or a directory "
        "of PCS responses (TDX; e.g. what a simulated agent exported)",
    )
    evidence.add_argument(
        "--reference-values",
        type=Path,
        metavar="FILE",
        help="the image's reference values: add their launch measurements to the policy and "
        "check the claimed system against the measured command line's init=",
    )
    add_verify_options(evidence)
    evidence.set_defaults(func=verify_evidence_command)


def configure_tree_proof(prove: argparse.ArgumentParser) -> None:
    prove.description = (
        "Write the inclusion proof of SERVICE in the service tree of an evidence "
        "bundle (a cairn-service-proof document). The bundle is not verified here: verify it "
        "with `cairn verify evidence` and check the proof against its tree root."
    )
    prove.add_argument("evidence", type=Path, help="evidence bundle (JSON) ('-' = stdin)")
    prove.add_argument("service", help="service name, as listed by `cairn show evidence`")
    prove.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="FILE",
        help="write the proof document to FILE and print a summary (default: print the proof "
        "document itself)",
    )
    prove.add_argument("--force", action="store_true", help="let -o replace an existing file")
    add_json_option(prove)
    prove.set_defaults(func=tree_proof_command)


def configure_tree_verify(check: argparse.ArgumentParser) -> None:
    check.description = (
        "Check that a proof from `cairn tree proof` places its service in the tree "
        "with root --root (the claims.tree_root of evidence that verified)."
    )
    check.add_argument("proof", type=Path, help="a proof document from `cairn tree proof`")
    check.add_argument(
        "--root",
        required=True,
        metavar="HEX",
        help="the attested tree root: 32 bytes as 64 hex digits (`cairn verify evidence … "
        "--json` prints it as claims.tree_root)",
    )
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


@dataclass(frozen=True)
class AgentAddress:
    """Where to GET evidence from, and what was assumed to get there."""

    endpoint: str
    assumed: str | None = None


_HOST_PORT = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):\d{1,5}")


def agent_address(source: str) -> AgentAddress | None:
    """The agent endpoint ``source`` names, or None when it names a file.

    ``http[s]://HOST:PORT[/PATH]`` gets ``/v1/evidence`` appended unless PATH already ends with
    it; a bare ``HOST:PORT`` that is not an existing file means ``http://HOST:PORT``.
    """
    if source.startswith(("http://", "https://")):
        url = source
        assumed = None
    elif _HOST_PORT.fullmatch(source) and not Path(source).exists():
        url = f"http://{source}"
        assumed = f"{source!r} has no scheme: assuming an agent at {url}"
    else:
        return None
    check_http_url(url, "agent URL", "http://127.0.0.1:8080 (IPv6: http://[::1]:8080)")
    parts = urlsplit(url)
    if parts.query or parts.fragment:
        raise UsageError(
            f"agent URL {source!r} carries a query or fragment",
            hint="give the agent's address only (http://HOST:PORT); pass the nonce with --nonce",
        )
    if not parts.hostname:
        raise UsageError(f"agent URL {source!r} names no host", hint="write http://HOST:PORT")
    path = parts.path.rstrip("/")
    if not path.endswith(EVIDENCE_PATH):
        path += EVIDENCE_PATH
    return AgentAddress(urlunsplit((parts.scheme, parts.netloc, path, "", "")), assumed)


def fetch_agent_evidence(endpoint: str, nonce: bytes) -> bytes:
    """GET ``endpoint?nonce=`` from a cairn-agent (typed errors, bounded size)."""
    import httpx  # only a fetch needs it (`zk verify` and bundle files never do)

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
    address = agent_address(source)
    if address is not None:
        if address.assumed:
            print(f"note: {address.assumed}", file=sys.stderr)
        nonce = nonce or secrets.token_bytes(32)
        raw = fetch_agent_evidence(address.endpoint, nonce)
        subject = address.endpoint
        if args.save is not None:
            write_output_file(args.save, raw, force=args.force, what="evidence bundle")
            print(f"saved the agent's evidence bundle to {args.save}", file=sys.stderr)
    else:
        if args.save is not None:
            raise UsageError(
                "--save keeps evidence fetched from an agent, but SOURCE is a file",
                hint="copy the file instead, or give an agent address (http://HOST:PORT)",
            )
        if nonce is None:
            raise UsageError(
                "--nonce is required to verify a bundle file",
                hint="pass the nonce you sent the agent; without it freshness cannot be proven",
            )
        raw = read_input_file(Path(source), "evidence bundle")
        subject = source
    bundle = load_evidence(raw, subject)
    return Output(args.json).result(verify_evidence_with_options(args, bundle, nonce, subject))


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
    policy = load_policy(args.policy)
    reference_file: Path | None = getattr(args, "reference_values", None)  # not on `zk verify`
    reference = read_reference_values(reference_file) if reference_file else None
    if reference is not None:
        policy = policy.model_copy(update={"snp": merge_into(policy.snp, reference.measurements)})
    with (
        sources.kds(args.kds_url) as kds,
        sources.pcs(args.pccs) as pcs,
        _gpu_sources(bundle, sources) as (gpu_rims, gpu_revocation),
    ):
        request = EvidenceVerifyRequest(
            nonce=nonce,
            at=at,
            policy=policy,
            kds=kds,
            fetch_tdx_collateral=pcs.fetch_collateral,
            subject=subject,
            tdx_collateral=tdx_collateral,
            simulated_roots=roots,
            reference_values=reference,
            gpu_rims=gpu_rims,
            gpu_revocation=gpu_revocation,
        )
        return verify_evidence(bundle, request)


@contextmanager
def _gpu_sources(bundle: EvidenceBundle, sources: CollateralSources) -> Iterator[tuple[Any, Any]]:
    """NVIDIA RIM and OCSP sources when the bundle carries GPU evidence (nothing is loaded
    otherwise): the bundle given with --collateral, the cache, and NVIDIA's services unless
    --offline."""
    if bundle.gpu is None:
        yield None, None
        return
    from .gpu_cmd import OCSP_URL, RIM_URL
    from .gpu_context import evidence_gpu_sources

    with evidence_gpu_sources(sources, RIM_URL, OCSP_URL) as found:
        yield found


def _service(bundle: EvidenceBundle, name: str) -> ServiceEntry:
    for service in bundle.claims.services:
        if service.name == name:
            return ServiceEntry(service.name, service.store_path, service.public_key)
    names = ", ".join(s.name for s in bundle.claims.services) or "none"
    raise MalformedInputError(f"no service {name!r} in the evidence (services: {names})")


def tree_proof_command(args: argparse.Namespace) -> int:
    bundle = load_evidence(read_input_file(args.evidence, "evidence bundle"), str(args.evidence))
    tree = build_service_tree(bundle.service_entries())
    document = proof_document(tree, _service(bundle, args.service))
    if args.output is None:
        print(json.dumps(document, indent=2))  # the product itself: JSON with or without --json
        return 0
    data = (json.dumps(document, indent=2) + "\n").encode()
    write_output_file(args.output, data, force=args.force, what="service proof")
    summary = {"output": str(args.output), "service": args.service, "root": document["root"]}
    text = f"wrote the proof of {args.service!r} in tree {document['root']} to {args.output}"
    return Output(args.json).document(summary, text)


TREE_ROOT_HINT = (
    "copy claims.tree_root from `cairn verify evidence … --json` (or the tree root "
    "`cairn show evidence` prints)"
)


def parse_tree_root(text: str) -> int:
    """``--root``: exactly 32 bytes as 64 hex digits (optional ``0x``); never padded."""
    try:
        raw: bytes | None = parse_hex_option(text, "--root", variable="$TREE_ROOT")
    except MalformedInputError as error:
        if not text.strip().lower().removeprefix("0x"):  # empty: say so, and where roots come from
            error.hint = f"{error.hint}; {TREE_ROOT_HINT}"
            raise
        raw = None
    if raw is None or len(raw) != 32:
        raise MalformedInputError(
            f"--root {text!r} is not a tree root: it must be 32 bytes written as 64 hex digits",
            hint=TREE_ROOT_HINT,
        )
    return int.from_bytes(raw, "big")


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
