"""The agent's TPM layer against a real software TPM (swtpm), one fresh swtpm per test.

Quotes are checked by Cairn's verifier and by tpm2-tools' ``tpm2_checkquote``; PCR values are
compared with ``tpm2_pcrread``. swtpm and tpm2-tools are required (``./dev test`` installs them).
"""

from __future__ import annotations

import hashlib
import os
import socket
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fakes.swtpm import Tpm, running_swtpm

from cairn_agent.tpm import (
    AK_ATTRIBUTES,
    AgentTpm,
    PcrBank,
    TpmCommandError,
    TpmError,
    TpmQuote,
    TpmUnavailable,
)
from cairn_verifier.tpm.quote import (
    TpmQuoteResult,
    ak_digest,
    pcr_values_from_tpm2_tools,
    verify_tpm_quote,
)
from cairn_verifier.tpm.structures import TpmAlg, parse_public

EXTEND = bytes.fromhex("ab" * 32)


@pytest.fixture
def tpm(tmp_path: Path) -> Iterator[Tpm]:
    """A fresh swtpm for one test, driven by tpm2-tools."""
    with running_swtpm(tmp_path) as fresh:
        yield fresh


def tcti(tpm: Tpm) -> str:
    return tpm.env["TPM2TOOLS_TCTI"]


def port(tpm: Tpm) -> int:
    return int(tcti(tpm).rpartition("=")[2])


def verify(quote: TpmQuote, nonce: bytes, pcrs: dict[int, bytes] | None = None) -> TpmQuoteResult:
    values = quote.pcrs if pcrs is None else pcrs
    return verify_tpm_quote(
        quote.attest,
        quote.signature,
        quote.ak_public,
        expected_extra_data=nonce,
        pcr_values={(quote.bank, index): value for index, value in values.items()},
    )


def pcrread(tpm: Tpm, bank: str, indexes: list[int]) -> dict[int, bytes]:
    """PCR values as tpm2-tools reads them."""
    text = tpm.run("tpm2_pcrread", f"{bank}:{','.join(map(str, indexes))}")
    return {index: value for (_, index), value in pcr_values_from_tpm2_tools(text).items()}


def swtpm_ioctl(tpm: Tpm, command: str) -> None:
    subprocess.run(
        ["swtpm_ioctl", "--tcp", f"127.0.0.1:{port(tpm) + 1}", command],
        check=True,
        capture_output=True,
        timeout=30,
    )


def reset(tpm: Tpm) -> None:
    """_TPM_Init: the TPM now waits for TPM2_Startup, as after a power cycle."""
    swtpm_ioctl(tpm, "-i")


def tool(tpm: Tpm, *args: str) -> str:
    """Run one tpm2-tools command and leave its transient objects loaded."""
    done = subprocess.run(
        args, check=True, cwd=tpm.workdir, env=tpm.env, capture_output=True, text=True, timeout=30
    )
    return done.stdout


def transient_handles(tpm: Tpm) -> str:
    return tool(tpm, "tpm2_getcap", "handles-transient").strip()


# --- the attestation key ----------------------------------------------------------------------


def test_ak_is_the_same_on_every_connection(tpm: Tpm) -> None:
    with AgentTpm.open(tcti(tpm)) as first:
        ak = first.ak_public()
        assert first.ak_public() == ak
    with AgentTpm.open(tcti(tpm)) as second:
        assert second.ak_public() == ak
        assert second.quote(os.urandom(32), [0]).ak_public == ak

    public = parse_public(ak)
    assert public.raw == ak  # a bare TPMT_PUBLIC
    assert public.is_attestation_key
    assert set(public.attributes.names()) == set(AK_ATTRIBUTES.split("|"))
    assert public.scheme.scheme == TpmAlg.ECDSA
    assert public.scheme.hash is not None and public.scheme.hash.name == "sha256"
    assert isinstance(public.public_key, ec.EllipticCurvePublicKey)
    assert isinstance(public.public_key.curve, ec.SECP256R1)
    assert public.name_alg.name == "sha256"
    assert ak_digest(ak) == hashlib.sha256(ak).digest()


def test_each_hierarchy_has_its_own_stable_ak(tpm: Tpm) -> None:
    with AgentTpm.open(tcti(tpm), hierarchy="owner") as owner:
        owner_ak = owner.ak_public()
    with AgentTpm.open(tcti(tpm), hierarchy="endorsement") as endorsement:
        endorsement_ak = endorsement.ak_public()
    with AgentTpm.open(tcti(tpm), hierarchy="owner") as owner_again:
        assert owner_again.ak_public() == owner_ak
    assert owner_ak != endorsement_ak


def test_an_endorsement_password_is_reported_and_can_be_given(tpm: Tpm) -> None:
    tpm.run("tpm2_changeauth", "-c", "e", "secret")
    with AgentTpm.open(tcti(tpm)) as agent_tpm, pytest.raises(TpmCommandError) as raised:
        agent_tpm.ak_public()
    error = raised.value
    assert error.command == "CreatePrimary"
    assert error.rc & 0xFF == 0xA2  # TPM_RC_BAD_AUTH of session 1
    assert "authorization" in error.decoded
    assert error.hint is not None and "hierarchy_auth" in error.hint

    with AgentTpm.open(tcti(tpm), hierarchy_auth=b"secret") as agent_tpm:
        nonce = os.urandom(32)
        assert verify(agent_tpm.quote(nonce, [0, 7]), nonce).ok


# --- quotes -------------------------------------------------------------------------------------


def test_quote_verifies_and_follows_pcr_extends(tpm: Tpm) -> None:
    nonce = os.urandom(32)
    with AgentTpm.open(tcti(tpm)) as agent_tpm:
        before = agent_tpm.quote(nonce, [16, 0, 1, 2])
        assert list(before.pcrs) == [0, 1, 2, 16]
        assert before.bank == "sha256"
        assert before.pcrs == pcrread(tpm, "sha256", [0, 1, 2, 16])
        result = verify(before, nonce)
        assert result.ok, result.to_json()
        assert result.attest.extra_data == nonce
        assert not verify(before, bytes(32)).extra_data_ok

        tpm.run("tpm2_pcrextend", f"16:sha256={EXTEND.hex()}")
        after = agent_tpm.quote(nonce, [0, 1, 2, 16])

    assert after.pcrs[16] == hashlib.sha256(before.pcrs[16] + EXTEND).digest()
    assert after.pcrs == pcrread(tpm, "sha256", [0, 1, 2, 16])
    assert {i: after.pcrs[i] for i in (0, 1, 2)} == {i: before.pcrs[i] for i in (0, 1, 2)}
    assert verify(after, nonce).ok
    stale = verify(before, nonce, after.pcrs)
    assert stale.signature_ok
    assert not stale.pcr_digest_ok
    assert not stale.ok


def test_tpm2_checkquote_accepts_the_quote(tpm: Tpm) -> None:
    nonce = os.urandom(32)
    with AgentTpm.open(tcti(tpm)) as agent_tpm:
        tpm.run("tpm2_pcrextend", f"16:sha256={EXTEND.hex()}")
        quote = agent_tpm.quote(nonce, [0, 1, 2, 16])
    workdir = tpm.workdir
    (workdir / "ak.pub").write_bytes(struct.pack(">H", len(quote.ak_public)) + quote.ak_public)
    (workdir / "attest.bin").write_bytes(quote.attest)
    (workdir / "sig.bin").write_bytes(quote.signature)
    tpm.run("tpm2_pcrread", "sha256:0,1,2,16", "-o", "pcrs.bin", "-F", "serialized")

    def checkquote(expected_nonce: bytes) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                "tpm2_checkquote", "-u", "ak.pub", "-m", "attest.bin", "-s", "sig.bin",
                "-f", "pcrs.bin", "-g", "sha256", "-q", expected_nonce.hex(),
            ],
            check=False,
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=30,
        )  # fmt: skip

    accepted = checkquote(nonce)
    assert accepted.returncode == 0, accepted.stderr
    assert checkquote(bytes(32)).returncode != 0


def test_quote_of_more_than_eight_pcrs(tpm: Tpm) -> None:
    nonce = os.urandom(32)
    everything = list(range(24))
    tpm.run("tpm2_pcrextend", f"23:sha256={EXTEND.hex()}")
    with AgentTpm.open(tcti(tpm)) as agent_tpm:
        quote = agent_tpm.quote(nonce, everything)
        assert list(quote.pcrs) == everything
        assert quote.pcrs == pcrread(tpm, "sha256", everything)
        assert quote.pcrs[23] != bytes(32)
        result = verify(quote, nonce)
        assert result.ok, result.to_json()
        assert [index for _, index in result.selected] == everything

        straddling = agent_tpm.read_pcrs([23, 7, 8, 9, 15, 16])
        assert list(straddling) == [7, 8, 9, 15, 16, 23]
        assert straddling == {index: quote.pcrs[index] for index in straddling}


@pytest.mark.parametrize(("bank", "size"), [("sha1", 20), ("sha384", 48)])
def test_quote_of_another_bank(tpm: Tpm, bank: PcrBank, size: int) -> None:
    nonce = os.urandom(32)
    with AgentTpm.open(tcti(tpm)) as agent_tpm:
        quote = agent_tpm.quote(nonce, list(range(12)), bank=bank)
    assert quote.bank == bank
    assert {len(value) for value in quote.pcrs.values()} == {size}
    assert quote.pcrs == pcrread(tpm, bank, list(range(12)))
    result = verify(quote, nonce)
    assert result.ok, result.to_json()
    assert result.pcr_digest_alg.name == "sha256"  # the AK's scheme hash, whatever the bank


def test_many_quotes_leave_no_transient_objects(tpm: Tpm) -> None:
    with AgentTpm.open(tcti(tpm)) as agent_tpm:
        ak = agent_tpm.ak_public()
        for _ in range(12):
            nonce = os.urandom(32)
            quote = agent_tpm.quote(nonce, [0, 16])
            assert quote.ak_public == ak
            assert verify(quote, nonce).ok
            assert agent_tpm.ak_public() == ak
        assert transient_handles(tpm) == ""


def test_left_over_objects_are_flushed_at_connect(tpm: Tpm) -> None:
    for number in range(3):  # fill swtpm's three object slots without flushing
        tool(tpm, "tpm2_createprimary", "-C", "o", "-G", "ecc", "-c", f"left-over-{number}.ctx")
    assert len(transient_handles(tpm).splitlines()) == 3
    with AgentTpm.open(tcti(tpm)) as agent_tpm:
        assert transient_handles(tpm) == ""
        nonce = os.urandom(32)
        assert verify(agent_tpm.quote(nonce, [0]), nonce).ok


def test_a_tpm_that_was_never_started_is_started(tpm: Tpm) -> None:
    reset(tpm)
    with AgentTpm.open(tcti(tpm)) as agent_tpm:
        nonce = os.urandom(32)
        assert verify(agent_tpm.quote(nonce, [0]), nonce).ok


# --- a TPM that is missing or goes away ---------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_nothing_listening_is_unavailable_with_a_hint() -> None:
    port = closed_port()
    address = f"swtpm:port={port}"
    with pytest.raises(TpmUnavailable) as raised:
        AgentTpm.open(address)
    assert isinstance(raised.value, TpmError)  # what the agent catches
    assert raised.value.tcti == address
    assert f"no TPM at {address}" in raised.value.message
    # the hint is the command that starts a swtpm where the TCTI looks for it
    assert f"swtpm socket --tpm2 --server type=tcp,port={port} " in raised.value.hint
    assert f"--ctrl type=tcp,port={port + 1} " in raised.value.hint


def test_missing_device_is_unavailable_with_a_hint(tmp_path: Path) -> None:
    device = tmp_path / "tpmrm0"
    with pytest.raises(TpmUnavailable) as raised:
        AgentTpm.open(f"device:{device}")
    assert str(device) in raised.value.hint
    assert "vTPM" in raised.value.hint


@pytest.mark.parametrize("address", ["no-such-tcti", "swtpm:port=not-a-number"])
def test_a_bad_tcti_string_is_unavailable(address: str) -> None:
    with pytest.raises(TpmUnavailable) as raised:
        AgentTpm.open(address)
    assert raised.value.hint


def test_a_tpm_that_goes_away_is_unavailable(tpm: Tpm) -> None:
    with AgentTpm.open(tcti(tpm)) as agent_tpm:
        agent_tpm.ak_public()
        swtpm_ioctl(tpm, "-s")  # shut swtpm down
        with pytest.raises(TpmUnavailable):
            agent_tpm.quote(os.urandom(32), [0])


# --- arguments and lifecycle ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("nonce", "pcrs", "bank", "message"),
    [
        (bytes(31), [0], "sha256", "32 bytes"),
        (bytes(64), [0], "sha256", "32 bytes"),
        (bytes(32), [24], "sha256", "0-23"),
        (bytes(32), [-1, 0], "sha256", "0-23"),
        (bytes(32), [], "sha256", "at least one PCR"),
        (bytes(32), [0], "md5", "unknown PCR bank"),
        (bytes(32), [0], "sm3_256", "unknown PCR bank"),  # Cairn's verifier cannot check it
    ],
)
def test_bad_quote_arguments_are_refused(
    tpm: Tpm, nonce: bytes, pcrs: list[int], bank: Any, message: str
) -> None:
    with AgentTpm.open(tcti(tpm)) as agent_tpm, pytest.raises(ValueError, match=message):
        agent_tpm.quote(nonce, pcrs, bank)
    assert transient_handles(tpm) == ""


def test_an_unallocated_bank_is_a_clear_error(tpm: Tpm) -> None:
    tpm.run("tpm2_pcrallocate", "sha1:none+sha256:all+sha384:none+sha512:none")
    reset(tpm)  # the allocation takes effect at the next TPM2_Startup
    with AgentTpm.open(tcti(tpm)) as agent_tpm:
        with pytest.raises(TpmError, match="returned no sha384 value") as raised:
            agent_tpm.quote(bytes(32), [0], "sha384")
        assert raised.value.hint is not None and "tpm2_getcap pcrs" in raised.value.hint
        assert transient_handles(tpm) == ""  # the AK was flushed despite the failure
        nonce = os.urandom(32)
        assert verify(agent_tpm.quote(nonce, [0]), nonce).ok


def test_a_closed_connection_refuses_work(tpm: Tpm) -> None:
    agent_tpm = AgentTpm.open(tcti(tpm))
    agent_tpm.close()
    agent_tpm.close()
    with pytest.raises(TpmError, match="closed"):
        agent_tpm.ak_public()


def test_event_log_is_read_from_the_configured_path(tpm: Tpm, tmp_path: Path) -> None:
    log = tmp_path / "binary_bios_measurements"
    with AgentTpm.open(tcti(tpm), event_log_path=log) as agent_tpm:
        assert agent_tpm.event_log() is None  # missing
        log.write_bytes(b"")
        assert agent_tpm.event_log() is None  # empty
        content = struct.pack("<II", 0, 3) + os.urandom(100)
        log.write_bytes(content)
        assert agent_tpm.event_log() == content
        log.chmod(0)
        if os.geteuid() != 0:  # root reads any file
            assert agent_tpm.event_log() is None
