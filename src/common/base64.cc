#include "common/base64.h"

#include <array>
#include <cstdint>

namespace umbra {
namespace {
constexpr std::string_view Alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
}

std::string base64Encode(std::string_view data) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < data.size(); i += 3) {
    const uint32_t n = (static_cast<uint8_t>(data[i]) << 16) |
                       (static_cast<uint8_t>(data[i + 1]) << 8) | static_cast<uint8_t>(data[i + 2]);
    out += Alphabet[(n >> 18) & 63];
    out += Alphabet[(n >> 12) & 63];
    out += Alphabet[(n >> 6) & 63];
    out += Alphabet[n & 63];
  }
  if (i < data.size()) {
    uint32_t n = static_cast<uint8_t>(data[i]) << 16;
    if (i + 1 < data.size()) {
      n |= static_cast<uint8_t>(data[i + 1]) << 8;
    }
    out += Alphabet[(n >> 18) & 63];
    out += Alphabet[(n >> 12) & 63];
    out += i + 1 < data.size() ? Alphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::optional<std::string> base64Decode(std::string_view text) {
  std::array<int, 256> table{};
  table.fill(-1);
  for (size_t i = 0; i < Alphabet.size(); ++i) {
    table[static_cast<uint8_t>(Alphabet[i])] = static_cast<int>(i);
  }
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  int pad = 0;
  for (const char c : text) {
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
      continue;
    }
    if (c == '=') {
      ++pad;
      continue;
    }
    if (pad > 0) {
      return std::nullopt;  // data after padding
    }
    const int v = table[static_cast<uint8_t>(c)];
    if (v < 0) {
      return std::nullopt;
    }
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  if (pad > 2) {
    return std::nullopt;
  }
  return out;
}

}  // namespace umbra
