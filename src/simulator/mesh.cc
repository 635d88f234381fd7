#include "simulator/mesh.h"

#include <algorithm>

namespace umbra::simulator {

using nlohmann::json;

namespace {

// The VMIs behind `host` as seen from namespace `ns`.
std::vector<std::string> endpointsOf(const std::string& host, const std::string& ns,
                                     const std::vector<json>& services,
                                     const std::vector<MeshEndpoint>& vmis) {
  std::vector<std::string> out;
  const auto dot = host.find('.');
  const std::string name = host.substr(0, dot);
  std::string svcNs = ns;
  if (dot != std::string::npos) {
    const std::string rest = host.substr(dot + 1);
    svcNs = rest.substr(0, rest.find('.'));
  }
  for (const auto& s : services) {
    const json& meta = s.value("metadata", json::object());
    if (meta.value("name", "") != name || meta.value("namespace", "") != svcNs)
      continue;
    const json selector = s.value("spec", json::object()).value("selector", json::object());
    if (selector.empty())
      return out;  // a Service without a selector: endpoints the mesh cannot see here
    for (const auto& v : vmis) {
      if (v.ns != svcNs)
        continue;
      bool match = true;
      for (const auto& [k, val] : selector.items()) {
        const auto it = v.labels.find(k);
        match = match && val.is_string() && it != v.labels.end() && it->second == val;
      }
      if (match)
        out.push_back(v.key);
    }
  }
  return out;
}

double percentOf(const json& percentage) {
  if (!percentage.is_object() || !percentage.contains("value") || !percentage["value"].is_number())
    return 100;  // absent: all of them (API-NOTES section 15)
  return std::clamp(percentage["value"].get<double>(), 0.0, 100.0);
}

}  // namespace

std::map<std::string, std::vector<sim::DemandSource::MirrorInput>> mirroredRequests(
    const std::vector<json>& virtualServices, const std::vector<json>& services,
    const std::vector<MeshEndpoint>& vmis) {
  std::map<std::string, std::vector<sim::DemandSource::MirrorInput>> out;
  for (const auto& vs : virtualServices) {
    const std::string ns = vs.value("metadata", json::object()).value("namespace", "");
    for (const auto& route : vs.value("spec", json::object()).value("http", json::array())) {
      std::vector<std::string> sources;
      for (const auto& d : route.value("route", json::array()))
        for (const auto& e : endpointsOf(d.value("destination", json::object()).value("host", ""),
                                         ns, services, vmis))
          if (std::find(sources.begin(), sources.end(), e) == sources.end())
            sources.push_back(e);
      // `mirrors`, else the older single `mirror` (istiod refuses both together).
      std::vector<std::pair<std::string, double>> mirrors;
      for (const auto& m : route.value("mirrors", json::array()))
        mirrors.push_back({m.value("destination", json::object()).value("host", ""),
                           percentOf(m.value("percentage", json())) / 100});
      if (mirrors.empty() && route.contains("mirror"))
        mirrors.push_back({route["mirror"].value("host", ""),
                           percentOf(route.value("mirrorPercentage", json())) / 100});
      for (const auto& [host, fraction] : mirrors) {
        if (fraction <= 0)
          continue;  // value 0 turns a mirror off
        for (const auto& target : endpointsOf(host, ns, services, vmis))
          for (const auto& source : sources)
            if (source != target)
              out[target].push_back({source, fraction});
      }
    }
  }
  return out;
}

}  // namespace umbra::simulator
