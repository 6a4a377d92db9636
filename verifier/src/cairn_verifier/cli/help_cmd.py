"""``cairn help [TOPIC | COMMAND…]``: concise explanations that point to the documentation."""

from __future__ import annotations

import argparse

from ..errors import ExitCode, UsageError


def _exit_codes() -> str:
    lines = ['Exit codes of every cairn command (README, "Exit codes", is the contract):', ""]
    lines += [f"  {int(code):>3}  {code.meaning}" for code in ExitCode]
    lines += [
        "  130  interrupted (Ctrl-C)",
        "  141  output cut short by a closed pipe (e.g. `| head`)",
        "",
        "When several checks fail, the code is that of the first failure in pipeline order; every",
        "failure is still listed. Errors before the pipeline (unreadable input, bad option) print",
        "`error: …` with a `what to do:` hint.",
    ]
    return "\n".join(lines)


TOPICS: dict[str, tuple[str, str]] = {
    "exit-codes": ("what each exit code means", ""),
    "json": (
        "the --json output of every command",
        """--json prints exactly one JSON document on standard output, for every command:

  verify …      {"kind", "subject", "verified", "exit_code", "result", "verified_at",
                 "checks": [{"name", "component", "outcome", "summary", …}], "claims",
                 "warnings"}
  show …        {"kind", "source", "container", "verified": false, "note", "fields",
                 "certificates": [{"subject", "issuer", "serial", "not_before", "not_after",
                 "sha256"}]}
  other         a small document describing what was written or checked
  any error     {"verified": false, "exit_code", "result",
                 "error": {"type", "message", "component"?, "hint"?, "usage"?}}
                (usage errors too: exit 64, "type": "UsageError")

verify snp|tdx with several inputs (files, a directory, or --jsonl on stdin) print one compact
document per line and input, each with "input"; the exit code is that of the first input that
did not verify (0 if all did).

Conventions: hex is lowercase without 0x; times are UTC ISO 8601 without fractions
(2025-06-19T10:32:27Z); check names are kebab-case. Notes and progress go to standard error.
`cairn tree proof` without -o prints the proof document itself (JSON in any case).""",
    ),
    "evidence": (
        "Cairn evidence bundles, the agent and service proofs",
        """A cairn-agent answers GET /v1/evidence?nonce=HEX with an evidence bundle: the TEE report
or quote, a TPM quote and claims (system, services, tree root) bound into REPORT_DATA.

  cairn verify evidence 127.0.0.1:8080 -o evidence.json --json  # fetch, keep, verify
  cairn show evidence evidence.json                             # decode only
  cairn tree proof evidence.json echo-rust -o proof.json        # service inclusion proof
  cairn tree verify proof.json --root TREE_ROOT                 # TREE_ROOT: claims.tree_root

A bundle file needs --nonce (the nonce it was requested with). See docs/agent.md and
docs/spec/evidence-bundle.md.""",
    ),
    "policy": (
        "what a policy file pins, and where to read more",
        """--policy FILE (TOML or JSON) says which guests you accept. Without one, defaults apply
and nothing about YOUR guest is pinned: measurement and REPORT_DATA checks are skipped.

  [snp]       measurements, minimum_tcb, allow_debug, allowed_vmpls, require_crl, …
  [tdx]       mr_td, rtmr0-3, accepted_tcb_statuses, allow_debug, require_crl, …
  [evidence]  required_services, services, system_store_paths, pcrs, require_tpm, …

Unknown keys are refused (exit 10). See docs/policy.md for every key and a production example.""",
    ),
    "snp": (
        "verifying AMD SEV-SNP reports",
        """cairn verify snp REPORT [--certs DIR] [--policy FILE] [--report-data HEX] [--offline]
checks the VCEK/VLEK chain to AMD's pinned ARK, the report signature, TCB and chip binding,
validity, revocation (AMD CRL) and the policy. Without --certs the VCEK comes from AMD KDS
(cached). `cairn show snp REPORT` decodes every field without verifying.
`cairn reference-values` computes launch measurements (needs sev-snp-measure).
See docs/snp.md.""",
    ),
    "tdx": (
        "verifying Intel TDX quotes",
        """cairn verify tdx QUOTE [--collateral FILE|DIR] [--policy FILE] [--report-data HEX]
checks the quote as Intel's QVL does (PCK chain to the pinned Intel SGX Root CA, QE report,
quote signature, TCB info, QE identity, CRLs, TCB status), then the policy. Collateral comes
from Intel PCS (or --pccs, cached) or a local file. `cairn show tdx QUOTE` decodes every field
and summarises the PCK certificates. See docs/tdx.md.""",
    ),
    "gpu": (
        "verifying NVIDIA GPU and NVSwitch evidence",
        """cairn verify gpu EVIDENCE [--certs CHAIN] [--nonce HEX] [--collateral BUNDLE]
checks every device: the SPDM report's structure and ECDSA P-384 signature, the chain to the
pinned NVIDIA Device Identity CA, the nonce, the FWID, OCSP/CRL revocation, the RIMs (XML
signature, CoRIM chain as of their fetch time) and the golden measurements, then [gpu].
EVIDENCE: NVIDIA's SDK JSON, an NRAS request, go-nvattest-tools or trustee JSON, a PGAE
envelope, or one bare report (raw, hex) with --certs. `cairn show gpu EVIDENCE` decodes it;
`cairn collateral export --gpu EVIDENCE` bundles RIMs and OCSP answers. See docs/gpu.md.""",
    ),
    "offline": (
        "verifying without network access",
        """Where the network is:    cairn collateral export --snp REPORT --tdx QUOTE \\
                             --gpu EVIDENCE -o bundle.json
Where it is not:         cairn verify snp REPORT --collateral bundle.json --offline
                     or  cairn collateral import bundle.json; cairn verify snp REPORT --offline
--offline never touches the network; --at TIME verifies as of another time (old evidence,
reproducible runs). See docs/snp.md ("Collateral") and docs/tdx.md.""",
    ),
    "completion": (
        "shell completion for bash, zsh and fish",
        """cairn completion bash > ~/.local/share/bash-completion/completions/cairn
cairn completion zsh  > ~/.zfunc/_cairn     # with fpath+=(~/.zfunc) before compinit
cairn completion fish > ~/.config/fish/completions/cairn.fish
Or for the current shell only:  source <(cairn completion bash)""",
    ),
}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Print a concise explanation of TOPIC, or the help of a command "
        "(`cairn help verify snp`). Without arguments, list the topics."
    )
    parser.add_argument(
        "topic", nargs="*", metavar="TOPIC", help=f"one of: {', '.join(TOPICS)}; or a command"
    )
    parser.set_defaults(func=help_command)


def topic_text(name: str) -> str:
    return _exit_codes() if name == "exit-codes" else TOPICS[name][1]


def _index() -> str:
    width = max(len(name) for name in TOPICS)
    lines = ["cairn help TOPIC, with TOPIC one of:", ""]
    lines += [f"  {name:<{width}}  {summary}" for name, (summary, _) in TOPICS.items()]
    lines += ["", "cairn help COMMAND… (e.g. `cairn help verify snp`) prints a command's help."]
    return "\n".join(lines)


def _command_parser(
    parser: argparse.ArgumentParser, words: list[str]
) -> argparse.ArgumentParser | None:
    for word in words:
        children = next(
            (a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction)),
            None,
        )
        if not children or word not in children:
            return None
        parser = children[word]
    return parser


def help_command(args: argparse.Namespace) -> int:
    words: list[str] = args.topic
    if not words:
        print(_index())
        return 0
    if len(words) == 1 and words[0] in TOPICS:
        print(topic_text(words[0]))
        return 0
    parser = _command_parser(args.root_parser, words)
    if parser is None:
        raise UsageError(
            f"no help topic or command {' '.join(words)!r}",
            hint=f"topics: {', '.join(TOPICS)}; commands: see `cairn --help`",
        )
    print(parser.format_help(), end="")
    return 0
