// The node's history as its current co-runners would have made it (co_runners.h).
#include "model/co_runners.h"

#include <algorithm>

namespace umbra::model {

std::vector<double> coRunnerHistory(std::span<const double> nodeUtil, double cores,
                                    std::span<const VmCpuSlots> vms) {
  using Where = VmCpuSlots::Where;
  const size_t n = nodeUtil.size();
  std::vector<double> used(nodeUtil.begin(), nodeUtil.end());
  if (n == 0 || cores <= 0)
    return used;
  for (double& u : used)
    u *= cores;
  for (const auto& vm : vms) {
    if (vm.cores.size() != n || vm.where.size() != n)
      continue;
    const bool current = vm.current;
    double sum = 0;
    int ran = 0;
    for (size_t t = 0; t < n; ++t) {
      if (vm.where[t] != Where::Absent) {
        sum += vm.cores[t];
        ++ran;
      }
    }
    const double fill = ran > 0 ? sum / ran : 0;
    for (size_t t = 0; t < n; ++t) {
      const Where w = vm.where[t];
      if (w == Where::Here && !current)
        used[t] -= vm.cores[t];
      else if (w == Where::Elsewhere && current)
        used[t] += vm.cores[t];
      else if (w == Where::Absent && current)
        used[t] += fill;
    }
  }
  for (double& u : used)
    u = std::clamp(u / cores, 0.0, 1.0);
  return used;
}

size_t toCoRunnerHistories(std::map<std::string, std::vector<double>>& histories,
                           const telemetry::VmiCpuHistory& vmis) {
  using Where = VmCpuSlots::Where;
  const size_t n = vmis.times.size();
  size_t rebuilt = 0;
  for (auto& [node, history] : histories) {
    const auto cpus = vmis.nodeCpus.find(node);
    if (n == 0 || history.size() != n || cpus == vmis.nodeCpus.end() || cpus->second <= 0)
      continue;
    std::vector<VmCpuSlots> here;
    for (const auto& vmi : vmis.vmis) {
      if (vmi.node.size() != n || vmi.cores.size() != n ||
          std::find(vmi.node.begin(), vmi.node.end(), node) == vmi.node.end())
        continue;
      VmCpuSlots v;
      v.cores = vmi.cores;
      v.current = vmi.node.back() == node;
      for (const auto& on : vmi.node)
        v.where.push_back(on == node ? Where::Here : on.empty() ? Where::Absent : Where::Elsewhere);
      here.push_back(std::move(v));
    }
    history = coRunnerHistory(history, cpus->second, here);
    ++rebuilt;
  }
  return rebuilt;
}

}  // namespace umbra::model
