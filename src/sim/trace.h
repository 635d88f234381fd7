#pragma once

#include <istream>
#include <map>
#include <string>
#include <vector>

#include "common/result.h"

namespace umbra::sim {

// One VM's (or machine's) utilisation, resampled onto a regular grid. Utilisations are fractions
// of the series' own capacity; disk and network are bytes/s. A grid slot without a source sample
// is a gap: `observed` is 0 there and the values carry the last observation forward (a VM does
// not stop during a monitoring gap).
struct Trace {
  std::string id;
  double stepSeconds = 300;
  std::vector<float> cpu, memory, disk, network;
  std::vector<uint8_t> observed;
  // From the _meta.csv sidecar: the size of what was measured.
  double cpuCores = 1;
  double memoryBytes = 1024.0 * 1024 * 1024;

  size_t slots() const { return cpu.size(); }
  double seconds() const { return stepSeconds * static_cast<double>(slots()); }
  size_t gaps() const;
  // Linear interpolation between slots; `t` wraps around the trace's length.
  struct Point {
    double cpu, memory, disk, network;
  };
  Point at(double t) const;
};

struct TraceSet {
  std::map<std::string, Trace> series;
  std::vector<std::string> ids() const;
  // Set when a metadata file had no capacity columns: its series keep the default size, which
  // forecasting does not need and placement does (checkTraces() reports it).
  std::string capacityProblem;
};

// Units of a file's disk_io and net_io columns, turned into bytes/s (see the traces' README):
// Bitbrains gives KB/s; Alibaba gives a 0-100 % disk utilisation and a 0-200 normalised network
// figure, mapped onto a reference device.
struct TraceUnits {
  double diskBytesPerUnit = 1024;
  double networkBytesPerUnit = 1024;
};

// Parses the common CSV format (series_id,timestamp_s,cpu_util,mem_util,disk_io,net_io) into
// `out`, resampled to `stepSeconds` by averaging the samples of each slot. Errors name the source
// and the line: "<source>:12: cpu_util: not a number \"x\"".
Status parseTraceCsv(std::istream& in, const std::string& source, double stepSeconds,
                     const TraceUnits& units, TraceSet& out);

// Applies a _meta.csv sidecar: cpu_cores / cpu_num and mem_capacity_kb / mem_size_normalized.
Status parseTraceMeta(std::istream& in, const std::string& source, TraceSet& out);

}  // namespace umbra::sim
