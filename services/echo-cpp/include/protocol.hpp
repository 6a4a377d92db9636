// Cairn echo wire protocol: request parsing, the signed message, hex and bounded line reading.
// The format is specified in services/README.md; echo-rust implements the same bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace cairn_echo {

// Longest request line accepted, in bytes, not counting the terminating '\n'.
inline constexpr std::size_t kMaxLineBytes = 4096;
// Longest request id, in bytes.
inline constexpr std::size_t kMaxRequestIdBytes = 64;
// Domain separator that starts every signed message (14 bytes, NUL included).
inline constexpr std::string_view kMessageDomain{"cairn-echo-v1\0", 14};

struct Request {
  std::string id;
  std::string payload;
};

enum class RequestError { kBadRequestId, kPayloadNotUtf8 };

// Words after "ERR " in the error line for a rejected request.
std::string_view error_reason(RequestError error);

// True if `id` is 1-64 characters from [A-Za-z0-9._-].
bool is_valid_request_id(std::string_view id);

// True if `text` is well-formed UTF-8 (no overlongs, surrogates or code points above U+10FFFF).
bool is_valid_utf8(std::string_view text);

// Parse one request line (without its '\n'): `<request-id>` optionally followed by one space and
// the payload (the rest of the line).
std::variant<Request, RequestError> parse_request(std::string_view line);

// The signed message: domain || u8(len(id)) || id || payload. `id` must be a valid request id.
std::vector<std::uint8_t> echo_message(std::string_view id, std::string_view payload);

// Lowercase hex of `size` bytes.
std::string to_hex(const std::uint8_t* data, std::size_t size);

// Accumulates received bytes and splits them into lines of at most kMaxLineBytes.
class LineBuffer {
 public:
  enum class Status { kLine, kNeedMore, kTooLong };

  void append(const char* data, std::size_t size);

  // kLine: `line` holds the next complete line (without '\n'), removed from the buffer.
  // kNeedMore: no complete line yet. kTooLong: the next line exceeds kMaxLineBytes.
  Status next_line(std::string& line);

 private:
  std::string pending_;
};

}  // namespace cairn_echo
