// secp256k1 ECDSA signing (libsecp256k1: RFC 6979 nonces, low-s) and SHA-256 (OpenSSL).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <stdexcept>

struct secp256k1_context_struct;

namespace cairn_echo {

using SecretKey = std::array<std::uint8_t, 32>;
using Digest = std::array<std::uint8_t, 32>;
using Signature = std::array<std::uint8_t, 64>;            // r || s, big-endian, low-s
using CompressedPublicKey = std::array<std::uint8_t, 33>;  // SEC1 compressed

class CryptoError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// SHA-256 of `size` bytes.
Digest sha256(const std::uint8_t* data, std::size_t size);

// Fill `out` from OpenSSL's CSPRNG; throws CryptoError if it cannot.
void random_bytes(std::uint8_t* out, std::size_t size);

// True if `secret` is a valid secp256k1 private key (1 <= k < n).
bool is_valid_secret_key(const SecretKey& secret);

// Signs digests with one secp256k1 key. Thread-safe for concurrent sign_digest calls.
class Signer {
 public:
  // Throws CryptoError if `secret` is not a valid key or the library fails.
  explicit Signer(const SecretKey& secret);
  ~Signer();
  Signer(const Signer&) = delete;
  Signer& operator=(const Signer&) = delete;

  Signature sign_digest(const Digest& digest) const;
  const CompressedPublicKey& public_key() const { return public_key_; }

 private:
  secp256k1_context_struct* context_;
  SecretKey secret_;
  CompressedPublicKey public_key_{};
};

}  // namespace cairn_echo
