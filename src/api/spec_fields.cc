#include "api/spec_fields.h"

#include <cmath>
#include <cstdlib>

#include "kube_core/quantity.h"
#include "kube_core/time.h"

namespace umbra::api::fields {

using nlohmann::json;

std::string nameOf(const json& o) {
  const json meta = o.value("metadata", json::object());
  return meta.value("namespace", "") + "/" + meta.value("name", "");
}

Error fieldError(const json& o, const std::string& field, const std::string& what) {
  return Error::make(ErrorKind::Terminal, nameOf(o) + ": " + field + ": " + what);
}

Result<std::chrono::milliseconds> durationAt(const json& o, const json& parent, const char* key,
                                             const std::string& field,
                                             std::chrono::milliseconds fallback) {
  if (!parent.contains(key))
    return fallback;
  const json v = parent[key];
  if (!v.is_string())
    return fieldError(o, field, "not a string");
  const auto d = kube::parseDuration(v.get<std::string>());
  if (!d || d->count() <= 0)
    return fieldError(o, field, "\"" + v.get<std::string>() + "\" is not a duration");
  return *d;
}

Result<int> intAt(const json& o, const json& parent, const char* key, const std::string& field,
                  int fallback, int min, int max) {
  if (!parent.contains(key))
    return fallback;
  const json v = parent[key];
  if (!v.is_number_integer() || v.get<int64_t>() < min || v.get<int64_t>() > max)
    return fieldError(o, field,
                      "must be an integer in [" + std::to_string(min) + ", " + std::to_string(max) +
                          "], not " + v.dump());
  return v.get<int>();
}

Result<double> decimalAt(const json& o, const json& parent, const char* key,
                         const std::string& field, double fallback, double min) {
  if (!parent.contains(key))
    return fallback;
  const std::string text = parent[key].is_string() ? parent[key].get<std::string>() : "";
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || end == nullptr || *end != '\0' || !std::isfinite(v) || v < min)
    return fieldError(
        o, field, "\"" + text + "\" is not a decimal number of at least " + std::to_string(min));
  return v;
}

Result<std::optional<SystemTime>> timeAt(const json& o, const json& parent, const char* key,
                                         const std::string& field) {
  if (!parent.contains(key))
    return std::optional<SystemTime>{};
  const std::string text = parent[key].is_string() ? parent[key].get<std::string>() : "";
  const auto t = kube::parseTime(text);
  if (!t)
    return fieldError(o, field, "\"" + text + "\" is not an RFC 3339 time");
  return std::optional<SystemTime>(*t);
}

}  // namespace umbra::api::fields
