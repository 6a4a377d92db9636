"""``cairn zk prove|verify|dev-crs``: anonymous "some attested service signed this" proofs."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..binding.echo_signature import echo_digest, verify_echo_signature
from ..binding.proof_document import read_proof_document
from ..binding.report_data import claims_commitment
from ..check_names import ZkCheck
from ..checks import CheckLog, VerificationResult
from ..documents import parse_json
from ..errors import ExitCode, MalformedInputError, SignatureError, UsageError
from ..evidence.models import EvidenceBundle, load_evidence
from ..input_files import MAX_DOCUMENT_BYTES
from ..output_files import check_output_path, write_output_file
from ..zk import dev_crs, node
from ..zk.progress import Progress
from ..zk.witness import membership_inputs, read_public_inputs
from .commands import ZK_SETUP_NOTE as SETUP_NOTE
from .commands import register_module
from .common import Output, add_json_option, parse_hex_option, read_input_file
from .evidence_cmd import parse_nonce, verify_evidence_with_options
from .evidence_options import add_evidence_options

COMPONENT = "zk"
INSECURE_WARNING = (
    "INSECURE DEVELOPMENT CRS: this proof was made with a CRS whose secret (tau = 3) is public; "
    "anyone can forge such proofs, so it demonstrates the pipeline only"
)
ANY_RESPONSE_WARNING = (
    "--any-response: the response this proof is about was NOT checked; it only shows that some "
    "attested service signed the response whose hash is {hash}"
)


def register(commands: Any) -> None:
    """Add ``zk prove|verify|dev-crs`` to a subparsers action (``cairn`` loads them lazily)."""
    register_module(commands, "zk_cmd")


def configure_prove(prove: argparse.ArgumentParser) -> None:
    prove.description = (
        "Check the response signature against the service's key in the evidence, "
        "then make an UltraHonk proof that some service of the evidence's attested tree signed "
        "it (a few seconds). " + SETUP_NOTE + "."
    )
    prove.add_argument(
        "--evidence", type=Path, required=True, metavar="FILE", help="the evidence bundle (JSON)"
    )
    prove.add_argument(
        "--proof",
        type=Path,
        required=True,
        metavar="FILE",
        help="the service's inclusion proof (`cairn tree proof EVIDENCE SERVICE`)",
    )
    prove.add_argument("--request-id", required=True, help="the request id sent to the service")
    prove.add_argument("--payload", required=True, help="the payload sent to the service (text)")
    prove.add_argument(
        "--signature",
        required=True,
        metavar="HEX",
        help="the response's signature: its last field, 64 bytes r||s as 128 hex digits",
    )
    prove.add_argument(
        "-o", "--output", type=Path, required=True, metavar="FILE", help="where to write the proof"
    )
    prove.add_argument("--force", action="store_true", help="replace an existing output file")
    prove.add_argument(
        "--disclose-system", action="store_true", help="reveal the system hash in the proof"
    )
    _add_crs_options(prove)
    add_json_option(prove)
    prove.set_defaults(func=zk_prove_command)


def configure_verify(verify: argparse.ArgumentParser) -> None:
    verify.description = (
        "Verify the evidence in full, check that the proof is about it and about "
        "the echo request and payload given, then verify the proof with the verification key "
        "pinned for the circuit (well under a second besides the evidence). " + SETUP_NOTE + "."
    )
    verify.add_argument("proof", type=Path, help="a proof from `cairn zk prove`")
    add_evidence_options(verify, required=True)
    verify.add_argument(
        "--request-id", help="the request id of the response the proof must be about"
    )
    verify.add_argument("--payload", help="… and its payload (give both)")
    verify.add_argument(
        "--any-response",
        action="store_true",
        help="accept a proof about whatever response it names (its hash is printed; the check "
        "zk-response-hash is SKIPPED and a warning says so) instead of --request-id/--payload",
    )
    _add_crs_options(verify)
    verify.set_defaults(func=zk_verify_command)


def configure_dev_crs(crs: argparse.ArgumentParser) -> None:
    crs.description = (
        "Write a BN254 CRS whose secret (tau = 3) is published: anyone can forge "
        "proofs against it. For tests and demos only."
    )
    crs.add_argument(
        "--dir", type=Path, metavar="DIR", help="target directory (default: the cache directory)"
    )
    crs.add_argument(
        "--points",
        type=int,
        default=dev_crs.DEFAULT_POINTS,
        metavar="N",
        help=f"number of G1 points (default: {dev_crs.DEFAULT_POINTS}, enough for the circuit)",
    )
    add_json_option(crs)
    crs.set_defaults(func=zk_dev_crs_command)


def _add_crs_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--crs",
        type=Path,
        metavar="DIR",
        help="directory with the Aztec Ignition CRS: bn254_g1.dat (at least 2^17+1 points) and "
        "bn254_g2.dat (docs/zk.md says where to get them)",
    )
    parser.add_argument(
        "--insecure-dev-crs",
        action="store_true",
        help="TESTING ONLY: use (and create if needed) the development CRS with a public tau",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=node.DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"stop the Node driver after this long (default: {node.DEFAULT_TIMEOUT:.0f})",
    )


def _crs_args(args: argparse.Namespace, progress: Progress) -> list[str]:
    """``--crs DIR [--insecure-dev-crs]`` for the driver; warns on stderr about the dev CRS."""
    if args.crs is None and not args.insecure_dev_crs:
        raise UsageError(
            "--crs DIR is required: proving and verifying need the Aztec Ignition CRS, which "
            "cairn does not download",
            component=COMPONENT,
            hint="download it as docs/zk.md ('The CRS') says and pass --crs DIR; for tests only, "
            "--insecure-dev-crs uses a CRS whose secret is public",
        )
    if not args.insecure_dev_crs:
        return ["--crs", str(args.crs)]
    print(f"WARNING: {INSECURE_WARNING}", file=sys.stderr)
    directory = args.crs if args.crs is not None else dev_crs.ensure_dev_crs(progress=progress)
    return ["--crs", str(directory), "--insecure-dev-crs"]


def _signature(text: str) -> bytes:
    raw = parse_hex_option(text, "--signature", variable="$SIG_HEX")
    if len(raw) != 64:
        raise MalformedInputError(
            f"--signature must be 64 bytes (r || s), got {len(raw)}", component=COMPONENT
        )
    return raw


def _load_json(path: Path, what: str) -> Any:
    data = read_input_file(path, what, limit=MAX_DOCUMENT_BYTES, component=COMPONENT)
    return parse_json(data, f"{what} {path}", component=COMPONENT)


def zk_prove_command(args: argparse.Namespace) -> int:
    # Cheap checks of what the user gave first, then set-up problems, before any slow step.
    check_output_path(args.output, force=args.force, component=COMPONENT)
    bundle = load_evidence(read_input_file(args.evidence, "evidence bundle"), str(args.evidence))
    service, proof, root = read_proof_document(_load_json(args.proof, "service proof"))
    signature = _signature(args.signature)
    _require_v2(bundle)
    circuits = node.check_toolchain()
    progress = Progress.for_stderr()
    crs = _crs_args(args, progress)
    report = bundle.report_data_inputs()
    log = CheckLog()
    if root != report.tree_root:
        raise MalformedInputError(
            f"the service proof is for tree {root:064x}, the evidence attests "
            f"{report.tree_root:064x}",
            component=COMPONENT,
            hint="make the service proof from this evidence: cairn tree proof EVIDENCE SERVICE",
        )
    log.passed(
        ZkCheck.SERVICE_PROOF,
        COMPONENT,
        f"the service proof places {service.name!r} in the evidence's service tree",
        actual=f"{root:064x}",
    )
    if not verify_echo_signature(service.public_key, args.request_id, args.payload, signature):
        raise SignatureError(
            f"the signature is not service {service.name!r}'s signature of this request",
            component=COMPONENT,
            hint="check --request-id, --payload and --signature against the echo response, "
            "and that the service proof is for the service that answered",
        )
    log.passed(
        ZkCheck.RESPONSE_SIGNATURE,
        COMPONENT,
        f"the signature is by {service.name!r} over this request id and payload",
    )
    inputs = membership_inputs(
        report,
        service,
        proof,
        echo_digest(args.request_id, args.payload),
        signature,
        disclose_system=args.disclose_system,
    )
    with tempfile.TemporaryDirectory(prefix="cairn-zk-") as tmp:
        inputs_path = Path(tmp) / "inputs.json"
        inputs_path.write_text(json.dumps(inputs))
        made = Path(tmp) / "proof.json"
        result = node.run_driver(
            ["prove", str(inputs_path), *crs, "-o", str(made)],
            timeout=args.timeout,
            progress=progress,
            circuits=circuits,
        )
        write_output_file(
            args.output, made.read_bytes(), force=args.force, what="zk proof", component=COMPONENT
        )
    insecure = bool(result.output.get("insecure_dev_crs"))
    log.passed(
        ZkCheck.PROOF_WRITTEN,
        COMPONENT,
        f"the membership proof was made and written to {args.output}",
    )
    outcome = VerificationResult(
        kind="Cairn zk membership proof (made)",
        subject=str(args.output),
        verified_at=datetime.now(UTC).replace(microsecond=0),
        checks=tuple(log.checks),
        claims={
            "zk": {
                "proof": str(args.output),
                "response_hash": echo_digest(args.request_id, args.payload).hex(),
                "system_hash_disclosed": bool(args.disclose_system),
                "insecure_dev_crs": insecure,
                "threads": result.output.get("threads"),
                "witness_ms": result.output.get("witness_ms"),
                "prove_ms": result.output.get("prove_ms"),
            }
        },
        warnings=(INSECURE_WARNING,) if insecure else (),
    )
    return Output(args.json).result(outcome)


def _require_v2(bundle: EvidenceBundle) -> None:
    version = bundle.claims.report_data_version
    if version != 2:
        raise MalformedInputError(
            f"the evidence uses REPORT_DATA v{version}; zk proofs open the Poseidon2 claims "
            "commitment that only REPORT_DATA v2 carries",
            component=COMPONENT,
            hint="ask the agent for fresh evidence (cairn-agent produces REPORT_DATA v2)",
        )


def _response_args(args: argparse.Namespace) -> bytes | None:
    """The echo digest the proof must be about; None with --any-response (usage errors else)."""
    if (args.request_id is None) != (args.payload is None):
        raise UsageError("give --request-id and --payload together", component=COMPONENT)
    if args.request_id is not None and args.any_response:
        raise UsageError(
            "--any-response contradicts --request-id/--payload: give one or the other",
            component=COMPONENT,
        )
    if args.request_id is None and not args.any_response:
        raise UsageError(
            "say which response the proof must be about: --request-id ID --payload TEXT",
            component=COMPONENT,
            hint="to accept a proof about any response (its hash is printed, nothing more is "
            "known about it), add --any-response instead",
        )
    return None if args.any_response else echo_digest(args.request_id, args.payload)


def zk_verify_command(args: argparse.Namespace) -> int:
    expected_response = _response_args(args)
    proof_bytes = read_input_file(
        args.proof, "zk proof", limit=MAX_DOCUMENT_BYTES, component=COMPONENT
    )
    doc = parse_json(proof_bytes, f"zk proof {args.proof}", component=COMPONENT)
    if not isinstance(doc, dict):
        raise MalformedInputError(f"{args.proof} is not a zk proof document", component=COMPONENT)
    public = read_public_inputs(doc.get("public_inputs"))
    source = str(args.evidence)
    bundle = load_evidence(read_input_file(args.evidence, "evidence bundle"), source)
    _require_v2(bundle)
    nonce = parse_nonce(args.nonce)
    assert nonce is not None  # --nonce is required by the parser
    circuits = node.check_toolchain()  # set-up problems before the evidence is verified
    progress = Progress.for_stderr()
    crs = _crs_args(args, progress)
    # Node verifies the proof while Python verifies the evidence (2 cores); the proof's verdict
    # counts only together with the evidence checks below. Node reads a private copy of the very
    # bytes parsed here, so both judge the same public inputs whatever the path is.
    with tempfile.TemporaryDirectory(prefix="cairn-zk-") as tmp:
        copy = Path(tmp) / "proof.json"
        copy.write_bytes(proof_bytes)
        with node.DriverRun(
            ["verify", str(copy), *crs], timeout=args.timeout, progress=progress, circuits=circuits
        ) as run:
            evidence = verify_evidence_with_options(args, bundle, nonce, source)
            result = run.result()

    response = public.response_hash.hex()
    log = CheckLog(list(evidence.checks))
    expected = claims_commitment(bundle.report_data_inputs()).to_bytes(32, "big")
    log.check(
        public.claims_commitment == expected,
        ZkCheck.CLAIMS_COMMITMENT,
        COMPONENT,
        ExitCode.CONTENT_MISMATCH,
        "the proof's claims commitment is REPORT_DATA[32:64] (v2) of this evidence",
        expected=expected.hex(),
        actual=public.claims_commitment.hex(),
    )
    if expected_response is not None:
        log.check(
            public.response_hash == expected_response,
            ZkCheck.RESPONSE_HASH,
            COMPONENT,
            ExitCode.CONTENT_MISMATCH,
            f"the proof is about the echo response to request {args.request_id!r} with this "
            f"payload (response hash {response})",
            expected=expected_response.hex(),
            actual=response,
        )
    else:
        log.skipped(
            ZkCheck.RESPONSE_HASH,
            COMPONENT,
            f"NOT CHECKED (--any-response): the proof is about the response with hash {response}; "
            "nothing says which request or payload that is",
            hint="give --request-id and --payload to check it",
        )
    if public.system_hash is not None:
        log.check(
            public.system_hash == bundle.claims.system.hash,
            ZkCheck.SYSTEM_HASH,
            COMPONENT,
            ExitCode.CONTENT_MISMATCH,
            "the disclosed system hash is the evidence's",
            expected=bundle.claims.system.hash.hex(),
            actual=public.system_hash.hex(),
        )
    stale = result.output.get("bytecode_matches") is False
    log.check(
        result.output.get("valid") is True
        and result.output.get("public_inputs") == doc.get("public_inputs"),
        ZkCheck.PROOF,
        COMPONENT,
        ExitCode.SIGNATURE_INVALID,
        "the membership proof verifies: some service of the attested tree signed the response "
        f"with hash {response}",
        hint="the proof was made for another build of the circuit; ask for one made with this "
        "version of cairn"
        if stale
        else None,
    )
    warnings = list(evidence.warnings)
    insecure = bool(result.output.get("insecure_dev_crs"))
    if insecure:
        warnings.append(INSECURE_WARNING)
    if expected_response is None:
        warnings.append(ANY_RESPONSE_WARNING.format(hash=response))
    claims: dict[str, object] = dict(evidence.claims)
    claims["zk"] = {
        "response_hash": response,
        "response_checked": expected_response is not None,
        "system_hash_disclosed": public.system_hash is not None,
        "crs": result.output.get("crs"),
        "insecure_dev_crs": insecure,
        "vk_sha256": result.output.get("vk_sha256"),
    }
    about = f"the response with hash {response}"
    if expected_response is None:
        about += " (NOT CHECKED: --any-response)"
    combined = replace(
        evidence,
        kind="Cairn zk membership proof",
        subject=f"{args.proof}, about {about}",
        checks=tuple(log.checks),
        claims=claims,
        warnings=tuple(warnings),
    )
    return Output(args.json).result(combined)


def zk_dev_crs_command(args: argparse.Namespace) -> int:
    print(
        "WARNING: writing the INSECURE development CRS (tau = 3 is public): anyone can forge "
        "proofs against it; use it for tests only",
        file=sys.stderr,
    )
    path = dev_crs.ensure_dev_crs(args.dir, args.points, progress=Progress.for_stderr())
    doc = {
        "crs": str(path),
        "tau": dev_crs.DEV_TAU,
        "g1_points": (path / "bn254_g1.dat").stat().st_size // 64,
        "insecure": True,
    }
    text = (
        f"INSECURE development CRS (tau = {dev_crs.DEV_TAU}, {doc['g1_points']} G1 points) in "
        f"{path}\nuse it with: --crs {path} --insecure-dev-crs"
    )
    return Output(args.json).document(doc, text)
