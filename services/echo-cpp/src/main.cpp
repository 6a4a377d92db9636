// echo-cpp: signs every echoed payload with the service's secp256k1 key.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>

#include "key_store.hpp"
#include "server.hpp"
#include "signer.hpp"

namespace {

#ifndef ECHO_VERSION
#error "ECHO_VERSION must be defined by the build (CMakeLists.txt: project VERSION)"
#endif

constexpr const char* kUsage =
    "usage: echo-cpp --listen HOST:PORT --state-dir DIR --public-key-file FILE\n"
    "                [--max-connections N]\n"
    "       echo-cpp --help | --version\n";

constexpr const char* kHelp =
    "\n"
    "Cairn echo service: answers each request line `<request-id> <payload>` with\n"
    "`OK <request-id> <hex payload> <hex signature>`, signed with the service's own\n"
    "secp256k1 key (protocol: services/README.md in the Cairn repository).\n"
    "\n"
    "options:\n"
    "  --listen HOST:PORT       TCP address, or [IPV6]:PORT; port 0 picks a free port.\n"
    "                           Prints `listening on ADDRESS:PORT` once it listens.\n"
    "  --state-dir DIR          holds signing.key; created (mode 0700, new key) if missing\n"
    "  --public-key-file FILE   written at start: the public key as SEC1 compressed hex\n"
    "  --max-connections N      concurrent connections, 1-4096 (default 64)\n"
    "  -h, --help               show this help and exit\n"
    "  --version                print the version and exit\n"
    "\n"
    "Exit status: 2 usage error, 1 cannot start (reason on stderr). Stops on SIGTERM.\n"
    "Try it: printf 'req-1 hello\\n' | nc -N 127.0.0.1 PORT\n";

struct Options {
  std::string listen;
  std::string state_dir;
  std::string public_key_file;
  std::size_t max_connections = cairn_echo::kDefaultMaxConnections;
};

[[noreturn]] void usage_error(const std::string& message) {
  std::fprintf(stderr, "echo-cpp: %s\n%s", message.c_str(), kUsage);
  std::exit(2);
}

Options parse_options(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::fputs(kUsage, stdout);
      std::fputs(kHelp, stdout);
      std::exit(0);
    }
    if (flag == "--version") {
      std::fputs("echo-cpp " ECHO_VERSION "\n", stdout);
      std::exit(0);
    }
    if (i + 1 >= argc) {
      usage_error("missing value for " + std::string(flag));
    }
    const std::string value = argv[++i];
    if (flag == "--listen") {
      options.listen = value;
    } else if (flag == "--state-dir") {
      options.state_dir = value;
    } else if (flag == "--public-key-file") {
      options.public_key_file = value;
    } else if (flag == "--max-connections") {
      if (value.empty() || value.size() > 4 ||
          value.find_first_not_of("0123456789") != std::string::npos) {
        usage_error("--max-connections must be a number from 1 to 4096");
      }
      options.max_connections = std::stoul(value);
      if (options.max_connections < 1 || options.max_connections > 4096) {
        usage_error("--max-connections must be a number from 1 to 4096");
      }
    } else {
      usage_error("unknown option " + std::string(flag));
    }
  }
  if (options.listen.empty() || options.state_dir.empty() || options.public_key_file.empty()) {
    usage_error("--listen, --state-dir and --public-key-file are required");
  }
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = parse_options(argc, argv);
  const auto address = cairn_echo::parse_listen_address(options.listen);
  if (!address) {
    usage_error("--listen must be HOST:PORT or [IPV6]:PORT, not '" + options.listen + "'");
  }
  try {
    cairn_echo::SecretKey secret = cairn_echo::load_or_create_signing_key(options.state_dir);
    const cairn_echo::Signer signer(secret);
    secret.fill(0);
    cairn_echo::write_public_key_file(options.public_key_file, signer.public_key());
    cairn_echo::serve(*address, signer, options.max_connections);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "echo-cpp: error: %s\n", error.what());
    return 1;
  }
}
