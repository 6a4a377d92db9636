"""TPM 2.0 structures (TCG TPM 2.0 Library, Part 2), unmarshalled strictly from big-endian bytes.

* ``TPMS_ATTEST`` of a quote: magic ``TPM_GENERATED_VALUE`` | type ``TPM_ST_ATTEST_QUOTE`` |
  ``TPM2B_NAME`` qualifiedSigner | ``TPM2B_DATA`` extraData | ``TPMS_CLOCK_INFO`` | u64
  firmwareVersion | ``TPMS_QUOTE_INFO`` (``TPML_PCR_SELECTION`` | ``TPM2B_DIGEST`` pcrDigest).
* ``TPMT_SIGNATURE``: ECDSA (hash, ``TPM2B`` r, ``TPM2B`` s), RSASSA and RSAPSS (hash, ``TPM2B``
  signature).
* ``TPMT_PUBLIC`` (or its ``TPM2B_PUBLIC`` wrapper) of an ECC (NIST P-256/384/521) or RSA key.

Every size field is bounded by the maximum the specification allows, every structure must be
consumed exactly, and any violation raises :class:`~cairn_verifier.errors.ParseError` naming the
field and its offset.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ..binary import Reader
from ..bits import Flag, IntBitField

COMPONENT = "tpm"

TPM_GENERATED_VALUE = 0xFF544347
TPM_ST_ATTEST_QUOTE = 0x8018

#: sizeof(TPMU_HA): the largest digest (SHA-512).
MAX_DIGEST_SIZE = 64
#: sizeof(TPMU_NAME) = sizeof(TPMT_HA): a hash algorithm and the largest digest.
MAX_NAME_SIZE = 2 + MAX_DIGEST_SIZE
#: sizeof(TPMT_HA), the bound of TPM2B_DATA.
MAX_DATA_SIZE = 2 + MAX_DIGEST_SIZE
#: MAX_RSA_KEY_BYTES for 4096-bit keys.
MAX_RSA_KEY_BYTES = 512
#: Largest ECC coordinate (P-521).
MAX_ECC_KEY_BYTES = 66
#: Generous bounds on TPML_PCR_SELECTION: banks per list and bytes per PCR bitmap.
MAX_PCR_BANKS = 16
MAX_PCR_SELECT_BYTES = 32


class TpmAlg(IntEnum):
    """``TPM_ALG_ID`` values used by the structures Cairn reads (Part 2, table "TPM_ALG_ID")."""

    RSA = 0x0001
    SHA1 = 0x0004
    HMAC = 0x0005
    AES = 0x0006
    MGF1 = 0x0007
    KEYEDHASH = 0x0008
    XOR = 0x000A
    SHA256 = 0x000B
    SHA384 = 0x000C
    SHA512 = 0x000D
    NULL = 0x0010
    SM3_256 = 0x0012
    SM4 = 0x0013
    RSASSA = 0x0014
    RSAES = 0x0015
    RSAPSS = 0x0016
    OAEP = 0x0017
    ECDSA = 0x0018
    ECDH = 0x0019
    ECDAA = 0x001A
    SM2 = 0x001B
    ECSCHNORR = 0x001C
    ECMQV = 0x001D
    KDF1_SP800_56A = 0x0020
    KDF2 = 0x0021
    KDF1_SP800_108 = 0x0022
    ECC = 0x0023
    SYMCIPHER = 0x0025
    CAMELLIA = 0x0026
    SHA3_256 = 0x0027
    SHA3_384 = 0x0028
    SHA3_512 = 0x0029
    CTR = 0x0040
    OFB = 0x0041
    CBC = 0x0042
    CFB = 0x0043
    ECB = 0x0044


def alg_name(alg: int) -> str:
    """Readable name of an algorithm id (``sha256``, ``ecdsa``, ``0x1234`` when unknown)."""
    try:
        return TpmAlg(alg).name.lower()
    except ValueError:
        return f"0x{alg:04x}"


@dataclass(frozen=True)
class HashAlgorithm:
    """A TPM hash algorithm: its id, the tpm2-tools bank name and digest size."""

    alg: int
    name: str
    size: int
    crypto: Callable[[], hashes.HashAlgorithm]

    def digest(self, data: bytes) -> bytes:
        return hashlib.new(self.name, data).digest()


HASH_ALGORITHMS: dict[int, HashAlgorithm] = {
    h.alg: h
    for h in (
        HashAlgorithm(TpmAlg.SHA1, "sha1", 20, hashes.SHA1),
        HashAlgorithm(TpmAlg.SHA256, "sha256", 32, hashes.SHA256),
        HashAlgorithm(TpmAlg.SHA384, "sha384", 48, hashes.SHA384),
        HashAlgorithm(TpmAlg.SHA512, "sha512", 64, hashes.SHA512),
        HashAlgorithm(TpmAlg.SHA3_256, "sha3_256", 32, hashes.SHA3_256),
        HashAlgorithm(TpmAlg.SHA3_384, "sha3_384", 48, hashes.SHA3_384),
        HashAlgorithm(TpmAlg.SHA3_512, "sha3_512", 64, hashes.SHA3_512),
    )
}
HASHES_BY_NAME: dict[str, HashAlgorithm] = {h.name: h for h in HASH_ALGORITHMS.values()}

_CURVES: dict[int, tuple[str, int, Callable[[], ec.EllipticCurve]]] = {
    0x0003: ("nist_p256", 32, ec.SECP256R1),
    0x0004: ("nist_p384", 48, ec.SECP384R1),
    0x0005: ("nist_p521", 66, ec.SECP521R1),
}
_SYMMETRIC_OBJECT_ALGS = {TpmAlg.AES, TpmAlg.SM4, TpmAlg.CAMELLIA}
_SYMMETRIC_MODES = {TpmAlg.CTR, TpmAlg.OFB, TpmAlg.CBC, TpmAlg.CFB, TpmAlg.ECB}
_RSA_SCHEMES_WITH_HASH = {TpmAlg.RSASSA, TpmAlg.RSAPSS, TpmAlg.OAEP}
_RSA_SCHEMES = {*_RSA_SCHEMES_WITH_HASH, TpmAlg.RSAES, TpmAlg.NULL}
_ECC_SCHEMES_WITH_HASH = {TpmAlg.ECDSA, TpmAlg.ECDH, TpmAlg.ECSCHNORR, TpmAlg.SM2, TpmAlg.ECMQV}
_ECC_SCHEMES = {*_ECC_SCHEMES_WITH_HASH, TpmAlg.ECDAA, TpmAlg.NULL}
_KDF_SCHEMES = {TpmAlg.MGF1, TpmAlg.KDF1_SP800_56A, TpmAlg.KDF2, TpmAlg.KDF1_SP800_108}
_RSA_KEY_BITS = {1024, 2048, 3072, 4096}


class TpmReader(Reader):
    """Big-endian cursor over one TPM structure, with the TPM's sized and algorithm fields."""

    def __init__(self, data: bytes, structure: str):
        super().__init__(data, structure, order="big", component=COMPONENT)

    def tpm2b(self, field: str, max_size: int) -> bytes:
        """A ``TPM2B``: u16 size then that many bytes, the size bounded by ``max_size``."""
        start = self.offset
        size = self.u16(f"{field}.size")
        if size > max_size:
            raise self.error(f"{field} size {size} exceeds the maximum {max_size}", field, start)
        return self.take(size, field)

    def hash_alg(self, field: str) -> HashAlgorithm:
        start = self.offset
        alg = self.u16(field)
        try:
            return HASH_ALGORITHMS[alg]
        except KeyError:
            raise self.error(f"unsupported hash algorithm {alg_name(alg)}", field, start) from None


# --- TPMS_ATTEST ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PcrSelection:
    """One ``TPMS_PCR_SELECTION``: a bank and the PCR indexes set in its bitmap, ascending."""

    hash: HashAlgorithm
    indexes: tuple[int, ...]
    select_size: int

    @property
    def bank(self) -> str:
        return self.hash.name


@dataclass(frozen=True)
class ClockInfo:
    """``TPMS_CLOCK_INFO``."""

    clock: int
    reset_count: int
    restart_count: int
    safe: bool


@dataclass(frozen=True)
class Attest:
    """A ``TPMS_ATTEST`` of type ``TPM_ST_ATTEST_QUOTE``; ``raw`` is exactly what was signed."""

    raw: bytes
    qualified_signer: bytes
    extra_data: bytes
    clock_info: ClockInfo
    firmware_version: int
    pcr_select: tuple[PcrSelection, ...]
    pcr_digest: bytes

    @property
    def selected(self) -> list[tuple[str, int]]:
        """The quoted PCRs as (bank, index), in the order their values are digested."""
        return [(sel.bank, index) for sel in self.pcr_select for index in sel.indexes]

    def to_json(self) -> dict[str, Any]:
        return {
            "qualified_signer": self.qualified_signer.hex(),
            "extra_data": self.extra_data.hex(),
            "clock": self.clock_info.clock,
            "reset_count": self.clock_info.reset_count,
            "restart_count": self.clock_info.restart_count,
            "safe": self.clock_info.safe,
            "firmware_version": f"{self.firmware_version:016x}",
            "pcr_select": {sel.bank: list(sel.indexes) for sel in self.pcr_select},
            "pcr_digest": self.pcr_digest.hex(),
        }


def _check_name(reader: TpmReader, name: bytes, field: str, start: int) -> None:
    """A ``TPM2B_NAME`` is empty, a 4-byte handle, or a hash algorithm and its digest."""
    if len(name) in (0, 4):
        return
    alg = int.from_bytes(name[:2], "big") if len(name) >= 2 else None
    algorithm = HASH_ALGORITHMS.get(alg) if alg is not None else None
    if algorithm is None or len(name) != 2 + algorithm.size:
        raise reader.error(
            f"{field} is neither a handle nor a name (hash algorithm + digest)", field, start
        )


def _parse_pcr_selection(reader: TpmReader, field: str) -> tuple[PcrSelection, ...]:
    count = reader.u32(f"{field}.count")
    if count > MAX_PCR_BANKS:
        raise reader.error(f"{count} PCR banks exceed the maximum {MAX_PCR_BANKS}", field)
    selections: list[PcrSelection] = []
    for i in range(count):
        start = reader.offset
        algorithm = reader.hash_alg(f"{field}[{i}].hash")
        if any(sel.hash.alg == algorithm.alg for sel in selections):
            raise reader.error(f"PCR bank {algorithm.name} selected twice", f"{field}[{i}]", start)
        size = reader.u8(f"{field}[{i}].sizeofSelect")
        if not 1 <= size <= MAX_PCR_SELECT_BYTES:
            raise reader.error(
                f"sizeofSelect {size} outside 1..{MAX_PCR_SELECT_BYTES}", f"{field}[{i}]", start
            )
        bitmap = reader.take(size, f"{field}[{i}].pcrSelect")
        indexes = tuple(
            8 * byte_index + bit
            for byte_index, byte in enumerate(bitmap)
            for bit in range(8)
            if byte >> bit & 1
        )
        selections.append(PcrSelection(algorithm, indexes, size))
    return tuple(selections)


def parse_attest(data: bytes) -> Attest:
    """Unmarshal a quote's ``TPMS_ATTEST`` (``tpm2_quote -m``)."""
    reader = TpmReader(data, "TPMS_ATTEST")
    magic = reader.u32("magic")
    if magic != TPM_GENERATED_VALUE:
        raise reader.error(
            f"magic 0x{magic:08x} is not TPM_GENERATED_VALUE 0x{TPM_GENERATED_VALUE:08x}",
            "magic",
            0,
        )
    attest_type = reader.u16("type")
    if attest_type != TPM_ST_ATTEST_QUOTE:
        raise reader.error(
            f"type 0x{attest_type:04x} is not TPM_ST_ATTEST_QUOTE 0x{TPM_ST_ATTEST_QUOTE:04x}",
            "type",
            4,
        )
    start = reader.offset
    qualified_signer = reader.tpm2b("qualifiedSigner", MAX_NAME_SIZE)
    _check_name(reader, qualified_signer, "qualifiedSigner", start)
    extra_data = reader.tpm2b("extraData", MAX_DATA_SIZE)
    clock = reader.u64("clockInfo.clock")
    reset_count = reader.u32("clockInfo.resetCount")
    restart_count = reader.u32("clockInfo.restartCount")
    safe = reader.u8("clockInfo.safe")
    if safe > 1:
        raise reader.error(
            f"safe is {safe}, not a TPMI_YES_NO", "clockInfo.safe", reader.offset - 1
        )
    firmware_version = reader.u64("firmwareVersion")
    pcr_select = _parse_pcr_selection(reader, "quote.pcrSelect")
    pcr_digest = reader.tpm2b("quote.pcrDigest", MAX_DIGEST_SIZE)
    reader.finish()
    return Attest(
        raw=reader.data,
        qualified_signer=qualified_signer,
        extra_data=extra_data,
        clock_info=ClockInfo(clock, reset_count, restart_count, bool(safe)),
        firmware_version=firmware_version,
        pcr_select=pcr_select,
        pcr_digest=pcr_digest,
    )


# --- TPMT_SIGNATURE ---------------------------------------------------------------------------


@dataclass(frozen=True)
class EcdsaSignature:
    """``TPMS_SIGNATURE_ECDSA``: r and s as unsigned big-endian integers."""

    hash: HashAlgorithm
    r: int
    s: int

    @property
    def scheme(self) -> int:
        return TpmAlg.ECDSA


@dataclass(frozen=True)
class RsaSignature:
    """``TPMS_SIGNATURE_RSASSA`` or ``TPMS_SIGNATURE_RSAPSS``."""

    scheme: int
    hash: HashAlgorithm
    signature: bytes


TpmSignature = EcdsaSignature | RsaSignature


def parse_signature(data: bytes) -> TpmSignature:
    """Unmarshal a ``TPMT_SIGNATURE`` (``tpm2_quote -s`` in its default ``tss`` format)."""
    reader = TpmReader(data, "TPMT_SIGNATURE")
    sig_alg = reader.u16("sigAlg")
    signature: TpmSignature
    if sig_alg == TpmAlg.ECDSA:
        algorithm = reader.hash_alg("ecdsa.hash")
        r = reader.tpm2b("ecdsa.signatureR", MAX_ECC_KEY_BYTES)
        s = reader.tpm2b("ecdsa.signatureS", MAX_ECC_KEY_BYTES)
        signature = EcdsaSignature(algorithm, int.from_bytes(r, "big"), int.from_bytes(s, "big"))
    elif sig_alg in (TpmAlg.RSASSA, TpmAlg.RSAPSS):
        algorithm = reader.hash_alg(f"{alg_name(sig_alg)}.hash")
        sig = reader.tpm2b(f"{alg_name(sig_alg)}.sig", MAX_RSA_KEY_BYTES)
        if not sig:
            raise reader.error("RSA signature is empty", f"{alg_name(sig_alg)}.sig")
        signature = RsaSignature(sig_alg, algorithm, sig)
    elif sig_alg == TpmAlg.NULL:
        raise reader.error("the signature is TPM_ALG_NULL (the quote is unsigned)", "sigAlg", 0)
    else:
        raise reader.error(
            f"unsupported signature algorithm {alg_name(sig_alg)} "
            "(supported: ecdsa, rsassa, rsapss)",
            "sigAlg",
            0,
        )
    reader.finish()
    return signature


# --- TPMT_PUBLIC ------------------------------------------------------------------------------


class ObjectAttributes(IntBitField):
    """``TPMA_OBJECT`` (Part 2, table "Definition of TPMA_OBJECT Bits"), named as tpm2-tools
    spells the attributes (``fixedtpm|restricted|sign``); every other bit is reserved and
    refused by :func:`parse_public`."""

    __slots__ = ()
    width = 32

    fixedtpm = Flag(1, "the object cannot be duplicated: it stays in this TPM")
    stclear = Flag(2, "the object is lost at TPM Reset and TPM Restart")
    fixedparent = Flag(4, "the object cannot be re-parented")
    sensitivedataorigin = Flag(5, "the TPM generated the sensitive part (the private key)")
    userwithauth = Flag(6, "the user role may be authorised with the object's auth value")
    adminwithpolicy = Flag(7, "the admin role needs a policy session")
    noda = Flag(10, "the object is not subject to dictionary-attack protection")
    encryptedduplication = Flag(11, "duplication needs an inner wrapper")
    restricted = Flag(16, "the key only signs or decrypts TPM-formatted structures")
    decrypt = Flag(17, "a decryption key")
    sign = Flag(18, "a signing key")
    x509sign = Flag(19, "the key may sign X.509 certificates")


#: The attributes an attestation key (what may sign a quote) has set, and those it has clear:
#: ``restricted`` makes the TPM refuse to sign data that starts with ``TPM_GENERATED_VALUE``
#: unless the TPM produced it; ``fixedtpm`` and ``sensitivedataorigin`` mean the private key was
#: generated in, and cannot leave, the TPM; a decryption key is no signing key.
AK_REQUIRED_ATTRIBUTES = ("fixedtpm", "sensitivedataorigin", "restricted", "sign")
AK_FORBIDDEN_ATTRIBUTES = ("decrypt",)


@dataclass(frozen=True)
class SymmetricDefinition:
    """``TPMT_SYM_DEF_OBJECT``; ``key_bits`` and ``mode`` are ``None`` for ``TPM_ALG_NULL``."""

    algorithm: int
    key_bits: int | None = None
    mode: int | None = None


@dataclass(frozen=True)
class Scheme:
    """An asymmetric or KDF scheme; ``hash`` is ``None`` for ``TPM_ALG_NULL`` (and RSAES)."""

    scheme: int
    hash: HashAlgorithm | None = None
    count: int | None = None

    @property
    def is_null(self) -> bool:
        return self.scheme == TpmAlg.NULL


@dataclass(frozen=True)
class TpmPublic:
    """A ``TPMT_PUBLIC`` of an RSA or ECC key; ``raw`` is its exact marshalled bytes."""

    raw: bytes
    type: int
    name_alg: HashAlgorithm
    attributes: ObjectAttributes
    auth_policy: bytes
    symmetric: SymmetricDefinition
    scheme: Scheme
    public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey
    curve: str | None = None
    kdf: Scheme | None = None
    key_bits: int | None = None
    exponent: int | None = None

    def name(self) -> bytes:
        """The object's Name: nameAlg (u16) ‖ H_nameAlg(TPMT_PUBLIC)."""
        return self.name_alg.alg.to_bytes(2, "big") + self.name_alg.digest(self.raw)

    @property
    def is_attestation_key(self) -> bool:
        """A TPM-resident, TPM-generated restricted signing key (:data:`AK_REQUIRED_ATTRIBUTES`,
        none of :data:`AK_FORBIDDEN_ATTRIBUTES`): what may sign a quote."""
        a = self.attributes
        return all(map(a.has, AK_REQUIRED_ATTRIBUTES)) and not any(
            map(a.has, AK_FORBIDDEN_ATTRIBUTES)
        )

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "type": alg_name(self.type),
            "name_alg": self.name_alg.name,
            "attributes": self.attributes.names(),
            "scheme": alg_name(self.scheme.scheme),
            "name": self.name().hex(),
        }
        if self.scheme.hash is not None:
            doc["scheme_hash"] = self.scheme.hash.name
        if self.curve is not None:
            doc["curve"] = self.curve
        if self.key_bits is not None:
            doc["key_bits"] = self.key_bits
        return doc


def _parse_symmetric(reader: TpmReader, field: str) -> SymmetricDefinition:
    start = reader.offset
    algorithm = reader.u16(f"{field}.algorithm")
    if algorithm == TpmAlg.NULL:
        return SymmetricDefinition(algorithm)
    if algorithm not in _SYMMETRIC_OBJECT_ALGS:
        raise reader.error(f"invalid symmetric algorithm {alg_name(algorithm)}", field, start)
    key_bits = reader.u16(f"{field}.keyBits")
    if key_bits not in (128, 192, 256):
        raise reader.error(f"invalid symmetric key size {key_bits}", f"{field}.keyBits")
    mode = reader.u16(f"{field}.mode")
    if mode not in _SYMMETRIC_MODES:
        raise reader.error(f"invalid symmetric mode {alg_name(mode)}", f"{field}.mode")
    return SymmetricDefinition(algorithm, key_bits, mode)


def _parse_scheme(
    reader: TpmReader, field: str, allowed: set[TpmAlg], with_hash: set[TpmAlg]
) -> Scheme:
    start = reader.offset
    scheme = reader.u16(f"{field}.scheme")
    if scheme not in allowed:
        raise reader.error(f"unsupported scheme {alg_name(scheme)}", field, start)
    if scheme == TpmAlg.ECDAA:
        return Scheme(scheme, reader.hash_alg(f"{field}.hashAlg"), reader.u16(f"{field}.count"))
    if scheme in with_hash:
        return Scheme(scheme, reader.hash_alg(f"{field}.hashAlg"))
    return Scheme(scheme)


def _parse_rsa(reader: TpmReader) -> dict[str, Any]:
    symmetric = _parse_symmetric(reader, "rsaDetail.symmetric")
    scheme = _parse_scheme(reader, "rsaDetail.scheme", _RSA_SCHEMES, _RSA_SCHEMES_WITH_HASH)
    key_bits = reader.u16("rsaDetail.keyBits")
    if key_bits not in _RSA_KEY_BITS:
        raise reader.error(f"unsupported RSA key size {key_bits}", "rsaDetail.keyBits")
    exponent = reader.u32("rsaDetail.exponent") or 65537
    start = reader.offset
    modulus = reader.tpm2b("unique.rsa", MAX_RSA_KEY_BYTES)
    if len(modulus) != key_bits // 8 or not modulus[0] & 0x80:
        raise reader.error(
            f"RSA modulus of {len(modulus)} bytes does not have keyBits {key_bits}",
            "unique.rsa",
            start,
        )
    try:
        key = rsa.RSAPublicNumbers(exponent, int.from_bytes(modulus, "big")).public_key()
    except ValueError as exc:
        raise reader.error(f"invalid RSA public key: {exc}", "unique.rsa", start) from None
    return {
        "symmetric": symmetric,
        "scheme": scheme,
        "key_bits": key_bits,
        "exponent": exponent,
        "public_key": key,
    }


def _parse_ecc(reader: TpmReader) -> dict[str, Any]:
    symmetric = _parse_symmetric(reader, "eccDetail.symmetric")
    scheme = _parse_scheme(reader, "eccDetail.scheme", _ECC_SCHEMES, _ECC_SCHEMES_WITH_HASH)
    start = reader.offset
    curve_id = reader.u16("eccDetail.curveID")
    if curve_id not in _CURVES:
        raise reader.error(
            f"unsupported curve 0x{curve_id:04x} (supported: NIST P-256, P-384, P-521)",
            "eccDetail.curveID",
            start,
        )
    curve_name, coordinate_size, curve = _CURVES[curve_id]
    kdf = _parse_scheme(reader, "eccDetail.kdf", {*_KDF_SCHEMES, TpmAlg.NULL}, _KDF_SCHEMES)
    start = reader.offset
    x = reader.tpm2b("unique.ecc.x", coordinate_size)
    y = reader.tpm2b("unique.ecc.y", coordinate_size)
    try:
        key = ec.EllipticCurvePublicNumbers(
            int.from_bytes(x, "big"), int.from_bytes(y, "big"), curve()
        ).public_key()
    except ValueError:
        raise reader.error(f"the point is not on {curve_name}", "unique.ecc", start) from None
    return {
        "symmetric": symmetric,
        "scheme": scheme,
        "curve": curve_name,
        "kdf": kdf,
        "public_key": key,
    }


def _unwrap_tpm2b_public(data: bytes) -> tuple[bytes, str]:
    """Accept a ``TPM2B_PUBLIC`` (u16 size ‖ TPMT_PUBLIC) or a bare ``TPMT_PUBLIC``.

    A TPMT_PUBLIC starts with its type (0x0001 RSA, 0x0023 ECC), which never equals its own
    length minus two for a well-formed key, so the leading u16 tells the two apart.
    """
    if len(data) >= 2 and int.from_bytes(data[:2], "big") == len(data) - 2:
        return data[2:], "TPM2B_PUBLIC.publicArea"
    return data, "TPMT_PUBLIC"


def parse_public(data: bytes) -> TpmPublic:
    """Unmarshal an RSA or ECC ``TPMT_PUBLIC``, bare or wrapped in a ``TPM2B_PUBLIC``."""
    area, structure = _unwrap_tpm2b_public(bytes(data))
    reader = TpmReader(area, structure)
    key_type = reader.u16("type")
    if key_type not in (TpmAlg.RSA, TpmAlg.ECC):
        raise reader.error(
            f"unsupported key type {alg_name(key_type)} (supported: rsa, ecc)", "type", 0
        )
    name_alg = reader.hash_alg("nameAlg")
    start = reader.offset
    attributes = ObjectAttributes(reader.u32("objectAttributes"))
    reserved = attributes.reserved_bits
    if reserved:
        raise reader.error(
            f"reserved objectAttributes bits set (0x{reserved:08x})",
            "objectAttributes",
            start,
        )
    auth_policy = reader.tpm2b("authPolicy", MAX_DIGEST_SIZE)
    details = _parse_rsa(reader) if key_type == TpmAlg.RSA else _parse_ecc(reader)
    reader.finish()
    return TpmPublic(
        raw=area,
        type=key_type,
        name_alg=name_alg,
        attributes=attributes,
        auth_policy=auth_policy,
        **details,
    )
