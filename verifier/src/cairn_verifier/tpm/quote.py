"""Verify a TPM 2.0 quote (``TPM2_Quote``) in pure Python.

Inputs are exactly what ``tpm2_quote -m attest -s sig`` and ``tpm2_readpublic -o ak.pub`` write:
the signed ``TPMS_ATTEST``, the ``TPMT_SIGNATURE`` and the attestation key's ``TPM2B_PUBLIC``
(or bare ``TPMT_PUBLIC``).

What is checked, each reported as its own property of :class:`TpmQuoteResult`:

* signature: over the ``TPMS_ATTEST`` bytes with the AK, using the hash algorithm named in the
  signature (ECDSA r, s; RSASSA-PKCS1-v1_5; RSA-PSS with any salt length). When the AK fixes a
  signing scheme, the signature must use it, as the TPM itself would.
* attestation key: a restricted, TPM-generated (``fixedTPM``, ``sensitiveDataOrigin``) signing
  key. Only such a key guarantees that a signed ``TPM_GENERATED_VALUE`` structure came from the
  TPM: an unrestricted key signs anything, including forged quotes.
* extra data: ``extraData`` equals the verifier's nonce (``tpm2_quote -q``).
* PCR digest: ``pcrDigest`` = H(value₁ ‖ value₂ ‖ …) over the selected PCRs, banks in
  ``TPML_PCR_SELECTION`` order and indexes ascending within a bank. H is the hash algorithm of
  the *signing scheme* (``TPM2_Quote`` computes it with ``inScheme.details.any.hashAlg``), not
  the AK's nameAlg: an AK with nameAlg SHA-384 and scheme ECDSA-SHA256 quotes a 32-byte digest
  (checked against swtpm and tpm2-tools 5.4).
* PCR coverage: every given PCR value is one the quote selects. A value for a PCR (or bank) the
  quote does not select is covered by no signature: it is reported, never trusted, and
  :meth:`TpmQuoteResult.trusted_pcr_values` never contains it.

Only malformed input raises (:class:`~cairn_verifier.errors.ParseError`); the outcome of each
check is data, so a pipeline records one named check per property with
:meth:`TpmQuoteResult.record`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from ..check_names import TpmCheck
from ..checks import CheckLog
from ..errors import ExitCode, ParseError
from .structures import (
    AK_REQUIRED_ATTRIBUTES,
    COMPONENT,
    HASHES_BY_NAME,
    Attest,
    EcdsaSignature,
    HashAlgorithm,
    RsaSignature,
    TpmAlg,
    TpmPublic,
    TpmSignature,
    alg_name,
    parse_attest,
    parse_public,
    parse_signature,
)

CHECK_COMPONENT = "TPM quote"

#: Hash algorithms accepted for quote signatures (SHA-1 is not collision resistant).
SIGNATURE_HASHES = frozenset({"sha256", "sha384", "sha512", "sha3_256", "sha3_384", "sha3_512"})

PcrValues = Mapping[tuple[str, int], bytes]


@dataclass(frozen=True)
class TpmQuoteResult:
    """A parsed quote and the outcome of every check; ``ok`` only if all of them passed."""

    attest: Attest
    signature: TpmSignature
    ak: TpmPublic
    ak_name: bytes
    signature_ok: bool
    signature_detail: str
    ak_is_attestation_key: bool
    expected_extra_data: bytes
    extra_data_ok: bool
    pcr_digest_alg: HashAlgorithm
    computed_pcr_digest: bytes | None
    pcr_digest_ok: bool
    missing_pcr_values: tuple[tuple[str, int], ...]
    selected: tuple[tuple[str, int], ...]
    uncovered_pcr_values: tuple[tuple[str, int], ...] = ()
    """PCRs a value was given for that the quote does not select (covered by no signature)."""
    pcr_values: PcrValues = field(default_factory=dict)
    """The values given for the selected PCRs (all of them only when none is missing)."""

    @property
    def ok(self) -> bool:
        return (
            self.signature_ok
            and self.ak_is_attestation_key
            and self.extra_data_ok
            and self.pcr_digest_ok
        )

    def trusted_pcr_values(self) -> dict[tuple[str, int], bytes]:
        """The PCR values this quote proves: the selected ones, and only when :attr:`ok`.

        A value the quote does not select, or any value of a quote that did not verify, is
        absent: nothing may be appraised against it.
        """
        if not self.ok:
            return {}
        return {key: self.pcr_values[key] for key in self.selected}

    def record(self, log: CheckLog, component: str = CHECK_COMPONENT) -> bool:
        """Record one named check per property in ``log``; return :attr:`ok`.

        The nonce and PCR checks are recorded as skipped when the signature does not verify:
        the content of an unauthenticated quote means nothing. ``tpm-pcr-coverage`` fails (exit
        10) when values were given for PCRs the quote does not select.
        """
        log.check(
            self.signature_ok,
            TpmCheck.QUOTE_SIGNATURE,
            component,
            ExitCode.SIGNATURE_INVALID,
            self.signature_detail,
            hint=None if self.signature_ok else "the quote was not signed by this AK",
        )
        attributes = "|".join(self.ak.attributes.names())
        log.check(
            self.ak_is_attestation_key,
            TpmCheck.ATTESTATION_KEY,
            component,
            ExitCode.CHAIN_UNTRUSTED,
            "the AK is a restricted, TPM-generated signing key"
            if self.ak_is_attestation_key
            else "not an attestation key: the AK must be a restricted signing key with "
            "fixedTPM and sensitiveDataOrigin",
            expected="|".join(AK_REQUIRED_ATTRIBUTES),
            actual=attributes,
            hint=None
            if self.ak_is_attestation_key
            else 'create the AK with tpm2_createak or -a "fixedtpm|fixedparent|'
            'sensitivedataorigin|userwithauth|restricted|sign"',
        )
        if not self.signature_ok:
            reason = "not checked: the quote's signature does not verify"
            log.skipped(TpmCheck.QUOTE_NONCE, component, reason)
            log.skipped(TpmCheck.PCR_DIGEST, component, reason)
            log.skipped(
                TpmCheck.PCR_COVERAGE,
                component,
                reason + ": its PCR selection is unauthenticated and no PCR value is trusted",
            )
            return False
        log.check(
            self.extra_data_ok,
            TpmCheck.QUOTE_NONCE,
            component,
            ExitCode.CONTENT_MISMATCH,
            "extraData matches the nonce"
            if self.extra_data_ok
            else "extraData does not match the nonce (stale or replayed quote)",
            expected=self.expected_extra_data.hex(),
            actual=self.attest.extra_data.hex(),
        )
        if self.missing_pcr_values:
            missing = ", ".join(f"{bank}:{index}" for bank, index in self.missing_pcr_values)
            log.failed(
                TpmCheck.PCR_DIGEST,
                component,
                ExitCode.CONTENT_MISMATCH,
                f"no value given for quoted PCRs {missing}",
                hint="supply the value of every PCR the quote selects",
            )
        else:
            log.check(
                self.pcr_digest_ok,
                TpmCheck.PCR_DIGEST,
                component,
                ExitCode.CONTENT_MISMATCH,
                f"{self.pcr_digest_alg.name} digest of {len(self.selected)} PCR values "
                + ("matches pcrDigest" if self.pcr_digest_ok else "does not match pcrDigest"),
                expected=self.attest.pcr_digest.hex(),
                actual=self.computed_pcr_digest.hex() if self.computed_pcr_digest else None,
            )
        self._record_coverage(log, component)
        return self.ok

    def _record_coverage(self, log: CheckLog, component: str) -> None:
        """``tpm-pcr-coverage``: values for PCRs the quote does not select are malformed input."""
        selected = format_pcrs(self.selected) or "none"
        if self.uncovered_pcr_values:
            log.failed(
                TpmCheck.PCR_COVERAGE,
                component,
                ExitCode.MALFORMED_INPUT,
                f"values given for PCRs the quote does not select: "
                f"{format_pcrs(self.uncovered_pcr_values)}; no signature covers them, so they "
                "were not trusted",
                expected=selected,
                actual=format_pcrs(sorted({*self.selected, *self.uncovered_pcr_values})),
                hint="the evidence lists PCR values the TPM did not sign: give exactly the PCRs "
                "the quote selects (to appraise more PCRs, make the agent quote them: "
                "tpm.pcrs in its configuration)",
            )
        else:
            log.passed(
                TpmCheck.PCR_COVERAGE,
                component,
                f"every PCR value given is one the quote selects ({selected})",
            )

    def to_json(self) -> dict[str, Any]:
        return {
            "attest": self.attest.to_json(),
            "ak": self.ak.to_json(),
            "signature_ok": self.signature_ok,
            "ak_is_attestation_key": self.ak_is_attestation_key,
            "extra_data_ok": self.extra_data_ok,
            "pcr_digest_ok": self.pcr_digest_ok,
            "pcr_digest_alg": self.pcr_digest_alg.name,
            "selected": [f"{bank}:{index}" for bank, index in self.selected],
            "uncovered": [f"{bank}:{index}" for bank, index in self.uncovered_pcr_values],
        }


def ak_digest(ak_public: bytes) -> bytes:
    """SHA-256 of the AK's ``TPMT_PUBLIC`` (a ``TPM2B_PUBLIC`` is unwrapped first): what
    REPORT_DATA v1 binds (docs/spec/report-data-v1.md). The one definition: the evidence
    pipeline, the bundle's claims (and so zk proofs) and the agent all use it. ParseError when
    ``ak_public`` is no TPM public area."""
    return hashlib.sha256(parse_public(ak_public).raw).digest()


def _check_signature(attest: bytes, signature: TpmSignature, ak: TpmPublic) -> tuple[bool, str]:
    """Verify ``signature`` over ``attest`` with the AK; return (ok, explanation)."""
    what = f"{alg_name(signature.scheme)}-{signature.hash.name}"
    if signature.hash.name not in SIGNATURE_HASHES:
        return False, f"{what} signature rejected: {signature.hash.name} is not accepted"
    key_scheme = ak.scheme
    if not key_scheme.is_null and (
        key_scheme.scheme != signature.scheme or key_scheme.hash != signature.hash
    ):
        fixed = alg_name(key_scheme.scheme)
        if key_scheme.hash is not None:
            fixed += f"-{key_scheme.hash.name}"
        return False, f"{what} signature, but the AK only signs with {fixed}"
    algorithm = signature.hash.crypto()
    key = ak.public_key
    try:
        if isinstance(signature, EcdsaSignature):
            if not isinstance(key, ec.EllipticCurvePublicKey):
                return False, f"{what} signature, but the AK is an RSA key"
            der = encode_dss_signature(signature.r, signature.s)
            key.verify(der, attest, ec.ECDSA(algorithm))
        else:
            if not isinstance(key, rsa.RSAPublicKey):
                return False, f"{what} signature, but the AK is an ECC key"
            key.verify(signature.signature, attest, _rsa_padding(signature), algorithm)
    except InvalidSignature:
        return False, f"{what} signature over TPMS_ATTEST does not verify with the AK"
    return True, f"{what} signature over TPMS_ATTEST verifies with the AK"


def _rsa_padding(signature: RsaSignature) -> padding.AsymmetricPadding:
    if signature.scheme == TpmAlg.RSAPSS:
        # TPMs use a salt as long as the digest or the maximum; accept either.
        return padding.PSS(mgf=padding.MGF1(signature.hash.crypto()), salt_length=padding.PSS.AUTO)
    return padding.PKCS1v15()


def _pcr_digest(
    attest: Attest, algorithm: HashAlgorithm, pcr_values: PcrValues
) -> tuple[bytes | None, tuple[tuple[str, int], ...]]:
    """H(selected PCR values in quote order), or None and the PCRs that have no value."""
    missing: list[tuple[str, int]] = []
    concatenation = bytearray()
    # pcr_select lists each bank at most once (parse_attest), so no PCR is digested twice.
    for selection in attest.pcr_select:
        for index in selection.indexes:
            value = pcr_values.get((selection.bank, index))
            if value is None:
                missing.append((selection.bank, index))
                continue
            if len(value) != selection.hash.size:
                raise ParseError(
                    f"PCR {selection.bank}:{index} value has {len(value)} bytes, "
                    f"a {selection.bank} digest has {selection.hash.size}",
                    component=COMPONENT,
                    field=f"pcr_values[{selection.bank}:{index}]",
                )
            concatenation += value
    if missing:
        return None, tuple(missing)
    return algorithm.digest(bytes(concatenation)), ()


def verify_tpm_quote(
    attest: bytes,
    signature: bytes,
    ak_public: bytes,
    *,
    expected_extra_data: bytes,
    pcr_values: PcrValues,
) -> TpmQuoteResult:
    """Parse and check a quote against the AK, the nonce and the claimed PCR values.

    ``pcr_values`` maps (bank, index), bank as in tpm2-tools (``sha256``, ``sha1``, ...), to the
    PCR value; values of PCRs the quote does not select are listed in
    :attr:`TpmQuoteResult.uncovered_pcr_values` (the ``tpm-pcr-coverage`` check fails) and never
    trusted. Raises :class:`~cairn_verifier.errors.ParseError` only for malformed input.
    """
    parsed = parse_attest(attest)
    sig = parse_signature(signature)
    ak = parse_public(ak_public)
    signature_ok, detail = _check_signature(parsed.raw, sig, ak)
    computed, missing = _pcr_digest(parsed, sig.hash, pcr_values)
    selected = tuple(parsed.selected)
    chosen = set(selected)
    uncovered = tuple(sorted(key for key in pcr_values if key not in chosen))
    return TpmQuoteResult(
        attest=parsed,
        signature=sig,
        ak=ak,
        ak_name=ak.name(),
        signature_ok=signature_ok,
        signature_detail=detail,
        ak_is_attestation_key=ak.is_attestation_key,
        expected_extra_data=bytes(expected_extra_data),
        extra_data_ok=parsed.extra_data == expected_extra_data,
        pcr_digest_alg=sig.hash,
        computed_pcr_digest=computed,
        pcr_digest_ok=computed is not None and computed == parsed.pcr_digest,
        missing_pcr_values=missing,
        selected=selected,
        uncovered_pcr_values=uncovered,
        pcr_values={key: pcr_values[key] for key in selected if key in pcr_values},
    )


def format_pcrs(pcrs: Iterable[tuple[str, int]]) -> str:
    """``sha256:0,1,7 sha1:0`` style: banks in first-seen order, indexes as given."""
    banks: dict[str, list[str]] = {}
    for bank, index in pcrs:
        banks.setdefault(bank, []).append(str(index))
    return " ".join(f"{bank}:{','.join(indexes)}" for bank, indexes in banks.items())


_BANK_LINE = re.compile(r"^(?P<indent>\s*)(?P<bank>[a-z0-9_]+)\s*:\s*$")
_VALUE_LINE = re.compile(r"^(?P<indent>\s*)(?P<index>\d{1,3})\s*:\s*0x(?P<value>[0-9A-Fa-f]*)\s*$")


def pcr_values_from_tpm2_tools(text: str) -> dict[tuple[str, int], bytes]:
    """PCR values from the YAML that ``tpm2_pcrread`` (or ``tpm2_quote``) prints.

    Reads the ``<bank>:`` blocks of ``<index> : 0x<hex>`` lines and ignores every other line
    (``tpm2_quote`` also prints the quote and signature). The serialized binary
    (``-F serialized``) is a host-endian dump of tpm2-tools' C structures and is not read here.
    """
    values: dict[tuple[str, int], bytes] = {}
    bank: HashAlgorithm | None = None
    bank_indent = -1
    for number, line in enumerate(text.splitlines(), start=1):
        header = _BANK_LINE.match(line)
        if header and header["bank"] in HASHES_BY_NAME:
            bank = HASHES_BY_NAME[header["bank"]]
            bank_indent = len(header["indent"])
            continue
        entry = _VALUE_LINE.match(line)
        if bank is None or entry is None or len(entry["indent"]) <= bank_indent:
            bank = None
            continue
        field = f"line {number}"
        index = int(entry["index"])
        value = bytes.fromhex(entry["value"]) if len(entry["value"]) % 2 == 0 else b""
        if len(value) != bank.size:
            raise ParseError(
                f"PCR {bank.name}:{index} value is not a {bank.size}-byte digest",
                component=COMPONENT,
                field=field,
            )
        if (bank.name, index) in values:
            raise ParseError(
                f"PCR {bank.name}:{index} appears twice", component=COMPONENT, field=field
            )
        values[(bank.name, index)] = value
    if not values:
        raise ParseError(
            "no PCR values found "
            "(expected tpm2_pcrread output: '<bank>:' then '<index> : 0x<hex>' lines)",
            component=COMPONENT,
            field="pcr values",
        )
    return values
