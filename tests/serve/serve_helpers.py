"""Helpers for the ``cairn serve`` tests: a broker's files, the broker as a real process, a guest
with a simulated SEV-SNP platform, a private PostgreSQL server, and an HTTP client.

Everything runs for real on loopback: ``cairn serve`` is started as its own process (the console
script of the test environment), the guest's evidence comes from the agent's simulated SEV-SNP
provider through the agent's own broker client, and PostgreSQL is Debian's server binary,
initialised in a temporary directory.
"""

from __future__ import annotations

import base64
import glob
import hashlib
import itertools
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc.jwk import ECKey

from cairn_agent.evidence import EvidenceSource
from cairn_agent.gpu.simulated import SimulatedGpuProvider
from cairn_agent.inventory import Inventory
from cairn_agent.tee.simulated_snp import SimulatedSnpProvider

BIN = Path(sys.executable).parent
CAIRN = BIN / "cairn"
CAIRN_AGENT = BIN / "cairn-agent"
SYSTEM = "/nix/store/0c1i4g9kq7bhm8lcjj8h4pyf1r6b6nh9-nixos-system-cairn-test-25.11"
ADMIN_TOKEN = "cairn-test-admin-token"
LISTENING = re.compile(r"listening on (https?://[0-9.]+:\d+)")


@dataclass
class BrokerFiles:
    directory: Path
    config: Path
    root: Path

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def write_broker(
    directory: Path,
    *,
    database: str,
    root_pem: bytes,
    result_lifetime: int = 120,
    nonce_lifetime: int = 120,
    key: Path | None = None,
    pool_size: int = 4,
    extra_roots: tuple[bytes, ...] = (),
    limits: str = "rate_limit_per_minute = 0\n",
) -> BrokerFiles:
    """A broker configuration trusting ``root_pem`` (a simulated ARK) and ``extra_roots`` (e.g. a
    simulated GPU root) with a fresh key; ``limits``: the ``[limits]`` table's lines (by default
    no per-client rate limit, since every test client is 127.0.0.1)."""
    directory.mkdir(parents=True, exist_ok=True)
    key_path = key or directory / "ear-es256.pem"
    if not key_path.exists():
        key_path.write_bytes(ECKey.generate_key("P-256").as_pem(private=True))
    root = directory / "simulated-root.pem"
    root.write_bytes(root_pem)
    roots = ["simulated-root.pem"]
    for number, pem in enumerate(extra_roots):
        (directory / f"simulated-root-{number}.pem").write_bytes(pem)
        roots.append(f"simulated-root-{number}.pem")
    (directory / "policy.toml").write_text("[evidence]\nrequire_tpm = false\n")
    digest = hashlib.sha256(ADMIN_TOKEN.encode()).hexdigest()
    config = directory / "serve.toml"
    config.write_text(
        f"""[listen]
host = "127.0.0.1"
port = 0

[database]
url = "{database}"
pool_size = {pool_size}

[signing]
key = "{key_path}"
issuer = "cairn-test-broker"
result_lifetime_seconds = {result_lifetime}

[attestation]
policy = "policy.toml"
trust_simulated_roots = {json.dumps(roots)}
nonce_lifetime_seconds = {nonce_lifetime}
offline = true

[admin]
token_sha256 = "{digest}"

[limits]
{limits}"""
    )
    return BrokerFiles(directory, config, root)


@dataclass
class Broker:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60, trust_env=False)


class _RoundRobin(httpx.BaseTransport):
    """Sends each request to the next replica in turn, as a load balancer without stickiness."""

    def __init__(self, urls: list[str], turn: Iterator[int], answered_by: list[str]) -> None:
        self._urls = urls
        self._turn = turn
        self._answered_by = answered_by
        self._inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = self._urls[next(self._turn) % len(self._urls)]
        self._answered_by.append(url)
        target = httpx.URL(url)
        request.url = request.url.copy_with(host=target.host, port=target.port)
        request.headers["Host"] = f"{target.host}:{target.port}"
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


@dataclass
class BalancedBroker(Broker):
    """Several replicas behind one "load balancer": every request of every client made here
    goes to the next replica in turn (so a challenge, its attest and the resource request land
    on different replicas); ``url`` is the first replica's, for a guest that names one URL;
    ``answered_by`` lists the replica each request went to, in order."""

    replicas: list[Broker] = field(default_factory=list)
    answered_by: list[str] = field(default_factory=list)
    _turn: Iterator[int] = field(default_factory=itertools.count)

    def client(self) -> httpx.Client:
        urls = [replica.url for replica in self.replicas]
        return httpx.Client(
            base_url=self.url,
            timeout=60,
            trust_env=False,
            transport=_RoundRobin(urls, self._turn, self.answered_by),
        )


@contextmanager
def running_replicas(files: BrokerFiles, count: int = 2) -> Iterator[BalancedBroker]:
    """``count`` ``cairn serve`` processes on one configuration (one shared database)."""
    with ExitStack() as stack:
        replicas = [
            stack.enter_context(running_broker(files, f"replica-{index}")) for index in range(count)
        ]
        first = replicas[0]
        yield BalancedBroker(first.url, first.process, first.log, replicas)


@contextmanager
def running_broker(files: BrokerFiles, name: str = "broker") -> Iterator[Broker]:
    """``cairn serve --config`` as a process; its URL once it listens; stopped with SIGTERM."""
    log = files.directory / f"{name}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(CAIRN), "serve", "--config", str(files.config)],
            stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        url = None
        while url is None:
            match = LISTENING.search(log.read_text(errors="replace"))
            if match:
                url = match.group(1)
            elif process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"cairn serve did not start:\n{log.read_text(errors='replace')}")
            else:
                time.sleep(0.05)
        yield Broker(url, process, log)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def put_resource(
    broker: Broker, files: BrokerFiles, name: str, secret: bytes, policy: dict[str, Any]
) -> None:
    with broker.client() as http:
        answer = http.put(
            f"/v1/admin/resources/{name}",
            json={"secret": base64.b64encode(secret).decode(), "policy": policy},
            headers=files.admin,
        )
    assert answer.status_code == 200, answer.text


@dataclass
class Guest:
    """A guest with a simulated SEV-SNP platform and no TPM: its evidence source and inventory."""

    provider: SimulatedSnpProvider
    source: EvidenceSource
    inventory: Inventory
    state: Path

    @property
    def root_pem(self) -> bytes:
        return self.provider.trust_root_pem()


def make_guest(
    directory: Path, state: Path | None = None, *, gpus: int = 0, **launch: Any
) -> Guest:
    """A guest whose chip state lives in ``state`` (shared by guests on the same chip), with
    ``gpus`` simulated H100s (their chain under ``directory/gpu``) when not 0."""
    directory.mkdir(parents=True, exist_ok=True)
    state = state or directory / "state"
    provider = SimulatedSnpProvider(state, "Genoa", **launch)
    system = directory / "current-system"
    if not system.is_symlink():
        system.symlink_to(SYSTEM)
    gpu = SimulatedGpuProvider(directory / "gpu", gpus) if gpus else None
    source = EvidenceSource(provider, None, (), "sha256", gpu=gpu)
    return Guest(provider, source, Inventory(system, None), state)


def write_agent_config(guest: Guest, path: Path) -> Path:
    """The agent's TOML for this guest (simulated SEV-SNP, no TPM), for ``cairn-agent``."""
    path.write_text(
        f"""[tee]
provider = "simulated-snp"
simulated_product = "Genoa"

[tpm]
enabled = false

[system]
path = "{guest.inventory.system_path}"

[state]
directory = "{guest.state}"
"""
    )
    return path


# --- PostgreSQL -----------------------------------------------------------------------------------


def _pg_bin(tool: str) -> str:
    found = shutil.which(tool) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{tool}"))), None
    )
    if found is None:
        pytest.fail(f"PostgreSQL's {tool} is missing: install Debian's postgresql (./dev setup db)")
    return found


@dataclass
class Postgres:
    url: str
    datadir: Path
    port: int
    _as_user: list[str]

    def _ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self._as_user, _pg_bin("pg_ctl"), "-D", str(self.datadir), *args],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.datadir} -c listen_addresses=127.0.0.1 "
            "-c max_connections=200 -c fsync=off"
        )
        done = self._ctl("-w", "-l", str(self.datadir / "server.log"), "-o", options, "start")
        assert done.returncode == 0, (
            f"{done.stdout}{done.stderr}{(self.datadir / 'server.log').read_text(errors='replace')}"
        )

    def stop(self) -> None:
        done = self._ctl("-w", "-m", "immediate", "stop")
        assert done.returncode == 0, done.stdout + done.stderr


def _free_port() -> int:
    import socket  # a helper's own need

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_postgres() -> Iterator[Postgres]:
    """A private PostgreSQL cluster on 127.0.0.1 (trust authentication), removed afterwards.

    PostgreSQL refuses to run as root; as root the cluster belongs to Debian's ``postgres`` user
    (created by the postgresql package) and lives in a directory that user can reach."""
    base = Path(tempfile.mkdtemp(prefix="cairn-pg-"))
    base.chmod(0o755)
    datadir = base / "data"
    datadir.mkdir()
    as_user: list[str] = []
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.fail("running as root, PostgreSQL needs the postgres user: install postgresql")
        os.chown(datadir, user.pw_uid, user.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    datadir.chmod(0o700)
    init = subprocess.run(
        [*as_user, _pg_bin("initdb"), "-D", str(datadir), "-U", "postgres", "--auth=trust",
         "-E", "UTF8", "--no-sync"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert init.returncode == 0, init.stdout + init.stderr
    port = _free_port()
    server = Postgres(f"postgresql://postgres@127.0.0.1:{port}/postgres", datadir, port, as_user)
    server.start()
    try:
        yield server
    finally:
        server._ctl("-w", "-m", "immediate", "stop")
        shutil.rmtree(base, ignore_errors=True)


def fresh_database(server: Postgres) -> str:
    """A new empty database on ``server``; its URL."""
    import psycopg  # only the PostgreSQL tests need the driver

    name = f"cairn_{secrets.token_hex(6)}"
    with psycopg.connect(server.url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return server.url.rsplit("/", 1)[0] + f"/{name}"
