"""``cairn serve``: build the broker from its configuration and serve it; ``cairn serve audit
verify`` checks the audit log's hash chain; ``cairn serve keygen`` writes a signing key.

Imported only when one of these commands runs (``cli/serve_cmd.py`` loads it by name), so that
``cairn --version`` and every other command never import aiohttp, joserfc or a database driver.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import ssl
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from aiohttp import web
from joserfc.jwk import ECKey

from ..cli.common import load_simulated_roots
from ..collateral.http import HttpFetcher
from ..errors import MalformedInputError, SetupError
from ..input_files import read_input_file
from ..policy_document import load_policy
from ..snp.kds import KdsClient
from ..snp.reference_values import merge_into, read_reference_values
from ..tdx.pcs import PcsClient
from .app import Broker, make_app
from .audit import AuditChainError, verify_chain
from .collateral import DatabaseCollateralCache
from .config import ServeConfig, load_serve_config
from .problems import ProblemRunner
from .store import DatabaseUnavailableError, Store, StoreError

log = logging.getLogger("cairn.serve")
MAX_KEY_BYTES = 16 * 1024


def appraisal_policy_id(config: ServeConfig) -> str:
    """``cairn-policy:sha256:…`` over the appraisal inputs: the policy file, the reference values
    and the trusted simulated roots, each length-prefixed (absent: empty)."""
    digest = hashlib.sha256(b"cairn appraisal policy v1")
    attestation = config.attestation
    for path in (
        attestation.policy,
        attestation.reference_values,
        *attestation.trust_simulated_roots,
    ):
        data = read_input_file(path, "appraisal input") if path is not None else b""
        digest.update(len(data).to_bytes(8, "big") + data)
    return f"cairn-policy:sha256:{digest.hexdigest()}"


def load_signing_key(path: Path, *, setting: str = "signing.key", private: bool = True) -> ECKey:
    """A P-256 key from PEM: private for ``signing.key``, private or public for
    ``signing.verification_keys``."""
    kind = "private key" if private else "key"
    data = read_input_file(path, "EAR signing key", limit=MAX_KEY_BYTES)
    try:
        key = ECKey.import_key(data)
    except Exception as exc:
        raise MalformedInputError(
            f"{setting} {path}: not an EC {kind} in PEM ({type(exc).__name__})",
            component="serve config",
            hint="make one with `cairn serve keygen -o FILE`",
        ) from None
    if key.curve_name != "P-256" or (private and not key.is_private):
        raise MalformedInputError(
            f"{setting} {path}: an ES256 key is a P-256 {kind}",
            component="serve config",
            hint="make one with `cairn serve keygen -o FILE`",
        )
    return key


def load_verification_keys(config: ServeConfig, signing: ECKey) -> tuple[ECKey, ...]:
    """The rotation's earlier keys, each once and none the signing key."""
    kids = {signing.thumbprint()}
    keys = []
    for path in config.signing.verification_keys:
        key = load_signing_key(path, setting="signing.verification_keys", private=False)
        if key.thumbprint() in kids:
            raise MalformedInputError(
                f"signing.verification_keys {path}: the same key as signing.key or an earlier "
                "entry (kid " + key.thumbprint() + ")",
                component="serve config",
                hint="list each retired key once, and never the signing key",
            )
        kids.add(key.thumbprint())
        keys.append(key)
    return tuple(keys)


def open_store(config: ServeConfig) -> Store:
    try:
        store = Store(config.database.url, pool_size=config.database.pool_size)
        store.migrate()
    except StoreError as exc:
        raise SetupError(str(exc), component="database") from None
    except DatabaseUnavailableError as exc:
        raise SetupError(
            f"the database is unavailable: {exc}",
            component="database",
            hint="check database.url and that the server is up; cairn serve does not retry at "
            "start",
        ) from None
    return store


def build_broker(config: ServeConfig) -> Broker:
    policy = load_policy(config.attestation.policy)
    reference = None
    if config.attestation.reference_values is not None:
        reference = read_reference_values(config.attestation.reference_values)
        policy = policy.model_copy(update={"snp": merge_into(policy.snp, reference.measurements)})
    roots = load_simulated_roots(list(config.attestation.trust_simulated_roots))
    key = load_signing_key(config.signing.key)
    retired = load_verification_keys(config, key)
    store = open_store(config)
    cache = DatabaseCollateralCache(store)
    offline = config.attestation.offline
    workers = config.database.pool_size + config.limits.max_verifications
    return Broker(
        config=config,
        store=store,
        signing_key=key,
        kid=key.thumbprint(),
        verification_keys=retired,
        policy=policy,
        policy_id=appraisal_policy_id(config),
        reference_values=reference,
        simulated_roots=roots,
        kds=KdsClient(HttpFetcher(), cache, offline=offline),
        pcs=PcsClient(HttpFetcher(), cache, offline=offline),
        executor=ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cairn-serve"),
    )


async def _serve(app: web.Application, config: ServeConfig) -> None:
    runner = ProblemRunner(app, handle_signals=True)
    await runner.setup()
    context = None
    if config.listen.tls_certificate is not None and config.listen.tls_key is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(config.listen.tls_certificate, config.listen.tls_key)
    try:
        site = web.TCPSite(runner, config.listen.host, config.listen.port, ssl_context=context)
        try:
            await site.start()
        except OSError as exc:
            raise SetupError(
                f"cannot listen on {config.listen.host}:{config.listen.port}: "
                f"{exc.strerror or exc}",
                component="listen",
            ) from None
        addresses = ", ".join(f"{a[0]}:{a[1]}" for a in runner.addresses if isinstance(a, tuple))
        scheme = "https" if context else "http"
        print(f"cairn serve: listening on {scheme}://{addresses}", file=sys.stderr, flush=True)
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def serve_command(config_path: Path) -> int:
    logging.basicConfig(
        level=os.environ.get("CAIRN_SERVE_LOG", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    config = load_serve_config(config_path)
    broker = build_broker(config)
    log.info(
        "database %s (schema %d), appraisal policy %s, signing key %s, also accepted: %s",
        broker.store.kind,
        broker.store.schema_version(),
        broker.policy_id,
        broker.kid,
        ", ".join(k.thumbprint() for k in broker.verification_keys) or "none",
    )
    if broker.simulated_roots:
        log.warning("SIMULATED roots are trusted: results for simulated TEEs can be affirming")
    try:
        asyncio.run(_serve(make_app(broker), config))
    except (web.GracefulExit, KeyboardInterrupt):
        log.info("cairn serve stopped")
    return 0


def audit_verify_command(config_path: Path, *, as_json: bool) -> int:
    """Check the whole audit chain; exit 0 intact, 1 (content mismatch) broken."""
    config = load_serve_config(config_path)
    store = open_store(config)
    try:
        head = store.audit_head()
        report = verify_chain(store.audit_rows(), head)
    finally:
        store.close()
    document: dict[str, Any] = {
        "kind": "cairn serve audit log",
        "database": store.kind,
        "entries": report.entries,
        "head": {"seq": head[0], "hash": head[1]},
        "intact": report.ok,
        "problems": report.problems,
    }
    if not report.ok:
        if as_json:
            print(json.dumps(document, indent=2))
            return int(AuditChainError.exit_code)
        raise AuditChainError(
            f"the audit log is broken: {'; '.join(report.problems[:5])}"
            + (f" (and {len(report.problems) - 5} more)" if len(report.problems) > 5 else ""),
            component="audit log",
            hint="restore the database from a backup and compare; entries after the first "
            "problem cannot be trusted",
        )
    if as_json:
        print(json.dumps(document, indent=2))
    else:
        print(f"audit log intact: {report.entries} entries, head {head[0]} {head[1]}")
    return 0


def keygen_command(output: Path) -> int:
    key = ECKey.generate_key("P-256")
    pem = key.as_pem(private=True)
    try:
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise SetupError(
            f"{output} exists: a key is never overwritten", component="keygen"
        ) from None
    except OSError as exc:
        raise SetupError(
            f"cannot create {output}: {exc.strerror or exc}", component="keygen"
        ) from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    print(f"wrote a P-256 EAR signing key (kid {key.thumbprint()}) to {output}", file=sys.stderr)
    return 0


__all__ = ["audit_verify_command", "keygen_command", "serve_command"]
