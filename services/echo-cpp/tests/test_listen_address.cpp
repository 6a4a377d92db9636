// --listen parsing.
#include "check.hpp"
#include "server.hpp"

namespace {

bool parses_to(const std::string& text, const std::string& host, const std::string& port) {
  const auto address = cairn_echo::parse_listen_address(text);
  return address && address->host == host && address->port == port;
}

}  // namespace

int main() {
  CHECK(parses_to("127.0.0.1:8080", "127.0.0.1", "8080"));
  CHECK(parses_to("localhost:0", "localhost", "0"));
  CHECK(parses_to("[::1]:65535", "::1", "65535"));
  CHECK(parses_to("0.0.0.0:1", "0.0.0.0", "1"));
  for (const char* bad : {"", "8080", ":8080", "host:", "host:65536", "host:-1", "host:80x",
                          "::1:80", "[::1:80", "[]:80", "host:123456", "host:+80"}) {
    CHECK(!cairn_echo::parse_listen_address(bad));
  }
  TEST_MAIN_RETURN();
}
