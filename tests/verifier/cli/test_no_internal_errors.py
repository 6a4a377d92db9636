"""Property: no input file makes ``cairn`` exit 70 (issue 11, "Evidence that it works").

Every subcommand that reads a file gets mutated real inputs (reports, quotes, certificates,
CRLs, collateral, policies from docs/policy.md, an evidence bundle with a real swtpm quote,
service proofs, zk proof documents) and generated JSON, TOML and binary, in-process through
``cairn_verifier.cli.main``. Whatever the input, the exit code is a documented one other than 70
and no exception escapes. ``./dev fuzz`` runs the same targets for longer (tests/fuzz).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fakes.swtpm import running_swtpm
from fuzz import corpus
from fuzz.corpus import Corpus, TpmQuoteParts
from fuzz.mutate import mutate
from fuzz.targets import CLI_COMMANDS, Crash, Fixtures, no_zk_toolchain, run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

KNOWN_KEYS = (
    "snp",
    "tdx",
    "evidence",
    "format",
    "version",
    "measurements",
    "allow_debug",
    "require_tpm",
    "minimum_tcb",
    "snp",
    "allowed_vmpls",
    "pcrs",
    "sha256",
    "7",
    "services",
    "required_services",
    "store_paths",
    "public_keys",
    "report_data",
    "accepted_tcb_statuses",
    "proof",
    "root",
    "service",
    "name",
    "store_path",
    "public_key",
    "entries",
    "namespace",
    "key",
    "data_b64",
    "fetched_at",
    "expires_at",
    "created_at",
    "tcb_info",
    "qe_identity",
    "pck_crl",
    "tee",
    "claims",
    "tpm",
    "kind",
    "report",
    "certificates",
    "inputs",
    "public_inputs",
    "depth",
    "allow_console",
    "vm_unique_ids",
    "user_data",
    "HCLAkPub",
    "vm-configuration",
    "tpm_quote",
    "hcl_report",
)
KNOWN_STRINGS = (
    "cairn-evidence",
    "cairn-service-proof",
    "cairn-collateral-bundle",
    "cairn-reference-values",
    "cairn-zk-proof",
    "sev-snp",
    "tdx",
    "UpToDate",
    "yes",
    "0x",
    "",
    "00" * 32,
    "ab" * 48,
    corpus.SYSTEM,
    "2025-06-19T10:32:27Z",
    "echo-rust",
    "inclusion",
)


@dataclass(frozen=True)
class World:
    corpus: Corpus
    fixtures: Fixtures
    others: tuple[bytes, ...]


@pytest.fixture(scope="module")
def world(testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    work = tmp_path_factory.mktemp("no-internal-errors")
    with running_swtpm(work / "tpm") as tpm:
        ak = tpm.create_key("ak", "ecc256:ecdsa-sha256:null")
        quote = tpm.quote(ak, "sha256:0,1,2,7", corpus.NONCE)
    parts = TpmQuoteParts(quote.attest, quote.signature, quote.ak_public, quote.pcr_values)
    seeds = corpus.build(testdata, parts)
    fixtures = Fixtures.write(seeds, work / "fixtures")
    with no_zk_toolchain():
        yield World(seeds, fixtures, tuple(data for _, data in seeds.all()))


scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(KNOWN_STRINGS)
)
keys = st.sampled_from(KNOWN_KEYS) | st.text(max_size=8)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4),
    max_leaves=20,
)


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string (JSON escapes are TOML escapes)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value if v is not None) + "]"
    if isinstance(value, dict):
        items = (f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items() if v is not None)
        return "{ " + ", ".join(items) + " }"
    return '""'


@st.composite
def toml_documents(draw: st.DrawFn) -> bytes:
    sections = draw(
        st.dictionaries(
            st.sampled_from(
                ("snp", "tdx", "azure", "evidence", "evidence.pcrs.sha256", "snp.minimum_tcb")
            )
            | keys,
            st.dictionaries(keys, json_values, max_size=5),
            max_size=3,
        )
    )
    lines = []
    for section, table in sections.items():
        header = ".".join(json.dumps(part) for part in section.split(".")) if section else '""'
        lines.append(f"[{header}]")
        lines += [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in table.items() if v is not None]
    return ("\n".join(lines) + "\n").encode()


json_documents = st.dictionaries(keys, json_values, max_size=6).map(
    lambda doc: json.dumps(doc).encode()
)


@st.composite
def cli_inputs(draw: st.DrawFn, world: World) -> tuple[str, list[str], bytes]:
    name, kinds, argv = draw(st.sampled_from(CLI_COMMANDS))
    source = draw(st.sampled_from(("mutated", "mutated", "mutated", "json", "toml", "binary")))
    if source == "mutated":
        seeds = [data for kind in kinds for _, data in world.corpus.of(kind)]
        seed = draw(st.sampled_from(seeds))
        rng = draw(st.randoms(use_true_random=False))
        content = mutate(seed, rng, world.others)
    elif source == "json":
        content = draw(json_documents)
    elif source == "toml":
        content = draw(toml_documents())
    else:
        content = draw(st.binary(max_size=4096))
    path = world.fixtures.work / "input"
    return name, argv(path, world.fixtures), content


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_no_input_file_makes_the_cli_exit_70(world: World, data: st.DataObject) -> None:
    name, argv, content = data.draw(cli_inputs(world), label="input")
    (world.fixtures.work / "input").write_bytes(content)
    try:
        run_cli(argv)
    except Crash as crash:
        pytest.fail(f"cairn {name}: {crash}")


@pytest.mark.parametrize(("name", "kinds", "argv"), CLI_COMMANDS, ids=[c[0] for c in CLI_COMMANDS])
def test_every_seed_as_is(world: World, name: str, kinds: tuple[str, ...], argv: object) -> None:
    """The unmutated seeds through every command: real inputs are never an internal error, and
    each command reaches its real work (not only its input checks) for at least one seed."""
    codes = []
    for kind in kinds:
        for seed_name, seed in world.corpus.of(kind):
            path = world.fixtures.work / "input"
            path.write_bytes(seed)
            try:
                code, err = run_cli(argv(path, world.fixtures))  # type: ignore[operator]
            except Crash as crash:
                pytest.fail(f"cairn {name} on {seed_name}: {crash}")
            codes.append((seed_name, code, err.strip()[-200:]))
    assert any(code != 10 for _, code, _ in codes), codes


def test_mutation_is_reproducible(world: World) -> None:
    seed = world.corpus.first("evidence")

    def run() -> list[bytes]:
        rng = random.Random(7)
        return [mutate(seed, rng, world.others) for _ in range(20)]

    first = run()
    assert first == run()
    assert len(set(first)) > 1 and seed not in first[:1]
