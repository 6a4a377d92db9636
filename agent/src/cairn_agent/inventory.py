"""What the agent attests about the VM: the running NixOS system and the service tree.

The services manifest (written by the NixOS module) lists each service's name, Nix store path
and the file holding its response-signing public key. The tree is rebuilt whenever the manifest
or a key file changes (checked by modification time and size before each use).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from cairn_verifier.binding.services import ServiceEntry, build_service_tree
from cairn_verifier.binding.smt import SparseMerkleTree
from cairn_verifier.binding.system_hash import system_hash, validate_store_path
from cairn_verifier.errors import CairnError

MAX_MANIFEST_BYTES = 1 << 20
MAX_KEY_FILE_BYTES = 16 * 1024


class InventoryError(Exception):
    """The system path, manifest or a key file is unusable (message says which and why)."""


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
    """The store path ``path`` (e.g. /run/current-system) points to, validated."""
    target = path.resolve(strict=False)
    try:
        return validate_store_path(str(target), "system path")
    except CairnError as exc:
        raise InventoryError(
            f"{path} resolves to {target}, which is not a NixOS system store path: {exc.message}"
        ) from exc


def read_public_key(path: Path) -> bytes:
    """A secp256k1 public key as SEC1 bytes, from hex text, PEM or raw SEC1 bytes."""
    try:
        data = path.read_bytes()[: MAX_KEY_FILE_BYTES + 1]
    except OSError as exc:
        raise InventoryError(f"cannot read public key file {path}: {exc.strerror}") from exc
    if len(data) > MAX_KEY_FILE_BYTES:
        raise InventoryError(f"public key file {path} is too large")
    if data.lstrip().startswith(b"-----BEGIN"):
        try:
            key = serialization.load_pem_public_key(data)
        except ValueError as exc:
            raise InventoryError(f"{path}: not a PEM public key: {exc}") from exc
        if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256k1":
            raise InventoryError(f"{path}: the key is not a secp256k1 key")
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
        f"{path}: expected a secp256k1 public key as SEC1 hex (66 or 130 hex digits), PEM, or "
        "33/65 raw bytes"
    )


def _signature(paths: list[Path]) -> tuple[tuple[str, int, int], ...]:
    sig = []
    for path in paths:
        try:
            st = path.stat()
            sig.append((str(path), st.st_mtime_ns, st.st_size))
        except OSError:
            sig.append((str(path), -1, -1))
    return tuple(sig)


class Inventory:
    """Keeps the current :class:`Snapshot`, rebuilding it when its inputs change."""

    def __init__(self, system_path: Path, manifest: Path | None):
        self.system_path = system_path
        self.manifest = manifest
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._inputs: tuple[tuple[str, int, int], ...] = ()
        self.rebuilds = 0

    def current(self) -> Snapshot:
        """The snapshot for the inputs as they are now (rebuilt only if something changed)."""
        with self._lock:
            watched = self._watched_paths()
            signature = _signature(watched)
            if self._snapshot is None or signature != self._inputs:
                self._snapshot = self._build()
                self._inputs = _signature(self._watched_paths())
                self.rebuilds += 1
            return self._snapshot

    def _watched_paths(self) -> list[Path]:
        paths = [self.system_path]
        if self.manifest is not None:
            paths.append(self.manifest)
            paths.extend(key for _, _, key in self._read_manifest(quiet=True))
        return paths

    def _read_manifest(self, *, quiet: bool = False) -> list[tuple[str, str, Path]]:
        if self.manifest is None:
            return []
        try:
            raw = self.manifest.read_bytes()[: MAX_MANIFEST_BYTES + 1]
            if len(raw) > MAX_MANIFEST_BYTES:
                raise InventoryError(f"services manifest {self.manifest} is too large")
            document = json.loads(raw)
            services = document["services"]
            entries = [
                (str(s["name"]), str(s["store_path"]), Path(s["public_key_file"])) for s in services
            ]
        except InventoryError:
            raise
        except OSError as exc:
            if quiet:
                return []
            raise InventoryError(
                f"cannot read services manifest {self.manifest}: {exc.strerror}"
            ) from exc
        except (ValueError, KeyError, TypeError) as exc:
            if quiet:
                return []
            raise InventoryError(
                f"services manifest {self.manifest} must be JSON "
                '{"services": [{"name", "store_path", "public_key_file"}, …]}: '
                f"{type(exc).__name__}: {exc}"
            ) from exc
        return entries

    def _build(self) -> Snapshot:
        store_path = resolve_system(self.system_path)
        entries = []
        for name, path, key_file in self._read_manifest():
            try:
                entries.append(ServiceEntry(name, path, read_public_key(key_file)))
            except CairnError as exc:
                raise InventoryError(f"service {name!r}: {exc.message}") from exc
        try:
            tree = build_service_tree(entries)
        except CairnError as exc:
            raise InventoryError(f"services manifest: {exc.message}") from exc
        return Snapshot(store_path, system_hash(store_path), tuple(entries), tree)
