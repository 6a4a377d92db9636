"""TPM 2.0 quote verification against a real software TPM (swtpm) driven by tpm2-tools.

Every quote here is produced by swtpm; Cairn's pure-Python verifier must accept what
``tpm2_quote`` writes, reject every kind of tampering, and agree with ``tpm2_checkquote``.
swtpm and tpm2-tools are required (``./dev test`` installs them): a missing tool fails the test.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import struct
import subprocess
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import pytest
from fakes.swtpm import (
    AK_ATTRIBUTES,
    NONCE,
    SELECTION,
    SIGNING_KEY_ATTRIBUTES,
    Quote,
    Tpm,
    running_swtpm,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from cairn_verifier.checks import CheckLog, Outcome
from cairn_verifier.errors import ExitCode, ParseError
from cairn_verifier.tpm.quote import (
    ak_digest,
    pcr_values_from_tpm2_tools,
    verify_tpm_quote,
)
from cairn_verifier.tpm.structures import parse_attest, parse_public, parse_signature

EXTEND_16 = "ab" * 32


@pytest.fixture
def tpm(tmp_path: Path) -> Iterator[Tpm]:
    """A fresh swtpm for one test."""
    with running_swtpm(tmp_path) as fresh:
        yield fresh


@pytest.fixture(scope="module")
def ecc_quote(tmp_path_factory: pytest.TempPathFactory) -> Quote:
    """One tpm2_quote by an ECC P-256 AK after extending PCR 16 (tests only read its files)."""
    with running_swtpm(tmp_path_factory.mktemp("ecc-quote")) as tpm:
        ak = tpm.create_key("ak", "ecc256:ecdsa-sha256:null")
        tpm.run("tpm2_pcrextend", f"16:sha256={EXTEND_16}")
        quote = tpm.quote(ak)
        tpm.run("tpm2_readpublic", "-c", ak, "-f", "tpmt", "-o", "ak.tpmt")
        (tpm.workdir / "readpublic.yaml").write_text(tpm.run("tpm2_readpublic", "-c", ak))
        return quote


def _yaml_field(text: str, key: str) -> str:
    match = re.search(rf"^{key}: ([0-9a-f]+)$", text, re.MULTILINE)
    assert match, f"{key} not in tpm2-tools output"
    return match[1]


# --- accepting genuine quotes -----------------------------------------------------------------


def test_verifies_an_ecc_quote_from_tpm2_quote(ecc_quote: Quote) -> None:
    result = ecc_quote.verify()

    assert result.ok
    assert result.signature_ok and result.ak_is_attestation_key
    assert result.extra_data_ok and result.pcr_digest_ok
    assert result.selected == (("sha256", 0), ("sha256", 1), ("sha256", 2), ("sha256", 16))
    assert result.attest.extra_data == NONCE
    # PCR 16 was extended once from zero: SHA-256(0^32 || extended digest).
    assert (
        ecc_quote.pcr_values[("sha256", 16)]
        == hashlib.sha256(bytes(32) + bytes.fromhex(EXTEND_16)).digest()
    )
    # The same digest and name that tpm2-tools computes.
    assert result.computed_pcr_digest == bytes.fromhex(_yaml_field(ecc_quote.stdout, "calcDigest"))
    readpublic = (ecc_quote.workdir / "readpublic.yaml").read_text()
    assert result.ak_name.hex() == _yaml_field(readpublic, "name")


def test_records_one_passing_check_per_property(ecc_quote: Quote) -> None:
    log = CheckLog()
    assert ecc_quote.verify().record(log)
    assert [check.name for check in log] == [
        "tpm-quote-signature",
        "tpm-attestation-key",
        "tpm-quote-nonce",
        "tpm-pcr-digest",
        "tpm-pcr-coverage",
    ]
    assert not log.failures


@pytest.mark.parametrize(
    ("algorithm", "quote_args", "expected_scheme"),
    [
        ("rsa2048:rsassa-sha256:null", (), "rsassa-sha256"),
        ("rsa2048:rsapss-sha384:null", ("-g", "sha384", "--scheme", "rsapss"), "rsapss-sha384"),
        ("ecc384:ecdsa-sha384:null", ("-g", "sha384"), "ecdsa-sha384"),
    ],
)
def test_verifies_rsa_and_p384_quotes(
    tpm: Tpm, algorithm: str, quote_args: tuple[str, ...], expected_scheme: str
) -> None:
    ak = tpm.create_key("ak", algorithm)
    result = tpm.quote(ak, SELECTION, NONCE, *quote_args).verify()

    assert result.ok, result.signature_detail
    assert result.signature_detail.startswith(expected_scheme)


def test_pcr_digest_uses_the_signing_hash_not_the_name_alg(tpm: Tpm) -> None:
    # nameAlg SHA-384, signing scheme ECDSA-SHA256, two banks in the selection.
    ak = tpm.create_key("ak", "ecc256:ecdsa-sha256:null", name_alg="sha384")
    quote = tpm.quote(ak, "sha256:0,16+sha1:3")
    result = quote.verify()

    assert result.ok
    assert result.ak.name_alg.name == "sha384" and len(result.ak_name) == 2 + 48
    assert result.pcr_digest_alg.name == "sha256" and len(result.attest.pcr_digest) == 32
    assert result.selected == (("sha256", 0), ("sha256", 16), ("sha1", 3))
    assert quote.pcr_values[("sha1", 3)] == bytes(20)


def test_public_area_formats_and_ak_digest(ecc_quote: Quote) -> None:
    tpmt = (ecc_quote.workdir / "ak.tpmt").read_bytes()
    wrapped = parse_public(ecc_quote.ak_public)
    bare = parse_public(tpmt)

    assert ecc_quote.ak_public == len(tpmt).to_bytes(2, "big") + tpmt
    assert wrapped == bare
    assert ak_digest(ecc_quote.ak_public) == ak_digest(tpmt) == hashlib.sha256(tpmt).digest()
    assert bare.name() == b"\x00\x0b" + hashlib.sha256(tpmt).digest()
    assert bare.curve == "nist_p256"
    assert bare.attributes.names() == AK_ATTRIBUTES.split("|")


def _azure_quote(testdata: Path) -> tuple[bytes, bytes, bytes, dict[tuple[str, int], bytes]]:
    """The vTPM quote of a real Azure SEV-SNP CVM (trustee az-snp-vtpm evidence-genoa.json).

    The evidence carries the TPMS_ATTEST, the bare RSA signature and the 24 SHA-256 PCRs; the AK
    (HCLAkPub) is a JWK in the HCL report's runtime data. The signature and the AK are put in
    their TPM encodings (TPMT_SIGNATURE RSASSA-SHA256, TPMT_PUBLIC RSA-2048) around the real
    key and signature bytes.
    """
    evidence = json.loads((testdata / "snp/trustee/az-snp-vtpm_evidence-genoa.json").read_text())
    hcl = bytes(evidence["report"])
    runtime = hcl[hcl.index(b'{"keys"') : hcl.rindex(b"}") + 1]
    (jwk,) = [key for key in json.loads(runtime)["keys"] if key["kid"] == "HCLAkPub"]
    assert jwk["kty"] == "RSA" and jwk["e"] == "AQAB"
    modulus = base64.urlsafe_b64decode(jwk["n"] + "==")
    ak_public = (
        struct.pack(">HHIH", 0x0001, 0x000B, 0x00050072, 0)  # rsa, sha256, AK attributes
        + struct.pack(">HHHHI", 0x0010, 0x0014, 0x000B, 2048, 0)  # rsassa-sha256, 2048, 65537
        + struct.pack(">H", len(modulus))
        + modulus
    )
    signature = struct.pack(">HHH", 0x0014, 0x000B, 256) + bytes(evidence["quote"]["signature"])
    pcrs = {("sha256", i): bytes(value) for i, value in enumerate(evidence["quote"]["pcrs"])}
    return bytes(evidence["quote"]["message"]), signature, ak_public, pcrs


def test_verifies_a_real_azure_vtpm_quote(testdata: Path) -> None:
    attest, signature, ak_public, pcrs = _azure_quote(testdata)
    extra_data = parse_attest(attest).extra_data
    result = verify_tpm_quote(
        attest, signature, ak_public, expected_extra_data=extra_data, pcr_values=pcrs
    )

    assert result.signature_ok and result.pcr_digest_ok
    assert result.selected == tuple(("sha256", i) for i in range(24))
    assert result.attest.firmware_version == 0x2020031200120003
    assert len(extra_data) == 48

    pcrs[("sha256", 0)] = bytes(32)
    altered = verify_tpm_quote(
        attest, signature, ak_public, expected_extra_data=extra_data, pcr_values=pcrs
    )
    assert altered.signature_ok and not altered.pcr_digest_ok
    tampered = attest[:-1] + bytes([attest[-1] ^ 1])
    forged = verify_tpm_quote(
        tampered, signature, ak_public, expected_extra_data=extra_data, pcr_values=pcrs
    )
    assert not forged.signature_ok


# --- rejecting what must be rejected ----------------------------------------------------------


def _attest_regions(attest: bytes) -> dict[str, int]:
    """Offset of one byte inside each field of a quote's TPMS_ATTEST."""
    parsed = parse_attest(attest)
    signer = 6
    extra = signer + 2 + len(parsed.qualified_signer)
    clock = extra + 2 + len(parsed.extra_data)
    firmware = clock + 17
    select = firmware + 8
    digest = select + 4 + 3 + parsed.pcr_select[0].select_size
    assert attest[extra + 2 : clock] == parsed.extra_data
    assert attest[digest + 2 :] == parsed.pcr_digest
    return {
        "magic": 1,
        "type": 5,
        "qualifiedSigner": signer + 5,
        "extraData": extra + 3,
        "clock": clock + 7,
        "resetCount": clock + 11,
        "restartCount": clock + 15,
        "safe": clock + 16,
        "firmwareVersion": firmware + 7,
        "pcrSelect": select + 7,
        "pcrDigest": digest + 5,
    }


@pytest.mark.parametrize(
    "region",
    [
        "qualifiedSigner",
        "extraData",
        "clock",
        "resetCount",
        "restartCount",
        "safe",
        "firmwareVersion",
        "pcrSelect",
        "pcrDigest",
    ],
)
def test_rejects_a_tampered_attest(ecc_quote: Quote, region: str) -> None:
    offset = _attest_regions(ecc_quote.attest)[region]
    tampered = bytearray(ecc_quote.attest)
    tampered[offset] ^= 0x01

    result = ecc_quote.verify(attest=bytes(tampered))

    assert not result.signature_ok
    assert not result.ok
    log = CheckLog()
    result.record(log)
    assert [(c.name, c.category) for c in log.failures] == [
        ("tpm-quote-signature", ExitCode.SIGNATURE_INVALID)
    ]
    assert [c.outcome for c in log][2:] == [Outcome.SKIP, Outcome.SKIP, Outcome.SKIP]


@pytest.mark.parametrize(("region", "field"), [("magic", "magic"), ("type", "type")])
def test_rejects_an_attest_that_is_not_a_tpm_quote(
    ecc_quote: Quote, region: str, field: str
) -> None:
    tampered = bytearray(ecc_quote.attest)
    tampered[_attest_regions(ecc_quote.attest)[region]] ^= 0x01

    with pytest.raises(ParseError) as error:
        ecc_quote.verify(attest=bytes(tampered))
    assert error.value.field == field


def test_rejects_a_tampered_signature(ecc_quote: Quote) -> None:
    tampered = bytearray(ecc_quote.signature)
    tampered[10] ^= 0x80
    result = ecc_quote.verify(signature=bytes(tampered))
    assert not result.signature_ok
    assert not result.ok


def test_rejects_a_wrong_nonce(ecc_quote: Quote) -> None:
    result = ecc_quote.verify(expected_extra_data=NONCE[:-1] + b"\x00")

    assert result.signature_ok and result.pcr_digest_ok
    assert not result.extra_data_ok and not result.ok
    log = CheckLog()
    result.record(log)
    assert [(c.name, c.category) for c in log.failures] == [
        ("tpm-quote-nonce", ExitCode.CONTENT_MISMATCH)
    ]


def test_rejects_wrong_pcr_values(ecc_quote: Quote) -> None:
    values = dict(ecc_quote.pcr_values)
    values[("sha256", 16)] = bytes(32)
    result = ecc_quote.verify(pcr_values=values)

    assert result.signature_ok and result.extra_data_ok
    assert not result.pcr_digest_ok and not result.ok
    log = CheckLog()
    result.record(log)
    assert [(c.name, c.category) for c in log.failures] == [
        ("tpm-pcr-digest", ExitCode.CONTENT_MISMATCH)
    ]


def test_reports_pcrs_without_a_value(ecc_quote: Quote) -> None:
    values = {key: value for key, value in ecc_quote.pcr_values.items() if key[1] != 2}
    values[("sha256", 23)] = bytes(32)  # not quoted: reported as uncovered, never trusted
    result = ecc_quote.verify(pcr_values=values)

    assert result.missing_pcr_values == (("sha256", 2),)
    assert result.uncovered_pcr_values == (("sha256", 23),)
    assert not result.pcr_digest_ok
    assert result.trusted_pcr_values() == {}
    log = CheckLog()
    result.record(log)
    assert "sha256:2" in log.failures[0].summary
    assert [(c.name, c.category) for c in log.failures] == [
        ("tpm-pcr-digest", ExitCode.CONTENT_MISMATCH),
        ("tpm-pcr-coverage", ExitCode.MALFORMED_INPUT),
    ]
    assert "sha256:23" in log.failures[1].summary


def test_values_the_quote_does_not_select_are_never_trusted(ecc_quote: Quote) -> None:
    """Extra PCRs and a whole extra bank: the quote still verifies what it covers, the extras
    fail tpm-pcr-coverage and are absent from the trusted values."""
    values = dict(ecc_quote.pcr_values)
    values[("sha256", 9)] = b"\x11" * 32
    values[("sha1", 0)] = b"\x22" * 20
    result = ecc_quote.verify(pcr_values=values)

    assert result.ok
    assert result.uncovered_pcr_values == (("sha1", 0), ("sha256", 9))
    assert result.trusted_pcr_values() == dict(ecc_quote.pcr_values)
    log = CheckLog()
    result.record(log)
    (failure,) = log.failures
    assert failure.name == "tpm-pcr-coverage"
    assert failure.category is ExitCode.MALFORMED_INPUT
    assert "sha1:0 sha256:9" in failure.summary


def test_rejects_a_pcr_value_of_the_wrong_size(ecc_quote: Quote) -> None:
    values = dict(ecc_quote.pcr_values)
    values[("sha256", 0)] = bytes(20)
    with pytest.raises(ParseError, match="sha256:0"):
        ecc_quote.verify(pcr_values=values)


def test_rejects_a_quote_signed_by_another_key(tpm: Tpm) -> None:
    ak = tpm.create_key("ak", "ecc256:ecdsa-sha256:null")
    other = tpm.create_key("other", "ecc256:ecdsa-sha256:null")
    quote = tpm.quote(ak)

    result = quote.verify(ak_public=tpm.public(other))
    assert not result.signature_ok and not result.ok

    rsa = tpm.create_key("rsa", "rsa2048:rsassa-sha256:null")
    result = quote.verify(ak_public=tpm.public(rsa))
    assert not result.signature_ok
    assert "only signs with rsassa-sha256" in result.signature_detail


def test_rejects_a_key_that_is_not_restricted(tpm: Tpm) -> None:
    key = tpm.create_key("signer", "ecc256:null:null", SIGNING_KEY_ATTRIBUTES)
    quote = tpm.quote(key)
    result = quote.verify()

    assert result.signature_ok and result.extra_data_ok and result.pcr_digest_ok
    assert not result.ak_is_attestation_key and not result.ok
    log = CheckLog()
    result.record(log)
    assert [(c.name, c.category) for c in log.failures] == [
        ("tpm-attestation-key", ExitCode.CHAIN_UNTRUSTED)
    ]

    # Why it matters: an unrestricted key signs a forged TPMS_ATTEST (other PCR digest) ...
    forged = quote.attest[:-1] + bytes([quote.attest[-1] ^ 0xFF])
    (tpm.workdir / "forged.bin").write_bytes(forged)
    tpm.run("tpm2_sign", "-c", key, "-g", "sha256", "-s", "ecdsa", "-o", "forged.sig", "forged.bin")
    forgery = quote.verify(attest=forged, signature=(tpm.workdir / "forged.sig").read_bytes())
    assert forgery.signature_ok and not forgery.pcr_digest_ok and not forgery.ok
    # ... which a restricted AK refuses to sign (TPM_RC_TICKET).
    ak = tpm.create_key("ak", "ecc256:ecdsa-sha256:null")
    with pytest.raises(AssertionError, match="tpm2_sign"):
        tpm.run("tpm2_sign", "-c", ak, "-g", "sha256", "-o", "ak.sig", "forged.bin")


# --- cross-check with tpm2_checkquote ---------------------------------------------------------


def test_tpm2_checkquote_agrees(ecc_quote: Quote) -> None:
    def checkquote(nonce: bytes) -> int:
        return subprocess.run(
            [
                "tpm2_checkquote", "-u", "ak.pub.readpublic", "-m", "attest.bin",
                "-s", "sig.bin", "-f", "pcrs.serialized", "-g", "sha256", "-q", nonce.hex(),
            ],
            check=False,
            cwd=ecc_quote.workdir,
            capture_output=True,
            timeout=30,
        ).returncode  # fmt: skip

    (ecc_quote.workdir / "ak.pub.readpublic").write_bytes(ecc_quote.ak_public)
    wrong_nonce = bytes(len(NONCE))

    assert checkquote(NONCE) == 0
    assert ecc_quote.verify().ok
    assert checkquote(wrong_nonce) != 0
    assert not ecc_quote.verify(expected_extra_data=wrong_nonce).ok


# --- tpm2-tools PCR listing -------------------------------------------------------------------


def test_pcr_values_from_quote_output_match_pcrread(ecc_quote: Quote) -> None:
    assert pcr_values_from_tpm2_tools(ecc_quote.stdout) == ecc_quote.pcr_values


@pytest.mark.parametrize(
    "text",
    [
        "",
        "sha256:\n  0 : 0x00\n",
        "sha256:\n  0 : 0x" + "00" * 32 + "\n  0 : 0x" + "00" * 32 + "\n",
        "  0 : 0x" + "00" * 32 + "\n",
        "sha1:\n  7 : 0x" + "00" * 32 + "\n",
    ],
)
def test_pcr_listing_rejects_malformed_text(text: str) -> None:
    with pytest.raises(ParseError):
        pcr_values_from_tpm2_tools(text)


# --- strict parsing ---------------------------------------------------------------------------


def _with(data: bytes, offset: int, replacement: bytes) -> bytes:
    return data[:offset] + replacement + data[offset + len(replacement) :]


def test_structural_errors_name_the_field(ecc_quote: Quote) -> None:
    attest, signature, public = ecc_quote.attest, ecc_quote.signature, ecc_quote.ak_public
    tpmt = public[2:]
    cases = [
        (parse_attest, attest[:-1], "quote.pcrDigest"),
        (parse_attest, attest + b"\x00", "trailing"),
        (parse_attest, _with(attest, 6, b"\xff\xff"), "qualifiedSigner"),
        (parse_attest, _with(attest, 6, b"\x00\x03"), "qualifiedSigner"),
        (parse_signature, signature[:3], "ecdsa.hash"),
        (parse_signature, _with(signature, 0, b"\x00\x10"), "sigAlg"),
        (parse_signature, _with(signature, 0, b"\x00\x05"), "sigAlg"),
        (parse_signature, _with(signature, 2, b"\x00\x12"), "ecdsa.hash"),
        (parse_public, _with(tpmt, 0, b"\x00\x08"), "type"),
        (parse_public, _with(tpmt, 4, b"\x80\x00\x00\x00"), "objectAttributes"),
        (parse_public, _with(tpmt, 16, b"\x00\x10"), "eccDetail.curveID"),
        (parse_public, _with(tpmt, 22, b"\x00" * 8), "unique.ecc"),
        (parse_public, tpmt + b"\x00", "trailing"),
    ]
    for parse, data, field in cases:
        with pytest.raises(ParseError) as error:
            parse(data)
        assert error.value.field == field, (parse.__name__, error.value)
        assert error.value.exit_code is ExitCode.MALFORMED_INPUT


_FUZZ = settings(max_examples=150, deadline=None)


@_FUZZ
@given(data=st.binary(max_size=200))
def test_parsers_accept_or_raise_parse_error_on_random_bytes(data: bytes) -> None:
    for parse in (parse_attest, parse_signature, parse_public):
        with suppress(ParseError):
            parse(data)


@st.composite
def _mutations(draw: st.DrawFn, original: bytes) -> bytes:
    kind = draw(st.sampled_from(["flip", "truncate", "insert", "overwrite"]))
    position = draw(st.integers(0, len(original) - 1))
    if kind == "flip":
        return _with(original, position, bytes([original[position] ^ draw(st.integers(1, 255))]))
    if kind == "truncate":
        return original[:position]
    chunk = draw(st.binary(min_size=1, max_size=8))
    if kind == "insert":
        return original[:position] + chunk + original[position:]
    return (original[:position] + chunk + original[position + len(chunk) :])[: len(original)]


@_FUZZ
@given(choice=st.data())
def test_mutated_quotes_never_verify_and_only_raise_parse_error(
    ecc_quote: Quote, choice: st.DataObject
) -> None:
    part = choice.draw(st.sampled_from(["attest", "signature", "ak_public"]))
    original: bytes = getattr(ecc_quote, part)
    mutated = choice.draw(_mutations(original))
    try:
        result = ecc_quote.verify(**{part: mutated})  # type: ignore[arg-type]
    except ParseError:
        return
    if mutated != original and result.ok:
        # Only a change that keeps the signed bytes and the key may still verify: another
        # encoding of the same r, s, or an AK area with other non-key fields (the AK's
        # identity is bound separately, by ak_digest in REPORT_DATA).
        assert part != "attest"
        if part == "signature":
            assert parse_signature(mutated) == parse_signature(original)
        else:
            assert parse_public(mutated).public_key == parse_public(original).public_key
            assert parse_public(mutated).is_attestation_key
