#pragma once

#include <chrono>

namespace umbra {

using SteadyTime = std::chrono::steady_clock::time_point;
using SystemTime = std::chrono::system_clock::time_point;
using Duration = std::chrono::steady_clock::duration;

// Time as a seam (Envoy TimeSource): production reads the real clocks, tests inject their own.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual SteadyTime now() const = 0;
  virtual SystemTime wallNow() const = 0;
};

class RealClock final : public Clock {
 public:
  SteadyTime now() const override { return std::chrono::steady_clock::now(); }
  SystemTime wallNow() const override { return std::chrono::system_clock::now(); }
  // A process-wide instance; owned by the program, never destroyed before main returns.
  static const Clock& instance();
};

}  // namespace umbra
