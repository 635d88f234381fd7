#include "kube_core/quantity.h"

#include <cmath>
#include <cstdlib>
#include <map>

namespace umbra::kube {

std::optional<double> parseQuantity(const std::string& text) {
  if (text.empty()) {
    return std::nullopt;
  }
  const char* begin = text.c_str();
  char* end = nullptr;
  const double number = std::strtod(begin, &end);
  if (end == begin || !std::isfinite(number) || number < 0) {
    return std::nullopt;
  }
  const std::string suffix(end);
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
  const auto it = multipliers.find(suffix);
  if (it == multipliers.end()) {
    return std::nullopt;  // strtod already consumed any exponent ("1e3")
  }
  return number * it->second;
}

std::string formatMilliCpu(double cores) {
  return std::to_string(static_cast<int64_t>(std::ceil(cores * 1000.0 - 1e-9))) + "m";
}

std::string formatMebibytes(double bytes) {
  return std::to_string(static_cast<int64_t>(std::ceil(bytes / 1048576.0 - 1e-9))) + "Mi";
}

std::optional<std::chrono::milliseconds> parseDuration(const std::string& text) {
  if (text.empty()) {
    return std::nullopt;
  }
  double totalMs = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    const char* begin = text.c_str() + pos;
    char* end = nullptr;
    const double value = std::strtod(begin, &end);
    if (end == begin || value < 0 || *begin == '+' || *begin == '-') {
      return std::nullopt;
    }
    pos = static_cast<size_t>(end - text.c_str());
    double unitMs = 0;
    if (text.compare(pos, 2, "ms") == 0) {
      unitMs = 1;
      pos += 2;
    } else if (pos < text.size() && text[pos] == 's') {
      unitMs = 1000;
      ++pos;
    } else if (pos < text.size() && text[pos] == 'm') {
      unitMs = 60000;
      ++pos;
    } else if (pos < text.size() && text[pos] == 'h') {
      unitMs = 3600000;
      ++pos;
    } else {
      return std::nullopt;
    }
    totalMs += value * unitMs;
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
