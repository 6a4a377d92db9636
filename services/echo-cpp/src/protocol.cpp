#include "protocol.hpp"

#include <algorithm>

namespace cairn_echo {

std::string_view error_reason(RequestError error) {
  switch (error) {
    case RequestError::kBadRequestId:
      return "bad request-id";
    case RequestError::kPayloadNotUtf8:
      return "payload not utf-8";
  }
  return "internal";
}

bool is_valid_request_id(std::string_view id) {
  if (id.empty() || id.size() > kMaxRequestIdBytes) {
    return false;
  }
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-';
  });
}

namespace {

bool is_continuation(unsigned char byte) { return (byte & 0xC0U) == 0x80U; }

// Length of the UTF-8 sequence starting at text[i], or 0 if it is malformed.
std::size_t utf8_sequence_length(std::string_view text, std::size_t i) {
  const auto lead = static_cast<unsigned char>(text[i]);
  const std::size_t left = text.size() - i;
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[i + k]); };
  if (lead < 0x80U) {
    return 1;
  }
  if (lead >= 0xC2U && lead <= 0xDFU) {
    return left >= 2 && is_continuation(byte(1)) ? 2 : 0;
  }
  if (lead >= 0xE0U && lead <= 0xEFU) {
    if (left < 3 || !is_continuation(byte(1)) || !is_continuation(byte(2))) {
      return 0;
    }
    if (lead == 0xE0U && byte(1) < 0xA0U) {
      return 0;  // overlong
    }
    if (lead == 0xEDU && byte(1) > 0x9FU) {
      return 0;  // UTF-16 surrogate
    }
    return 3;
  }
  if (lead >= 0xF0U && lead <= 0xF4U) {
    if (left < 4 || !is_continuation(byte(1)) || !is_continuation(byte(2)) ||
        !is_continuation(byte(3))) {
      return 0;
    }
    if (lead == 0xF0U && byte(1) < 0x90U) {
      return 0;  // overlong
    }
    if (lead == 0xF4U && byte(1) > 0x8FU) {
      return 0;  // above U+10FFFF
    }
    return 4;
  }
  return 0;
}

}  // namespace

bool is_valid_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t length = utf8_sequence_length(text, i);
    if (length == 0) {
      return false;
    }
    i += length;
  }
  return true;
}

std::variant<Request, RequestError> parse_request(std::string_view line) {
  const std::size_t space = line.find(' ');
  const std::string_view id = line.substr(0, space);
  const std::string_view payload =
      space == std::string_view::npos ? std::string_view{} : line.substr(space + 1);
  if (!is_valid_request_id(id)) {
    return RequestError::kBadRequestId;
  }
  if (!is_valid_utf8(payload)) {
    return RequestError::kPayloadNotUtf8;
  }
  return Request{std::string(id), std::string(payload)};
}

std::vector<std::uint8_t> echo_message(std::string_view id, std::string_view payload) {
  std::vector<std::uint8_t> message;
  message.reserve(kMessageDomain.size() + 1 + id.size() + payload.size());
  message.insert(message.end(), kMessageDomain.begin(), kMessageDomain.end());
  message.push_back(static_cast<std::uint8_t>(id.size()));
  message.insert(message.end(), id.begin(), id.end());
  message.insert(message.end(), payload.begin(), payload.end());
  return message;
}

std::string to_hex(const std::uint8_t* data, std::size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (std::size_t i = 0; i < size; ++i) {
    out.push_back(kDigits[data[i] >> 4U]);
    out.push_back(kDigits[data[i] & 0x0FU]);
  }
  return out;
}

void LineBuffer::append(const char* data, std::size_t size) { pending_.append(data, size); }

LineBuffer::Status LineBuffer::next_line(std::string& line) {
  const std::size_t newline = pending_.find('\n');
  if (newline == std::string::npos) {
    return pending_.size() > kMaxLineBytes ? Status::kTooLong : Status::kNeedMore;
  }
  if (newline > kMaxLineBytes) {
    return Status::kTooLong;
  }
  line.assign(pending_, 0, newline);
  pending_.erase(0, newline + 1);
  return Status::kLine;
}

}  // namespace cairn_echo
