#include "placement/candidates.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "kube_core/quantity.h"
#include "placement/dra.h"
#include "placement/fields.h"

namespace umbra::placement {
namespace {

using namespace fields;

Resources requestsOfVmiSpec(const Json& spec) {
  // Best effort: a malformed running VMI must not stop classification of the others.
  auto r = requirementsOf(spec);
  return r.ok() ? r->requests : Resources{};
}

bool labelMatches(const NodeView& node, const std::string& key, const std::string& value) {
  const auto it = node.labels.find(key);
  return it != node.labels.end() && it->second == value;
}

bool expressionMatches(const Json& expr, const std::string& actual, bool present) {
  const std::string op = expr.value("operator", "");
  std::vector<std::string> values;
  for (const auto& v : expr.value("values", Json::array())) {
    values.push_back(v.get<std::string>());
  }
  const bool in = std::find(values.begin(), values.end(), actual) != values.end();
  if (op == "In")
    return present && in;
  if (op == "NotIn")
    return !present || !in;
  if (op == "Exists")
    return present;
  if (op == "DoesNotExist")
    return !present;
  if ((op == "Gt" || op == "Lt") && present && values.size() == 1) {
    char* end = nullptr;
    const long long a = std::strtoll(actual.c_str(), &end, 10);
    const long long b = std::strtoll(values[0].c_str(), nullptr, 10);
    return *end == '\0' && (op == "Gt" ? a > b : a < b);
  }
  return false;
}

// The first extended resource the node cannot give: "has no nvidia.com/X" or "insufficient ...".
std::string missingExtended(const NodeView& n, const Resources& need) {
  for (const auto& [name, amount] : need.extended) {
    if (amount <= 0)
      continue;
    const auto have = n.allocatable.extended.find(name);
    if (have == n.allocatable.extended.end() || have->second <= 0)
      return "node has no " + name;
    const auto used = n.requested.extended.find(name);
    const double free = have->second - (used == n.requested.extended.end() ? 0 : used->second);
    if (free < amount)
      return "insufficient " + name;
  }
  return "";
}

}  // namespace

NodeView nodeViewOf(const Json& node) {
  NodeView v;
  const Json& meta = at(node, "metadata");
  v.name = meta.value("name", "");
  for (const auto& [k, val] : at(meta, "labels").items()) {
    v.labels[k] = val.get<std::string>();
  }
  const Json& spec = at(node, "spec");
  v.priceAnnotation =
      meta.value("annotations", Json::object()).value(api::PriceAnnotation, std::string());
  v.unschedulable = spec.value("unschedulable", false);
  v.taints = spec.value("taints", Json::array());
  const Json& status = at(node, "status");
  for (const auto& c : status.value("conditions", Json::array())) {
    if (c.value("type", "") == "Ready") {
      v.ready = c.value("status", "") == "True";
    }
  }
  const Json& alloc = at(status, "allocatable");
  v.allocatable.cpu = quantityAt(alloc, "cpu", "status.allocatable.cpu").valueOr(0);
  v.allocatable.memory = quantityAt(alloc, "memory", "status.allocatable.memory").valueOr(0);
  for (const auto& [name, q] : alloc.items()) {
    if (name.find('/') != std::string::npos || name.rfind("hugepages-", 0) == 0)
      v.allocatable.extended[name] = quantityAt(alloc, name.c_str(), "").valueOr(0);
  }
  return v;
}

std::optional<NodeRequests> vmiNodeRequests(const Json& vmi) {
  const Json& status = at(vmi, "status");
  const std::string phase = status.value("phase", "");
  std::string node = status.value("nodeName", "");
  if (node.empty() || phase == "Succeeded" || phase == "Failed") {
    return std::nullopt;
  }
  return NodeRequests{std::move(node), requestsOfVmiSpec(at(vmi, "spec"))};
}

std::optional<NodeRequests> podNodeRequests(const Json& pod) {
  std::string node = at(pod, "spec").value("nodeName", "");
  const std::string phase = at(pod, "status").value("phase", "");
  if (node.empty() || phase == "Succeeded" || phase == "Failed") {
    return std::nullopt;
  }
  if (at(at(pod, "metadata"), "labels").value("kubevirt.io", "") == "virt-launcher") {
    return std::nullopt;
  }
  Resources r;
  for (const auto& c : at(pod, "spec").value("containers", Json::array())) {
    const Json& req = at(at(c, "resources"), "requests");
    r.cpu += quantityAt(req, "cpu", "").valueOr(0);
    r.memory += quantityAt(req, "memory", "").valueOr(0);
    for (const auto& [name, q] : req.items()) {
      if (name.find('/') != std::string::npos || name.rfind("hugepages-", 0) == 0)
        r.extended[name] += quantityAt(req, name.c_str(), "").valueOr(0);
    }
  }
  return NodeRequests{std::move(node), r};
}

std::map<std::string, Resources> requestedPerNode(const std::vector<const Json*>& vmis,
                                                  const std::vector<const Json*>& pods,
                                                  const std::string& skipVmi) {
  std::map<std::string, Resources> out;
  const auto add = [&out](const std::optional<NodeRequests>& held) {
    if (held)
      out[held->node].add(held->requests);
  };
  for (const Json* vmi : vmis) {
    const Json& meta = at(*vmi, "metadata");
    if (meta.value("namespace", "") + "/" + meta.value("name", "") != skipVmi) {
      add(vmiNodeRequests(*vmi));
    }
  }
  for (const Json* pod : pods) {
    add(podNodeRequests(*pod));
  }
  return out;
}

bool matchesNodeSelectorTerm(const Json& term, const NodeView& node) {
  for (const auto& expr : term.value("matchExpressions", Json::array())) {
    const std::string key = expr.value("key", "");
    const auto it = node.labels.find(key);
    const bool present = it != node.labels.end();
    if (!expressionMatches(expr, present ? it->second : "", present)) {
      return false;
    }
  }
  for (const auto& expr : term.value("matchFields", Json::array())) {
    if (expr.value("key", "") != "metadata.name" || !expressionMatches(expr, node.name, true)) {
      return false;
    }
  }
  return true;
}

bool tolerates(const Json& tolerations, const Json& taint) {
  const std::string key = taint.value("key", "");
  const std::string value = taint.value("value", "");
  const std::string effect = taint.value("effect", "");
  for (const auto& t : tolerations) {
    const std::string tEffect = t.value("effect", "");
    if (!tEffect.empty() && tEffect != effect) {
      continue;
    }
    const std::string tKey = t.value("key", "");
    const std::string op = t.value("operator", "Equal");
    if (op == "Exists" && (tKey.empty() || tKey == key)) {
      return true;
    }
    if (op == "Equal" && tKey == key && t.value("value", "") == value) {
      return true;
    }
  }
  return false;
}

std::optional<double> nodePricePerHour(const NodeView& node, const api::NodePrices& prices) {
  if (!node.priceAnnotation.empty()) {
    char* end = nullptr;
    const double p = std::strtod(node.priceAnnotation.c_str(), &end);
    if (end && *end == '\0' && std::isfinite(p) && p >= 0)
      return p;
    return std::nullopt;  // not a number: unpriced (the reason says so)
  }
  const auto label = node.labels.find(prices.label);
  if (label == node.labels.end())
    return std::nullopt;
  const auto price = prices.perHour.find(label->second);
  if (price == prices.perHour.end())
    return std::nullopt;
  return price->second;
}

std::optional<double> costPerHour(const NodeView& node, const Resources& requests,
                                  const api::NodePrices& prices) {
  const auto price = nodePricePerHour(node, prices);
  if (!price)
    return std::nullopt;
  const double cpu = node.allocatable.cpu > 0 ? requests.cpu / node.allocatable.cpu : 1;
  const double memory = node.allocatable.memory > 0 ? requests.memory / node.allocatable.memory : 1;
  return *price * std::min(1.0, std::max(cpu, memory));
}

namespace {

std::string priceText(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.4g", v);
  return buf;
}

// A feasible verdict over the cap, or unpriced under one, becomes infeasible with the reason.
void applyCostCap(Verdict& v, const NodeView& n, const TargetRequirements& target,
                  const CostCap& cap) {
  if (!cap.prices)
    return;
  v.costPerHour = costPerHour(n, target.requests, *cap.prices);
  if (!cap.maxPerHour || !v.feasible)
    return;
  if (!v.costPerHour) {
    v.feasible = false;
    v.reason =
        n.priceAnnotation.empty()
            ? "no price for the node (nodePrices: label " + cap.prices->label + ")"
            : std::string(api::PriceAnnotation) + " \"" + n.priceAnnotation + "\" is not a number";
  } else if (*v.costPerHour > *cap.maxPerHour) {
    v.feasible = false;
    v.reason = "costs " + priceText(*v.costPerHour) +
               "/h for this VM, over spec.constraints.maxCostPerHour " + priceText(*cap.maxPerHour);
  }
}

}  // namespace

std::vector<Verdict> classify(const std::vector<NodeView>& nodes, const TargetRequirements& target,
                              const std::map<std::string, std::string>& extraSelector,
                              const CostCap& cost) {
  std::vector<Verdict> out;
  for (const NodeView& n : nodes) {
    Verdict v{n.name, false, "", 0};
    const double freeCpu = n.allocatable.cpu - n.requested.cpu;
    const double freeMem = n.allocatable.memory - n.requested.memory;
    std::string unmatched;
    for (const auto& [k, val] : target.nodeSelector) {
      if (unmatched.empty() && !labelMatches(n, k, val))
        unmatched = "target nodeSelector " + k;
    }
    for (const auto& [k, val] : extraSelector) {
      if (unmatched.empty() && !labelMatches(n, k, val))
        unmatched = "candidates.nodeSelector " + k;
    }
    std::string untolerated;
    for (const auto& taint : n.taints) {
      const std::string effect = taint.value("effect", "");
      if (untolerated.empty() && (effect == "NoSchedule" || effect == "NoExecute") &&
          !tolerates(target.tolerations, taint)) {
        untolerated = taint.value("key", "") + ":" + effect;
      }
    }
    const bool affinityOk =
        target.requiredAffinityTerms.empty() ||
        std::any_of(target.requiredAffinityTerms.begin(), target.requiredAffinityTerms.end(),
                    [&](const Json& term) { return matchesNodeSelectorTerm(term, n); });
    if (!n.ready) {
      v.reason = "node is not Ready";
    } else if (n.unschedulable) {
      v.reason = "node is cordoned";
    } else if (!labelMatches(n, "kubevirt.io/schedulable", "true")) {
      v.reason = "node is not kubevirt.io/schedulable=true";
    } else if (!unmatched.empty()) {
      v.reason =
          unmatched == "target nodeSelector kubernetes.io/arch" && !target.architecture.empty()
              ? "architecture is not " + target.architecture
          : unmatched == "target nodeSelector cpumanager" && target.dedicatedCpus
              ? "no CPU manager for dedicated CPUs (label cpumanager=true)"
              : "does not match " + unmatched;
    } else if (!affinityOk) {
      v.reason = "does not match the target's required node affinity";
    } else if (!untolerated.empty()) {
      v.reason = "taint " + untolerated + " is not tolerated";
    } else if (freeCpu < target.requests.cpu) {
      v.reason = "insufficient cpu";
    } else if (freeMem < target.requests.memory) {
      v.reason = "insufficient memory";
    } else if (const std::string short_ = missingExtended(n, target.requests); !short_.empty()) {
      v.reason = short_;
    } else if (!target.resourceClaims.empty() && !target.dra) {
      v.reason = "the target's DRA resource claims were not read";
    } else if (const std::string noDevice = target.dra ? dra::shortfall(*target.dra, n) : "";
               !noDevice.empty()) {
      v.reason = noDevice;
    } else {
      v.feasible = true;
      const double cpuLeft =
          n.allocatable.cpu > 0 ? (freeCpu - target.requests.cpu) / n.allocatable.cpu : 0;
      const double memLeft =
          n.allocatable.memory > 0 ? (freeMem - target.requests.memory) / n.allocatable.memory : 0;
      v.score = (cpuLeft + memLeft) / 2;  // kube-scheduler's LeastAllocated
    }
    applyCostCap(v, n, target, cost);
    out.push_back(std::move(v));
  }
  std::sort(out.begin(), out.end(), [](const Verdict& a, const Verdict& b) {
    if (a.feasible != b.feasible)
      return a.feasible;
    if (a.score != b.score)
      return a.score > b.score;
    return a.node < b.node;
  });
  return out;
}

std::vector<std::string> topCandidates(const std::vector<Verdict>& verdicts, int count) {
  std::vector<std::string> out;
  for (const Verdict& v : verdicts) {
    if (v.feasible && static_cast<int>(out.size()) < count) {
      out.push_back(v.node);
    }
  }
  return out;
}

std::vector<std::string> mixedCandidates(const std::vector<std::string>& byForecast,
                                         const std::vector<std::string>& byStatic, int count) {
  std::vector<std::string> out;
  size_t f = 0, s = 0;
  const auto take = [&](const std::vector<std::string>& from, size_t& i) {
    while (i < from.size()) {
      const std::string& node = from[i++];
      if (std::find(out.begin(), out.end(), node) == out.end()) {
        out.push_back(node);
        return;
      }
    }
  };
  for (bool forecastTurn = true;
       static_cast<int>(out.size()) < count && (f < byForecast.size() || s < byStatic.size());
       forecastTurn = !forecastTurn)
    take(forecastTurn ? byForecast : byStatic, forecastTurn ? f : s);
  return out;
}

}  // namespace umbra::placement
