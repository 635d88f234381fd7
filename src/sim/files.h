#pragma once

#include <string>

#include "common/result.h"
#include "sim/cluster.h"
#include "sim/trace.h"

namespace umbra::sim {

// Reads and parses a cluster file; errors name the path ("small.yaml: nodes[1].cpu: ...").
Result<ClusterSpec> loadCluster(const std::string& path);

// Loads every *.csv.gz (or *.csv) trace in `dir` with its *_meta.csv sidecar, resampled to
// `stepSeconds`. Units follow the traces' README (files named alibaba* use Alibaba's).
Result<TraceSet> loadTraces(const std::string& dir, double stepSeconds = 300);

// Checks that every trace a cluster names exists, and that the traces carry the capacities that
// size simulated VMs (a metadata file without them loads, for forecasting, but cannot place).
Status checkTraces(const ClusterSpec& cluster, const TraceSet& traces, const std::string& source);

}  // namespace umbra::sim
