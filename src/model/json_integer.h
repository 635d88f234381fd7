#pragma once
// A whole number read from a model file. nlohmann's get<int>() converts a float such as 9.57e+85
// with a static_cast, undefined behaviour when it is out of range (found by
// tests/fuzz/fuzz_model_files), so a field that must be an integer is checked as one first.
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

namespace umbra::model {

template <typename T>
T integerAt(const nlohmann::json& object, const char* key) {
  const nlohmann::json& v = object.at(key);
  const auto bad = [&] {
    return std::runtime_error(std::string(key) + " must be a whole number within " +
                              std::to_string(std::numeric_limits<T>::min()) + ".." +
                              std::to_string(std::numeric_limits<T>::max()));
  };
  if (!v.is_number_integer())
    throw bad();
  if (v.is_number_unsigned()) {
    const auto u = v.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(std::numeric_limits<T>::max()))
      throw bad();
    return static_cast<T>(u);
  }
  const auto s = v.get<std::int64_t>();
  if constexpr (std::numeric_limits<T>::is_signed) {
    if (s < static_cast<std::int64_t>(std::numeric_limits<T>::min()) ||
        s > static_cast<std::int64_t>(std::numeric_limits<T>::max()))
      throw bad();
  } else if (s < 0 || static_cast<std::uint64_t>(s) > std::numeric_limits<T>::max()) {
    throw bad();
  }
  return static_cast<T>(s);
}

}  // namespace umbra::model
