#include "simulator/workloads.h"

#include <algorithm>
#include <cstdlib>
#include <regex>

#include "kube_core/quantity.h"

namespace umbra::simulator {

using nlohmann::json;

namespace {

double quantityAt(const json& obj, std::initializer_list<const char*> path, double fallback) {
  const json* cur = &obj;
  for (const char* p : path) {
    if (!cur->is_object() || !cur->contains(p))
      return fallback;
    cur = &(*cur)[p];
  }
  if (cur->is_number())
    return cur->get<double>();
  if (cur->is_string()) {
    const auto v = kube::parseQuantity(cur->get<std::string>());
    return v ? *v : fallback;
  }
  return fallback;
}

// The guest script a Synthetic shadow runs (placement::syntheticUserData, inside a cloud-config
// write_files block): lines PERMILLE=<busy per-mille of a vCPU> and PROFILE=<name>, and the probe
// if it exports
// umbra_probe_* series. The simulated guest "runs" it.
bool syntheticLoad(const json& spec, std::string& profile, double& level, bool& probe) {
  for (const auto& v : spec.value("volumes", json::array())) {
    const std::string data =
        v.value("cloudInitNoCloud", json::object()).value("userData", std::string());
    std::smatch p, prof;
    static const std::regex permille("(^|\\n)[ \\t]*PERMILLE=([0-9]+)");
    static const std::regex name("(^|\\n)[ \\t]*PROFILE=([a-z]+)");
    if (std::regex_search(data, p, permille) && std::regex_search(data, prof, name)) {
      level = std::clamp(std::atof(p[2].str().c_str()) / 1000.0, 0.0, 1.0);
      profile = prof[2].str();
      probe = data.find("umbra_probe_") != std::string::npos;
      return true;
    }
  }
  return false;
}

}  // namespace

sim::WorkloadSpec workloadOf(const json& vmi, const sim::Physics& physics,
                             const sim::TraceSet* traces, uint64_t seed, std::string& warning) {
  const json& meta = vmi.at("metadata");
  const json spec = vmi.value("spec", json::object());
  const json domain = spec.value("domain", json::object());
  sim::WorkloadSpec w;
  w.id = meta.value("namespace", "") + "/" + meta.value("name", "");
  const json cpu = domain.value("cpu", json::object());
  // What is in effect: after a hotplug, the status (the spec changes first, the migration makes
  // it effective).
  const json status = vmi.value("status", json::object());
  const json topology = status.value("currentCPUTopology", cpu);
  w.vcpus =
      std::max(1.0, quantityAt(topology, {"sockets"}, 1) * quantityAt(topology, {"cores"}, 1) *
                        quantityAt(topology, {"threads"}, 1));
  w.memoryBytes =
      quantityAt(status, {"memory", "guestCurrent"},
                 quantityAt(domain, {"memory", "guest"},
                            quantityAt(domain, {"resources", "requests", "memory"}, 1 << 30)));
  w.cpuLimit = quantityAt(domain, {"resources", "limits", "cpu"}, 0);

  const json annotations = meta.value("annotations", json::object());
  const json labels = meta.value("labels", json::object());
  if (const std::string pool = annotations.value(PoolAnnotation, ""); !pool.empty())
    w.sharedBy = meta.value("namespace", "") + "/" + pool;
  if (const std::string d = annotations.value(DemandVcpusAnnotation, ""); !d.empty()) {
    const double v = std::atof(d.c_str());
    if (v > 0 && v <= 1024)
      w.demandVcpus = v;
    else
      warning =
          std::string(DemandVcpusAnnotation) + ": \"" + d + "\" is not a vCPU count in (0, 1024]";
  }
  if (const std::string d = annotations.value(DirtyRateAnnotation, ""); !d.empty()) {
    const auto v = kube::parseQuantity(d);
    if (v && *v >= 0)
      w.dirtyBytesPerSecond = *v;
    else
      warning = std::string(DirtyRateAnnotation) + ": \"" + d +
                "\" is not a quantity of bytes per second";
  }
  // Istio's sidecar: the proxy that reports its requests (istio_requests_total, ...).
  if (annotations.value(SidecarAnnotation, "") == "true") {
    w.requests = sim::RequestModel{};
    const std::string r = annotations.value(RequestsAnnotation, "");
    static const std::regex requestsRe("([0-9.]+(ms|s))(,cv2=([0-9.]+))?");
    std::smatch rm;
    if (!r.empty() && std::regex_match(r, rm, requestsRe) && kube::parseDuration(rm[1].str()) &&
        kube::parseDuration(rm[1].str())->count() > 0) {
      w.requests->cpuSecondsPerRequest = kube::parseDuration(rm[1].str())->count() / 1000.0;
      if (rm[4].matched)
        w.requests->serviceCv2 = std::clamp(std::atof(rm[4].str().c_str()), 0.01, 100.0);
    } else if (!r.empty()) {
      warning = std::string(RequestsAnnotation) + ": \"" + r +
                "\" is not <CPU time per request>[,cv2=<x>], e.g. 20ms,cv2=1.5";
    }
  }
  const std::string klass = annotations.value(ClassAnnotation, "");
  if (!klass.empty()) {
    if (physics.classes.count(klass))
      w.interferenceClass = klass;
    else
      warning = std::string(ClassAnnotation) + ": unknown interference class \"" + klass + "\"";
  }

  // The default demand.
  const auto fallback = [&] {
    if (labels.value("umbra.io/role", "") == "shadow") {
      std::string profile;
      double level = 0;
      bool probe = false;
      if (syntheticLoad(spec, profile, level, probe)) {
        w.source.kind = probe ? sim::SourceKind::Probe : sim::SourceKind::Profile;
        w.source.profile = profile;
        w.source.level = level;
      } else {
        w.source.kind = sim::SourceKind::Idle;
      }
      return;
    }
    std::vector<const sim::Trace*> candidates;
    if (traces) {
      for (const auto& [id, t] : traces->series) {
        if (!id.starts_with("alibaba"))  // machines, not VMs
          candidates.push_back(&t);
      }
    }
    const uint64_t h = sim::hashOf(w.id) ^ seed;
    if (candidates.empty()) {
      w.source.kind = sim::SourceKind::Profile;
      w.source.profile = "steady";
      w.source.level = 0.3;
      return;
    }
    w.source.kind = sim::SourceKind::Trace;
    w.source.trace = candidates[h % candidates.size()];
    w.source.traceOffset = static_cast<double>((h >> 20) % 86400);
  };

  const std::string mirrorOf = annotations.value(MirrorOfAnnotation, "");
  const std::string chosen = annotations.value(WorkloadAnnotation, "");
  if (!mirrorOf.empty()) {
    w.source.kind = sim::SourceKind::Mirror;
    const double pct = std::atof(annotations.value(MirrorPercentageAnnotation, "10").c_str());
    w.source.mirrors = {
        {meta.value("namespace", "") + "/" + mirrorOf, std::clamp(pct, 0.0, 100.0) / 100.0}};
    return w;
  }
  if (chosen.empty()) {
    fallback();
    return w;
  }
  static const std::regex traceRe("trace:([A-Za-z0-9_.-]+)(@([0-9]+))?");
  static const std::regex profileRe("profile:(steady|diurnal|spiky|bursty):([0-9.]+)");
  std::smatch m;
  if (chosen == "idle") {
    w.source.kind = sim::SourceKind::Idle;
  } else if (std::regex_match(chosen, m, profileRe) && std::atof(m[2].str().c_str()) <= 1.0) {
    w.source.kind = sim::SourceKind::Profile;
    w.source.profile = m[1].str();
    w.source.level = std::atof(m[2].str().c_str());
  } else if (std::regex_match(chosen, m, traceRe)) {
    const auto it = traces ? traces->series.find(m[1].str()) : decltype(traces->series.end()){};
    if (!traces || it == traces->series.end()) {
      warning = std::string(WorkloadAnnotation) + ": no trace " + m[1].str() +
                (traces ? "" : " (umbra-sim runs without --traces)");
      fallback();
    } else {
      w.source.kind = sim::SourceKind::Trace;
      w.source.trace = &it->second;
      w.source.traceOffset = m[3].matched ? std::atof(m[3].str().c_str()) : 0;
    }
  } else {
    warning = std::string(WorkloadAnnotation) + ": \"" + chosen +
              "\" is not trace:<id>[@<s>], profile:<steady|diurnal|spiky|bursty>:<0..1> or idle";
    fallback();
  }
  return w;
}

}  // namespace umbra::simulator
