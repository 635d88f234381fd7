#pragma once

#include <map>
#include <string>

#include "sim/simulation.h"

namespace umbra::simulator {

// What the exporters know of a VMI beyond its workload: its labels (exported as
// kubernetes_vmi_label_<key>, as virt-handler does) and its phase.
struct VmiInfo {
  std::string ns, name, phase;
  std::map<std::string, std::string> labels;
};

// Prometheus text exposition (format 0.0.4) of the simulation: virt-handler's kubevirt_vmi_*
// series for every workload in `vmis` (labels name, namespace, node; vCPU series by id, storage
// by drive, network by interface) and node-exporter's node_* series for every node (label node),
// plus umbra_sim_* gauges with the ground truth the benchmarks compare against.
std::string renderMetrics(const sim::Simulation& sim, const std::map<std::string, VmiInfo>& vmis);

// virt-handler's label name for a VMI label: kubernetes_vmi_label_ + key with '.', '/', '-' -> '_'.
std::string vmiLabelName(const std::string& key);

}  // namespace umbra::simulator
