"""What the agent attests about the VM: the running NixOS system and the service tree.

The services manifest (written by the NixOS module) lists each service's name, Nix store path
and the file holding its response-signing public key. The tree is rebuilt whenever the system
path, the manifest or a key file changes (checked by modification time and size before each
use); the manifest is read again to learn which key files to watch only when it is another file
or has changed, not on every request.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cairn_verifier.api import (
    CairnError,
    ServiceEntry,
    SparseMerkleTree,
    build_service_tree,
    system_hash,
    validate_store_path,
)

from .files import read_limited

MAX_MANIFEST_BYTES = 1 << 20
MAX_KEY_FILE_BYTES = 16 * 1024


class InventoryError(Exception):
    """The system path, manifest or a key file is unusable (message says which and why)."""


STORE_PATH_EXAMPLE = "/nix/store/0c1i4g9kq7bhm8lcjj8h4pyf1r6b6nh9-nixos-system-myhost-25.11"
STORE_PATH_SHAPE = (
    "a store path is /nix/store/ + 32 characters of Nix base32 (0-9 and a-z without e, o, t, u) "
    f"+ '-' + a name, e.g. {STORE_PATH_EXAMPLE}"
)


@dataclass(frozen=True)
class Snapshot:
    """One consistent view: system store path + hash, services and their tree."""

    system_store_path: str
    system_hash: bytes
    services: tuple[ServiceEntry, ...]
    tree: SparseMerkleTree

    @property
    def tree_root(self) -> int:
        return self.tree.root


def resolve_system(path: Path) -> str:
    """The store path ``path`` (system.path, e.g. /run/current-system) points to, validated."""
    if not os.path.lexists(path):
        raise InventoryError(
            f"system.path {path} does not exist: it must be a symlink to the running NixOS "
            "system (/run/current-system on NixOS; for a local run, `cairn-agent init-demo DIR` "
            "writes a stand-in symlink)"
        )
    target = path.resolve(strict=False)
    try:
        return validate_store_path(str(target), "the target")
    except CairnError as exc:
        hint = f"; {exc.hint}" if exc.hint else ""
        raise InventoryError(
            f"system.path {path} points to {target}, which is not a NixOS system store path: "
            f"{exc.message}{hint}; {STORE_PATH_SHAPE}"
        ) from exc


def read_public_key(path: Path, service: str = "") -> bytes:
    """A secp256k1 public key as SEC1 bytes, from hex text, PEM or raw SEC1 bytes."""
    what = f"service {service!r}: public_key_file {path}" if service else f"public key file {path}"
    data = read_limited(
        path,
        limit=MAX_KEY_FILE_BYTES,
        what=what,
        missing="an echo service writes it when started with --public-key-file; "
        "`cairn-agent init-demo DIR` writes keys for a local run",
        error=InventoryError,
    )
    if data.lstrip().startswith(b"-----BEGIN"):
        try:
            key = serialization.load_pem_public_key(data)
        except ValueError as exc:
            raise InventoryError(f"{what} is not a PEM public key: {exc}") from exc
        if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256k1":
            raise InventoryError(f"{what} does not hold a secp256k1 key")
        return key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
        )
    text = data.strip()
    if len(text) in (66, 130):
        try:
            return bytes.fromhex(text.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            pass
    if len(data) in (33, 65):
        return data
    raise InventoryError(
        f"{what}: expected a secp256k1 public key as SEC1 hex (66 or 130 hex digits, e.g. "
        "02 followed by 64 hex digits, as the echo services write it), PEM, or 33/65 raw bytes"
    )


class _ManifestService(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)
    name: str
    store_path: str
    public_key_file: str = Field(min_length=1)


class _Manifest(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)
    services: list[_ManifestService]


MANIFEST_SHAPE = '{"services": [{"name": …, "store_path": …, "public_key_file": …}, …]}'


def parse_manifest(raw: bytes, where: str) -> list[tuple[str, str, Path]]:
    """(name, store path, key file) of every service in a manifest; InventoryError else."""
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise InventoryError(f"{where} is not JSON {MANIFEST_SHAPE}: {exc}") from None
    try:
        manifest = _Manifest.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}"
            for e in exc.errors(include_url=False)[:5]
        )
        raise InventoryError(
            f"{where} is invalid ({problems}); expected {MANIFEST_SHAPE}"
        ) from None
    return [(s.name, s.store_path, Path(s.public_key_file)) for s in manifest.services]


Stamp = tuple[str, int, int]
"""A watched file as the rebuild check sees it: path, modification time (ns), size."""


def _stat(path: Path) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
        return None


def _stamp(path: Path, st: os.stat_result | None) -> Stamp:
    return (str(path), -1, -1) if st is None else (str(path), st.st_mtime_ns, st.st_size)


class Inventory:
    """Keeps the current :class:`Snapshot`, rebuilding it when its inputs change."""

    def __init__(self, system_path: Path, manifest: Path | None):
        self.system_path = system_path
        self.manifest = manifest
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._inputs: tuple[Stamp, ...] = ()
        self._key_files: tuple[Path, ...] = ()
        self._manifest_identity: tuple[int, ...] | None = None
        self.rebuilds = 0
        self.manifest_reads = 0
        """How often the manifest was read to learn which key files to watch (once per change
        of the manifest file, not once per request)."""

    def current(self) -> Snapshot:
        """The snapshot for the inputs as they are now (rebuilt only if something changed)."""
        with self._lock:
            signature = self._signature()
            if self._snapshot is None or signature != self._inputs:
                self._snapshot = self._build()
                self._inputs = self._signature()
                self.rebuilds += 1
            return self._snapshot

    def _signature(self) -> tuple[Stamp, ...]:
        """Stamps of the system path, the manifest and the key files it names.

        The key files' names are read from the manifest again only when the manifest file is
        another file or has changed (device, inode, modification and change times, size)."""
        stamps = [_stamp(self.system_path, _stat(self.system_path))]
        if self.manifest is not None:
            st = _stat(self.manifest)
            stamps.append(_stamp(self.manifest, st))
            identity = (
                None
                if st is None
                else (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size)
            )
            if identity is None or identity != self._manifest_identity:
                self._key_files = tuple(key for _, _, key in self._read_manifest(quiet=True))
                self._manifest_identity = identity
                self.manifest_reads += 1
            stamps.extend(_stamp(key, _stat(key)) for key in self._key_files)
        return tuple(stamps)

    def _read_manifest(self, *, quiet: bool = False) -> list[tuple[str, str, Path]]:
        if self.manifest is None:
            return []
        where = f"services.manifest {self.manifest}"
        try:
            raw = read_limited(
                self.manifest,
                limit=MAX_MANIFEST_BYTES,
                what=where,
                missing="the NixOS module writes it; `cairn-agent init-demo DIR` writes one "
                "for a local run",
                error=InventoryError,
            )
            return parse_manifest(raw, where)
        except InventoryError:
            if quiet:
                return []
            raise

    def _build(self) -> Snapshot:
        store_path = resolve_system(self.system_path)
        entries = []
        for name, path, key_file in self._read_manifest():
            try:
                entries.append(ServiceEntry(name, path, read_public_key(key_file, name)))
            except CairnError as exc:
                hint = f"; {exc.hint}" if exc.hint else ""
                raise InventoryError(
                    f"services.manifest {self.manifest}: service {name!r:.80}: {exc.message}{hint}"
                ) from exc
        try:
            tree = build_service_tree(entries)
        except CairnError as exc:
            raise InventoryError(f"services.manifest {self.manifest}: {exc.message}") from exc
        return Snapshot(store_path, system_hash(store_path), tuple(entries), tree)
