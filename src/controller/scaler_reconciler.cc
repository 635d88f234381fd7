#include "controller/scaler_reconciler.h"

#include <set>
#include <utility>

#include "api/predictive_scaler.h"
#include "common/log.h"
#include "common/overloaded.h"
#include "controller/object_fields.h"
#include "controller/status_write.h"
#include "kube_core/quantity.h"
#include "model/lstm_net.h"

namespace umbra::controller {

using kube::Json;
using runtime::Action;

using namespace fields;

std::vector<std::string> scalersOfTarget(const Json& o, const kube::Store& scalers) {
  const Json& meta = o.at("metadata");
  const std::string name = meta.value("name", "");
  std::vector<std::string> keys;
  for (const auto& sc : scalers.byNamespace(meta.value("namespace", ""))) {
    const std::string target = (*sc)["spec"]["target"].value("name", "");
    if (target == name || (name.starts_with(target + "-") &&
                           (*sc)["spec"]["target"].value("kind", "") == "VirtualMachinePool"))
      keys.push_back(kube::keyOf(*sc));
  }
  return keys;
}

ScalerInput PredictiveScalerReconciler::input(const Json& scaler) {
  return readInput(scaler, api::scalerSpecFrom, api::scalerStatusFromJson, "PredictiveScaler");
}

Result<ScalerWorld> PredictiveScalerReconciler::observe(const ScalerInput& in) {
  ScalerWorld w;
  if (!in.spec)
    return w;
  const api::ScalerSpec& s = *in.spec;
  const std::string key = in.ns + "/" + s.targetName;
  std::set<std::string> vmis;
  double guestForMemory = 0;
  if (s.kind == api::ScaleTargetKind::VirtualMachine) {
    const kube::ObjectPtr vm = d_.caches.vms.get(key);
    if (!vm)
      return w;
    VmTarget& t = w.vm;
    t.exists = true;
    const Json domain = (*vm)["spec"]
                            .value("template", Json::object())
                            .value("spec", Json::object())
                            .value("domain", Json::object());
    const Json cpu = domain.value("cpu", Json::object());
    t.sockets = intOf(cpu, "sockets", 1);
    t.coresPerSocket = intOf(cpu, "cores", 1) * intOf(cpu, "threads", 1);
    t.guest = bytesOf(domain.value("memory", Json::object()), "guest");
    t.restartRequired = conditionMessage(*vm, "RestartRequired", "True");
    if (const kube::ObjectPtr vmi = d_.caches.vmis.get(key); vmi) {
      t.running = (*vmi).value("status", Json::object()).value("phase", "") == "Running" &&
                  !(*vmi)["metadata"].contains("deletionTimestamp");
      const Json vd = (*vmi)["spec"].value("domain", Json::object());
      const Json vcpu = vd.value("cpu", Json::object());
      t.vmiSockets = intOf(vcpu, "sockets", 1);
      t.maxSockets = intOf(vcpu, "maxSockets", 0);
      const Json vmem = vd.value("memory", Json::object());
      t.vmiGuest = bytesOf(vmem, "guest");
      t.maxGuest = bytesOf(vmem, "maxGuest");
      t.guestAtBoot = bytesOf(
          (*vmi).value("status", Json::object()).value("memory", Json::object()), "guestAtBoot");
      t.hotplugPending =
          conditionTrue(*vmi, "HotVCPUChange") || conditionTrue(*vmi, "HotMemoryChange");
      t.notMigratable = conditionMessage(*vmi, "LiveMigratable", "False");
      for (const auto& m : d_.caches.migrations.byNamespace(in.ns)) {
        const std::string phase = (*m).value("status", Json::object()).value("phase", "");
        if ((*m)["spec"].value("vmiName", "") == s.targetName && phase != "Succeeded" &&
            phase != "Failed")
          t.migrating = true;
      }
      guestForMemory = t.vmiGuest;
    }
    vmis.insert(key);
  } else {
    if (!d_.caches.pools) {
      w.targetProblem =
          "pool.kubevirt.io/v1beta1 is not served (KubeVirt without pools?); the "
          "operator watches pools when it starts and the API is there";
      return w;
    }
    const kube::ObjectPtr pool = d_.caches.pools->get(key);
    if (!pool)
      return w;
    PoolTarget& t = w.pool;
    t.exists = true;
    const Json spec = (*pool).value("spec", Json::object());
    t.replicas = intOf(spec, "replicas", 1);
    t.paused = spec.value("paused", false);
    t.readyReplicas = intOf((*pool).value("status", Json::object()), "readyReplicas", 0);
    const Json cpu = spec.value("virtualMachineTemplate", Json::object())
                         .value("spec", Json::object())
                         .value("template", Json::object())
                         .value("spec", Json::object())
                         .value("domain", Json::object())
                         .value("cpu", Json::object());
    t.vcpusPerVm = intOf(cpu, "sockets", 1) * intOf(cpu, "cores", 1) * intOf(cpu, "threads", 1);
    const std::string uid = (*pool)["metadata"].value("uid", "");
    for (const auto& vm : d_.caches.vms.byNamespace(in.ns))
      if (ownedBy(*vm, uid))
        vmis.insert(in.ns + "/" + (*vm)["metadata"].value("name", ""));
  }
  // The demand network, when the operator has a trained one (its step is 300 s; the plan uses it
  // only for scalers on that step).
  if (d_.models) {
    if (const auto models = d_.models(); models && models->demand) {
      if (const auto* net = dynamic_cast<const model::LstmNet*>(models->demand.get())) {
        w.network = models->demand;
        w.networkHorizon = net->shape().horizon;
        w.networkName = models->demandName;
      }
    }
  }
  if (vmis.empty()) {
    w.metricsProblem = "the pool has no VMs to read demand from";
    return w;
  }
  const auto step = std::chrono::duration_cast<std::chrono::seconds>(s.interval);
  const auto window = std::chrono::duration_cast<std::chrono::seconds>(s.history);
  auto frames = d_.demand.get(vmis, std::max(step, std::chrono::seconds(1)), window);
  if (!frames.ok()) {
    w.metricsProblem = "Prometheus: " + frames.error().message;
    return w;
  }
  if (frames->empty()) {
    w.metricsProblem = "no kubevirt_vmi_cpu_usage_seconds_total for " +
                       (vmis.size() == 1 ? *vmis.begin() : std::to_string(vmis.size()) + " VMIs") +
                       " in Prometheus over the last " + kube::formatDuration(s.history);
    return w;
  }
  DemandSeries sum = sumDemand(*frames, guestForMemory);
  w.cpuCores = std::move(sum.cpuCores);
  w.memoryBytes = std::move(sum.memoryBytes);
  w.presentSteps = sum.presentSteps;
  if (w.presentSteps == 0)
    w.metricsProblem =
        "the target's demand series are empty over the last " + kube::formatDuration(s.history);
  return w;
}

Status PredictiveScalerReconciler::execute(const ScalerInput& in, const ScalerPlan& plan,
                                           std::vector<std::string>& replaced) {
  std::string version = in.object["metadata"].value("resourceVersion", "");
  bool changed = false;  // the target's size was written
  for (const auto& w : plan.writes) {
    Status st = std::visit(
        Overloaded{
            [&](const scaler_write::PatchVirtualMachine& p) -> Status {
              auto r = d_.client.patch(api::virtualMachines(), {in.ns, in.spec->targetName},
                                       kube::PatchType::Merge, p.patch);
              if (!r.ok())
                return r.error().wrap("while resizing VirtualMachine " + in.ns + "/" +
                                      in.spec->targetName);
              log::info("VM resized", {{"scaler", in.key()}, {"patch", p.patch.dump()}});
              changed = true;
              return okStatus();
            },
            [&](const scaler_write::ScalePool& p) -> Status {
              auto r = d_.client.patch(api::virtualMachinePools(), {in.ns, in.spec->targetName},
                                       kube::PatchType::Merge,
                                       {{"spec", {{"replicas", p.replicas}}}}, {}, "scale");
              if (!r.ok())
                return r.error().wrap("while scaling VirtualMachinePool " + in.ns + "/" +
                                      in.spec->targetName);
              log::info("pool scaled",
                        {{"scaler", in.key()}, {"replicas", std::to_string(p.replicas)}});
              changed = true;
              return okStatus();
            },
            [&](const scaler_write::WriteStatus& s) -> Status {
              UMBRA_TRY(const std::string written,
                        patchOwnStatus(d_.client, api::predictiveScalers(), {in.ns, in.name},
                                       api::toJson(s.status), version, changed,
                                       "PredictiveScaler " + in.key()));
              replaced.push_back(std::exchange(version, written));
              return okStatus();
            },
            [&](const scaler_write::PostEvent& e) -> Status {
              d_.events.post(in.object, e.type, e.reason, e.action, e.note);
              return okStatus();
            },
        },
        w);
    if (!st.ok())
      return st;
  }
  return okStatus();
}

Result<Action> PredictiveScalerReconciler::reconcile(const std::string& key) {
  const kube::ObjectPtr cached = d_.caches.scalers.get(key);
  if (!cached) {
    expectations_.forget(key);
    const std::lock_guard<std::mutex> lock(mutex_);
    lastPass_.erase(key);
    return Action::awaitChange();
  }
  if (expectations_.isStale(key, (*cached)["metadata"].value("resourceVersion", "")))
    return Action::awaitChange();
  const ScalerInput in = input(*cached);
  // One pass per interval (a new generation passes at once).
  if (in.spec) {
    const std::lock_guard<std::mutex> lock(mutex_);
    const auto it = lastPass_.find(key);
    const SteadyTime t = d_.clock.now();
    const auto interval = std::chrono::duration_cast<Duration>(in.spec->interval);
    if (it != lastPass_.end() && it->second.generation == in.generation &&
        t - it->second.at < interval * 9 / 10)
      return Action::after(interval - (t - it->second.at));
    lastPass_[key] = {t, in.generation};
  }
  UMBRA_TRY(const ScalerWorld world, observe(in));
  const ScalerPlan plan = planScaler(in, world, d_.clock.wallNow());
  log::debug("scaler pass planned",
             {{"scaler", key}, {"why", plan.why}, {"writes", std::to_string(plan.writes.size())}});
  std::vector<std::string> replaced;
  Status st = execute(in, plan, replaced);
  expectations_.replaced(key, replaced);
  if (!st.ok()) {
    const std::lock_guard<std::mutex> lock(mutex_);
    lastPass_.erase(key);  // the retry is a pass of its own
    return st.error();
  }
  return plan.next;
}

}  // namespace umbra::controller
