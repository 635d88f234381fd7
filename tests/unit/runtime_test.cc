#include <gtest/gtest.h>

#include "runtime/time_format.h"

namespace umbra::runtime {
namespace {

TEST(TimeFormat, MicroTimeRoundTrips) {
  const SystemTime t =
      SystemTime(std::chrono::seconds(1795000000)) + std::chrono::microseconds(123456);
  const std::string s = formatMicroTime(t);
  EXPECT_EQ(s, "2026-11-18T11:06:40.123456Z");
  EXPECT_EQ(parseTime(s).value(), t);
  EXPECT_EQ(formatTime(t), "2026-11-18T11:06:40Z");
  EXPECT_EQ(parseTime("2026-11-18T11:06:40Z").value(),
            SystemTime(std::chrono::seconds(1795000000)));
  EXPECT_FALSE(parseTime("yesterday").has_value());
  EXPECT_FALSE(parseTime("2026-11-18T11:06:40").has_value());
}

}  // namespace
}  // namespace umbra::runtime
