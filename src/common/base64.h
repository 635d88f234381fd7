#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace umbra {

// Standard base64 (RFC 4648) with padding; decode ignores whitespace and returns nullopt on bad
// input.
std::string base64Encode(std::string_view data);
std::optional<std::string> base64Decode(std::string_view text);

}  // namespace umbra
