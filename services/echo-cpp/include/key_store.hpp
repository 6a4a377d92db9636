// The service's signing key on disk: `<state-dir>/signing.key`, 32 raw bytes, mode 0600.
#pragma once

#include <stdexcept>
#include <string>

#include "signer.hpp"

namespace cairn_echo {

inline constexpr const char* kSigningKeyFileName = "signing.key";

class KeyStoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Load the key from `state_dir` (created with mode 0700 if missing), or generate it and create
// the file with O_EXCL and mode 0600. Refuses a key file that is not a regular file, is readable
// or writable by group/others, has the wrong size or holds an invalid key.
SecretKey load_or_create_signing_key(const std::string& state_dir);

// Write the compressed public key as lowercase hex + "\n" to `path` (via a temporary + rename).
void write_public_key_file(const std::string& path, const CompressedPublicKey& public_key);

}  // namespace cairn_echo
