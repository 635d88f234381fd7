#include "controller/trial_reconciler.h"

#include <algorithm>
#include <cmath>

#include "common/log.h"
#include "controller/object_fields.h"
#include "controller/world_reader.h"
#include "kube_core/time.h"

namespace umbra::controller {

using kube::Json;
using runtime::Action;
namespace state = api::candidate_state;

std::vector<std::string> trialsOfObject(const Json& o, const kube::Store& trials) {
  const Json& meta = o.at("metadata");
  const std::string ns = meta.value("namespace", "");
  const std::string name = meta.value("name", "");
  const std::string kind = o.value("kind", "");
  const Json labels = meta.value("labels", Json::object());
  std::vector<std::string> keys;
  const auto concerns = [&](const Json& t) {
    const Json spec = t.value("spec", Json::object());
    if (kind == api::ClusterInstancetypeKind || kind == api::InstancetypeKind)
      return true;  // few, and rarely changed: every trial looks again
    return labels.value(api::TrialLabel, "") ==
               placement::trialLabelValue(t["metadata"].value("name", "")) ||
           spec.value("target", Json::object()).value("name", "") == name;
  };
  const auto all = ns.empty() ? trials.list() : trials.byNamespace(ns);
  for (const auto& t : all)
    if (concerns(*t))
      keys.push_back(kube::keyOf(*t));
  return keys;
}

ShadowQueries shadowQueries(const std::string& ns, const std::string& vmi,
                            std::chrono::seconds window) {
  const std::string w = "[" + std::to_string(window.count()) + "s]";
  const std::string mesh = "{reporter=\"destination\",destination_workload=\"" + vmi +
                           "\",destination_workload_namespace=\"" + ns + "\"}";
  const std::string kv = "{namespace=\"" + ns + "\",name=\"" + vmi + "\"}";
  const auto quantile = [&](const char* q) {
    return std::string("histogram_quantile(") + q +
           ", sum by (le) (rate(istio_request_duration_milliseconds_bucket" + mesh + w + ")))";
  };
  return {"sum(increase(istio_requests_total" + mesh + w + "))",
          "sum(rate(istio_requests_total" + mesh + w + "))",
          quantile("0.5"),
          quantile("0.95"),
          "sum(rate(kubevirt_vmi_cpu_usage_seconds_total" + kv + w + "))",
          "sum(rate(kubevirt_vmi_vcpu_delay_seconds_total" + kv + w + "))"};
}

TrialInput InstancetypeTrialReconciler::input(const Json& trial) {
  return readInput(trial, api::trialSpecFrom, api::trialStatusFromJson, "InstancetypeTrial");
}

void InstancetypeTrialReconciler::readTypes(const TrialInput& in, TrialWorld& w) const {
  const auto add = [&](const api::InstancetypeRef& ref, const Json& object) {
    TrialType t;
    t.instancetype = {ref.name, object.value("spec", Json::object())};
    auto size = placement::typeSize(t.instancetype);
    if (!size.ok()) {
      t.problem = ref.kind + " " + size.error().message;
    } else {
      t.size = *size;
      t.costPerHour = placement::typeCostPerHour(d_.prices, ref.name, t.size);
      if (in.spec->neighbours || in.spec->aroundCurrent)
        w.catalogue.push_back({ref, t.size});
    }
    w.types[ref.name] = std::move(t);
  };
  std::vector<api::InstancetypeRef> wanted = in.spec->candidates;
  for (const auto& c : in.status.candidates)
    wanted.push_back(c.ref);
  if (w.target.instancetype)  // what the shadows' cost is compared with
    wanted.push_back(*w.target.instancetype);
  const auto store = [&](const std::string& kind) -> const kube::Store& {
    return kind == api::ClusterInstancetypeKind ? d_.caches.clusterInstancetypes
                                                : d_.caches.instancetypes;
  };
  if (in.spec->neighbours || in.spec->aroundCurrent) {  // every type of the candidates' kinds
    for (const char* kind : {api::ClusterInstancetypeKind, api::InstancetypeKind}) {
      if (std::none_of(wanted.begin(), wanted.end(), [&](const auto& r) { return r.kind == kind; }))
        continue;
      const auto all = std::string(kind) == api::ClusterInstancetypeKind
                           ? store(kind).list()
                           : store(kind).byNamespace(in.ns);
      for (const auto& o : all)
        add({(*o)["metadata"].value("name", ""), kind}, *o);
    }
  }
  for (const auto& ref : wanted) {
    if (w.types.count(ref.name))
      continue;
    const auto o = store(ref.kind).get(
        ref.kind == api::ClusterInstancetypeKind ? ref.name : in.ns + "/" + ref.name);
    if (o)
      add(ref, *o);
  }
}

void InstancetypeTrialReconciler::readShadows(const TrialInput& in, TrialWorld& w) const {
  const std::string label = placement::trialLabelValue(in.name);
  for (const auto& vmi : d_.caches.vmis.byNamespace(in.ns)) {
    const Json& meta = (*vmi)["metadata"];
    const Json labels = meta.value("labels", Json::object());
    if (labels.value(api::TrialLabel, "") != label ||
        labels.value(api::RoleLabel, "") != "shadow" || !fields::ownedBy(*vmi, in.uid))
      continue;
    TrialShadow s;
    s.name = meta.value("name", "");
    s.uid = meta.value("uid", "");
    s.phase = (*vmi).value("status", Json::object()).value("phase", "");
    s.deleting = meta.contains("deletionTimestamp");
    s.failure = fields::conditionMessage(*vmi, "Ready", "False");
    if (const std::string t = meta.value("creationTimestamp", ""); !t.empty())
      s.created = kube::parseTime(t);
    w.shadows[labels.value(api::TrialTypeLabel, "")] = std::move(s);
  }
}

Result<TrialWorld> InstancetypeTrialReconciler::observe(const TrialInput& in) {
  TrialWorld w;
  if (!in.spec) {  // its shadows go
    readShadows(in, w);
    return w;
  }
  const api::TrialSpec& s = *in.spec;
  const kube::ObjectPtr vm = d_.caches.vms.get(in.ns + "/" + s.target);
  const kube::ObjectPtr vmi = d_.caches.vmis.get(in.ns + "/" + s.target);
  w.target.exists = vm != nullptr;
  if (vm) {
    const Json ref = (*vm)["spec"].value("instancetype", Json::object());
    if (!ref.value("name", "").empty())
      w.target.instancetype = api::InstancetypeRef{
          ref.value("name", ""), ref.value("kind", std::string(api::ClusterInstancetypeKind))};
  }
  MirrorQuery q;
  q.scope = placement::trialMirrorScope(in.object);
  q.service = s.service;
  q.serviceField = "spec.mirroring.service";
  q.targetName = "VirtualMachine " + in.ns + "/" + s.target;
  if (vmi && !(*vmi)["metadata"].contains("deletionTimestamp")) {
    q.targetExists = true;
    q.targetPhase = (*vmi).value("status", Json::object()).value("phase", "");
    q.targetLabels = (*vmi)["metadata"].value("labels", Json::object());
    w.target.running = q.targetPhase == "Running";
    w.target.vmiSpec = (*vmi).value("spec", Json::object());
  }
  readShadows(in, w);
  // A finished trial only removes its shadows (and, with mode Apply, patches the VM): no API lists
  // or queries for the passes its target's changes cause.
  if (in.status.phase == api::trial_phase::Completed || in.status.phase == api::trial_phase::Failed)
    return w;
  UMBRA_TRY(w.mirror, readMirrorView(d_.client, q));
  readTypes(in, w);

  const SystemTime now = d_.clock.wallNow();
  // The VM's memory in use, its peak since the trial began: what a type must hold.
  if (in.status.startedAt) {
    const auto since = std::chrono::duration_cast<std::chrono::seconds>(now - *in.status.startedAt);
    auto used = d_.query("max(max_over_time(kubevirt_vmi_memory_used_bytes{namespace=\"" + in.ns +
                         "\",name=\"" + s.target + "\"}[" +
                         std::to_string(std::max<int64_t>(60, since.count())) + "s]))");
    if (used.ok() && std::isfinite(*used) && *used > 0)
      w.memoryInUseGiB = *used / (1024.0 * 1024 * 1024);
    else if (!used.ok() && !used.error().is(ErrorKind::Unavailable))
      w.metricsProblem = used.error().message;
  }
  // Each serving shadow past half its observation: what it measured since it began serving.
  for (const auto& c : in.status.candidates) {
    const auto shadow = w.shadows.find(c.ref.name);
    if (c.state != state::Running || !c.startedAt || shadow == w.shadows.end())
      continue;
    const auto elapsed = std::chrono::duration_cast<std::chrono::seconds>(now - *c.startedAt);
    if (elapsed < s.duration / 2)
      continue;
    const auto window = std::min(
        elapsed, std::chrono::duration_cast<std::chrono::seconds>(s.duration * (1 + c.extensions)));
    const ShadowQueries qs = shadowQueries(in.ns, shadow->second.name, window);
    placement::ShadowReading r;
    auto requests = d_.query(qs.requests);
    if (!requests.ok()) {
      if (!requests.error().is(ErrorKind::Unavailable)) {
        w.metricsProblem = requests.error().message;
        continue;
      }
      w.readings[c.ref.name] = r;  // no request reached it
      continue;
    }
    r.requests = *requests;
    auto rate = d_.query(qs.rate);
    auto p50 = d_.query(qs.p50);
    auto p95 = d_.query(qs.p95);
    auto cpu = d_.query(qs.cpu);
    auto delay = d_.query(qs.delay);
    for (auto* v : {&rate, &p50, &p95, &cpu})
      if (!v->ok()) {
        w.metricsProblem = v->error().message;
        break;
      }
    if (!rate.ok() || !p50.ok() || !p95.ok() || !cpu.ok())
      continue;
    r.requestsPerSecond = *rate;
    r.p50Ms = *p50;
    r.p95Ms = *p95;
    if (!std::isfinite(r.p50Ms) || !std::isfinite(r.p95Ms) || !std::isfinite(r.requestsPerSecond))
      continue;  // a histogram with no sample in the window yet
    r.cpuCores = *cpu;
    r.stealFraction = delay.ok() && c.vcpus > 0 ? *delay / c.vcpus : 0;
    w.readings[c.ref.name] = r;
  }
  return w;
}

Result<Action> InstancetypeTrialReconciler::reconcile(const std::string& key) {
  const kube::ObjectPtr cached = d_.caches.trials.get(key);
  if (auto instead = gate_.admit(key, cached, d_.clock.now()))
    return *instead;
  const TrialInput in = input(*cached);
  UMBRA_TRY(const TrialWorld world, observe(in));
  if (!world.metricsProblem.empty())
    log::warn("trial telemetry", {{"trial", key}, {"problem", world.metricsProblem}});
  const TrialPlan plan = planTrial(in, world, d_.settings, d_.clock.wallNow());
  log::debug("trial pass planned", {{"trial", key}, {"why", plan.why}});
  std::vector<std::string> replaced;
  Status st = execute(in, plan, replaced);
  gate_.replaced(key, replaced);
  if (!st.ok())
    return st.error();
  return plan.next;
}

}  // namespace umbra::controller
