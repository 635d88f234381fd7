// DRA feasibility: free devices per node from ResourceSlices and allocated claims, a claim's
// requests with their classes' selectors, and whether a node can satisfy them.
#include "placement/dra.h"

#include <algorithm>
#include <set>

#include "placement/candidates.h"

namespace umbra::placement::dra {

namespace {

std::string deviceKey(const std::string& driver, const std::string& pool,
                      const std::string& device) {
  return driver + "/" + pool + "/" + device;
}

bool anyTermMatches(const Json& nodeSelector, const NodeView& node) {
  const Json terms = nodeSelector.value("nodeSelectorTerms", Json::array());
  return std::any_of(terms.begin(), terms.end(),
                     [&](const Json& t) { return matchesNodeSelectorTerm(t, node); });
}

Result<std::vector<Selector>> selectorsOf(const Json& list, const std::string& field) {
  std::vector<Selector> out;
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string expr = list[i].value("cel", Json::object()).value("expression", "");
    auto s = Selector::parse(expr);
    if (!s.ok())
      return Error::make(ErrorKind::Terminal, field + "[" + std::to_string(i) +
                                                  "].cel.expression: " + s.error().message);
    out.push_back(std::move(*s));
  }
  return out;
}

Result<Alternative> alternativeOf(const Json& r, const std::map<std::string, Json>& classes,
                                  const std::string& field) {
  Alternative a;
  a.name = r.value("name", "");
  a.deviceClass = r.value("deviceClassName", "");
  const auto cls = classes.find(a.deviceClass);
  if (cls == classes.end())
    return Error::make(ErrorKind::Terminal,
                       field + ".deviceClassName: DeviceClass \"" + a.deviceClass +
                           "\" does not exist");
  UMBRA_TRY(a.selectors, selectorsOf(cls->second.value("spec", Json::object())
                                         .value("selectors", Json::array()),
                                     "DeviceClass " + a.deviceClass + ": spec.selectors"));
  UMBRA_TRY(std::vector<Selector> own,
            selectorsOf(r.value("selectors", Json::array()), field + ".selectors"));
  a.selectors.insert(a.selectors.end(), own.begin(), own.end());
  a.all = r.value("allocationMode", "ExactCount") == "All";
  a.count = r.value("count", int64_t{1});
  return a;
}

// Picks the devices for one alternative from `free` (removing them); why not if it cannot.
std::string take(const Alternative& a, std::vector<Device>& free, std::vector<Device>& picked) {
  std::vector<size_t> matching;
  for (size_t i = 0; i < free.size(); ++i) {
    bool ok = true;
    for (const auto& s : a.selectors) {
      const auto m = s.matches(free[i]);
      if (!m.ok())
        return m.error().message;  // the scheduler aborts this allocation
      if (!*m) {
        ok = false;
        break;
      }
    }
    if (ok)
      matching.push_back(i);
  }
  const size_t need = a.all ? std::max<size_t>(matching.size(), 1) : static_cast<size_t>(a.count);
  if (matching.size() < need || matching.empty())
    return "no free device of class " + a.deviceClass +
           (need > 1 ? " (" + std::to_string(need) + " needed, " +
                           std::to_string(matching.size()) + " free)"
                     : "");
  matching.resize(need);
  for (auto it = matching.rbegin(); it != matching.rend(); ++it) {
    picked.push_back(free[*it]);
    free.erase(free.begin() + static_cast<std::ptrdiff_t>(*it));
  }
  return "";
}

}  // namespace

Inventory inventoryOf(const std::vector<const Json*>& slices,
                      const std::vector<const Json*>& claims,
                      const std::vector<std::string>& own) {
  // Only the newest generation of a pool counts: older slices are being replaced.
  std::map<std::string, int64_t> generation;
  for (const Json* s : slices) {
    const Json spec = s->value("spec", Json::object());
    const Json pool = spec.value("pool", Json::object());
    auto& g = generation[spec.value("driver", "") + "/" + pool.value("name", "")];
    g = std::max(g, pool.value("generation", int64_t{0}));
  }
  std::set<std::string> taken;
  for (const Json* c : claims) {
    const Json meta = c->value("metadata", Json::object());
    const std::string key = meta.value("namespace", "") + "/" + meta.value("name", "");
    if (std::find(own.begin(), own.end(), key) != own.end())
      continue;
    const Json results = c->value("status", Json::object())
                             .value("allocation", Json::object())
                             .value("devices", Json::object())
                             .value("results", Json::array());
    for (const auto& r : results)
      taken.insert(deviceKey(r.value("driver", ""), r.value("pool", ""), r.value("device", "")));
  }
  Inventory inv;
  for (const Json* s : slices) {
    const Json spec = s->value("spec", Json::object());
    const Json pool = spec.value("pool", Json::object());
    const std::string driver = spec.value("driver", "");
    if (pool.value("generation", int64_t{0}) < generation[driver + "/" + pool.value("name", "")])
      continue;
    for (const auto& d : spec.value("devices", Json::array())) {
      Device dev{driver, pool.value("name", ""), d.value("name", ""),
                 d.value("attributes", Json::object()), d.value("capacity", Json::object())};
      if (taken.count(deviceKey(dev.driver, dev.pool, dev.name)) != 0)
        continue;
      if (!spec.value("nodeName", "").empty())
        inv.byNode[spec["nodeName"].get<std::string>()].push_back(std::move(dev));
      else if (spec.contains("nodeSelector"))
        inv.shared.emplace_back(spec["nodeSelector"], std::move(dev));
      else if (spec.value("allNodes", false))
        inv.shared.emplace_back(Json(), std::move(dev));
      // perDeviceNodeSelection: not read (see dra.h).
    }
  }
  return inv;
}

std::vector<std::string> deviceClassesOf(const Json& claimSpec) {
  std::vector<std::string> out;
  const auto add = [&](const Json& r) {
    const std::string c = r.value("deviceClassName", "");
    if (!c.empty() && std::find(out.begin(), out.end(), c) == out.end())
      out.push_back(c);
  };
  for (const auto& r : claimSpec.value("devices", Json::object()).value("requests", Json::array())) {
    if (r.contains("exactly"))
      add(r["exactly"]);
    for (const auto& sub : r.value("firstAvailable", Json::array()))
      add(sub);
  }
  return out;
}

Result<std::vector<Request>> requestsOf(const Json& claimSpec,
                                        const std::map<std::string, Json>& classes,
                                        const std::string& label) {
  std::vector<Request> out;
  const Json requests =
      claimSpec.value("devices", Json::object()).value("requests", Json::array());
  for (size_t i = 0; i < requests.size(); ++i) {
    const Json& r = requests[i];
    const std::string field = label + ": spec.devices.requests[" + std::to_string(i) + "]";
    Request req{r.value("name", ""), {}};
    if (r.contains("exactly")) {
      if (r["exactly"].value("adminAccess", false))
        continue;  // admin access does not take devices
      UMBRA_TRY(Alternative a, alternativeOf(r["exactly"], classes, field + ".exactly"));
      req.alternatives.push_back(std::move(a));
    }
    const Json first = r.value("firstAvailable", Json::array());
    for (size_t j = 0; j < first.size(); ++j) {
      UMBRA_TRY(Alternative a, alternativeOf(first[j], classes,
                                             field + ".firstAvailable[" + std::to_string(j) + "]"));
      req.alternatives.push_back(std::move(a));
    }
    if (req.alternatives.empty())
      return Error::make(ErrorKind::Terminal, field + ": neither exactly nor firstAvailable");
    out.push_back(std::move(req));
  }
  return out;
}

std::string shortfall(const Needs& needs, const NodeView& node,
                      std::map<std::string, std::vector<Device>>* chosen) {
  std::vector<Device> free;
  if (const auto it = needs.inventory.byNode.find(node.name); it != needs.inventory.byNode.end())
    free = it->second;
  for (const auto& [selector, device] : needs.inventory.shared) {
    if (selector.is_null() || anyTermMatches(selector, node))
      free.push_back(device);
  }
  for (const Claim& claim : needs.claims) {
    if (claim.allocatedNodeSelector) {
      if (!claim.allocatedNodeSelector->is_null() &&
          !anyTermMatches(*claim.allocatedNodeSelector, node))
        return claim.label + " is allocated to devices this node cannot reach";
      continue;
    }
    for (const Request& r : claim.requests) {
      std::string why;
      std::vector<Device> picked;
      std::string used = r.name;
      for (const Alternative& a : r.alternatives) {
        std::vector<Device> trial = free;
        picked.clear();
        why = take(a, trial, picked);
        if (why.empty()) {
          free = std::move(trial);
          used = a.name.empty() ? r.name : r.name + "/" + a.name;
          break;
        }
      }
      if (!why.empty())
        return why + " for " + claim.label + " request " + r.name;
      if (chosen)
        (*chosen)[claim.name + "\n" + used] = std::move(picked);
    }
  }
  return "";
}

}  // namespace umbra::placement::dra

namespace umbra::placement::dra {

Result<std::shared_ptr<const Needs>> needsOf(const Json& vmiSpec, const std::string& ns,
                                             const Source& api) {
  const Json entries = vmiSpec.value("resourceClaims", Json::array());
  if (entries.empty())
    return std::shared_ptr<const Needs>();
  const auto failed = [](const Error& e, const std::string& what) {
    return Error::make(e.is(ErrorKind::NotFound) ? ErrorKind::Terminal : e.kind,
                       what + ": " + e.message);
  };
  auto needs = std::make_shared<Needs>();
  std::vector<std::string> own;
  std::vector<std::pair<Json, size_t>> specs;  // a claim spec, the index of its claim
  for (size_t i = 0; i < entries.size(); ++i) {
    const Json& e = entries[i];
    const bool isClaim = e.contains("resourceClaimName");
    const std::string name = e.value(isClaim ? "resourceClaimName" : "resourceClaimTemplateName", "");
    Claim claim{e.value("name", ""),
                std::string(isClaim ? "ResourceClaim " : "ResourceClaimTemplate ") + ns + "/" + name,
                {},
                std::nullopt};
    const std::string field = "spec.resourceClaims[" + std::to_string(i) + "]: " + claim.label;
    auto obj = api.get(isClaim ? kube::resources::resourceClaims()
                               : kube::resources::resourceClaimTemplates(),
                       ns, name);
    if (!obj.ok())
      return failed(obj.error(), field);
    if (isClaim) {
      own.push_back(ns + "/" + name);
      const Json allocation = (*obj).value("status", Json::object()).value("allocation", Json());
      if (allocation.is_object())  // no nodeSelector: devices every node reaches (null)
        claim.allocatedNodeSelector = allocation.value("nodeSelector", Json());
    }
    specs.emplace_back(isClaim ? (*obj).value("spec", Json::object())
                               : (*obj)["spec"].value("spec", Json::object()),
                       needs->claims.size());
    needs->claims.push_back(std::move(claim));
  }
  std::map<std::string, Json> classes;
  for (const auto& [spec, index] : specs) {
    if (needs->claims[index].allocatedNodeSelector)
      continue;
    for (const auto& name : deviceClassesOf(spec)) {
      if (classes.count(name) != 0)
        continue;
      auto cls = api.get(kube::resources::deviceClasses(), "", name);
      if (cls.ok())
        classes[name] = *cls;
      else if (!cls.error().is(ErrorKind::NotFound))  // a missing class: named by requestsOf()
        return failed(cls.error(), "DeviceClass " + name);
    }
    UMBRA_TRY(needs->claims[index].requests,
              requestsOf(spec, classes, needs->claims[index].label));
  }
  auto slices = api.list(kube::resources::resourceSlices());
  if (!slices.ok())
    return failed(slices.error(), "ResourceSlices");
  auto claims = api.list(kube::resources::resourceClaims());
  if (!claims.ok())
    return failed(claims.error(), "ResourceClaims");
  std::vector<const Json*> slicePtrs, claimPtrs;
  for (const auto& s : (*slices)["items"])
    slicePtrs.push_back(&s);
  for (const auto& c : (*claims)["items"])
    claimPtrs.push_back(&c);
  needs->inventory = inventoryOf(slicePtrs, claimPtrs, own);
  return std::shared_ptr<const Needs>(needs);
}

}  // namespace umbra::placement::dra
