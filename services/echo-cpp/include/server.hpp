// TCP server: one thread per connection, a bounded number of connections.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "signer.hpp"

namespace cairn_echo {

inline constexpr std::size_t kDefaultMaxConnections = 64;
inline constexpr int kIdleTimeoutSeconds = 60;

struct ListenAddress {
  std::string host;  // without IPv6 brackets
  std::string port;  // decimal 0-65535 (0: any free port)
};

// Parse "HOST:PORT" or "[IPV6]:PORT"; nullopt if malformed.
std::optional<ListenAddress> parse_listen_address(const std::string& text);

// Bind, print "listening on HOST:PORT" to stdout, then serve forever.
// Throws std::runtime_error if the address cannot be bound.
[[noreturn]] void serve(const ListenAddress& address, const Signer& signer,
                        std::size_t max_connections);

}  // namespace cairn_echo
