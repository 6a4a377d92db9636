// Turns one request line into its response line.
#pragma once

#include <string>
#include <string_view>

#include "signer.hpp"

namespace cairn_echo {

// "OK <id> <hex payload> <hex signature>\n" or "ERR <reason>\n" for `line` (without its '\n').
std::string respond(std::string_view line, const Signer& signer);

}  // namespace cairn_echo
