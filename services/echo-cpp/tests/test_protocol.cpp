// Request parsing, UTF-8 validation, message layout and bounded line splitting.
#include <string>
#include <variant>

#include "check.hpp"
#include "protocol.hpp"

using cairn_echo::LineBuffer;
using cairn_echo::Request;
using cairn_echo::RequestError;

namespace {

bool parses_to(std::string_view line, std::string_view id, std::string_view payload) {
  const auto parsed = cairn_echo::parse_request(line);
  const auto* request = std::get_if<Request>(&parsed);
  return request != nullptr && request->id == id && request->payload == payload;
}

bool fails_with(std::string_view line, RequestError error) {
  const auto parsed = cairn_echo::parse_request(line);
  const auto* got = std::get_if<RequestError>(&parsed);
  return got != nullptr && *got == error;
}

void test_parse_request() {
  CHECK(parses_to("req-1 hello world", "req-1", "hello world"));
  CHECK(parses_to("a", "a", ""));
  CHECK(parses_to("a ", "a", ""));
  CHECK(parses_to("a  two", "a", " two"));       // only the first space separates
  CHECK(parses_to("a x\r", "a", "x\r"));          // no CR stripping: payload bytes are exact
  CHECK(parses_to("A.b_c-9 \xc3\xa9", "A.b_c-9", "\xc3\xa9"));
  CHECK(parses_to(std::string("id a\0b", 6), "id", std::string("a\0b", 3)));
  CHECK(parses_to(std::string(64, 'z') + " p", std::string(64, 'z'), "p"));

  CHECK(fails_with("", RequestError::kBadRequestId));
  CHECK(fails_with(" payload", RequestError::kBadRequestId));
  CHECK(fails_with(std::string(65, 'z') + " p", RequestError::kBadRequestId));
  CHECK(fails_with("bad/id x", RequestError::kBadRequestId));
  CHECK(fails_with("id\ttab", RequestError::kBadRequestId));
  CHECK(fails_with("\xc3\xa9 x", RequestError::kBadRequestId));
  CHECK(fails_with("id \xff", RequestError::kPayloadNotUtf8));
  CHECK(fails_with("bad! \xff", RequestError::kBadRequestId));  // the id is checked first

  CHECK(cairn_echo::error_reason(RequestError::kBadRequestId) == "bad request-id");
  CHECK(cairn_echo::error_reason(RequestError::kPayloadNotUtf8) == "payload not utf-8");
}

void test_utf8() {
  CHECK(cairn_echo::is_valid_utf8(""));
  CHECK(cairn_echo::is_valid_utf8("plain ascii"));
  CHECK(cairn_echo::is_valid_utf8("\xc2\x80"));                  // U+0080
  CHECK(cairn_echo::is_valid_utf8("\xe2\x9c\x93"));              // U+2713
  CHECK(cairn_echo::is_valid_utf8("\xed\x9f\xbf"));              // U+D7FF
  CHECK(cairn_echo::is_valid_utf8("\xf0\x9f\x98\x80"));          // U+1F600
  CHECK(cairn_echo::is_valid_utf8("\xf4\x8f\xbf\xbf"));          // U+10FFFF
  CHECK(!cairn_echo::is_valid_utf8("\x80"));                     // lone continuation
  CHECK(!cairn_echo::is_valid_utf8("\xc0\xaf"));                 // overlong '/'
  CHECK(!cairn_echo::is_valid_utf8("\xc1\xbf"));                 // overlong
  CHECK(!cairn_echo::is_valid_utf8("\xe0\x80\xaf"));             // overlong
  CHECK(!cairn_echo::is_valid_utf8("\xed\xa0\x80"));             // surrogate U+D800
  CHECK(!cairn_echo::is_valid_utf8("\xf0\x80\x80\xaf"));         // overlong
  CHECK(!cairn_echo::is_valid_utf8("\xf4\x90\x80\x80"));         // U+110000
  CHECK(!cairn_echo::is_valid_utf8("\xf5\x80\x80\x80"));         // invalid lead
  CHECK(!cairn_echo::is_valid_utf8("\xe2\x9c"));                 // truncated
  CHECK(!cairn_echo::is_valid_utf8("\xc3"));                     // truncated
  CHECK(!cairn_echo::is_valid_utf8("\xc3\x28"));                 // bad continuation
}

void test_message_and_hex() {
  const auto message = cairn_echo::echo_message("req-1", "hello");
  const std::string expected = std::string("cairn-echo-v1\0", 14) + "\x05" + "req-1" + "hello";
  CHECK(std::string(message.begin(), message.end()) == expected);
  const auto empty = cairn_echo::echo_message("a", "");
  CHECK(empty.size() == 16 && empty[14] == 1 && empty[15] == 'a');

  const std::uint8_t bytes[] = {0x00, 0x0f, 0xa5, 0xff};
  CHECK(cairn_echo::to_hex(bytes, sizeof bytes) == "000fa5ff");
  CHECK(cairn_echo::to_hex(bytes, 0).empty());
}

void test_line_buffer() {
  LineBuffer buffer;
  std::string line;
  buffer.append("one\ntw", 6);
  CHECK(buffer.next_line(line) == LineBuffer::Status::kLine && line == "one");
  CHECK(buffer.next_line(line) == LineBuffer::Status::kNeedMore);
  buffer.append("o\n\n", 3);
  CHECK(buffer.next_line(line) == LineBuffer::Status::kLine && line == "two");
  CHECK(buffer.next_line(line) == LineBuffer::Status::kLine && line.empty());
  CHECK(buffer.next_line(line) == LineBuffer::Status::kNeedMore);

  // Exactly the limit is accepted; one byte more is too long, with or without its newline.
  const std::string longest(cairn_echo::kMaxLineBytes, 'x');
  LineBuffer at_limit;
  at_limit.append(longest.data(), longest.size());
  CHECK(at_limit.next_line(line) == LineBuffer::Status::kNeedMore);
  at_limit.append("\n", 1);
  CHECK(at_limit.next_line(line) == LineBuffer::Status::kLine && line == longest);

  const std::string too_long = longest + "x";
  LineBuffer unterminated;
  unterminated.append(too_long.data(), too_long.size());
  CHECK(unterminated.next_line(line) == LineBuffer::Status::kTooLong);

  LineBuffer terminated;
  const std::string with_newline = too_long + "\nnext\n";
  terminated.append(with_newline.data(), with_newline.size());
  CHECK(terminated.next_line(line) == LineBuffer::Status::kTooLong);
}

}  // namespace

int main() {
  test_parse_request();
  test_utf8();
  test_message_and_hex();
  test_line_buffer();
  TEST_MAIN_RETURN();
}
