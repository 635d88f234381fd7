#pragma once

#include <cassert>
#include <type_traits>
#include <utility>
#include <variant>

#include "common/error.h"

namespace umbra {

// Result<T> holds a T or an Error; shaped like C++23 std::expected, which GCC 12 lacks in C++20.
// Guarantees: exactly one of value() / error() is valid; accessing the other asserts.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    assert(ok());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const& {
    assert(!ok());
    return std::get<1>(v_);
  }
  Error&& error() && {
    assert(!ok());
    return std::get<1>(std::move(v_));
  }

  T valueOr(T fallback) const& { return ok() ? value() : std::move(fallback); }

 private:
  std::variant<T, Error> v_;
};

// Result<void>: success or an Error.
template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT: implicit by design

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const& {
    assert(!ok_);
    return error_;
  }
  Error&& error() && {
    assert(!ok_);
    return std::move(error_);
  }

 private:
  Error error_;
  bool ok_ = true;
};

using Status = Result<void>;

inline Status okStatus() {
  return {};
}

}  // namespace umbra

// Propagates an error from an expression returning Result<...>: UMBRA_TRY(auto x, f());
// `tmp` and `decl` are a name and a declaration, which cannot be parenthesized.
#define UMBRA_CONCAT_INNER(a, b) a##b
#define UMBRA_CONCAT(a, b) UMBRA_CONCAT_INNER(a, b)
// NOLINTBEGIN(bugprone-macro-parentheses)
#define UMBRA_TRY_IMPL(tmp, decl, expr) \
  auto tmp = (expr);                    \
  if (!tmp.ok()) {                      \
    return std::move(tmp).error();      \
  }                                     \
  decl = std::move(tmp).value()
// NOLINTEND(bugprone-macro-parentheses)
#define UMBRA_TRY(decl, expr) UMBRA_TRY_IMPL(UMBRA_CONCAT(umbra_try_, __LINE__), decl, expr)
#define UMBRA_CHECK(expr)                           \
  do {                                              \
    auto umbra_check_status = (expr);               \
    if (!umbra_check_status.ok()) {                 \
      return std::move(umbra_check_status).error(); \
    }                                               \
  } while (false)
