#pragma once

// Reading a custom resource's spec fields with errors that name the object and the field
// ("ns/web: spec.interval: \"5 minutes\" is not a duration"). Terminal errors: a spec the API
// server admitted but Umbra cannot use is not retried until it changes.
#include <chrono>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/result.h"

namespace umbra::api::fields {

// "namespace/name" of an object.
std::string nameOf(const nlohmann::json& o);
Error fieldError(const nlohmann::json& o, const std::string& field, const std::string& what);
// parent[key] as a positive Go duration; `fallback` when absent.
Result<std::chrono::milliseconds> durationAt(const nlohmann::json& o, const nlohmann::json& parent,
                                             const char* key, const std::string& field,
                                             std::chrono::milliseconds fallback);
// parent[key] as an integer in [min, max]; `fallback` when absent.
Result<int> intAt(const nlohmann::json& o, const nlohmann::json& parent, const char* key,
                  const std::string& field, int fallback, int min, int max);
// parent[key] as a decimal string ("0.8"), finite and at least `min`; `fallback` when absent.
Result<double> decimalAt(const nlohmann::json& o, const nlohmann::json& parent, const char* key,
                         const std::string& field, double fallback, double min);
// parent[key] as an RFC 3339 time; nullopt when absent.
Result<std::optional<SystemTime>> timeAt(const nlohmann::json& o, const nlohmann::json& parent,
                                         const char* key, const std::string& field);

}  // namespace umbra::api::fields
