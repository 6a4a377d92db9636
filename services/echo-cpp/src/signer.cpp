#include "signer.hpp"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <secp256k1.h>

#include <climits>

namespace cairn_echo {

Digest sha256(const std::uint8_t* data, std::size_t size) {
  Digest digest{};
  SHA256(data, size, digest.data());
  return digest;
}

void random_bytes(std::uint8_t* out, std::size_t size) {
  if (size > static_cast<std::size_t>(INT_MAX) || RAND_bytes(out, static_cast<int>(size)) != 1) {
    throw CryptoError("OpenSSL RAND_bytes failed");
  }
}

namespace {

// SIGN | VERIFY: required by libsecp256k1 < 0.2, equivalent to CONTEXT_NONE from 0.2 on.
constexpr unsigned int kContextFlags = SECP256K1_CONTEXT_SIGN | SECP256K1_CONTEXT_VERIFY;

secp256k1_context* new_context() {
  secp256k1_context* context = secp256k1_context_create(kContextFlags);
  if (context == nullptr) {
    throw CryptoError("secp256k1_context_create failed");
  }
  return context;
}

}  // namespace

bool is_valid_secret_key(const SecretKey& secret) {
  secp256k1_context* context = new_context();
  const bool valid = secp256k1_ec_seckey_verify(context, secret.data()) == 1;
  secp256k1_context_destroy(context);
  return valid;
}

Signer::Signer(const SecretKey& secret) : context_(new_context()), secret_(secret) {
  try {
    std::array<std::uint8_t, 32> seed{};
    random_bytes(seed.data(), seed.size());
    // Blinding against side channels; does not change the (deterministic) signatures.
    if (secp256k1_context_randomize(context_, seed.data()) != 1) {
      throw CryptoError("secp256k1_context_randomize failed");
    }
    if (secp256k1_ec_seckey_verify(context_, secret_.data()) != 1) {
      throw CryptoError("the signing key is not a valid secp256k1 private key");
    }
    secp256k1_pubkey point;
    if (secp256k1_ec_pubkey_create(context_, &point, secret_.data()) != 1) {
      throw CryptoError("secp256k1_ec_pubkey_create failed");
    }
    std::size_t length = public_key_.size();
    if (secp256k1_ec_pubkey_serialize(context_, public_key_.data(), &length, &point,
                                      SECP256K1_EC_COMPRESSED) != 1 ||
        length != public_key_.size()) {
      throw CryptoError("secp256k1_ec_pubkey_serialize failed");
    }
  } catch (...) {
    OPENSSL_cleanse(secret_.data(), secret_.size());
    secp256k1_context_destroy(context_);
    throw;
  }
}

Signer::~Signer() {
  OPENSSL_cleanse(secret_.data(), secret_.size());
  secp256k1_context_destroy(context_);
}

Signature Signer::sign_digest(const Digest& digest) const {
  secp256k1_ecdsa_signature signature;
  // A null nonce function selects RFC 6979 (HMAC-SHA256) deterministic nonces.
  if (secp256k1_ecdsa_sign(context_, &signature, digest.data(), secret_.data(), nullptr,
                           nullptr) != 1) {
    throw CryptoError("secp256k1_ecdsa_sign failed");
  }
  // libsecp256k1 already emits low-s; normalising makes that explicit.
  secp256k1_ecdsa_signature_normalize(context_, &signature, &signature);
  Signature compact{};
  secp256k1_ecdsa_signature_serialize_compact(context_, compact.data(), &signature);
  return compact;
}

}  // namespace cairn_echo
