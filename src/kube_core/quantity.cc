#include "kube_core/quantity.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <string>
#include <utility>

namespace umbra::kube {

namespace {

bool isDigit(char c) {
  return c >= '0' && c <= '9';
}

// Length of the unsigned decimal number at text[pos] ("12", "1.5", ".5", "5."), 0 if none: at
// least one digit, at most one point. std::strtod alone would also take "inf", "nan", hex
// ("0x1p3"), exponents and leading blanks.
size_t decimalAt(const std::string& text, size_t pos) {
  size_t i = pos, digits = 0;
  for (; i < text.size() && isDigit(text[i]); ++i)
    ++digits;
  if (i < text.size() && text[i] == '.')
    for (++i; i < text.size() && isDigit(text[i]); ++i)
      ++digits;
  return digits == 0 ? 0 : i - pos;
}

}  // namespace

// resource.Quantity's grammar (k8s.io/apimachinery/pkg/api/resource/quantity.go): a signed
// decimal number, then a binary SI suffix (Ki..Ei), a decimal SI suffix (n, u, m, "", k, M..E) or
// a decimal exponent (e3, E-2). Negative quantities are refused: nothing here takes one.
std::optional<double> parseQuantity(const std::string& text) {
  size_t pos = 0;
  if (pos < text.size() && text[pos] == '+')
    ++pos;
  const size_t n = decimalAt(text, pos);
  if (n == 0)
    return std::nullopt;
  const double number = std::strtod(text.substr(pos, n).c_str(), nullptr);
  pos += n;
  const std::string suffix = text.substr(pos);
  static const std::map<std::string, double> multipliers = {
      {"", 1},
      {"n", 1e-9},
      {"u", 1e-6},
      {"m", 1e-3},
      {"k", 1e3},
      {"M", 1e6},
      {"G", 1e9},
      {"T", 1e12},
      {"P", 1e15},
      {"E", 1e18},
      {"Ki", 1024.0},
      {"Mi", 1048576.0},
      {"Gi", 1073741824.0},
      {"Ti", 1099511627776.0},
      {"Pi", 1125899906842624.0},
      {"Ei", 1152921504606846976.0},
  };
  double value = 0;
  if (const auto it = multipliers.find(suffix); it != multipliers.end()) {
    value = number * it->second;
  } else if (suffix.size() >= 2 && (suffix[0] == 'e' || suffix[0] == 'E')) {
    size_t i = 1;
    if (suffix[i] == '+' || suffix[i] == '-')
      ++i;
    if (i == suffix.size() || suffix.size() - i > 4 ||
        !std::all_of(suffix.begin() + static_cast<std::ptrdiff_t>(i), suffix.end(), isDigit))
      return std::nullopt;
    value = number * std::pow(10.0, std::atoi(suffix.c_str() + 1));
  } else {
    return std::nullopt;
  }
  if (!std::isfinite(value))
    return std::nullopt;
  return value;
}

std::string formatMilliCpu(double cores) {
  return std::to_string(static_cast<int64_t>(std::ceil(cores * 1000.0 - 1e-9))) + "m";
}

std::string formatMebibytes(double bytes) {
  return std::to_string(static_cast<int64_t>(std::ceil(bytes / 1048576.0 - 1e-9))) + "Mi";
}

// Go's time.ParseDuration grammar without a sign: one or more decimal numbers each with a unit
// (ns, us, µs, ms, s, m, h), or "0". Refused: "5" (no unit), "inf", "1e3s", blanks, and totals
// beyond Go's own limit (about 292 years), which would not fit in milliseconds either.
std::optional<std::chrono::milliseconds> parseDuration(const std::string& text) {
  if (text == "0")
    return std::chrono::milliseconds(0);
  if (text.empty())
    return std::nullopt;
  static const std::pair<const char*, double> units[] = {
      {"ns", 1e-6}, {"us", 1e-3}, {"\xc2\xb5s", 1e-3}, {"ms", 1},
      {"s", 1000},  {"m", 60000}, {"h", 3600000}};
  constexpr double MaxMs = 9.2233720368e12;  // Go's maximum, 2^63 - 1 ns
  double totalMs = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t n = decimalAt(text, pos);
    if (n == 0)
      return std::nullopt;
    const double value = std::strtod(text.substr(pos, n).c_str(), nullptr);
    pos += n;
    double unitMs = 0;
    for (const auto& [name, ms] : units) {
      const size_t len = std::char_traits<char>::length(name);
      if (text.compare(pos, len, name) == 0) {  // "ms" is tried before "m"
        unitMs = ms;
        pos += len;
        break;
      }
    }
    if (unitMs == 0)
      return std::nullopt;
    totalMs += value * unitMs;
    if (!(totalMs <= MaxMs))
      return std::nullopt;
  }
  return std::chrono::milliseconds(static_cast<int64_t>(std::llround(totalMs)));
}

std::string formatDuration(std::chrono::milliseconds d) {
  int64_t ms = d.count();
  std::string out;
  if (ms >= 3600000) {
    out += std::to_string(ms / 3600000) + "h";
    ms %= 3600000;
  }
  if (ms >= 60000) {
    out += std::to_string(ms / 60000) + "m";
    ms %= 60000;
  }
  if (ms >= 1000 && ms % 1000 == 0) {
    out += std::to_string(ms / 1000) + "s";
  } else if (ms > 0) {
    out += std::to_string(ms) + "ms";
  }
  return out.empty() ? "0s" : out;
}

}  // namespace umbra::kube
