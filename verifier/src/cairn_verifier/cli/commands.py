"""Every ``cairn`` subcommand, one row each, loaded only when it is used.

The argument tree is built from :data:`COMMANDS` without importing any command's module: each
row names the command, its one-line help and the function that configures its parser
(``"module:function"`` inside ``cairn_verifier.cli``). argparse sees the parser of a command
only when the command line selects it (or ``--help`` of it, ``cairn help COMMAND…`` and
``cairn completion``, which walk the whole tree), and the module is imported then. So
``cairn verify snp`` imports the SEV-SNP pipeline and nothing of TDX, the evidence bundle, zk,
httpx or pydantic's models (``tests/verifier/cli/test_import_budget.py`` keeps it so).

To add a subcommand: one row here, e.g.
``Command("verify sgx", "verify an Intel SGX quote", "sgx_cmd:configure_verify")``,
and in ``cli/sgx_cmd.py`` a ``configure_verify(parser)`` that sets the description, adds the
arguments and ``parser.set_defaults(func=handler)``. Import what the handler needs inside it
(or at the top of a module only that command loads): the configure function runs for
``--help`` and completion too.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ..records import Record

if TYPE_CHECKING:
    from _collections_abc import dict_items, dict_values

Configure = Callable[[argparse.ArgumentParser], None]

ZK_SETUP_NOTE = (
    "needs Node.js >= 18 and `npm ci --prefix circuits` in the Cairn checkout cairn runs from "
    "(or $CAIRN_CIRCUITS_DIR=/path/to/circuits), evidence with REPORT_DATA v2, and a CRS (the "
    "Aztec Ignition CRS, `cairn zk prove|verify --crs DIR`; see docs/zk.md)"
)
"""What ``cairn zk`` needs (``zk.circuits.ENV_VAR`` names the variable)."""

EPILOG = """exit codes:
  0 verified            1 content mismatch      2 signature invalid
  3 chain untrusted, expired or revoked         4 policy rejection
  5 collateral unavailable                      6 evidence unavailable (agent)
  10 malformed input                            64 usage or setup error
  70 internal error (please report it)          130 interrupted, 141 closed pipe

`cairn help TOPIC` explains exit-codes, policy, evidence, snp, tdx, json and more;
`cairn completion bash|zsh|fish` prints a shell completion script."""


class Group(Record):
    """A command that only holds subcommands (``cairn verify KIND``)."""

    name: str
    help: str
    description: str
    metavar: str
    dest: str
    epilog: str | None

    __slots__ = ("description", "dest", "epilog", "help", "metavar", "name")

    def __init__(  # noqa: PLR0917
        self,
        name: str,
        help: str,
        description: str,
        metavar: str,
        dest: str,
        epilog: str | None = None,
    ) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "help", help)
        object.__setattr__(self, "description", description)
        object.__setattr__(self, "metavar", metavar)
        object.__setattr__(self, "dest", dest)
        object.__setattr__(self, "epilog", epilog)


class Command(Record):
    """A runnable (sub)command: its words, one-line help and ``"module:function"`` configure."""

    words: str
    help: str
    configure: str

    __slots__ = ("configure", "help", "words")

    def __init__(self, words: str, help: str, configure: str) -> None:
        object.__setattr__(self, "words", words)
        object.__setattr__(self, "help", help)
        object.__setattr__(self, "configure", configure)

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(self.words.split())


GROUPS: tuple[Group, ...] = (
    Group(
        "show",
        "decode and print evidence without verifying it",
        "Decode an SEV-SNP report, a TDX quote, NVIDIA GPU evidence, a Cairn evidence bundle or "
        "an event log and print every field. Nothing is verified: use `cairn verify` for that.",
        "KIND",
        "what",
    ),
    Group(
        "verify",
        "verify evidence",
        "Verify an SEV-SNP report, a TDX quote, NVIDIA GPU evidence, Azure vTPM evidence or a\n"
        "Cairn evidence bundle; every check is printed as PASS, FAIL or SKIP and the exit code\n"
        "says which category failed.",
        "KIND",
        "what",
        EPILOG,
    ),
    Group(
        "tree",
        "service-tree inclusion proofs",
        "Prove that a service is a leaf of the service tree an evidence bundle attests (`tree "
        "proof`), and check such a proof against a tree root (`tree verify`).",
        "ACTION",
        "action",
    ),
    Group(
        "collateral",
        "export/import offline collateral bundles",
        "Carry collateral to verifiers without network access: `export` writes a bundle, "
        "`import` loads collateral into the local cache.",
        "ACTION",
        "action",
    ),
    Group(
        "zk",
        "zero-knowledge proofs that some attested service signed a response",
        "Prove, without saying which, that a service of an attested VM signed an echo response, "
        f"and verify such proofs. {ZK_SETUP_NOTE}.",
        "ACTION",
        "action",
    ),
)

# One row per command, in the order `cairn --help` and `cairn GROUP --help` list them.
COMMANDS: tuple[Command, ...] = (
    Command("show snp", "decode an SEV-SNP attestation report", "snp_cmd:configure_show"),
    Command("show tdx", "decode an Intel TDX DCAP quote", "tdx_cmd:configure_show"),
    Command("show gpu", "decode NVIDIA GPU / NVSwitch evidence", "gpu_cmd:configure_show"),
    Command("show evidence", "decode a Cairn evidence bundle", "show_evidence_cmd:configure"),
    Command(
        "show eventlog",
        "decode and replay a TPM event log, TDX CCEL or dstack event log",
        "show_eventlog_cmd:configure",
    ),
    Command("verify snp", "verify an SEV-SNP attestation report", "snp_cmd:configure_verify"),
    Command("verify tdx", "verify an Intel TDX DCAP quote", "tdx_cmd:configure_verify"),
    Command("verify gpu", "verify NVIDIA GPU / NVSwitch evidence", "gpu_cmd:configure_verify"),
    Command(
        "verify azure",
        "verify an Azure confidential VM's vTPM evidence (SEV-SNP or TDX)",
        "azure_cmd:configure",
    ),
    Command(
        "verify evidence",
        "verify a Cairn evidence bundle (file) or a live agent (URL)",
        "evidence_cmd:configure_verify",
    ),
    Command(
        "verify response",
        "check the signature on an echo service's response",
        "response_cmd:configure",
    ),
    Command(
        "tree proof",
        "prove that a service is in an evidence bundle's tree",
        "evidence_cmd:configure_tree_proof",
    ),
    Command(
        "tree verify",
        "check a service inclusion proof against a tree root",
        "evidence_cmd:configure_tree_verify",
    ),
    Command(
        "collateral export",
        "write a bundle with what the given evidence needs, or with local files",
        "collateral_cmd:configure_export",
    ),
    Command(
        "collateral import",
        "load collateral into the local collateral cache",
        "collateral_cmd:configure_import",
    ),
    Command(
        "reference-values",
        "compute reference measurements: SEV-SNP, TDX (--tdx) or vTPM PCRs of a UKI (--uki)",
        "reference_cmd:configure",
    ),
    Command(
        "zk prove",
        "prove that a service of the evidence signed a response",
        "zk_cmd:configure_prove",
    ),
    Command("zk verify", "verify a membership proof against evidence", "zk_cmd:configure_verify"),
    Command(
        "zk dev-crs", "write the INSECURE development CRS (tests only)", "zk_cmd:configure_dev_crs"
    ),
    Command("serve", "run the attestation verifier and key broker service", "serve_cmd:configure"),
    Command("help", "explain a topic or a command", "help_cmd:configure"),
    Command(
        "completion",
        "print a shell completion script (bash, zsh or fish)",
        "completion_cmd:configure",
    ),
)


def load_configure(target: str) -> Configure:
    """The configure function a row names (``"module:function"`` in ``cairn_verifier.cli``)."""
    module_name, _, function = target.partition(":")
    module = importlib.import_module(f"{__package__}.{module_name}")
    configure: Configure = getattr(module, function)
    return configure


class LazyParsers(dict[str, argparse.ArgumentParser]):
    """The subparsers of a command; a deferred one is configured on first access.

    argparse looks a selected command up with ``[]``; ``cairn help`` and completion walk
    ``items()``/``values()``. Membership tests and iteration over the names (argparse's
    "invalid choice" check and message) load nothing.
    """

    def __init__(self) -> None:
        super().__init__()
        self._pending: dict[str, str] = {}

    def defer(self, name: str, target: str) -> None:
        self._pending[name] = target

    def _load(self, name: str) -> None:
        target = self._pending.pop(name, None)
        if target is not None:
            load_configure(target)(dict.__getitem__(self, name))

    def __getitem__(self, name: str) -> argparse.ArgumentParser:
        self._load(name)
        return dict.__getitem__(self, name)

    def get(self, name: str, default: Any = None) -> Any:
        try:
            return self[name]
        except KeyError:
            return default

    def values(self) -> dict_values[str, argparse.ArgumentParser]:
        for name in list(self._pending):
            self._load(name)
        return dict.values(self)

    def items(self) -> dict_items[str, argparse.ArgumentParser]:
        for name in list(self._pending):
            self._load(name)
        return dict.items(self)


class LazySubcommands(argparse._SubParsersAction):  # type: ignore[type-arg]
    """``add_subparsers(action=LazySubcommands)``: subcommands whose parsers load on use."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._name_parser_map = self.choices = LazyParsers()

    def add_deferred(self, name: str, help: str, target: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = self.add_parser(name, help=help)
        choices = self._name_parser_map
        assert isinstance(choices, LazyParsers)
        choices.defer(name, target)
        return parser


def add_commands(
    commands: argparse._SubParsersAction,  # type: ignore[type-arg]
    rows: Iterable[Command] = COMMANDS,
    groups: Iterable[Group] = GROUPS,
) -> None:
    """Add ``rows`` under ``commands`` (the root's subparsers), each group created once.

    Under a :class:`LazySubcommands` action a command is configured on first use; under a plain
    argparse one (a program embedding a few of cairn's commands), at once.
    """
    by_name = {group.name: group for group in groups}
    group_actions: dict[str, argparse._SubParsersAction] = {}  # type: ignore[type-arg]
    for row in rows:
        *parents, name = row.path
        target = commands
        if parents:
            (group_name,) = parents  # one level of groups, as `cairn verify snp`
            if group_name not in group_actions:
                group = by_name[group_name]
                group_parser = commands.add_parser(
                    group.name,
                    help=group.help,
                    description=group.description,
                    epilog=group.epilog,
                    formatter_class=argparse.RawDescriptionHelpFormatter
                    if group.epilog
                    else argparse.HelpFormatter,
                )
                group_actions[group_name] = group_parser.add_subparsers(
                    dest=group.dest,
                    required=True,
                    metavar=group.metavar,
                    action=LazySubcommands,
                )
            target = group_actions[group_name]
        if isinstance(target, LazySubcommands):
            target.add_deferred(name, row.help, row.configure)
        else:
            load_configure(row.configure)(target.add_parser(name, help=row.help))


def register_module(commands: argparse._SubParsersAction, module: str) -> None:  # type: ignore[type-arg]
    """Add the commands whose configure functions are in ``module`` (e.g. ``"zk_cmd"``) to
    ``commands``, configured at once: what a module's ``register`` does."""
    add_commands(commands, [row for row in COMMANDS if row.configure.startswith(f"{module}:")])


def load_all(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Configure every deferred parser under ``parser`` (what walking the whole tree needs)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                load_all(child)
    return parser
