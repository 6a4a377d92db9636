"""What the fuzzer feeds: each parser (bytes in, a value or a typed Cairn error out) and each
``cairn`` subcommand that reads a file (run in-process through ``cairn_verifier.cli.main``).

A parser *crashes* when it raises anything but a :class:`CairnError`; a CLI run crashes when it
exits 70 (internal error), exits with an undocumented code, or lets an exception escape.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from cairn_verifier.azure.hcl import parse_hcl_report
from cairn_verifier.azure.inputs import read_azure_input
from cairn_verifier.azure.runtime_data import parse_runtime_data
from cairn_verifier.binding.proof_document import read_proof_document
from cairn_verifier.cli.main import main
from cairn_verifier.collateral.bundle import parse_bundle
from cairn_verifier.documents import parse_json, parse_toml
from cairn_verifier.encoding import decode_blob, extract_snp_report
from cairn_verifier.errors import CairnError, ExitCode
from cairn_verifier.eventlog import describe, read_event_log, replay
from cairn_verifier.evidence.models import load_evidence
from cairn_verifier.policy_document import CairnPolicy
from cairn_verifier.refvalues.qemu_acpi import CHECKS as QEMU_ACPI_CHECKS
from cairn_verifier.snp.certs import CertCollection
from cairn_verifier.snp.reference_values import parse_reference_values
from cairn_verifier.snp.report import parse_report
from cairn_verifier.tdx.collateral import (
    load_dcap_qvl_collateral,
    load_pcs_qe_identity,
    load_pcs_tcb_info,
)
from cairn_verifier.tdx.quote import parse_quote
from cairn_verifier.tpm.structures import parse_attest, parse_public, parse_signature
from cairn_verifier.x509.cert import load_certificates
from cairn_verifier.x509.crl import load_crl
from cairn_verifier.zk.witness import read_public_inputs

from .corpus import AZURE_AT, AZURE_NONCE, MILAN, MILAN_AT, NONCE, TDX, Corpus, tree_root

DOCUMENTED_EXIT_CODES = frozenset(int(code) for code in ExitCode) | {130, 141}
INTERNAL = int(ExitCode.INTERNAL_ERROR)


@dataclass(frozen=True)
class Target:
    """One thing to fuzz: the seed kinds it reads and how to run one input."""

    name: str
    kinds: tuple[str, ...]
    run: Callable[[bytes, Path], object]
    """Run one input (``work`` is a scratch directory); return a result, raise on a crash."""


class Crash(Exception):  # noqa: N818 (a finding, not an error of the harness)
    """An input made a target fail in a way no input may: exit 70, an untyped exception."""


# ------------------------------------------------------------------------------ parsers


def _parser(function: Callable[[bytes], object]) -> Callable[[bytes, Path], object]:
    def run(data: bytes, _work: Path) -> object:
        try:
            return function(data)
        except CairnError as error:
            return error
        except Exception as exc:
            raise Crash(f"{type(exc).__name__}: {exc}"[:500]) from exc

    return run


def _snp_report(data: bytes) -> object:
    raw, _ = extract_snp_report(decode_blob(data, what="SEV-SNP report"))
    return parse_report(raw)


def _tdx_quote(data: bytes) -> object:
    return parse_quote(decode_blob(data, what="TDX quote"))


def _qe_identity(data: bytes) -> object:
    return load_pcs_qe_identity(data, None)


def _policy(data: bytes) -> object:
    document = (
        parse_json(data, "policy") if data.lstrip().startswith(b"{") else parse_toml(data, "policy")
    )
    try:
        return CairnPolicy.model_validate(document)
    except ValueError as exc:  # pydantic's ValidationError: load_policy reports it, exit 10
        return exc


def _azure_input(data: bytes) -> object:
    return read_azure_input(data, "fuzz input")


def _proof(data: bytes) -> object:
    return read_proof_document(parse_json(data, "proof"))


def _zk_public_inputs(data: bytes) -> object:
    document = parse_json(data, "zk proof")
    return read_public_inputs(document.get("public_inputs") if isinstance(document, dict) else None)


def _event_log(data: bytes) -> object:
    log, _ = read_event_log(data)
    return describe(log), replay(log)


PARSERS: tuple[Target, ...] = (
    Target("parse snp report", ("snp-report",), _parser(_snp_report)),
    Target("parse tdx quote", ("tdx-quote",), _parser(_tdx_quote)),
    Target("parse certificates", ("certificate",), _parser(load_certificates)),
    Target("parse crl", ("crl",), _parser(load_crl)),
    Target("parse amd certificates", ("certificate", "crl"), _parser(CertCollection.from_bytes)),
    Target("parse tpm attest", ("tpm-attest",), _parser(parse_attest)),
    Target("parse tpm signature", ("tpm-signature",), _parser(parse_signature)),
    Target("parse tpm public", ("tpm-public",), _parser(parse_public)),
    Target("parse dcap-qvl collateral", ("tdx-collateral",), _parser(load_dcap_qvl_collateral)),
    Target("parse pcs tcb info", ("pcs-tcb-info",), _parser(lambda d: load_pcs_tcb_info(d, None))),
    Target("parse pcs qe identity", ("pcs-qe-identity",), _parser(_qe_identity)),
    Target("parse collateral bundle", ("collateral-bundle",), _parser(parse_bundle)),
    Target("parse policy", ("policy",), _parser(_policy)),
    Target("parse reference values", ("reference-values",), _parser(parse_reference_values)),
    Target("parse evidence bundle", ("evidence",), _parser(load_evidence)),
    Target("parse azure hcl report", ("azure-hcl",), _parser(parse_hcl_report)),
    Target("parse azure runtime data", ("azure-runtime-data",), _parser(parse_runtime_data)),
    Target("parse azure evidence", ("azure-evidence", "azure-hcl"), _parser(_azure_input)),
    Target("parse proof document", ("proof",), _parser(_proof)),
    Target("parse zk public inputs", ("zk-proof",), _parser(_zk_public_inputs)),
    Target("parse event log", ("event-log",), _parser(_event_log)),
    *(
        Target(f"parse qemu acpi {name}", (f"qemu-acpi-{name}",), _parser(check))
        for name, check in QEMU_ACPI_CHECKS.items()
    ),
)


# ------------------------------------------------------------------------------ the CLI


@dataclass(frozen=True)
class Fixtures:
    """Valid companion files for CLI runs (the mutated file replaces one of them)."""

    work: Path
    report: Path
    quote: Path
    tdx_collateral: Path
    evidence: Path
    azure_evidence: Path
    proof: Path
    policy: Path
    root: str

    @classmethod
    def write(cls, corpus: Corpus, work: Path) -> Fixtures:
        work.mkdir(parents=True, exist_ok=True)

        def put(name: str, data: bytes) -> Path:
            path = work / name
            path.write_bytes(data)
            return path

        return cls(
            work=work,
            report=MILAN / "report.bin",
            quote=TDX / "quote.bin",
            tdx_collateral=TDX / "collateral.json",
            evidence=put("evidence.json", corpus.first("evidence")),
            azure_evidence=put("azure-evidence.json", corpus.first("azure-evidence")),
            proof=put("proof.json", corpus.first("proof")),
            policy=put("policy.toml", corpus.first("policy")),
            root=tree_root(),
        )


Argv = Callable[[Path, Fixtures], list[str]]
TDX_AT = (TDX / "verify-at").read_text().strip()


def command(template: str) -> Argv:
    """The argv of ``template`` (split on spaces, then each word formatted): ``{input}`` is the
    fuzzed file, the other fields name :class:`Fixtures` and constants."""
    words = template.split()

    def argv(path: Path, fixtures: Fixtures) -> list[str]:
        fields = {
            "input": path,
            "milan": MILAN,
            "milan_at": MILAN_AT,
            "tdx_at": TDX_AT,
            "azure_at": AZURE_AT,
            "azure_nonce": AZURE_NONCE.hex(),
            "nonce": NONCE.hex(),
            "cache": fixtures.work / "cache",
            "out": fixtures.work / "out.json",
            **{name: getattr(fixtures, name) for name in Fixtures.__dataclass_fields__},
        }
        return [word.format(**fields) for word in words]

    return argv


SNP = "verify snp {report} --certs {milan} --offline --no-cache --at {milan_at}"
TDX_VERIFY = "verify tdx {quote} --offline --no-cache --at {tdx_at}"
EVIDENCE = "verify evidence {evidence} --nonce {nonce} --offline --no-cache --at {milan_at}"
ZK_PROVE = "--request-id r --payload p --signature " + "11" * 64 + " -o {work}/zk.json --crs {work}"
EXPORT = "--offline --cache-dir {cache} -o {out} --force"
AZURE = "--nonce {azure_nonce} --offline --no-cache --at {azure_at}"

CLI_COMMANDS: tuple[tuple[str, tuple[str, ...], Argv], ...] = (
    ("show snp", ("snp-report",), command("show snp {input}")),
    ("show tdx", ("tdx-quote",), command("show tdx {input}")),
    ("show eventlog", ("event-log",), command("show eventlog {input}")),
    ("verify tdx --event-log", ("event-log",), command(TDX_VERIFY + " --event-log {input}")),
    (
        "verify snp REPORT",
        ("snp-report",),
        command("verify snp {input} --certs {milan} --offline --no-cache --at {milan_at}"),
    ),
    (
        "verify snp --certs",
        ("certificate",),
        command("verify snp {report} --certs {input} --offline --no-cache --at {milan_at}"),
    ),
    ("verify snp --crl", ("crl",), command(SNP + " --crl {input}")),
    ("verify snp --collateral", ("collateral-bundle",), command(SNP + " --collateral {input}")),
    (
        "verify snp --collateral only",
        ("collateral-bundle",),
        command("verify snp {report} --collateral {input} --offline --no-cache --at {milan_at}"),
    ),
    ("verify snp --policy", ("policy",), command(SNP + " --policy {input}")),
    (
        "verify snp --reference-values",
        ("reference-values",),
        command(SNP + " --reference-values {input}"),
    ),
    (
        "verify snp --trust-simulated-root",
        ("certificate",),
        command(SNP + " --trust-simulated-root {input}"),
    ),
    (
        "verify tdx QUOTE",
        ("tdx-quote",),
        command(
            "verify tdx {input} --collateral {tdx_collateral} --offline --no-cache --at {tdx_at}"
        ),
    ),
    (
        "verify tdx --collateral",
        ("tdx-collateral", "collateral-bundle"),
        command(TDX_VERIFY + " --collateral {input}"),
    ),
    (
        "verify tdx --policy",
        ("policy",),
        command(TDX_VERIFY + " --collateral {tdx_collateral} --policy {input}"),
    ),
    (
        "verify evidence FILE",
        ("evidence",),
        command("verify evidence {input} --nonce {nonce} --offline --no-cache --at {milan_at}"),
    ),
    ("verify evidence --policy", ("policy",), command(EVIDENCE + " --policy {input}")),
    (
        "verify azure EVIDENCE",
        ("azure-evidence", "azure-hcl"),
        command("verify azure {input} " + AZURE),
    ),
    (
        "verify azure --policy",
        ("policy",),
        command("verify azure {azure_evidence} --policy {input} " + AZURE),
    ),
    (
        "verify evidence --collateral",
        ("tdx-collateral", "collateral-bundle"),
        command(EVIDENCE + " --collateral {input}"),
    ),
    (
        "collateral import",
        ("collateral-bundle",),
        command("collateral import {input} --cache-dir {cache}"),
    ),
    (
        "collateral export --snp",
        ("snp-report",),
        command("collateral export --snp {input} " + EXPORT),
    ),
    (
        "collateral export --tdx",
        ("tdx-quote",),
        command("collateral export --tdx {input} " + EXPORT),
    ),
    (
        "collateral export --evidence",
        ("evidence",),
        command("collateral export --evidence {input} " + EXPORT),
    ),
    ("tree proof", ("evidence",), command("tree proof {input} echo-rust")),
    ("tree verify", ("proof",), command("tree verify {input} --root {root}")),
    (
        "zk prove --proof",
        ("proof",),
        command("zk prove --evidence {evidence} --proof {input} " + ZK_PROVE),
    ),
    (
        "zk prove --evidence",
        ("evidence",),
        command("zk prove --evidence {input} --proof {proof} " + ZK_PROVE),
    ),
    (
        "zk verify",
        ("zk-proof",),
        command(
            "zk verify {input} --evidence {evidence} --nonce {nonce} --offline --no-cache "
            "--at {milan_at} --crs {work} --any-response"
        ),
    ),
)


@contextlib.contextmanager
def quiet() -> Iterator[tuple[io.StringIO, io.StringIO]]:
    """Capture what ``cairn`` prints."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        yield out, err


@contextlib.contextmanager
def no_zk_toolchain() -> Iterator[None]:
    """Point the zk commands at an empty circuits directory: they stop with a setup error
    (exit 64) where they would start node, so fuzzing never runs the prover."""
    previous = os.environ.get("CAIRN_CIRCUITS_DIR")
    with tempfile.TemporaryDirectory(prefix="cairn-fuzz-no-circuits-") as empty:
        os.environ["CAIRN_CIRCUITS_DIR"] = empty
        try:
            yield
        finally:
            if previous is None:
                os.environ.pop("CAIRN_CIRCUITS_DIR", None)
            else:
                os.environ["CAIRN_CIRCUITS_DIR"] = previous


def run_cli(argv: Sequence[str]) -> tuple[int, str]:
    """``cairn ARGV`` in-process: (exit code, stderr). Raises :class:`Crash` on a bug."""
    with quiet() as (_, err):
        try:
            code = main(list(argv))
        except BaseException as exc:  # main must map everything to an exit code
            raise Crash(f"{type(exc).__name__} escaped main(): {exc}"[:500]) from exc
    if code == INTERNAL:
        raise Crash(f"exit 70: {err.getvalue().strip()[:500]}")
    if code not in DOCUMENTED_EXIT_CODES:
        raise Crash(f"undocumented exit code {code}: {err.getvalue().strip()[:300]}")
    return code, err.getvalue()


def cli_targets(fixtures: Fixtures) -> tuple[Target, ...]:
    def target(name: str, kinds: tuple[str, ...], argv: Argv) -> Target:
        def run(data: bytes, work: Path) -> object:
            path = work / "input"
            path.write_bytes(data)
            code, _ = run_cli(argv(path, fixtures))
            return f"exit {code}"

        return Target(f"cairn {name}", kinds, run)

    return tuple(target(name, kinds, argv) for name, kinds, argv in CLI_COMMANDS)
