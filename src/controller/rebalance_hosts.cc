// RebalancePolicyReconciler's view of the hosts: the nodes' allocatable and requests from the
// caches; their CPU utilisation (the last minute, the sustained window) and its forecast from
// Prometheus and the forecast engine; the VMs' CPU and its forecast; the companions' probe loss.
#include <algorithm>
#include <map>
#include <numeric>
#include <set>

#include "common/log.h"
#include "controller/object_fields.h"
#include "controller/rebalance_reconciler.h"
#include "kube_core/quantity.h"
#include "model/guarded_ensemble.h"

namespace umbra::controller {

using kube::Json;
using namespace fields;

namespace {

// A series on the grid start, start + step, ... (n points), from its first sample on: each point
// the newest sample at or before it (gaps carried forward). Empty when it has none.
std::vector<double> onGrid(const std::vector<std::pair<int64_t, double>>& points, int64_t startMs,
                           int64_t stepMs, size_t n) {
  std::vector<double> out;
  size_t i = 0;
  double last = 0;
  for (size_t k = 0; k < n; ++k) {
    const int64_t t = startMs + static_cast<int64_t>(k) * stepMs;
    while (i < points.size() && points[i].first <= t)
      last = points[i++].second;
    if (i > 0)
      out.push_back(last);
  }
  return out;
}

// The forecast engine on every series of the pass (hosts and VMs): the guard over the linear AR
// (a daily season), the recent median (the sustained window) and the last value, fitted on the
// series themselves; per series, the highest p50 and p90 over the horizon.
std::vector<std::pair<double, double>> forecastPeaks(const std::vector<std::vector<double>>& series,
                                                     int horizon, int stepsPerDay, int recent) {
  std::vector<std::pair<double, double>> out(series.size(), {0, 0});
  auto ar = model::linearAutoregressive(12, std::max(1, stepsPerDay));
  auto median = model::recentMedian(std::max(1, recent));
  auto last = model::lastValue();
  model::GuardedEnsemble engine({ar.get(), median.get(), last.get()}, true);
  std::vector<model::TrainSeries> train;
  for (const auto& s : series)
    train.push_back({s, std::vector<uint8_t>(s.size(), 1)});
  const Status fitted = engine.fit(train, horizon);
  for (size_t i = 0; i < series.size(); ++i) {
    if (series[i].empty())
      continue;
    if (!fitted.ok()) {
      out[i] = {series[i].back(), series[i].back()};
      continue;
    }
    const auto f = engine.predict(i, series[i], horizon);
    for (size_t h = 0; h < f.p50.size(); ++h) {
      out[i].first = std::max(out[i].first, f.p50[h]);
      out[i].second = std::max(out[i].second, h < f.p90.size() ? f.p90[h] : f.p50[h]);
    }
  }
  if (!fitted.ok())
    log::warn("rebalance forecast: the engine did not fit; the last values stand",
              {{"error", fitted.error().message}});
  return out;
}

bool schedulable(const Json& node) {
  const Json spec = node.value("spec", Json::object());
  if (spec.value("unschedulable", false))
    return false;
  for (const auto& t : spec.value("taints", Json::array()))
    if (t.value("effect", "") == "NoSchedule" || t.value("effect", "") == "NoExecute")
      return false;
  for (const auto& c : node.value("status", Json::object()).value("conditions", Json::array()))
    if (c.value("type", "") == "Ready")
      return c.value("status", "") == "True";
  return true;
}

}  // namespace

void RebalancePolicyReconciler::readHosts(const RebalanceInput& in, RebalanceWorld& w) {
  std::map<std::string, rebalance::Host> hosts;
  for (const auto& node : d_.caches.nodes.list()) {
    rebalance::Host h;
    h.name = (*node)["metadata"].value("name", "");
    const Json alloc = (*node).value("status", Json::object()).value("allocatable", Json::object());
    h.cores = kube::parseQuantity(alloc.value("cpu", "0")).value_or(0);
    h.memoryBytes = bytesOf(alloc, "memory");
    h.schedulable = schedulable(*node);
    hosts[h.name] = h;
  }
  // What runs there, as the scheduler counts it (requests, else vCPUs / 10 and the guest).
  for (const auto& vmi : d_.caches.vmis.list()) {
    const Json st = (*vmi).value("status", Json::object());
    const auto h = hosts.find(st.value("nodeName", ""));
    const std::string phase = st.value("phase", "");
    if (h == hosts.end() || phase == "Succeeded" || phase == "Failed")
      continue;
    const Json domain = (*vmi)["spec"].value("domain", Json::object());
    const Json requests =
        domain.value("resources", Json::object()).value("requests", Json::object());
    const Json cpu = domain.value("cpu", Json::object());
    const double vcpus =
        std::max(1, intOf(cpu, "sockets", 1) * intOf(cpu, "cores", 1) * intOf(cpu, "threads", 1));
    const double requested = kube::parseQuantity(requests.value("cpu", "")).value_or(0);
    h->second.requestedCpu += requested > 0 ? requested : vcpus / rebalance::CpuAllocationRatio;
    const double memory = bytesOf(requests, "memory");
    h->second.requestedMemory +=
        memory > 0 ? memory : bytesOf(domain.value("memory", Json::object()), "guest");
  }

  // The telemetry, read at most once an interval (the passes between reuse it).
  const std::shared_ptr<const RebalanceTelemetry> t = telemetry(in, w);
  if (!t->problem.empty()) {
    w.metricsProblem = t->problem;
    return;
  }
  std::set<std::string> measured;
  for (const auto& [node, r] : t->hosts) {
    const auto h = hosts.find(node);
    if (h == hosts.end())
      continue;
    h->second.utilisation = r.utilisation;
    h->second.sustained = r.sustained;
    h->second.forecast = r.forecast;
    h->second.forecastP90 = r.forecastP90;
    h->second.interference = r.interference;
    measured.insert(node);
  }
  for (auto& v : w.vms)
    if (const auto r = t->vms.find(v.vm.id); r != t->vms.end() && v.running) {
      v.vm.usage = r->second.first;
      v.vm.usageP90 = r->second.second;
    }
  std::set<std::string> vmHosts;
  for (const auto& v : w.vms)
    if (!v.vm.host.empty()) {
      vmHosts.insert(v.vm.host);
      if (!measured.count(v.vm.host) && w.metricsProblem.empty())
        w.metricsProblem = "no node_cpu_seconds_total for node " + v.vm.host + " (label " +
                           d_.nodeLabel + ") in Prometheus over spec.history";
    }
  for (const auto& [name, h] : hosts)
    if (vmHosts.count(name) && measured.count(name))
      w.hosts.push_back(h);
  for (const auto& [name, h] : hosts)
    if (!vmHosts.count(name) && measured.count(name))
      w.hosts.push_back(h);
}

std::shared_ptr<const RebalanceTelemetry> RebalancePolicyReconciler::telemetry(
    const RebalanceInput& in, const RebalanceWorld& w) {
  const api::RebalanceSpec& s = *in.spec;
  const SteadyTime now = d_.clock.now();
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    const auto it = telemetry_.find(in.key());
    if (it != telemetry_.end() && it->second->generation == in.generation &&
        now - it->second->at < s.interval)
      return it->second;
  }
  auto t = std::make_shared<RebalanceTelemetry>();
  t->at = now;
  t->generation = in.generation;
  const auto keep = [&] {
    const std::lock_guard<std::mutex> lock(mutex_);
    telemetry_[in.key()] = t;
    return t;
  };
  // Every host's and VM's CPU over the history, on the policy's grid.
  const auto step = std::max(std::chrono::seconds(1),
                             std::chrono::duration_cast<std::chrono::seconds>(s.interval));
  const SystemTime end = d_.clock.wallNow();
  const SystemTime start = end - std::chrono::duration_cast<SystemTime::duration>(s.history);
  const size_t n = static_cast<size_t>(s.history / step) + 1;
  const int64_t startMs =
      std::chrono::duration_cast<std::chrono::milliseconds>(start.time_since_epoch()).count();
  const int64_t stepMs = std::chrono::duration_cast<std::chrono::milliseconds>(step).count();
  auto nodeSeries =
      d_.range(hostUtilisationQuery(d_.nodeLabel, d_.rateWindow), d_.nodeLabel, start, end, step);
  if (!nodeSeries.ok()) {
    t->problem = "Prometheus: " + nodeSeries.error().message;
    return keep();
  }
  auto vmSeries = d_.range(vmCpuQuery(in.ns, d_.rateWindow), "name", start, end, step);
  if (!vmSeries.ok()) {
    t->problem = "Prometheus: " + vmSeries.error().message;
    return keep();
  }
  std::vector<std::vector<double>> series;
  std::vector<std::string> names;  // per series: the node, or the VM
  size_t nodes = 0;
  for (const auto& [node, points] : *nodeSeries) {
    series.push_back(onGrid(points, startMs, stepMs, n));
    names.push_back(node);
    ++nodes;
  }
  for (const auto& [name, points] : *vmSeries)
    for (const auto& v : w.vms)
      if (v.vm.id == name) {
        series.push_back(onGrid(points, startMs, stepMs, n));
        names.push_back(name);
      }
  const int stepsPerDay = static_cast<int>(std::chrono::hours(24) / step);
  const auto peaks = forecastPeaks(series, s.horizonSteps(), stepsPerDay, s.sustainedSteps());
  for (size_t i = 0; i < series.size(); ++i) {
    const auto& v = series[i];
    if (v.empty())
      continue;
    if (i >= nodes) {
      t->vms[names[i]] = {v.back(), std::max(v.back(), peaks[i].second)};
      continue;
    }
    RebalanceTelemetry::HostReading& h = t->hosts[names[i]];
    const size_t k = std::min(v.size(), static_cast<size_t>(s.sustainedSteps()));
    h.utilisation = v.back();
    h.sustained = std::accumulate(v.end() - static_cast<std::ptrdiff_t>(k), v.end(), 0.0) /
                  static_cast<double>(k);
    h.forecast = std::clamp(peaks[i].first, 0.0, 1.0);
    h.forecastP90 = std::clamp(std::max(peaks[i].second, h.forecast), 0.0, 1.0);
  }
  // The companions' probes: what a VM would lose to the co-runners of their hosts.
  if (auto loss = d_.range(probeLossQuery(in.ns, d_.rateWindow), "name", end - step, end, step);
      loss.ok()) {
    for (const auto& [name, points] : *loss)
      for (const auto& c : w.companions)
        if (c.name == name && !points.empty() && t->hosts.count(c.node))
          t->hosts[c.node].interference = points.back().second;
  }
  return keep();
}

}  // namespace umbra::controller
