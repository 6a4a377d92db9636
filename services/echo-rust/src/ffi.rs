//! libsecp256k1 (ECDSA, RFC 6979 nonces) and OpenSSL libcrypto (SHA-256, CSPRNG) over FFI.
//!
//! All `unsafe` code of the service lives in this module, behind the safe [`Signer`],
//! [`sha256`], [`random_bytes`] and [`is_valid_secret_key`].

use std::fmt;
use std::os::raw::{c_int, c_uchar, c_uint, c_void};
use std::ptr::{self, NonNull};

pub type SecretKey = [u8; 32];
pub type Digest = [u8; 32];
/// `r || s`, big-endian, low-s.
pub type Signature = [u8; 64];
/// SEC1 compressed point.
pub type CompressedPublicKey = [u8; 33];

#[repr(C)]
struct Secp256k1Context {
    _opaque: [u8; 0],
}

#[repr(C)]
struct Secp256k1Pubkey {
    data: [u8; 64],
}

#[repr(C)]
struct Secp256k1EcdsaSignature {
    data: [u8; 64],
}

type NonceFunction = Option<
    unsafe extern "C" fn(
        *mut c_uchar,
        *const c_uchar,
        *const c_uchar,
        *const c_uchar,
        *mut c_void,
        c_uint,
    ) -> c_int,
>;

// Values from secp256k1.h.
const SECP256K1_FLAGS_TYPE_CONTEXT: c_uint = 1;
const SECP256K1_FLAGS_TYPE_COMPRESSION: c_uint = 1 << 1;
const SECP256K1_FLAGS_BIT_CONTEXT_VERIFY: c_uint = 1 << 8;
const SECP256K1_FLAGS_BIT_CONTEXT_SIGN: c_uint = 1 << 9;
const SECP256K1_FLAGS_BIT_COMPRESSION: c_uint = 1 << 8;
/// SIGN | VERIFY: required by libsecp256k1 < 0.2, equivalent to CONTEXT_NONE from 0.2 on.
const CONTEXT_FLAGS: c_uint = SECP256K1_FLAGS_TYPE_CONTEXT
    | SECP256K1_FLAGS_BIT_CONTEXT_SIGN
    | SECP256K1_FLAGS_BIT_CONTEXT_VERIFY;
const SECP256K1_EC_COMPRESSED: c_uint =
    SECP256K1_FLAGS_TYPE_COMPRESSION | SECP256K1_FLAGS_BIT_COMPRESSION;

extern "C" {
    fn secp256k1_context_create(flags: c_uint) -> *mut Secp256k1Context;
    fn secp256k1_context_destroy(context: *mut Secp256k1Context);
    fn secp256k1_context_randomize(context: *mut Secp256k1Context, seed32: *const c_uchar)
        -> c_int;
    fn secp256k1_ec_seckey_verify(
        context: *const Secp256k1Context,
        seckey: *const c_uchar,
    ) -> c_int;
    fn secp256k1_ec_pubkey_create(
        context: *const Secp256k1Context,
        pubkey: *mut Secp256k1Pubkey,
        seckey: *const c_uchar,
    ) -> c_int;
    fn secp256k1_ec_pubkey_serialize(
        context: *const Secp256k1Context,
        output: *mut c_uchar,
        outputlen: *mut usize,
        pubkey: *const Secp256k1Pubkey,
        flags: c_uint,
    ) -> c_int;
    fn secp256k1_ecdsa_sign(
        context: *const Secp256k1Context,
        signature: *mut Secp256k1EcdsaSignature,
        msghash32: *const c_uchar,
        seckey: *const c_uchar,
        noncefp: NonceFunction,
        ndata: *const c_void,
    ) -> c_int;
    fn secp256k1_ecdsa_signature_normalize(
        context: *const Secp256k1Context,
        sigout: *mut Secp256k1EcdsaSignature,
        sigin: *const Secp256k1EcdsaSignature,
    ) -> c_int;
    fn secp256k1_ecdsa_signature_serialize_compact(
        context: *const Secp256k1Context,
        output64: *mut c_uchar,
        signature: *const Secp256k1EcdsaSignature,
    ) -> c_int;

    fn SHA256(data: *const c_uchar, size: usize, digest: *mut c_uchar) -> *mut c_uchar;
    fn RAND_bytes(buffer: *mut c_uchar, size: c_int) -> c_int;
    fn OPENSSL_cleanse(pointer: *mut c_void, size: usize);
}

// Used only by the unit tests (to check signatures against the library itself).
#[cfg(test)]
extern "C" {
    fn secp256k1_ec_pubkey_parse(
        context: *const Secp256k1Context,
        pubkey: *mut Secp256k1Pubkey,
        input: *const c_uchar,
        inputlen: usize,
    ) -> c_int;
    fn secp256k1_ecdsa_signature_parse_compact(
        context: *const Secp256k1Context,
        signature: *mut Secp256k1EcdsaSignature,
        input64: *const c_uchar,
    ) -> c_int;
    fn secp256k1_ecdsa_verify(
        context: *const Secp256k1Context,
        signature: *const Secp256k1EcdsaSignature,
        msghash32: *const c_uchar,
        pubkey: *const Secp256k1Pubkey,
    ) -> c_int;
}

/// A failure inside libsecp256k1 or OpenSSL, or an invalid key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CryptoError(pub &'static str);

impl fmt::Display for CryptoError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.0)
    }
}

impl std::error::Error for CryptoError {}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> Digest {
    let mut digest = [0u8; 32];
    // SAFETY: `data` is valid for `data.len()` bytes and `digest` has room for 32 bytes.
    unsafe { SHA256(data.as_ptr(), data.len(), digest.as_mut_ptr()) };
    digest
}

/// Fill `out` from OpenSSL's CSPRNG.
pub fn random_bytes(out: &mut [u8]) -> Result<(), CryptoError> {
    let size = c_int::try_from(out.len()).map_err(|_| CryptoError("random request too large"))?;
    // SAFETY: `out` is valid for writes of `size` bytes.
    if unsafe { RAND_bytes(out.as_mut_ptr(), size) } != 1 {
        return Err(CryptoError("OpenSSL RAND_bytes failed"));
    }
    Ok(())
}

/// Overwrite `bytes` in a way the optimiser keeps.
pub fn cleanse(bytes: &mut [u8]) {
    // SAFETY: `bytes` is valid for writes of its length.
    unsafe { OPENSSL_cleanse(bytes.as_mut_ptr().cast(), bytes.len()) };
}

/// An owned libsecp256k1 context, destroyed on drop.
struct Context(NonNull<Secp256k1Context>);

// SAFETY: after creation (and randomisation, which needs `&mut`) libsecp256k1 only reads the
// context, and its documentation allows concurrent use of a context by such functions.
unsafe impl Send for Context {}
unsafe impl Sync for Context {}

impl Context {
    fn new() -> Result<Self, CryptoError> {
        // SAFETY: plain constructor call with valid flags.
        let raw = unsafe { secp256k1_context_create(CONTEXT_FLAGS) };
        NonNull::new(raw)
            .map(Context)
            .ok_or(CryptoError("secp256k1_context_create failed"))
    }

    fn randomize(&mut self, seed: &[u8; 32]) -> Result<(), CryptoError> {
        // SAFETY: the context is live and exclusively borrowed; `seed` holds 32 bytes.
        if unsafe { secp256k1_context_randomize(self.0.as_ptr(), seed.as_ptr()) } != 1 {
            return Err(CryptoError("secp256k1_context_randomize failed"));
        }
        Ok(())
    }

    fn as_ptr(&self) -> *const Secp256k1Context {
        self.0.as_ptr()
    }

    fn secret_is_valid(&self, secret: &SecretKey) -> bool {
        // SAFETY: live context; `secret` holds 32 bytes.
        unsafe { secp256k1_ec_seckey_verify(self.as_ptr(), secret.as_ptr()) == 1 }
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        // SAFETY: the context was created by secp256k1_context_create and is dropped once.
        unsafe { secp256k1_context_destroy(self.0.as_ptr()) };
    }
}

/// True if `secret` is a valid secp256k1 private key (1 <= k < n).
pub fn is_valid_secret_key(secret: &SecretKey) -> bool {
    Context::new().map_or(false, |context| context.secret_is_valid(secret))
}

/// Signs digests with one secp256k1 key; shareable between threads.
pub struct Signer {
    context: Context,
    secret: SecretKey,
    public_key: CompressedPublicKey,
}

impl Signer {
    /// A signer for `secret`; fails if it is not a valid key.
    pub fn new(secret: &SecretKey) -> Result<Self, CryptoError> {
        let mut context = Context::new()?;
        let mut seed = [0u8; 32];
        random_bytes(&mut seed)?;
        // Blinding against side channels; does not change the (deterministic) signatures.
        context.randomize(&seed)?;
        if !context.secret_is_valid(secret) {
            return Err(CryptoError(
                "the signing key is not a valid secp256k1 private key",
            ));
        }
        let mut point = Secp256k1Pubkey { data: [0; 64] };
        let mut public_key = [0u8; 33];
        let mut length = public_key.len();
        // SAFETY: live context; every pointer refers to a buffer of the size the API requires.
        let ok = unsafe {
            secp256k1_ec_pubkey_create(context.as_ptr(), &mut point, secret.as_ptr()) == 1
                && secp256k1_ec_pubkey_serialize(
                    context.as_ptr(),
                    public_key.as_mut_ptr(),
                    &mut length,
                    &point,
                    SECP256K1_EC_COMPRESSED,
                ) == 1
        };
        if !ok || length != public_key.len() {
            return Err(CryptoError("cannot derive the public key"));
        }
        Ok(Signer {
            context,
            secret: *secret,
            public_key,
        })
    }

    pub fn public_key(&self) -> &CompressedPublicKey {
        &self.public_key
    }

    /// Low-s ECDSA signature (RFC 6979 nonce) of a 32-byte digest, as `r || s`.
    pub fn sign_digest(&self, digest: &Digest) -> Result<Signature, CryptoError> {
        let mut raw = Secp256k1EcdsaSignature { data: [0; 64] };
        let mut normalized = Secp256k1EcdsaSignature { data: [0; 64] };
        let mut compact = [0u8; 64];
        // SAFETY: live context; 32-byte digest and key; a null nonce function selects RFC 6979.
        let signed = unsafe {
            secp256k1_ecdsa_sign(
                self.context.as_ptr(),
                &mut raw,
                digest.as_ptr(),
                self.secret.as_ptr(),
                None,
                ptr::null(),
            ) == 1
        };
        if !signed {
            return Err(CryptoError("secp256k1_ecdsa_sign failed"));
        }
        // SAFETY: live context; distinct input and output signatures; 64-byte output buffer.
        unsafe {
            // libsecp256k1 already emits low-s; normalising makes that explicit.
            secp256k1_ecdsa_signature_normalize(self.context.as_ptr(), &mut normalized, &raw);
            secp256k1_ecdsa_signature_serialize_compact(
                self.context.as_ptr(),
                compact.as_mut_ptr(),
                &normalized,
            );
        }
        Ok(compact)
    }
}

impl Drop for Signer {
    fn drop(&mut self) {
        cleanse(&mut self.secret);
    }
}

#[cfg(test)]
/// Outcome of [`verify`]: whether the signature is valid and whether its s was low.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verification {
    pub valid: bool,
    pub low_s: bool,
}

#[cfg(test)]
/// Verify a compact signature over `digest` with a SEC1 public key (libsecp256k1 accepts only
/// low-s, so a high-s signature is reported as invalid with `low_s == false`).
pub fn verify(
    public_key: &[u8],
    digest: &Digest,
    signature: &Signature,
) -> Result<Verification, CryptoError> {
    let context = Context::new()?;
    let mut point = Secp256k1Pubkey { data: [0; 64] };
    let mut parsed = Secp256k1EcdsaSignature { data: [0; 64] };
    // SAFETY: live context; buffers have the sizes the API requires; a null output asks
    // normalize only whether s was high.
    unsafe {
        if secp256k1_ec_pubkey_parse(
            context.as_ptr(),
            &mut point,
            public_key.as_ptr(),
            public_key.len(),
        ) != 1
        {
            return Err(CryptoError("invalid public key"));
        }
        if secp256k1_ecdsa_signature_parse_compact(
            context.as_ptr(),
            &mut parsed,
            signature.as_ptr(),
        ) != 1
        {
            return Ok(Verification {
                valid: false,
                low_s: false,
            });
        }
        let high_s =
            secp256k1_ecdsa_signature_normalize(context.as_ptr(), ptr::null_mut(), &parsed) == 1;
        let valid = secp256k1_ecdsa_verify(context.as_ptr(), &parsed, digest.as_ptr(), &point) == 1;
        Ok(Verification {
            valid,
            low_s: !high_s,
        })
    }
}
