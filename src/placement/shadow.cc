#include "placement/shadow.h"

#include <algorithm>
#include <cstdio>
#include <functional>

#include "kube_core/quantity.h"

namespace umbra::placement {
namespace {

// The first containerDisk image among the target's volumes, if any.
std::string containerDiskImage(const Json& targetSpec) {
  for (const auto& v : targetSpec.value("volumes", Json::array())) {
    if (v.contains("containerDisk") && v["containerDisk"].contains("image")) {
      return v["containerDisk"]["image"].get<std::string>();
    }
  }
  return "";
}

// `name` cut to `max` characters with a hash of the whole at the end, when it is longer.
std::string shortened(std::string name, size_t max) {
  if (name.size() <= max) {
    return name;
  }
  char hash[16];
  std::snprintf(hash, sizeof(hash), "%08zx", std::hash<std::string>{}(name)&0xffffffffu);
  name.resize(max - 9);
  while (!name.empty() && (name.back() == '-' || name.back() == '.')) {
    name.pop_back();
  }
  return name + "-" + hash;
}

}  // namespace

std::string shadowName(const std::string& placement, const std::string& node) {
  return shortened(placement + "-shadow-" + node, 63);
}

std::string migrationName(const std::string& placement, const std::string& uid, size_t attempt) {
  return shortened(placement + "-" + uid.substr(0, 8) + "-" + std::to_string(attempt), 253);
}

std::string placementLabelValue(const std::string& placement) {
  return shortened(placement, 63);
}

std::string shadowSelector(const std::string& placement) {
  return std::string(api::PlacementLabel) + "=" + placementLabelValue(placement) + "," +
         api::RoleLabel + "=shadow";
}

Resources shadowResources(const TargetRequirements& target, const api::PlacementSettings& s,
                          const api::PlacementDefaults& d) {
  // A Mirror shadow serves its share of the target's requests: a smaller CPU limit would measure
  // its own throttling, not the node.
  const double cpuFraction = s.fidelity == api::Fidelity::Mirror
                                 ? std::max(s.cpuFraction, s.mirroring.percentage / 100.0)
                                 : s.cpuFraction;
  return Resources{std::max(d.cpuFloorCores, target.size.cpu * cpuFraction),
                   std::max(d.memoryFloorBytes, target.size.memory * s.memoryFraction)};
}

std::string syntheticScript(const api::SyntheticLoad& load, double limitCores) {
  // duty = busy per-mille of each 10 s period (busy centiseconds), cpuPercent of the CPU limit;
  // spiky/bursty alternate a high and a low phase, diurnal follows the hour of the day. The busy
  // time runs the probe (docs/simulation.md, "The probe"): chunks of an ALU kernel (awk arithmetic)
  // and of a memory-streaming kernel (dd copying 8 x 16 MiB from /dev/zero) in turn, counted with
  // their wall time (centiseconds of /proc/uptime) in a text exposition that busybox httpd (or
  // python3) serves on :9100 for Prometheus to scrape through the virt-launcher pod. A chunk is
  // about 16 ms of CPU, so that neither the clock's centiseconds nor the quota's 100 ms periods
  // swamp its timing (bench/probe_noise.py measures it). Co-runners' cache and
  // memory-bandwidth pressure slows the memory kernel only; steal and the CPU quota slow both, so
  // their ratio reads the interference alone. Kept short: KubeVirt refuses inline user data over
  // 2048 bytes.
  const int permille =
      std::clamp(static_cast<int>(std::lround(std::clamp(load.cpuPercent, 1, 100) * 10.0 *
                                              std::clamp(limitCores, 0.0, 1.0))),
                 1, 1000);
  std::string script =
      "#!/bin/sh\n"
      "PERMILLE=" +
      std::to_string(permille) +
      "\n"
      "PROFILE=" +
      load.profile +
      "\n"
      "duty() {\n"
      "  case $PROFILE in\n"
      "    spiky) if [ $(( $(date +%s) % 60 )) -lt 10 ]; then echo $PERMILLE; else echo "
      "$((PERMILLE/5)); fi ;;\n"
      "    bursty) if [ $(( $(date +%s) % 300 )) -lt 120 ]; then echo $PERMILLE; else echo 0; fi "
      ";;\n"
      "    diurnal) H=$(date +%H); H=${H#0}; D=$((H<12 ? H : 24-H)); echo $((PERMILLE*(D+2)/14)) "
      ";;\n"
      "    *) echo $PERMILLE ;;\n"
      "  esac\n"
      "}\n"
      "t() { read u x </proc/uptime; echo ${u%.*}${u#*.}; }\n"
      "k() { if [ $1 = alu ]; then awk 'BEGIN{for(i=0;i<500000;i++)s+=i*i}'; else\n"
      "  dd if=/dev/zero of=/dev/null bs=16M count=8 2>/dev/null; fi; }\n"
      "M=/run/umbra; mkdir -p $M; na=0 ca=0 nm=0 cm=0\n"
      "(cd $M && (busybox httpd -f -p 9100 || python3 -m http.server 9100)) &\n"
      "while :; do\n"
      "  B=$(duty); e=$(( $(t) + B ))\n"
      "  while [ $(t) -lt $e ]; do\n"
      "    s=$(t); k alu; na=$((na+1)); ca=$((ca+$(t)-s))\n"
      "    s=$(t); k mem; nm=$((nm+1)); cm=$((cm+$(t)-s))\n"
      "  done\n"
      "  for x in \"alu $na $ca\" \"memory $nm $cm\"; do set -- $x\n"
      "    printf 'umbra_probe_%s_total{kernel=\"%s\"} %s\\n' operations $1 $2 seconds $1 \\\n"
      "      $(($3/100)).$(($3%100/10))$(($3%10))\n"
      "  done >$M/m && mv $M/m $M/metrics\n"
      "  sleep $(( (1000 - B) / 100 ))\n"
      "done\n";
  // Each 10 s period is busy for duty/10 seconds (rounded) and idle for the rest.
  return script;
}

std::string syntheticUserData(const api::SyntheticLoad& load, double limitCores) {
  const std::string script = syntheticScript(load, limitCores);
  return "#cloud-config\n"
         "write_files:\n"
         "- path: /usr/local/bin/umbra-load\n"
         "  permissions: '0755'\n"
         "  content: |\n" +
         [&] {
           std::string indented;
           size_t start = 0;
           while (start < script.size()) {
             const size_t nl = script.find('\n', start);
             indented += "    " + script.substr(start, nl - start) + "\n";
             start = nl + 1;
           }
           return indented;
         }() +
         "runcmd:\n"
         "- [sh, -c, 'nohup /usr/local/bin/umbra-load >/dev/null 2>&1 &']\n";
}

Json buildShadowVmi(const Json& placement, const Json& targetSpec, const std::string& node,
                    const api::PlacementSettings& settings,
                    const api::PlacementDefaults& defaults) {
  const Json& meta = placement.at("metadata");
  const std::string spName = meta.value("name", "");
  auto target = requirementsOf(targetSpec);
  const Resources r = target.ok() ? shadowResources(*target, settings, defaults)
                                  : Resources{defaults.cpuFloorCores, defaults.memoryFloorBytes};
  std::string image = containerDiskImage(targetSpec);
  if (image.empty()) {
    image = defaults.probeImage;
  }
  // The guest OS must boot: at least its image's memory floor.
  double memoryBytes = r.memory;
  for (const auto& [key, floor] : defaults.imageMemoryFloors) {
    if (image.find(key) != std::string::npos)
      memoryBytes = std::max(memoryBytes, floor);
  }
  const std::string cpu = kube::formatMilliCpu(r.cpu);
  const std::string memory = kube::formatMebibytes(memoryBytes);
  Json disks = Json::array({{{"name", "probe"}, {"disk", {{"bus", "virtio"}}}}});
  Json volumes = Json::array({{{"name", "probe"}, {"containerDisk", {{"image", image}}}}});
  if (settings.fidelity == api::Fidelity::Synthetic) {
    disks.push_back({{"name", "cloudinit"}, {"disk", {{"bus", "virtio"}}}});
    volumes.push_back(
        {{"name", "cloudinit"},
         {"cloudInitNoCloud", {{"userData", syntheticUserData(settings.load, r.cpu)}}}});
  }
  Json spec = {{"nodeSelector", {{"kubernetes.io/hostname", node}}},
               {"terminationGracePeriodSeconds", 0},
               {"domain",
                {{"cpu", {{"cores", 1}, {"sockets", 1}, {"threads", 1}}},
                 {"memory", {{"guest", memory}}},
                 {"resources",
                  {{"requests", {{"cpu", cpu}, {"memory", memory}}},
                   {"limits", {{"cpu", cpu}, {"memory", memory}}}}},
                 {"devices", {{"disks", disks}}}}},
               {"volumes", volumes}};
  if (targetSpec.contains("tolerations")) {
    spec["tolerations"] = targetSpec["tolerations"];
  }
  Json annotations = Json::object();
  if (settings.fidelity == api::Fidelity::Mirror) {
    // Istio's sidecar, which KubeVirt supports with the masquerade binding on the pod network
    // (API-NOTES §15); no ports listed, so every port reaches the guest.
    annotations["sidecar.istio.io/inject"] = "true";
    spec["domain"]["devices"]["interfaces"] =
        Json::array({{{"name", "default"}, {"masquerade", Json::object()}}});
    spec["networks"] = Json::array({{{"name", "default"}, {"pod", Json::object()}}});
  }
  return {{"apiVersion", "kubevirt.io/v1"},
          {"kind", "VirtualMachineInstance"},
          {"metadata",
           {{"name", shadowName(spName, node)},
            {"namespace", meta.value("namespace", "")},
            {"labels",
             {{api::PlacementLabel, placementLabelValue(spName)},
              {api::RoleLabel, "shadow"},
              {api::ShadowNodeLabel, node},
              {api::FidelityLabel, api::toString(settings.fidelity)}}},
            {"annotations", annotations},
            {"ownerReferences",
             Json::array({{{"apiVersion", std::string(api::Group) + "/" + api::Version},
                           {"kind", "ShadowPlacement"},
                           {"name", spName},
                           {"uid", meta.value("uid", "")},
                           {"controller", true},
                           {"blockOwnerDeletion", true}}})}}},
          {"spec", spec}};
}

}  // namespace umbra::placement
