#include "simulator/virt_api_handlers.h"

#include <regex>
#include <set>

#include "api/shadow_placement.h"
#include "common/log.h"
#include "kube_core/time.h"

namespace umbra::simulator {

using kube::Json;

namespace {

// How many times a write that lost a race (409) with umbra-sim's own loop is tried again.
constexpr int ConflictRetries = 5;

std::string qualified(const SubresourceCall& c) {
  return c.resource == "virtualmachines" ? "virtualmachine.kubevirt.io"
                                         : "virtualmachineinstance.kubevirt.io";
}

// errors.NewConflict / NewForbidden / NewNotFound / NewBadRequest / NewInternalError.
Reply conflict(const std::string& what, const std::string& name, const std::string& why) {
  return statusReply(409, "Conflict",
                     "Operation cannot be fulfilled on " + what + " \"" + name + "\": " + why);
}
Reply notFound(const std::string& what, const std::string& name) {
  return statusReply(404, "NotFound", what + " \"" + name + "\" not found");
}
Reply internal(const Error& e) {
  return statusReply(500, "InternalError", "Internal error occurred: " + e.message);
}
Reply fromError(const Error& e, const std::string& what, const std::string& name) {
  if (e.is(ErrorKind::NotFound))
    return notFound(what, name);
  if (e.is(ErrorKind::Conflict))
    return conflict(what, name, e.message);
  return internal(e);
}

bool dryRunAll(const Json& body) {
  const Json d = body.value("dryRun", Json::array());
  return d.is_array() && !d.empty() && d[0] == "All";
}

bool hasCondition(const Json& obj, const std::string& type) {
  for (const auto& c : obj.value("status", Json::object()).value("conditions", Json::array()))
    if (c.value("type", "") == type && c.value("status", "") == "True")
      return true;
  return false;
}

bool finalPhase(const Json& vmi) {
  const std::string p = vmi.value("status", Json::object()).value("phase", "");
  return p == "Succeeded" || p == "Failed";
}

// vm.RunStrategy(): spec.runStrategy, else spec.running (true: Always), else Halted.
std::string runStrategy(const Json& vm) {
  const Json spec = vm.value("spec", Json::object());
  if (spec.contains("runStrategy") && spec["runStrategy"].is_string())
    return spec["runStrategy"];
  return spec.value("running", false) ? "Always" : "Halted";
}

// Merge patches carry metadata.resourceVersion: the API server refuses them with 409 if the
// object changed since it was read (the JSON patch "test" operations virt-api uses do the same).
Json guarded(const Json& obj, Json patch) {
  patch["metadata"]["resourceVersion"] = obj["metadata"].value("resourceVersion", "");
  return patch;
}

// getRunningPatch: spec.runStrategy when the VM uses it, else spec.running.
Status setRunning(kube::KubeClient& client, const Json& vm, bool running, bool dryRun) {
  const bool strategy = vm.value("spec", Json::object()).contains("runStrategy");
  Json patch = strategy ? Json{{"spec", {{"runStrategy", running ? "Always" : "Halted"}}}}
                        : Json{{"spec", {{"running", running}}}};
  kube::WriteOptions opts;
  opts.dryRun = dryRun;
  auto r = client.patch(api::virtualMachines(),
                        {vm["metadata"].value("namespace", ""), vm["metadata"].value("name", "")},
                        kube::PatchType::Merge, guarded(vm, patch), opts);
  return r.ok() ? Status() : Status(r.error());
}

// getChangeRequestJson: the VM's status.stateChangeRequests set to `requests`, which virt-api
// only allows when none is pending.
Status requestStateChange(kube::KubeClient& client, const Json& vm, const Json& requests,
                          bool dryRun) {
  kube::WriteOptions opts;
  opts.dryRun = dryRun;
  auto r =
      client.patch(api::virtualMachines(),
                   {vm["metadata"].value("namespace", ""), vm["metadata"].value("name", "")},
                   kube::PatchType::Merge,
                   guarded(vm, {{"status", {{"stateChangeRequests", requests}}}}), opts, "status");
  return r.ok() ? Status() : Status(r.error());
}

Reply start(kube::KubeClient& client, const SubresourceCall& c, const Json& vm, const Json& body,
            bool& stale) {
  auto vmi = client.get(api::virtualMachineInstances(), {c.ns, c.name});
  if (!vmi.ok() && !vmi.error().is(ErrorKind::NotFound))
    return internal(vmi.error());
  if (vmi.ok() && !finalPhase(*vmi) &&
      !(*vmi).value("status", Json::object()).value("phase", "").empty() &&
      (*vmi)["status"].value("phase", "") != "Unknown")
    return conflict(qualified(c), c.name, "VM is already running");
  const bool paused = body.value("paused", false);
  const bool dryRun = dryRunAll(body);
  Json startRequest = {{"action", "Start"}};
  if (paused)
    startRequest["data"] = {{"paused", "true"}};
  const std::string strategy = runStrategy(vm);
  Status done;
  if (strategy == "Halted") {
    const std::string tmplStart = vm.value("spec", Json::object())
                                      .value("template", Json::object())
                                      .value("spec", Json::object())
                                      .value("startStrategy", "");
    // A paused start goes through a state change request; virt-controller sets the VM running.
    done = paused && tmplStart != "Paused"
               ? requestStateChange(client, vm, Json::array({startRequest}), dryRun)
               : setRunning(client, vm, true, dryRun);
  } else if (strategy == "RerunOnFailure" || strategy == "Manual") {
    const std::string phase = vmi.ok() ? (*vmi)["status"].value("phase", "") : "";
    if (strategy == "RerunOnFailure" && phase == "Failed")
      return conflict(qualified(c), c.name,
                      "RerunOnFailure does not support starting VM from failed state");
    const bool restart = vmi.ok() && ((strategy == "RerunOnFailure" && phase == "Succeeded") ||
                                      (strategy == "Manual" && finalPhase(*vmi)));
    Json requests = Json::array();
    if (restart)
      requests.push_back({{"action", "Stop"}, {"uid", (*vmi)["metadata"].value("uid", "")}});
    requests.push_back(startRequest);
    done = requestStateChange(client, vm, requests, dryRun);
  } else {
    return conflict(qualified(c), c.name, strategy + " does not support manual start requests");
  }
  stale = !done.ok() && done.error().is(ErrorKind::Conflict);  // the VM changed since read
  if (!done.ok())
    return fromError(done.error(), qualified(c), c.name);
  return {202, ""};
}

Reply stop(kube::KubeClient& client, const SubresourceCall& c, const Json& vm, const Json& body,
           bool& stale) {
  auto vmi = client.get(api::virtualMachineInstances(), {c.ns, c.name});
  if (!vmi.ok() && !vmi.error().is(ErrorKind::NotFound))
    return internal(vmi.error());
  const bool running = vmi.ok() && !finalPhase(*vmi);
  const bool dryRun = dryRunAll(body);
  const std::string strategy = runStrategy(vm);
  Status done;
  if (strategy == "Halted") {
    if (!running)
      return conflict(qualified(c), c.name, "VM is not running");
    // Only a shorter grace period makes sense here; the simulator has no grace periods.
    return conflict(qualified(c), c.name,
                    "Halted only supports manual stop requests with a shorter graceperiod");
  }
  if (strategy == "RerunOnFailure" || strategy == "Manual") {
    if (!running)
      return conflict(qualified(c), c.name, "VM is not running");
    done = requestStateChange(
        client, vm,
        Json::array({{{"action", "Stop"}, {"uid", (*vmi)["metadata"].value("uid", "")}}}), dryRun);
  } else {  // Always, Once
    done = setRunning(client, vm, false, dryRun);
  }
  stale = !done.ok() && done.error().is(ErrorKind::Conflict);  // the VM changed since read
  if (!done.ok())
    return fromError(done.error(), qualified(c), c.name);
  return {202, ""};
}

Reply restart(kube::KubeClient& client, const SubresourceCall& c, const Json& vm, const Json& body,
              bool& stale) {
  const std::string strategy = runStrategy(vm);
  if (strategy == "Halted")
    return conflict(qualified(c), c.name, "Halted does not support manual restart requests");
  auto vmi = client.get(api::virtualMachineInstances(), {c.ns, c.name});
  if (!vmi.ok()) {
    if (vmi.error().is(ErrorKind::NotFound))
      return conflict(qualified(c), c.name, "VM is not running");
    return internal(vmi.error());
  }
  const Json requests = Json::array(
      {{{"action", "Stop"}, {"uid", (*vmi)["metadata"].value("uid", "")}}, {{"action", "Start"}}});
  if (Status done = requestStateChange(client, vm, requests, dryRunAll(body)); !done.ok()) {
    stale = done.error().is(ErrorKind::Conflict);  // the VM changed since it was read
    return fromError(done.error(), qualified(c), c.name);
  }
  return {202, ""};
}

Reply migrate(kube::KubeClient& client, const SubresourceCall& c, const Json& body) {
  auto vmi = client.get(api::virtualMachineInstances(), {c.ns, c.name});
  if (!vmi.ok() && !vmi.error().is(ErrorKind::NotFound))
    return internal(vmi.error());
  if (!vmi.ok() || (*vmi).value("status", Json::object()).value("phase", "") != "Running")
    return conflict(qualified(c), c.name, "VM is not running");
  Json spec = {{"vmiName", c.name}};
  if (body.contains("addedNodeSelector") && body["addedNodeSelector"].is_object())
    spec["addedNodeSelector"] = body["addedNodeSelector"];
  const Json vmim = {{"apiVersion", "kubevirt.io/v1"},
                     {"kind", "VirtualMachineInstanceMigration"},
                     {"metadata", {{"generateName", "kubevirt-migrate-vm-"}, {"namespace", c.ns}}},
                     {"spec", spec}};
  kube::WriteOptions opts;
  opts.dryRun = dryRunAll(body);
  auto created = client.create(api::migrations(), c.ns, vmim, opts);
  if (!created.ok())
    return internal(created.error());
  return {202, ""};
}

// pause / unpause: virt-api's checks, then what virt-handler does once libvirt has suspended or
// resumed the domain: the VMI's Paused condition (reason PausedByUser) set or removed.
Reply pauseOrUnpause(kube::KubeClient& client, const SubresourceCall& c, const Json& body) {
  const bool pause = c.subresource == "pause";
  if (!pause) {
    auto vm = client.get(api::virtualMachines(), {c.ns, c.name});
    if (vm.ok() &&
        !(*vm).value("status", Json::object()).value("snapshotInProgress", Json()).is_null())
      return conflict("virtualmachine.kubevirt.io", c.name, "VM snapshot is in progress");
  }
  for (int attempt = 0;; ++attempt) {
    auto got = client.get(api::virtualMachineInstances(), {c.ns, c.name});
    if (!got.ok())
      return fromError(got.error(), qualified(c), c.name);
    Json vmi = std::move(got).value();
    const Json status = vmi.value("status", Json::object());
    if (status.value("phase", "") != "Running")
      return conflict(qualified(c), c.name, pause ? "VM is not running" : "VMI is not running");
    const bool paused = hasCondition(vmi, "Paused");
    if (pause) {
      if (vmi["spec"].contains("livenessProbe"))
        return statusReply(403, "Forbidden",
                           qualified(c) + " \"" + c.name +
                               "\" is forbidden: Pausing VMIs with LivenessProbe is currently not "
                               "supported");
      if (paused)
        return conflict(qualified(c), c.name, "VMI is already paused");
      const Json ms = status.value("migrationState", Json::object());
      if (!ms.empty() && !ms.value("completed", false))
        return conflict(qualified(c), c.name,
                        "Cannot pause VM '" + c.name + "' because it is currently being migrated");
    } else if (!paused) {
      return conflict(qualified(c), c.name, "VMI is not paused");
    }
    if (dryRunAll(body))
      return {200, ""};
    Json conditions = Json::array();
    for (const auto& cond : status.value("conditions", Json::array()))
      if (cond.value("type", "") != "Paused")
        conditions.push_back(cond);
    if (pause)
      conditions.push_back(
          {{"type", "Paused"},
           {"status", "True"},
           {"reason", "PausedByUser"},
           {"message", "VMI was paused by user"},
           {"lastProbeTime", nullptr},
           {"lastTransitionTime", kube::formatTime(std::chrono::system_clock::now())}});
    vmi["status"]["conditions"] = conditions;
    auto written = client.update(api::virtualMachineInstances(), vmi);
    if (written.ok()) {
      log::info(pause ? "VMI paused (virt-api)" : "VMI unpaused (virt-api)",
                {{"vmi", c.ns + "/" + c.name}});
      return {200, ""};
    }
    if (!written.error().is(ErrorKind::Conflict) || attempt + 1 >= ConflictRetries)
      return fromError(written.error(), qualified(c), c.name);
  }
}

}  // namespace

std::optional<SubresourceCall> parseSubresourcePath(const std::string& path) {
  static const std::regex re(
      R"(^/apis/subresources\.kubevirt\.io/(v1|v1alpha3)/namespaces/([a-z0-9.-]+)/)"
      R"((virtualmachines|virtualmachineinstances)/([a-z0-9.-]+)/([a-z]+)$)");
  std::smatch m;
  if (!std::regex_match(path, m, re))
    return std::nullopt;
  SubresourceCall c{m[1], m[2], m[4], m[3], m[5]};
  static const std::set<std::string> vmSubs = {"start", "stop", "restart", "migrate"};
  static const std::set<std::string> vmiSubs = {"pause", "unpause"};
  if (!(c.resource == "virtualmachines" ? vmSubs : vmiSubs).count(c.subresource))
    return std::nullopt;
  return c;
}

Reply statusReply(int code, const std::string& reason, const std::string& message) {
  const Json s = {{"kind", "Status"},    {"apiVersion", "v1"}, {"metadata", Json::object()},
                  {"status", "Failure"}, {"message", message}, {"reason", reason},
                  {"code", code}};
  return {code, s.dump()};
}

Reply handleSubresource(kube::KubeClient& client, const SubresourceCall& c,
                        const std::string& body) {
  Json options = Json::object();
  if (!body.empty()) {
    options = Json::parse(body, nullptr, false);
    if (options.is_discarded() || !options.is_object())
      return statusReply(400, "BadRequest",
                         "Can not unmarshal Request body to struct, error: not a JSON object");
  }
  if (c.resource == "virtualmachineinstances")
    return pauseOrUnpause(client, c, options);
  if (c.subresource == "migrate") {
    if (auto vm = client.get(api::virtualMachines(), {c.ns, c.name}); !vm.ok())
      return fromError(vm.error(), qualified(c), c.name);
    return migrate(client, c, options);
  }
  // virt-api's patches "test" only the fields they depend on; these carry the resourceVersion
  // instead, so a write that met another change of the VM (virt-controller's status) is decided
  // again on the VM as it is now, where virt-api's would have succeeded or failed on it.
  for (int attempt = 0;; ++attempt) {
    auto vm = client.get(api::virtualMachines(), {c.ns, c.name});
    if (!vm.ok())
      return fromError(vm.error(), qualified(c), c.name);
    bool stale = false;
    Reply reply = c.subresource == "start"  ? start(client, c, *vm, options, stale)
                  : c.subresource == "stop" ? stop(client, c, *vm, options, stale)
                                            : restart(client, c, *vm, options, stale);
    if (!stale || attempt + 1 >= ConflictRetries)
      return reply;
  }
}

}  // namespace umbra::simulator
