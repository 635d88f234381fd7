#include "harness/test_objects.h"

namespace umbra::testing {

using kube::Json;

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
