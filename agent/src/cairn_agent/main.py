"""``cairn-agent``: serve evidence, export a simulated provider's trust root, or write a local
demo setup. Exit codes are sysexits.h values (:class:`~cairn_agent.errors.ExitCode`)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiohttp import web

from cairn_verifier.api import SHELLS, completion_script

from . import __version__
from .app import make_app
from .broker_client import add_broker_arguments, broker_state_key, secret_targets
from .config import AgentConfig, ConfigError, load_config
from .demo import DEMO_TEES, DemoPorts, init_demo
from .errors import ExitCode, StartupError
from .server import ListenError, serve
from .startup import build_state, open_gpu, open_provider, quiet_tss2_logging
from .state_key import snp_derived_state_key, write_key_file
from .tee.base import ProviderError
from .tee.derived_key import DerivedKeyRequest, RootKey, parse_fields
from .tee.simulated_ca import export_new_file

__all__ = ["build_state", "main"]  # build_state: re-exported for tests and scripts

log = logging.getLogger("cairn_agent")

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
EXIT_CODES = """exit codes:
  0   success (serve: stopped by SIGTERM or SIGINT)
  64  usage error: wrong command line, an output file that exists or cannot be written,
      an init-demo directory that is not empty
  69  a required device or service is unavailable at start-up: the TEE device, the TPM
      (unless tpm.required = false), the listening address
  70  internal error (a bug in cairn-agent: please report it)
  78  configuration error: the configuration file, or a file it names (system.path,
      services.manifest, a service key, the simulated state directory), is missing or invalid
  130 interrupted before serving (serve: SIGINT once serving exits 0)
"""


def _serve(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    quiet_tss2_logging()
    state = build_state(config)
    app = make_app(state, max_request_bytes=config.limits.max_request_bytes)

    def started(addresses: list[str]) -> None:
        log.info("cairn-agent %s listening on %s", __version__, ", ".join(addresses))

    try:
        asyncio.run(
            serve(
                app,
                config.listen.host,
                config.listen.port,
                started=started,
            )
        )
    except ListenError as exc:
        address = f"{config.listen.host}:{config.listen.port}"
        raise StartupError(
            f"cannot listen on {address}: {exc.strerror or exc} (listen.host and listen.port in "
            f"{args.config})",
            ExitCode.UNAVAILABLE,
        ) from exc
    except (web.GracefulExit, KeyboardInterrupt):
        log.info("cairn-agent stopped")
    return ExitCode.OK


def _export_root(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    if args.gpu:
        return _write_root(args, _simulated_gpu(config, args.config))
    _require_simulated(config, args.config)
    if config.tee.provider == "simulated-azure":  # its root is its simulated platform's
        platform = "simulated-tdx" if config.tee.simulated_platform == "tdx" else "simulated-snp"
        config = config.model_copy(
            update={"tee": config.tee.model_copy(update={"provider": platform})}
        )
    return _write_root(args, open_provider(config))


def _simulated_gpu(config: AgentConfig, path: Path) -> Any:
    if config.gpu.provider != "simulated":
        raise StartupError(
            f"gpu.provider is {config.gpu.provider!r} in {path}: only the simulated GPU has a "
            "root to export; real GPUs chain to NVIDIA's Device Identity CA, which verifiers pin",
            ExitCode.USAGE,
        )
    return open_gpu(config)


def _write_root(args: argparse.Namespace, provider: Any) -> int:
    pem: bytes = provider.trust_root_pem()
    what = f"the SIMULATED trust root of {provider.name} ({provider.trust_root_name})"
    if args.output == "-":  # the raw argument: `-o ./-` names a file called '-'
        sys.stdout.buffer.write(pem)
        sys.stdout.flush()
        print(f"wrote {what} to standard output", file=sys.stderr)
        return ExitCode.OK
    try:
        export_new_file(Path(args.output), pem, provider.trust_root_name)
    except ProviderError as exc:
        hint = f"; {exc.hint}" if exc.hint else ""
        raise StartupError(f"{exc.message}{hint}", ExitCode.USAGE) from exc
    print(f"wrote {what} to {args.output}", file=sys.stderr)
    return ExitCode.OK


def _require_simulated(config: AgentConfig, path: Path) -> None:
    if not config.tee.provider.startswith("simulated-"):
        raise StartupError(
            f"tee.provider is {config.tee.provider!r} in {path}: only a simulated provider "
            "(simulated-snp, simulated-tdx, simulated-azure) has a root to export; real evidence "
            "chains to AMD's or Intel's root, which verifiers already pin",
            ExitCode.USAGE,
        )


def _state_key(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    if args.source == "snp-derived":
        try:
            fields = parse_fields(args.fields)
        except ValueError as exc:
            raise StartupError(f"--fields: {exc}", ExitCode.USAGE) from exc
        try:
            request = DerivedKeyRequest(
                root_key=RootKey[args.root_key.upper()],
                fields=fields,
                vmpl=config.tee.vmpl if args.vmpl is None else args.vmpl,
                guest_svn=args.guest_svn,
                tcb_version=args.tcb_version,
            )
        except ProviderError as exc:
            raise StartupError(exc.message, ExitCode.USAGE) from exc
        key = snp_derived_state_key(config, request)
        what = f"an SNP-derived state key ({request.describe()})"
    else:
        targets = secret_targets(args)
        secrets = broker_state_key(config, args)
        key = secrets[args.resource]
        what = f"the state key {args.resource!r} from {args.broker}"
        for name, path in targets.items():
            write_key_file(path, secrets[name])
            print(f"wrote the secret {name!r} from {args.broker} to {path}", file=sys.stderr)
    write_key_file(args.output, key)
    print(f"wrote {what} to {args.output}", file=sys.stderr)
    return ExitCode.OK


def _u64(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer (decimal or 0x…)") from None
    if not 0 <= value < 1 << 64:
        raise argparse.ArgumentTypeError(f"{text!r} is not a u64")
    return value


def _init_demo(args: argparse.Namespace) -> int:
    ports = DemoPorts(agent=args.port, tpm=args.tpm_port)
    print(init_demo(args.directory, tee=args.tee, ports=ports))
    return ExitCode.OK


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65534:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1-65534)")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    """The command line; every option has help, and --log-level works before or after the
    command."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--log-level",
        type=str.upper,
        choices=LOG_LEVELS,
        default=argparse.SUPPRESS,
        help="how much to log to standard error (default: INFO)",
    )
    parser = argparse.ArgumentParser(
        prog="cairn-agent",
        description="Cairn attestation agent: serves TEE + TPM evidence bound to this VM's\n"
        "NixOS system and services (docs/agent.md). Give a command;\n"
        "`cairn-agent COMMAND --help` describes each.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"cairn-agent {__version__}")
    sub = parser.add_subparsers(
        dest="command", title="commands", metavar="COMMAND", help="what to do (one of these)"
    )

    serve_cmd = sub.add_parser(
        "serve",
        parents=[common],
        help="serve evidence over HTTP until stopped",
        description="Open the TEE provider and the TPM, verify the agent's own evidence, and "
        "serve the HTTP API (docs/agent.md) until SIGTERM or SIGINT.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve_cmd.add_argument(
        "--config", type=Path, required=True, metavar="FILE", help="the agent's TOML configuration"
    )
    serve_cmd.set_defaults(handler=_serve)

    export = sub.add_parser(
        "export-root",
        parents=[common],
        help="write a simulated provider's trust root (PEM)",
        description="Write the root certificate a simulated provider signs with, for "
        "`cairn verify … --trust-simulated-root FILE`. Real providers have none to export.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    export.add_argument(
        "--config", type=Path, required=True, metavar="FILE", help="the agent's TOML configuration"
    )
    export.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="FILE",
        help="where to write the PEM; '-' for standard output (an existing file is never "
        "overwritten)",
    )
    export.add_argument(
        "--gpu",
        action="store_true",
        help='write the simulated GPU\'s root (gpu.provider = "simulated") instead of the '
        "simulated TEE's",
    )
    export.set_defaults(handler=_export_root)

    _add_state_key(sub, common)

    demo = sub.add_parser(
        "init-demo",
        parents=[common],
        help="write a local demo setup (config, keys, manifest) into a new directory",
        description="Write everything a local run by hand needs into DIR (new or empty): "
        "agent.toml with a simulated TEE and a swtpm TCTI, a stand-in for /run/current-system, "
        "the services manifest and the secp256k1 keys of echo-cpp and echo-rust. Prints the "
        "commands that run it (docs/agent.md).",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument("directory", type=Path, metavar="DIR", help="a new or empty directory")
    demo.add_argument(
        "--tee",
        choices=DEMO_TEES,
        default="snp",
        help="simulated platform: SEV-SNP or TDX, or Azure's paravisor over either on the swtpm "
        "(azure-snp, azure-tdx; docs/cloud.md) (default: snp)",
    )
    demo.add_argument(
        "--port",
        type=_port,
        default=8080,
        help="port the agent listens on, on 127.0.0.1 (default: 8080)",
    )
    demo.add_argument(
        "--tpm-port",
        type=_port,
        default=2321,
        help="swtpm's server port; its control port is the next one (default: 2321)",
    )
    demo.set_defaults(handler=_init_demo)

    completion = sub.add_parser(
        "completion",
        parents=[common],
        help="print a shell completion script (bash, zsh or fish)",
        description="Print a completion script for cairn-agent, generated from its own command "
        "line (installed like cairn's: `cairn help completion`).",
    )
    completion.add_argument("shell", choices=SHELLS, help="the shell to complete in")
    completion.set_defaults(handler=lambda args: _completion(parser, args.shell))
    return parser


def _add_state_key(sub: Any, common: argparse.ArgumentParser) -> None:
    state_key = sub.add_parser(
        "state-key",
        parents=[common],
        help="write the state volume's key from the AMD-SP or the key broker",
        description="Obtain the key of the encrypted state volume from a source the host cannot "
        "read and write it to a new file (mode 0600) for cairn-state-init --key-file: "
        "snp-derived asks the AMD Secure Processor for a key bound to the selected launch "
        "fields (/dev/sev-guest, or the simulated firmware); broker attests to a `cairn serve` "
        "and fetches the resource it releases to this guest (docs/agent.md).",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    state_key.add_argument(
        "--config", type=Path, required=True, metavar="FILE", help="the agent's TOML configuration"
    )
    state_key.add_argument(
        "--source",
        choices=("snp-derived", "broker"),
        required=True,
        help="where the key comes from",
    )
    state_key.add_argument(
        "-o", "--output", type=Path, required=True, metavar="FILE",
        help="the key file to create (never overwritten)",
    )  # fmt: skip
    derived = state_key.add_argument_group("snp-derived")
    derived.add_argument(
        "--fields",
        default="measurement,guest-policy",
        help="launch fields the key is bound to, comma separated: guest-policy, image-id, "
        "family-id, measurement, guest-svn, tcb-version (default: measurement,guest-policy)",
    )
    derived.add_argument(
        "--root-key", choices=("vcek", "vmrk"), default="vcek", help="root key (default: vcek)"
    )
    derived.add_argument(
        "--vmpl", type=int, choices=range(4), default=None, help="VMPL (default: tee.vmpl)"
    )
    derived.add_argument(
        "--guest-svn", type=_u64, default=0, help="guest SVN mixed in with guest-svn (default 0)"
    )
    derived.add_argument(
        "--tcb-version", type=_u64, default=0,
        help="TCB version (u64, e.g. 0x…) mixed in with tcb-version (default 0)",
    )  # fmt: skip
    add_broker_arguments(state_key.add_argument_group("broker"))
    state_key.set_defaults(handler=_state_key)


def _completion(parser: argparse.ArgumentParser, shell: str) -> int:
    print(completion_script(parser, "cairn-agent", shell), end="")
    return ExitCode.OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``cairn-agent``; return its exit code (see EXIT_CODES)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse printed the usage and the problem (or --help)
        return ExitCode.OK if exc.code in (0, None) else ExitCode.USAGE
    if getattr(args, "handler", None) is None:
        parser.print_help(sys.stderr)
        print(
            "\ncairn-agent: error: a command is required (serve, export-root, state-key, "
            "init-demo or completion)",
            file=sys.stderr,
        )
        return ExitCode.USAGE
    level = getattr(args, "log_level", "INFO")
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.handler(args))
    except ConfigError as exc:
        return _fail(f"configuration error: {exc}", ExitCode.CONFIG)
    except StartupError as exc:
        return _fail(exc.message, exc.code)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except Exception as exc:  # a bug: say so plainly; the traceback at --log-level DEBUG
        if level == "DEBUG":
            traceback.print_exc()
        return _fail(
            f"internal error (a bug in cairn-agent, please report it): {type(exc).__name__}: "
            f"{exc}" + ("" if level == "DEBUG" else " (--log-level DEBUG shows the traceback)"),
            ExitCode.INTERNAL,
        )


def _fail(message: str, code: int) -> int:
    """One line on standard error (never a traceback); the exit code."""
    sys.stderr.flush()
    print(f"cairn-agent: error: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
