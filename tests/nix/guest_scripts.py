"""Helpers for the tests of the guest scripts (scripts/guest/): tools, file-backed LUKS volumes,
and unsealing a systemd-tpm2 token with tpm2-tools.

Everything here runs the real programs: cryptsetup, systemd-cryptenroll, blkid, jq and swtpm.
Opening a LUKS volume needs device-mapper, which these machines do not have, so "does the volume
open" is answered with ``cryptsetup open --test-passphrase`` (it verifies a keyslot without
activating anything) fed with the passphrase the TPM unseals from the token.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from fakes.swtpm import Tpm

REPO_ROOT = Path(__file__).resolve().parents[2]
GUEST_SCRIPTS = REPO_ROOT / "scripts" / "guest"
VOLUME_BYTES = 32 * 1024 * 1024
TEST_PBKDF = ("--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000")
INSTALL_HINT = (
    "install them with `./dev setup base tpm guest` (Debian: apt-get install "
    "--no-install-recommends cryptsetup-bin jq systemd swtpm tpm2-tools openssl)"
)


def require_tools(*tools: str) -> None:
    """Fail (never skip) when a tool the guest scripts need is missing."""
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"missing tools: {', '.join(missing)}; {INSTALL_HINT}")


def run(
    *args: str | Path, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a command (never raises on its exit status)."""
    return subprocess.run(
        [str(arg) for arg in args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
        cwd=cwd,
    )


def must(*args: str | Path) -> str:
    """Run a command that must succeed; return its stdout."""
    done = run(*args)
    assert done.returncode == 0, f"{' '.join(map(str, args))} failed:\n{done.stderr}"
    return done.stdout


def blank_volume(path: Path) -> Path:
    """A sparse all-zero file the size of a small state volume."""
    with path.open("wb") as handle:
        handle.truncate(VOLUME_BYTES)
    return path


def probe(device: Path) -> dict[str, str]:
    """blkid's low-level probe of ``device`` (empty when it has no signature)."""
    done = run("blkid", "--probe", "--output", "export", device)
    assert done.returncode in (0, 2), done.stderr
    return dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)


def header(device: Path) -> dict[str, object]:
    """The LUKS2 JSON metadata of ``device``."""
    document: dict[str, object] = json.loads(
        must("cryptsetup", "luksDump", "--dump-json-metadata", device)
    )
    return document


def digest(path: Path) -> str:
    """SHA-256 of a whole file: proves that a refused volume was not touched."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tcti(tpm: Tpm) -> str:
    """The swtpm TCTI string (``swtpm:port=P``), as systemd-cryptenroll takes it."""
    return tpm.env["TPM2TOOLS_TCTI"]


def only_token(device: Path) -> dict[str, object]:
    tokens = header(device)["tokens"]
    assert isinstance(tokens, dict) and len(tokens) == 1, tokens
    token = next(iter(tokens.values()))
    assert isinstance(token, dict)
    return token


def unseal_passphrase(tpm: Tpm, device: Path, pcrs: str = "7") -> bytes:
    """Unseal the device's systemd-tpm2 token with tpm2-tools; return the LUKS passphrase.

    systemd keeps the sealed object as TPM2B_PRIVATE || TPM2B_PUBLIC under an ECC P-256 primary
    key with the TCG default (SRK) template, which is tpm2_createprimary's default for ``-G
    ecc``; the unsealed secret, base64-encoded, is the keyslot's passphrase. Raises
    AssertionError (with the TPM's answer) when the TPM refuses, e.g. a policy check failure.
    """
    blob = base64.b64decode(str(only_token(device)["tpm2-blob"]))
    private_size = int.from_bytes(blob[:2], "big")
    private, public = blob[: 2 + private_size], blob[2 + private_size :]
    assert int.from_bytes(public[:2], "big") == len(public) - 2, "unexpected tpm2-blob layout"
    (tpm.workdir / "sealed.priv").write_bytes(private)
    (tpm.workdir / "sealed.pub").write_bytes(public)
    # swtpm has no resource manager: drop sessions systemd-cryptenroll may have left behind.
    tpm.run("tpm2_flushcontext", "--loaded-session")
    tpm.run("tpm2_flushcontext", "--saved-session")
    tpm.run("tpm2_createprimary", "-Q", "-C", "o", "-G", "ecc", "-c", "srk.ctx")
    tpm.run(
        "tpm2_load", "-Q", "-C", "srk.ctx", "-u", "sealed.pub", "-r", "sealed.priv",
        "-c", "sealed.ctx",
    )  # fmt: skip
    tpm.run("tpm2_unseal", "-c", "sealed.ctx", "-p", f"pcr:sha256:{pcrs}", "-o", "secret.bin")
    return base64.b64encode((tpm.workdir / "secret.bin").read_bytes())


def opens_with(device: Path, passphrase: bytes, workdir: Path) -> bool:
    """Whether ``passphrase`` opens a keyslot of ``device`` (no device-mapper needed)."""
    key_file = workdir / "passphrase"
    key_file.write_bytes(passphrase)
    key_file.chmod(0o600)
    done = run("cryptsetup", "open", "--test-passphrase", "--key-file", key_file, device)
    return done.returncode == 0


def pcr_policy_digest(tpm: Tpm, pcrs: str = "7") -> str:
    """The TPM2 PolicyPCR digest over the current sha256 values of ``pcrs`` (hex)."""
    tpm.run("tpm2_createpolicy", "--policy-pcr", "-l", f"sha256:{pcrs}", "-L", "policy.digest")
    return (tpm.workdir / "policy.digest").read_bytes().hex()


def extend_pcr(tpm: Tpm, index: int, what: bytes) -> None:
    """Measure ``what`` into a PCR, as firmware would for a changed boot component."""
    tpm.run("tpm2_pcrextend", f"{index}:sha256={hashlib.sha256(what).hexdigest()}")
