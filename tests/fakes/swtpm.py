"""A real software TPM for tests: swtpm on free local ports, driven with tpm2-tools.

swtpm and tpm2-tools are required (``./dev test`` installs them); a missing tool fails the
test with an install hint instead of skipping it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from cairn_agent.swtpm import SwtpmError
from cairn_agent.swtpm import running_swtpm as start_swtpm
from cairn_verifier.api import TpmQuoteResult, pcr_values_from_tpm2_tools, verify_tpm_quote

TOOLS = (
    "swtpm",
    "tpm2_createprimary",
    "tpm2_create",
    "tpm2_load",
    "tpm2_flushcontext",
    "tpm2_pcrextend",
    "tpm2_pcrread",
    "tpm2_quote",
    "tpm2_readpublic",
    "tpm2_sign",
    "tpm2_checkquote",
)
AK_ATTRIBUTES = "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|sign"
SIGNING_KEY_ATTRIBUTES = "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign"
SELECTION = "sha256:0,1,2,16"
NONCE = bytes.fromhex("c0ffee0011223344556677889900aabb")


def _require_tools() -> None:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        pytest.fail(
            f"TPM tests need swtpm and tpm2-tools; missing: {', '.join(missing)}. Install them "
            "with `./dev setup base tpm` or `apt-get install swtpm swtpm-tools tpm2-tools`."
        )


class Tpm:
    """tpm2-tools against one swtpm, working in ``workdir``."""

    def __init__(self, port: int, workdir: Path):
        self.workdir = workdir
        self.env = {**os.environ, "TPM2TOOLS_TCTI": f"swtpm:port={port}"}
        self._primary: Path | None = None

    def run(self, *args: str) -> str:
        """Run one tool, then flush transient objects (swtpm holds only three)."""
        stdout = self._tool(*args)
        self._tool("tpm2_flushcontext", "-t")
        return stdout

    def _tool(self, *args: str) -> str:
        done = subprocess.run(
            args,
            check=False,
            cwd=self.workdir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        if done.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
        return done.stdout

    def primary(self) -> Path:
        if self._primary is None:
            self.run(
                "tpm2_createprimary", "-C", "o", "-g", "sha256", "-G", "ecc", "-c", "primary.ctx"
            )
            self._primary = self.workdir / "primary.ctx"
        return self._primary

    def create_key(
        self, name: str, algorithm: str, attributes: str = AK_ATTRIBUTES, name_alg: str = "sha256"
    ) -> str:
        """Create and load a child key; return its context file name."""
        primary = str(self.primary())
        self.run(
            "tpm2_create", "-C", primary, "-G", algorithm, "-g", name_alg, "-a", attributes,
            "-u", f"{name}.pub", "-r", f"{name}.priv",
        )  # fmt: skip
        self.run(
            "tpm2_load", "-C", primary, "-u", f"{name}.pub", "-r", f"{name}.priv",
            "-c", f"{name}.ctx",
        )  # fmt: skip
        return f"{name}.ctx"

    def public(self, key: str) -> bytes:
        """The key's TPM2B_PUBLIC as ``tpm2_readpublic -o`` writes it."""
        self.run("tpm2_readpublic", "-c", key, "-o", f"{key}.readpublic")
        return (self.workdir / f"{key}.readpublic").read_bytes()

    def quote(
        self, key: str, selection: str = SELECTION, nonce: bytes = NONCE, *extra: str
    ) -> Quote:
        stdout = self.run(
            "tpm2_quote", "-c", key, "-l", selection, "-q", nonce.hex(), "-m", "attest.bin",
            "-s", "sig.bin", "-o", "pcrs.serialized", "-F", "serialized", *extra,
        )  # fmt: skip
        return Quote(
            attest=(self.workdir / "attest.bin").read_bytes(),
            signature=(self.workdir / "sig.bin").read_bytes(),
            ak_public=self.public(key),
            nonce=nonce,
            pcr_values=pcr_values_from_tpm2_tools(self.run("tpm2_pcrread", selection)),
            stdout=stdout,
            workdir=self.workdir,
        )


@dataclass(frozen=True)
class Quote:
    attest: bytes
    signature: bytes
    ak_public: bytes
    nonce: bytes
    pcr_values: dict[tuple[str, int], bytes]
    stdout: str
    workdir: Path

    def verify(
        self,
        *,
        attest: bytes | None = None,
        signature: bytes | None = None,
        ak_public: bytes | None = None,
        expected_extra_data: bytes | None = None,
        pcr_values: Mapping[tuple[str, int], bytes] | None = None,
    ) -> TpmQuoteResult:
        """Verify this quote, with any of its parts replaced."""
        return verify_tpm_quote(
            self.attest if attest is None else attest,
            self.signature if signature is None else signature,
            self.ak_public if ak_public is None else ak_public,
            expected_extra_data=self.nonce if expected_extra_data is None else expected_extra_data,
            pcr_values=self.pcr_values if pcr_values is None else pcr_values,
        )


@contextmanager
def running_swtpm(workdir: Path) -> Iterator[Tpm]:
    """A fresh swtpm with its state under ``workdir`` and tpm2-tools working in ``workdir``."""
    _require_tools()
    try:
        with start_swtpm(workdir / "swtpm-state") as swtpm:
            yield Tpm(swtpm.port, workdir)
    except SwtpmError as exc:
        pytest.fail(str(exc))
