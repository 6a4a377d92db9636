"""``cairn zk prove|verify|dev-crs``: anonymous "some attested service signed this" proofs."""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..binding.echo_signature import echo_digest, verify_echo_signature
from ..binding.proof_document import read_proof_document
from ..binding.report_data import claims_digest
from ..checks import CheckLog
from ..documents import parse_json
from ..errors import ExitCode, MalformedInputError, SignatureError
from ..evidence.models import load_evidence
from ..input_files import MAX_DOCUMENT_BYTES
from ..tdx.pcs import PCS_BASE_URL
from ..zk import dev_crs, node
from ..zk.witness import membership_inputs, read_public_inputs
from .common import (
    Output,
    add_verify_options,
    parse_hex_option,
    read_input_file,
)
from .evidence_cmd import parse_nonce, verify_evidence_with_options

COMPONENT = "zk"
INSECURE_WARNING = (
    "INSECURE DEVELOPMENT CRS: this proof was made with a CRS whose secret (tau = 3) is public; "
    "anyone can forge such proofs, so it demonstrates the pipeline only"
)


def register(commands: Any) -> None:
    zk = commands.add_parser(
        "zk", help="zero-knowledge proofs that some attested service signed a response"
    )
    sub = zk.add_subparsers(dest="action", required=True, metavar="ACTION")

    prove = sub.add_parser("prove", help="prove that a service of the evidence signed a response")
    prove.add_argument("--evidence", type=Path, required=True, help="evidence bundle (JSON)")
    prove.add_argument(
        "--proof", type=Path, required=True, help="service proof document (`cairn tree proof`)"
    )
    prove.add_argument("--request-id", required=True, help="the echo request id")
    prove.add_argument("--payload", required=True, help="the echo payload (text)")
    prove.add_argument("--signature", required=True, metavar="HEX", help="64-byte r||s signature")
    prove.add_argument("-o", "--output", type=Path, required=True, help="where to write the proof")
    prove.add_argument(
        "--disclose-system", action="store_true", help="reveal the system hash in the proof"
    )
    _add_crs_options(prove)
    prove.set_defaults(func=zk_prove_command)

    verify = sub.add_parser("verify", help="verify a membership proof against evidence")
    verify.add_argument("proof", type=Path, help="a proof from `cairn zk prove`")
    verify.add_argument("--evidence", type=Path, required=True, help="evidence bundle (JSON)")
    verify.add_argument("--nonce", metavar="HEX", required=True, help="the evidence's nonce (hex)")
    verify.add_argument("--request-id", help="check the proof is about this echo request")
    verify.add_argument("--payload", help="… and this payload (with --request-id)")
    verify.add_argument("--kds-url", default="https://kdsintf.amd.com")
    verify.add_argument("--pccs", default=PCS_BASE_URL, metavar="URL")
    verify.add_argument("--collateral", type=Path, metavar="FILE|DIR", help="TDX collateral")
    add_verify_options(verify)
    _add_crs_options(verify)
    verify.set_defaults(func=zk_verify_command)

    crs = sub.add_parser("dev-crs", help="write the INSECURE development CRS (tests only)")
    crs.add_argument("--dir", type=Path, help="target directory (default: the cache)")
    crs.add_argument("--points", type=int, default=dev_crs.DEFAULT_POINTS)
    crs.set_defaults(func=zk_dev_crs_command)


def _add_crs_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--crs", type=Path, metavar="DIR", help="CRS directory (bn254_g1.dat, bn254_g2.dat)"
    )
    parser.add_argument(
        "--insecure-dev-crs",
        action="store_true",
        help="TESTING ONLY: use (and create if needed) the development CRS with a public tau",
    )
    parser.add_argument("--timeout", type=float, default=node.DEFAULT_TIMEOUT, metavar="SECONDS")


def _crs_dir(args: argparse.Namespace) -> Path:
    if args.crs is not None:
        return Path(args.crs)
    if args.insecure_dev_crs:
        return dev_crs.ensure_dev_crs()
    raise MalformedInputError(
        "--crs DIR is required (the Ignition CRS cannot be downloaded offline)",
        component=COMPONENT,
        hint="for tests only, pass --insecure-dev-crs to use a CRS with a published secret",
    )


def _crs_args(args: argparse.Namespace) -> list[str]:
    flags = ["--crs", str(_crs_dir(args))]
    return [*flags, "--insecure-dev-crs"] if args.insecure_dev_crs else flags


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
    bundle = load_evidence(read_input_file(args.evidence, "evidence bundle"), str(args.evidence))
    service, proof, root = read_proof_document(_load_json(args.proof, "service proof"))
    report = bundle.report_data_inputs()
    if root != report.tree_root:
        raise MalformedInputError(
            f"the service proof is for tree {root:064x}, the evidence attests "
            f"{report.tree_root:064x}",
            component=COMPONENT,
        )
    signature = _signature(args.signature)
    if not verify_echo_signature(service.public_key, args.request_id, args.payload, signature):
        raise SignatureError(
            f"the signature is not service {service.name!r}'s signature of this request",
            component=COMPONENT,
            hint="check --request-id, --payload and --signature against the echo response",
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
        result = node.run_driver(
            ["prove", str(inputs_path), *_crs_args(args), "-o", str(args.output)],
            timeout=args.timeout,
        )
    print(json.dumps(result.output, indent=2))
    return 0


def zk_verify_command(args: argparse.Namespace) -> int:
    doc = _load_json(args.proof, "zk proof")
    if not isinstance(doc, dict):
        raise MalformedInputError(f"{args.proof} is not a zk proof document", component=COMPONENT)
    public = read_public_inputs(doc.get("public_inputs"))
    source = str(args.evidence)
    bundle = load_evidence(read_input_file(args.evidence, "evidence bundle"), source)
    nonce = parse_nonce(args.nonce)
    if nonce is None:
        raise MalformedInputError("--nonce is required", component=COMPONENT)
    evidence = verify_evidence_with_options(args, bundle, nonce, source)

    log = CheckLog(list(evidence.checks))
    expected = claims_digest(bundle.report_data_inputs())
    log.check(
        public.claims_digest == expected,
        "zk.claims_digest",
        COMPONENT,
        ExitCode.CONTENT_MISMATCH,
        "the proof's claims digest is REPORT_DATA[0:32] of this evidence",
        expected=expected.hex(),
        actual=public.claims_digest.hex(),
    )
    if args.request_id is not None or args.payload is not None:
        if args.request_id is None or args.payload is None:
            raise MalformedInputError("give --request-id and --payload together")
        digest = echo_digest(args.request_id, args.payload)
        log.check(
            public.response_hash == digest,
            "zk.response_hash",
            COMPONENT,
            ExitCode.CONTENT_MISMATCH,
            "the proof is about this echo request and payload",
            expected=digest.hex(),
            actual=public.response_hash.hex(),
        )
    if public.system_hash is not None:
        log.check(
            public.system_hash == bundle.claims.system.hash,
            "zk.system_hash",
            COMPONENT,
            ExitCode.CONTENT_MISMATCH,
            "the disclosed system hash is the evidence's",
            expected=bundle.claims.system.hash.hex(),
            actual=public.system_hash.hex(),
        )
    result = node.run_driver(["verify", str(args.proof), *_crs_args(args)], timeout=args.timeout)
    log.check(
        result.output.get("valid") is True,
        "zk.proof",
        COMPONENT,
        ExitCode.SIGNATURE_INVALID,
        "the membership proof verifies (some service of the attested tree signed the response)",
    )
    warnings = list(evidence.warnings)
    if result.output.get("insecure_dev_crs"):
        warnings.append(INSECURE_WARNING)
    claims: dict[str, object] = dict(evidence.claims)
    claims["zk"] = {
        "response_hash": public.response_hash.hex(),
        "system_hash_disclosed": public.system_hash is not None,
        "insecure_dev_crs": bool(result.output.get("insecure_dev_crs")),
    }
    combined = replace(
        evidence,
        kind="Cairn zk membership proof",
        subject=str(args.proof),
        checks=tuple(log.checks),
        claims=claims,
        warnings=tuple(warnings),
    )
    return Output(args.json).result(combined)


def zk_dev_crs_command(args: argparse.Namespace) -> int:
    path = dev_crs.ensure_dev_crs(args.dir, args.points)
    print(json.dumps({"crs": str(path), "tau": dev_crs.DEV_TAU, "insecure": True}))
    return 0
