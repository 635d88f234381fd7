#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/result.h"

namespace umbra::sim {

// How co-located workloads disturb each other beyond what node utilisation shows (shared caches,
// memory bandwidth). A workload's class gives its sensitivity (how much it suffers) and its
// pressure (how much it inflicts per core it runs).
struct InterferenceClass {
  double sensitivity = 1.0;
  double pressure = 1.0;
};

// A queueing curve q(rho) = scale * rho^exponent / (1 - rho + knee), rho in [0, 1]: zero when
// idle, growing nonlinearly towards saturation. See docs/simulation.md.
struct QueueCurve {
  double scale = 0.02;
  double exponent = 4.0;
  double knee = 0.05;
  double at(double rho) const;
};

struct Physics {
  QueueCurve cpu{0.02, 4.0, 0.05};
  QueueCurve disk{0.05, 3.0, 0.05};
  QueueCurve network{0.02, 3.0, 0.05};
  double memoryPressureStart = 0.85;  // used / capacity where memory pressure begins
  double interference = 0.0;          // strength; 0 turns hidden interference off
  double noise = 0.05;                // relative, multiplicative, per workload and 15 s slot
  // Relative error of every exported counter's increase per 15 s slot (scrape-time jitter and
  // sampling); 0 makes the counters exact.
  double measurementNoise = 0.02;
  double diskLatencySeconds = 0.0005;  // per I/O on an idle device
  double networkLatencySeconds = 0.0002;
  // Bytes per second a guest dirties per core it keeps busy, for live migrations (an assumption:
  // docs/simulation.md, "Live migration"); a workload may set its own.
  double dirtyBytesPerCoreSecond = 64.0 * 1024 * 1024;
  std::map<std::string, InterferenceClass> classes{{"neutral", {}}};
};

struct Taint {
  std::string key, value, effect;
};

// Load on the node that is not a VM (system daemons, containers): a synthetic profile at `level`
// of the node's CPU, or a trace whose utilisation is scaled by `share`.
struct Background {
  std::string profile;  // steady | diurnal | spiky | bursty; empty if none or trace
  std::string trace;    // a series id from the traces
  double level = 0.0;   // profile: fraction of the node's cores
  double share = 1.0;   // trace: fraction of the node the trace's machine stands for
  double memory = 0.0;  // fraction of the node's memory in use by the background
};

struct NodeSpec {
  std::string name;
  double cpuCores = 0;
  double memoryBytes = 0;
  double diskBytesPerSecond = 500.0 * 1024 * 1024;
  double networkBytesPerSecond = 1250.0 * 1024 * 1024;
  double cpuSpeed = 1.0;  // relative to the traces' reference core
  std::map<std::string, std::string> labels;
  std::vector<Taint> taints;
  // Extended resources the node advertises (capacity = allocatable): device plugins' GPUs and
  // host devices ("nvidia.com/GP102GL_Tesla_P40": 2), hugepages ("hugepages-1Gi": 8Gi).
  std::map<std::string, double> devices;
  Background background;
};

struct ClusterSpec {
  std::string name;
  Physics physics;
  std::vector<NodeSpec> nodes;
};

// The names of the physics' interference classes, in order (what a random workload draws from).
std::vector<std::string> classNames(const ClusterSpec& cluster);

// Parses a cluster description (examples/clusters/*.yaml). `source` names the file in errors,
// which are one line: "<source>: nodes[2].memory: must be a quantity, got \"lots\"".
Result<ClusterSpec> parseCluster(const std::string& yamlText, const std::string& source);

}  // namespace umbra::sim
