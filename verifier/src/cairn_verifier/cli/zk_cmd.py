"""``cairn zk prove|verify|dev-crs``: anonymous "some attested service signed this" proofs."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..check_names import ZkCheck
from ..checks import CheckLog, VerificationResult
from ..documents import parse_json
from ..errors import ExitCode, MalformedInputError, SignatureError, UsageError
from ..input_files import MAX_DOCUMENT_BYTES
from ..zk import dev_crs, node
from ..zk.progress import Progress
from .commands import ZK_SETUP_NOTE as SETUP_NOTE
from .commands import register_module
from .common import Output, add_json_option, parse_hex_option, read_input_file
from .evidence_options import add_evidence_options

if TYPE_CHECKING:
    from ..evidence.models import EvidenceBundle
    from .zk_inputs import ProofInput

# Only what the parsers need is imported above: `cairn zk verify --help` loads neither the
# evidence models (pydantic) nor the binding layer; each handler imports what it runs.

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
    verify.add_argument(
        "proof",
        type=Path,
        nargs="+",
        metavar="PROOF",
        help="proofs from `cairn zk prove`: files, directories of them, or - with --jsonl; "
        "several are verified against the evidence in one call (docs/zk.md, 'Many proofs')",
    )
    verify.add_argument(
        "--jsonl",
        action="store_true",
        help="read the proofs as JSON lines on standard input (give -): each a proof document "
        'or {"proof": {…}, "request_id": ID, "payload": TEXT}',
    )
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
    from ..binding.echo_signature import echo_digest, verify_echo_signature
    from ..binding.proof_document import read_proof_document
    from ..evidence.models import load_evidence
    from ..output_files import check_output_path, write_output_file
    from ..zk.witness import membership_inputs

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
    import tempfile  # only when proving or verifying (a --help loads no shutil)

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


def zk_verify_command(args: argparse.Namespace) -> int:
    # Node starts first: its ~0.35 s (start-up, wasm) is the long pole. The evidence pipeline
    # (pydantic models, the TEE verifiers: most of Python's share) is imported while it runs.
    from . import batch
    from .zk_inputs import ProofInput, command_line_response, read_proof_inputs

    given = command_line_response(args)
    expanded, many = batch.expand(
        args.proof, "zk proof", jsonl=args.jsonl, limit=MAX_DOCUMENT_BYTES
    )
    items = list(batch.stdin_items()) if expanded is None else expanded
    inputs = read_proof_inputs(items, given, batch=many)
    circuits = node.check_toolchain()  # set-up problems before the evidence is verified
    progress = Progress.for_stderr()
    crs = _crs_args(args, progress)
    proofs = [i for i in inputs if isinstance(i, ProofInput)]
    # One Node process verifies every proof while Python verifies the evidence, once (2 cores);
    # a proof's verdict counts only together with the evidence checks. Node reads private
    # copies of the very bytes parsed here, so both judge the same public inputs.
    import tempfile  # only when proving or verifying (a --help loads no shutil)

    with tempfile.TemporaryDirectory(prefix="cairn-zk-") as tmp:
        copies = [Path(tmp) / f"proof-{n}.json" for n in range(len(proofs))]
        for copy, proof in zip(copies, proofs, strict=True):
            copy.write_bytes(proof.data)
        driver = (
            node.DriverRun(
                ["verify", *map(str, copies), *crs],
                timeout=args.timeout,
                progress=progress,
                circuits=circuits,
                node_options=node.VERIFY_NODE_OPTIONS,
            )
            if proofs
            else None
        )
        with driver if driver is not None else contextlib.nullcontext():
            from ..evidence.models import load_evidence
            from .evidence_cmd import parse_nonce, verify_evidence_with_options

            nonce = parse_nonce(args.nonce)
            assert nonce is not None  # --nonce is required by the parser
            bundle = load_evidence(
                read_input_file(args.evidence, "evidence bundle"), str(args.evidence)
            )
            _require_v2(bundle)
            evidence = verify_evidence_with_options(args, bundle, nonce, str(args.evidence))
            outputs = _driver_outputs(driver.result(), copies) if driver is not None else []
    verdicts = {id(proof): output for proof, output in zip(proofs, outputs, strict=True)}
    outcomes = {id(item): outcome for item, outcome in zip(items, inputs, strict=True)}

    def verify(item: batch.Item) -> VerificationResult:
        outcome = outcomes[id(item)]
        if not isinstance(outcome, ProofInput):
            raise outcome
        return _proof_result(outcome, verdicts[id(outcome)], evidence, bundle)

    if not many:
        return Output(args.json).result(verify(items[0]))
    return batch.run(items, verify, as_json=args.json or args.jsonl)  # as `verify snp --jsonl`


def _driver_outputs(result: node.DriverResult, copies: list[Path]) -> list[dict[str, Any]]:
    """The driver's verdict on each proof, in order (one proof: the output itself)."""
    output = result.output
    verdicts = output.get("results") if len(copies) > 1 else [output]
    if not isinstance(verdicts, list) or [
        v.get("proof") if isinstance(v, dict) else None for v in verdicts
    ] != [str(c) for c in copies]:
        raise node.ZkDriverError(
            "the zk driver did not answer for each proof in order", component=COMPONENT
        )
    summary = {k: v for k, v in output.items() if k != "results"}
    return [{**summary, **verdict} for verdict in verdicts]


def _proof_result(
    proof: ProofInput,
    verdict: dict[str, Any],
    evidence: VerificationResult,
    bundle: EvidenceBundle,
) -> VerificationResult:
    """The evidence's result extended by one proof's checks (raises if Node could not read it)."""
    from ..binding.report_data import claims_commitment

    if isinstance(verdict.get("error"), str):  # a proof of a batch the driver could not use
        kind = verdict.get("kind")
        code = node.EXIT_CRS if kind == "crs" else node.EXIT_INPUT
        reason = verdict.get("reason")
        failure = node.DriverFailure(
            verdict["error"], str(kind), reason if isinstance(reason, str) else None
        )
        raise node.driver_error(code, failure)
    public, expected_response = proof.public, proof.response.digest
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
            f"the proof is about the echo response to request {proof.response.request_id!r} "
            f"with this payload (response hash {response})",
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
    stale = verdict.get("bytecode_matches") is False
    log.check(
        verdict.get("valid") is True
        and verdict.get("public_inputs") == proof.document.get("public_inputs"),
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
    insecure = bool(verdict.get("insecure_dev_crs"))
    if insecure:
        warnings.append(INSECURE_WARNING)
    if expected_response is None:
        warnings.append(ANY_RESPONSE_WARNING.format(hash=response))
    claims: dict[str, object] = dict(evidence.claims)
    claims["zk"] = {
        "response_hash": response,
        "response_checked": expected_response is not None,
        "system_hash_disclosed": public.system_hash is not None,
        "crs": verdict.get("crs"),
        "insecure_dev_crs": insecure,
        "vk_sha256": verdict.get("vk_sha256"),
    }
    about = f"the response with hash {response}"
    if expected_response is None:
        about += " (NOT CHECKED: --any-response)"
    return replace(
        evidence,
        kind="Cairn zk membership proof",
        subject=f"{proof.label}, about {about}",
        checks=tuple(log.checks),
        claims=claims,
        warnings=tuple(warnings),
    )


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
