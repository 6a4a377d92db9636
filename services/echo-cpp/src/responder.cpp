#include "responder.hpp"

#include <variant>

#include "protocol.hpp"

namespace cairn_echo {

std::string respond(std::string_view line, const Signer& signer) {
  const auto parsed = parse_request(line);
  if (const auto* error = std::get_if<RequestError>(&parsed)) {
    return "ERR " + std::string(error_reason(*error)) + "\n";
  }
  const auto& request = std::get<Request>(parsed);
  const auto message = echo_message(request.id, request.payload);
  const Signature signature = signer.sign_digest(sha256(message.data(), message.size()));
  const auto* payload = reinterpret_cast<const std::uint8_t*>(request.payload.data());
  return "OK " + request.id + " " + to_hex(payload, request.payload.size()) + " " +
         to_hex(signature.data(), signature.size()) + "\n";
}

}  // namespace cairn_echo
