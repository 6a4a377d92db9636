#include "server.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <string_view>
#include <system_error>
#include <thread>

#include "protocol.hpp"
#include "responder.hpp"

namespace cairn_echo {

std::optional<ListenAddress> parse_listen_address(const std::string& text) {
  const std::size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return std::nullopt;
  }
  std::string host = text.substr(0, colon);
  const std::string port = text.substr(colon + 1);
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') {
      return std::nullopt;
    }
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string::npos) {
    return std::nullopt;  // an IPv6 host needs brackets
  }
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoul(port) > 65535) {
    return std::nullopt;
  }
  return ListenAddress{host, port};
}

namespace {

constexpr std::size_t kReadChunk = 4096;
constexpr std::size_t kMaxDrainBytes = 1U << 20U;

bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t sent = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno == EINTR) {
        continue;
      }
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(sent));
  }
  return true;
}

void set_timeouts(int fd, int seconds) {
  timeval timeout{};
  timeout.tv_sec = seconds;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
}

// Send a final error line and close without resetting the connection: stop writing, then read
// and discard what the peer still sends (bounded) so that it receives the error line.
void close_with_error(int fd, std::string_view line, bool drain) {
  send_all(fd, line);
  ::shutdown(fd, SHUT_WR);
  std::array<char, kReadChunk> discard{};
  std::size_t drained = 0;
  const int flags = drain ? 0 : MSG_DONTWAIT;
  while (drained < kMaxDrainBytes) {
    const ssize_t got = ::recv(fd, discard.data(), discard.size(), flags);
    if (got < 0 && errno == EINTR) {
      continue;
    }
    if (got <= 0) {
      break;
    }
    drained += static_cast<std::size_t>(got);
  }
  ::close(fd);
}

void handle_connection(int fd, const Signer& signer) {
  set_timeouts(fd, kIdleTimeoutSeconds);
  LineBuffer buffer;
  std::array<char, kReadChunk> chunk{};
  std::string line;
  for (;;) {
    const ssize_t got = ::recv(fd, chunk.data(), chunk.size(), 0);
    if (got < 0 && errno == EINTR) {
      continue;
    }
    if (got <= 0) {
      break;  // peer closed (an unterminated last line is discarded), error or idle timeout
    }
    buffer.append(chunk.data(), static_cast<std::size_t>(got));
    for (;;) {
      const LineBuffer::Status status = buffer.next_line(line);
      if (status == LineBuffer::Status::kNeedMore) {
        break;
      }
      if (status == LineBuffer::Status::kTooLong) {
        close_with_error(fd, "ERR line too long\n", true);
        return;
      }
      std::string response;
      try {
        response = respond(line, signer);
      } catch (const std::exception& error) {
        std::fprintf(stderr, "echo-cpp: signing failed: %s\n", error.what());
        response = "ERR internal\n";
      }
      if (!send_all(fd, response)) {
        ::close(fd);
        return;
      }
    }
  }
  ::close(fd);
}

// Counts live connections; releases its slot when destroyed.
class ConnectionSlot {
 public:
  explicit ConnectionSlot(std::atomic<std::size_t>& active) : active_(active) {}
  ~ConnectionSlot() { active_.fetch_sub(1); }
  ConnectionSlot(const ConnectionSlot&) = delete;
  ConnectionSlot& operator=(const ConnectionSlot&) = delete;

 private:
  std::atomic<std::size_t>& active_;
};

int bind_listener(const ListenAddress& address) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* results = nullptr;
  const int status = ::getaddrinfo(address.host.c_str(), address.port.c_str(), &hints, &results);
  if (status != 0) {
    throw std::runtime_error("cannot resolve " + address.host + ": " + ::gai_strerror(status));
  }
  int last_error = 0;
  for (const addrinfo* candidate = results; candidate != nullptr; candidate = candidate->ai_next) {
    const int fd = ::socket(candidate->ai_family, candidate->ai_socktype | SOCK_CLOEXEC,
                            candidate->ai_protocol);
    if (fd < 0) {
      last_error = errno;
      continue;
    }
    const int yes = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    if (::bind(fd, candidate->ai_addr, candidate->ai_addrlen) == 0 && ::listen(fd, 128) == 0) {
      ::freeaddrinfo(results);
      return fd;
    }
    last_error = errno;
    ::close(fd);
  }
  ::freeaddrinfo(results);
  throw std::runtime_error("cannot listen on " + address.host + ":" + address.port + ": " +
                           std::strerror(last_error));
}

std::string bound_address(int fd) {
  sockaddr_storage storage{};
  socklen_t length = sizeof storage;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &length) != 0) {
    throw std::runtime_error(std::string("getsockname failed: ") + std::strerror(errno));
  }
  std::array<char, INET6_ADDRSTRLEN> host{};
  if (storage.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&storage);
    ::inet_ntop(AF_INET6, &v6->sin6_addr, host.data(), host.size());
    return "[" + std::string(host.data()) + "]:" + std::to_string(ntohs(v6->sin6_port));
  }
  const auto* v4 = reinterpret_cast<const sockaddr_in*>(&storage);
  ::inet_ntop(AF_INET, &v4->sin_addr, host.data(), host.size());
  return std::string(host.data()) + ":" + std::to_string(ntohs(v4->sin_port));
}

}  // namespace

void serve(const ListenAddress& address, const Signer& signer, std::size_t max_connections) {
  const int listener = bind_listener(address);
  std::printf("listening on %s\n", bound_address(listener).c_str());
  std::fflush(stdout);
  static std::atomic<std::size_t> active{0};
  for (;;) {
    const int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno != EINTR && errno != ECONNABORTED) {
        std::fprintf(stderr, "echo-cpp: accept failed: %s\n", std::strerror(errno));
        std::this_thread::sleep_for(std::chrono::milliseconds(100));  // e.g. out of descriptors
      }
      continue;
    }
    if (active.load() >= max_connections) {
      close_with_error(fd, "ERR busy\n", false);
      continue;
    }
    active.fetch_add(1);
    try {
      std::thread([fd, &signer] {
        const ConnectionSlot slot(active);
        try {
          handle_connection(fd, signer);
        } catch (const std::exception& error) {
          std::fprintf(stderr, "echo-cpp: connection failed: %s\n", error.what());
          ::close(fd);
        }
      }).detach();
    } catch (const std::system_error& error) {
      active.fetch_sub(1);
      std::fprintf(stderr, "echo-cpp: cannot start a connection thread: %s\n", error.what());
      close_with_error(fd, "ERR busy\n", false);
    }
  }
}

}  // namespace cairn_echo
