#pragma once

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"

namespace umbra::telemetry {

// Per VMI ("namespace/name"), at the steps of `times`: the node it ran on ("" when it did not
// run) and the cores it used. When a migration puts a VMI on two nodes in one step, the node it
// used more on.
struct VmiCpuHistory {
  std::vector<int64_t> times;  // unix seconds
  struct Vmi {
    std::string key;
    std::vector<std::string> node;
    std::vector<double> cores;
  };
  std::vector<Vmi> vmis;
  std::map<std::string, double> nodeCpus;  // node -> CPUs
};

// One observation step for one candidate: what its shadow and its node experienced.
// Fractions in [0, 1]; latency in seconds. `present` is false for a gap (no sample at that step).
struct Sample {
  double cpuSteal = 0;        // shadow's run-queue delay fraction (steal less CFS throttling)
  // A Synthetic shadow's probe: operations per second of each kernel's wall time, the memory
  // kernel's divided by the idle reference (0: no probe). probeLossOf turns them into a loss.
  double probeMemorySpeed = 0;
  double probeAluSpeed = 0;
  double cpuUtilization = 0;  // node busy share (node_cpu_seconds_total, 1 - idle)
  double memoryPressure = 0;  // node_pressure_memory_*
  double ioWait = 0;          // node iowait share
  double networkLatency = 0;  // added latency seen by the shadow
  bool present = true;
};

// The share of the memory kernel's speed lost next to the ALU kernel's, in [0, 1]; 0 without a
// probe (alu <= 0). Give it sums or means over an interval, not one short step's speeds: the ratio
// of a few counted operations is biased, and a clamp per step biases it more.
inline double probeLossOf(double memorySpeed, double aluSpeed) {
  return aluSpeed > 0 ? std::clamp(1.0 - memorySpeed / aluSpeed, 0.0, 1.0) : 0.0;
}

struct ShadowRef {
  std::string ns;
  std::string name;
  std::string node;
};

// A fixed-shape feature tensor: rows are evaluation steps (oldest first), columns the catalog's
// features in catalog order. Values are normalised (raw / feature scale); a gap holds 0 and
// present = 0, so nothing is silently filled.
struct FeatureFrame {
  std::vector<std::string> columns;
  std::vector<int64_t> times;    // unix seconds of each row
  std::vector<double> values;    // rows x columns, row-major
  std::vector<uint8_t> present;  // rows x columns

  size_t rows() const { return times.size(); }
  size_t cols() const { return columns.size(); }
  double value(size_t row, size_t col) const { return values[row * cols() + col]; }
  bool has(size_t row, size_t col) const { return present[row * cols() + col] != 0; }
  int column(const std::string& name) const;  // -1 when absent
  double coverage() const;                    // share of present cells
};

struct CandidateTelemetry {
  std::string node;
  std::vector<Sample> samples;  // one per step, oldest first: the decision features
  FeatureFrame frame;           // every catalog feature (what a learned model reads)
  // Optional features whose series were absent or stale, by name, for status messages.
  std::vector<std::string> notes;
  // A required feature with a hole longer than the staleness limit inside the window (Prometheus
  // or the exporter was down, or Prometheus lost data): the window must be observed again.
  std::string gap;
  // The node's allocatable size (filled in by the reconciler; 0 when unknown).
  double nodeCpuCores = 0;
  double nodeMemoryBytes = 0;
  // False for the node alone (observeNodes): its CPU pressure stands where a shadow's steal would
  // be, and there is no probe.
  bool fromShadow = true;
};

// Where shadow and node behaviour comes from (Prometheus in production). One call per placement
// decision, covering every candidate.
class MetricsSource {
 public:
  virtual ~MetricsSource() = default;
  // @return one CandidateTelemetry per shadow, in the order given; an error (e.g. the source is
  // unreachable, or a series is absent) is reported as MetricsAvailable=False and retried.
  virtual Result<std::vector<CandidateTelemetry>> observe(const std::vector<ShadowRef>& shadows,
                                                          SystemTime start, SystemTime end,
                                                          Duration step) = 0;
  // The nodes alone, before any shadow runs: node features only, one CandidateTelemetry per node
  // in the order given, whose samples carry the node's CPU pressure (PSI) where a shadow's steal
  // would be and no probe. For ranking every feasible node by its forecast; a source that cannot
  // says so (Unavailable) and candidates are chosen by requests alone.
  virtual Result<std::vector<CandidateTelemetry>> observeNodes(
      const std::vector<std::string>& nodes, SystemTime start, SystemTime end, Duration step) {
    (void)nodes, (void)start, (void)end, (void)step;
    return Error::make(ErrorKind::Unavailable, "this metrics source cannot read nodes alone");
  }
};

}  // namespace umbra::telemetry
