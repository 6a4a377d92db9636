// Known-answer tests with a fixed key. Expected values were computed independently with Python
// `cryptography` (ECDSA over SHA-256 with RFC 6979 deterministic nonces, then s := n - s if s > n/2).
#include <secp256k1.h>

#include <string>

#include "check.hpp"
#include "protocol.hpp"
#include "responder.hpp"
#include "signer.hpp"

namespace {

cairn_echo::SecretKey fixed_key() {
  cairn_echo::SecretKey key{};
  for (std::size_t i = 0; i < key.size(); ++i) {
    key[i] = static_cast<std::uint8_t>(i + 1);  // 0x01 0x02 ... 0x20
  }
  return key;
}

std::string hex(const std::uint8_t* data, std::size_t size) { return cairn_echo::to_hex(data, size); }

std::string signature_hex(const cairn_echo::Signer& signer, std::string_view id,
                          std::string_view payload) {
  const auto message = cairn_echo::echo_message(id, payload);
  const auto signature = signer.sign_digest(cairn_echo::sha256(message.data(), message.size()));
  return hex(signature.data(), signature.size());
}

void test_known_answers() {
  const cairn_echo::Signer signer(fixed_key());
  const auto& public_key = signer.public_key();
  CHECK(hex(public_key.data(), public_key.size()) ==
        "0284bf7562262bbd6940085748f3be6afa52ae317155181ece31b66351ccffa4b0");

  const auto message = cairn_echo::echo_message("req-1", "hello");
  const auto digest = cairn_echo::sha256(message.data(), message.size());
  CHECK(hex(digest.data(), digest.size()) ==
        "b388dd76e61e43e5aae64261a5a1c4d0120f73d3a748a30379d7adca6608ab97");

  // RFC 6979 gives a high s here: the service must return n - s.
  CHECK(signature_hex(signer, "req-1", "hello") ==
        "ad25991a7c3d67c70883567f430a6307e53dbfc4793b3d8a27ca7a1d5a15a3c7"
        "5a2cb63ffa1e4d77fc3d731a413bbdaf37ba4f791dd6be9e6bb46290a9c105e5");
  CHECK(signature_hex(signer, "a", "") ==
        "1a7473e5166834cae6ca89089e774f4d5d01edf77ba89b1a455cc48236b2d810"
        "44fd37ca34df095876c59ae57372149e5622819b76cc7ac2f4e8b02670db5dcf");
  std::string long_id;
  for (int i = 0; i < 32; ++i) {
    long_id += "x.";
  }
  CHECK(signature_hex(signer, long_id, "h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93") ==
        "6b2db00797b60375c32a157d0659916c976828b3a46f9aa182ffada946ace91d"
        "4022fd950825181622ba56c296b945992ce1fc9f8e548ed6f6516dcdc613d455");
}

void test_responses() {
  const cairn_echo::Signer signer(fixed_key());
  CHECK(cairn_echo::respond("req-1 hello", signer) ==
        "OK req-1 68656c6c6f "
        "ad25991a7c3d67c70883567f430a6307e53dbfc4793b3d8a27ca7a1d5a15a3c7"
        "5a2cb63ffa1e4d77fc3d731a413bbdaf37ba4f791dd6be9e6bb46290a9c105e5\n");
  CHECK(cairn_echo::respond("a", signer) ==
        "OK a  "
        "1a7473e5166834cae6ca89089e774f4d5d01edf77ba89b1a455cc48236b2d810"
        "44fd37ca34df095876c59ae57372149e5622819b76cc7ac2f4e8b02670db5dcf\n");
  CHECK(cairn_echo::respond("", signer) == "ERR bad request-id\n");
  CHECK(cairn_echo::respond("no/slash x", signer) == "ERR bad request-id\n");
  CHECK(cairn_echo::respond("id \xc3", signer) == "ERR payload not utf-8\n");
}

void test_signatures_verify_and_are_low_s() {
  const cairn_echo::Signer signer(fixed_key());
  secp256k1_context* context = secp256k1_context_create(SECP256K1_CONTEXT_VERIFY);
  secp256k1_pubkey point;
  CHECK(secp256k1_ec_pubkey_parse(context, &point, signer.public_key().data(),
                                  signer.public_key().size()) == 1);
  for (int i = 0; i < 32; ++i) {
    const std::string payload = "payload " + std::to_string(i);
    const auto message = cairn_echo::echo_message("id", payload);
    const auto digest = cairn_echo::sha256(message.data(), message.size());
    const auto compact = signer.sign_digest(digest);
    secp256k1_ecdsa_signature signature;
    CHECK(secp256k1_ecdsa_signature_parse_compact(context, &signature, compact.data()) == 1);
    // normalize returns 1 only if the input had a high s.
    CHECK(secp256k1_ecdsa_signature_normalize(context, nullptr, &signature) == 0);
    CHECK(secp256k1_ecdsa_verify(context, &signature, digest.data(), &point) == 1);
    auto tampered = digest;
    tampered[0] ^= 1U;
    CHECK(secp256k1_ecdsa_verify(context, &signature, tampered.data(), &point) == 0);
  }
  secp256k1_context_destroy(context);
}

void test_invalid_keys_are_refused() {
  cairn_echo::SecretKey zero{};
  CHECK(!cairn_echo::is_valid_secret_key(zero));
  cairn_echo::SecretKey order{};  // n itself is not a valid key
  const std::uint8_t n[32] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                              0xff, 0xff, 0xff, 0xff, 0xfe, 0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48,
                              0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41};
  std::copy(std::begin(n), std::end(n), order.begin());
  CHECK(!cairn_echo::is_valid_secret_key(order));
  bool threw = false;
  try {
    const cairn_echo::Signer signer(zero);
  } catch (const cairn_echo::CryptoError&) {
    threw = true;
  }
  CHECK(threw);
  CHECK(cairn_echo::is_valid_secret_key(fixed_key()));
}

}  // namespace

int main() {
  test_known_answers();
  test_responses();
  test_signatures_verify_and_are_low_s();
  test_invalid_keys_are_refused();
  TEST_MAIN_RETURN();
}
