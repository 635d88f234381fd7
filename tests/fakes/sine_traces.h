#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "sim/trace.h"

namespace umbra::testing {

// Four sinusoidal 4-core VMs over three days.
inline sim::TraceSet sineTraces() {
  sim::TraceSet traces;
  std::ostringstream csv;
  csv << "series_id,timestamp_s,cpu_util,mem_util,disk_io,net_io\n";
  for (int v = 0; v < 4; ++v)
    for (int t = 0; t < 288 * 3; ++t)
      csv << "vm" << v << "," << t * 300 << "," << 0.3 + 0.25 * std::sin(2 * M_PI * t / 288.0 + v)
          << ",0.5,100,100\n";
  std::istringstream in(csv.str());
  EXPECT_TRUE(sim::parseTraceCsv(in, "t.csv", 300, {}, traces).ok());
  for (auto& [id, t] : traces.series)
    t.cpuCores = 4;
  return traces;
}

}  // namespace umbra::testing
