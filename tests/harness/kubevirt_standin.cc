#include "harness/kubevirt_standin.h"

#include "api/shadow_placement.h"
#include "runtime/time_format.h"

namespace umbra::testing {

using kube::Json;

KubeVirtStandIn::~KubeVirtStandIn() {
  for (const auto& n : nodes_) {
    (void)client_.remove(kube::resources::nodes(), {"", n}, {});
  }
}

Status KubeVirtStandIn::createNode(const std::string& name, const std::string& cpu,
                                   const std::string& memory,
                                   const std::map<std::string, std::string>& labels) {
  Json l = {{"kubernetes.io/hostname", name}, {"kubevirt.io/schedulable", "true"}};
  for (const auto& [k, v] : labels)
    l[k] = v;
  auto created = client_.create(
      kube::resources::nodes(), "",
      {{"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", {{"name", name}, {"labels", l}}}});
  if (!created.ok()) {
    return created.error();
  }
  nodes_.push_back(name);
  Json node = std::move(created).value();
  const std::string now = runtime::formatTime(std::chrono::system_clock::now());
  node["status"] = {{"capacity", {{"cpu", cpu}, {"memory", memory}, {"pods", "110"}}},
                    {"allocatable", {{"cpu", cpu}, {"memory", memory}, {"pods", "110"}}},
                    {"conditions", Json::array({{{"type", "Ready"},
                                                 {"status", "True"},
                                                 {"reason", "KubeletReady"},
                                                 {"lastHeartbeatTime", now},
                                                 {"lastTransitionTime", now}}})}};
  UMBRA_TRY(Json ready, client_.update(kube::resources::nodes(), node, {}, "status"));
  // Admission (TaintNodesByCondition) adds node.kubernetes.io/not-ready at creation; the node
  // lifecycle controller lifts it once the node is Ready. No such controller runs here.
  Json taints = Json::array();
  for (const auto& t : ready["spec"].value("taints", Json::array())) {
    if (t.value("key", "") != "node.kubernetes.io/not-ready")
      taints.push_back(t);
  }
  ready["spec"]["taints"] = taints;
  auto st = client_.update(kube::resources::nodes(), ready);
  return st.ok() ? okStatus() : Status(st.error());
}

Result<int> KubeVirtStandIn::runPendingVmis(const std::string& ns) {
  UMBRA_TRY(const Json list, client_.list(api::virtualMachineInstances(), ns, {}));
  int started = 0;
  for (Json vmi : list["items"]) {
    if (vmi.contains("status") && vmi["status"].value("phase", "") != "") {
      continue;
    }
    const std::string node =
        vmi["spec"].value("nodeSelector", Json::object()).value("kubernetes.io/hostname", "");
    if (node.empty()) {
      continue;
    }
    vmi["apiVersion"] = "kubevirt.io/v1";
    vmi["kind"] = "VirtualMachineInstance";
    vmi["status"] = {{"phase", "Running"}, {"nodeName", node}};
    vmi["metadata"]["labels"]["kubevirt.io/nodeName"] = node;
    // The VMI CRD has no status subresource: the status travels with the object.
    auto r = client_.update(api::virtualMachineInstances(), vmi);
    if (r.ok()) {
      ++started;
    } else if (!r.error().is(ErrorKind::Conflict) && !r.error().is(ErrorKind::NotFound)) {
      return r.error();
    }
  }
  return started;
}

Status KubeVirtStandIn::createRunningVmi(const std::string& ns, const std::string& name,
                                         const std::string& node, const Json& spec) {
  Json vmi = {{"apiVersion", "kubevirt.io/v1"},
              {"kind", "VirtualMachineInstance"},
              {"metadata",
               {{"name", name}, {"namespace", ns}, {"labels", {{"kubevirt.io/nodeName", node}}}}},
              {"spec", spec}};
  UMBRA_TRY(Json created, client_.create(api::virtualMachineInstances(), ns, vmi));
  created["status"] = {{"phase", "Running"}, {"nodeName", node}};
  auto r = client_.update(api::virtualMachineInstances(), created);
  return r.ok() ? okStatus() : Status(r.error());
}

Json haltedVm(const std::string& ns, const std::string& name) {
  return {
      {"apiVersion", "kubevirt.io/v1"},
      {"kind", "VirtualMachine"},
      {"metadata", {{"name", name}, {"namespace", ns}}},
      {"spec",
       {{"runStrategy", "Halted"},
        {"template",
         {{"metadata", {{"labels", {{"app", name}}}}},
          {"spec",
           {{"domain",
             {{"cpu", {{"cores", 2}}},
              {"memory", {{"guest", "4Gi"}}},
              {"resources", {{"requests", {{"cpu", "2"}, {"memory", "4Gi"}}}}},
              {"devices",
               {{"disks", Json::array({{{"name", "rootdisk"}, {"disk", {{"bus", "virtio"}}}}})}}}}},
            {"volumes", Json::array({{{"name", "rootdisk"},
                                      {"containerDisk",
                                       {{"image", "quay.io/containerdisks/fedora:40"}}}}})}}}}}}}};
}

Json placementFor(const std::string& ns, const std::string& name, const std::string& kind,
                  const std::string& target, const std::string& group, int count) {
  return {{"apiVersion", "umbra.io/v1alpha1"},
          {"kind", "ShadowPlacement"},
          {"metadata", {{"name", name}, {"namespace", ns}}},
          {"spec",
           {{"target", {{"kind", kind}, {"name", target}}},
            {"candidates", {{"count", count}, {"nodeSelector", {{"umbra.test/group", group}}}}},
            {"observation",
             {{"duration", "10s"},
              {"interval", "5s"},
              {"minConfidence", 0.4},
              {"maxExtensions", 2}}}}}};
}

}  // namespace umbra::testing
