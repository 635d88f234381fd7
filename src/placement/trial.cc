#include "placement/trial.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "kube_core/quantity.h"
#include "placement/shadow.h"

namespace umbra::placement {

namespace {

constexpr double GiB = 1024.0 * 1024 * 1024;

std::string seriesOf(const std::string& name) {
  const auto dot = name.find('.');
  return dot == std::string::npos ? "" : name.substr(0, dot);
}

bool smaller(const TypeSize& a, const TypeSize& b) {
  return a.vcpus != b.vcpus ? a.vcpus < b.vcpus : a.memoryGiB < b.memoryGiB;
}

}  // namespace

std::string trialShadowName(const std::string& trial, const std::string& type) {
  std::string name = trial + "-" + type;
  std::replace(name.begin(), name.end(), '.', '-');
  return placementLabelValue(name);  // at most 63 characters
}

std::string trialLabelValue(const std::string& trial) {
  return placementLabelValue(trial);
}

MirrorScope trialMirrorScope(const Json& trial) {
  const Json& meta = trial.at("metadata");
  return {meta.value("namespace", ""),
          meta.value("name", "") + "-trial",
          {{api::TrialLabel, trialLabelValue(meta.value("name", ""))}}};
}

Result<TypeSize> typeSize(const Instancetype& it) {
  const Json cpu = it.spec.value("cpu", Json::object());
  const Json memory = it.spec.value("memory", Json::object());
  TypeSize s;
  if (!cpu.contains("guest") || !cpu["guest"].is_number_integer() || cpu["guest"].get<int>() < 1)
    return Error::make(ErrorKind::Terminal,
                       it.name + ": spec.cpu.guest must be a positive integer");
  s.vcpus = cpu["guest"].get<int>();
  const auto bytes = kube::parseQuantity(memory.value("guest", ""));
  if (!bytes || *bytes <= 0)
    return Error::make(ErrorKind::Terminal, it.name + ": spec.memory.guest must be a quantity");
  s.memoryGiB = *bytes / GiB;
  s.dedicated = cpu.value("dedicatedCPUPlacement", false);
  return s;
}

double typeCostPerHour(const api::InstancetypePrices& p, const std::string& name,
                       const TypeSize& s) {
  for (const auto& [type, price] : p.perHour)
    if (type == name)
      return price;
  return s.vcpus * p.perVcpuHour * (s.dedicated ? 1 + p.dedicatedPremium : 1) +
         s.memoryGiB * p.perGiBHour;
}

Json buildTrialShadowVmi(const Json& trial, const Json& targetSpec, const Instancetype& it,
                         double share, const api::PlacementDefaults& defaults) {
  const Json& meta = trial.at("metadata");
  const std::string name = meta.value("name", "");
  // The placement's Mirror shadow, then the type's topology and the share's quota.
  api::PlacementSettings settings;
  settings.fidelity = api::Fidelity::Mirror;
  settings.mirroring.percentage = share * 100;
  settings.cpuFraction = defaults.cpuFraction;
  settings.memoryFraction = defaults.memoryFraction;
  Json typed = targetSpec;
  // Where the VM may run, the shadow may: its node selector but its host (a trial is not about
  // the host), and the type's.
  if (typed.contains("nodeSelector") && typed["nodeSelector"].is_object())
    typed["nodeSelector"].erase("kubernetes.io/hostname");
  auto applied = applyInstancetype(typed, it);
  if (applied.ok())
    typed = *applied;
  Json vmi = buildShadowVmi(trial, typed, "", settings, defaults);
  Json& spec = vmi["spec"];
  spec.erase("nodeSelector");
  if (typed.contains("nodeSelector") && !typed["nodeSelector"].empty())
    spec["nodeSelector"] = typed["nodeSelector"];
  if (typed.contains("affinity"))
    spec["affinity"] = typed["affinity"];
  const int vcpus = typeSize(it).ok() ? typeSize(it)->vcpus : 1;
  spec["domain"]["cpu"] = {{"sockets", vcpus}, {"cores", 1}, {"threads", 1}};
  // A dedicated type's shadow still shares cores: a fraction of a core cannot be pinned.
  const std::string cpu = kube::formatMilliCpu(std::max(0.001, share * vcpus));
  spec["domain"]["resources"]["requests"]["cpu"] = cpu;
  spec["domain"]["resources"]["limits"]["cpu"] = cpu;
  Json& m = vmi["metadata"];
  m["name"] = trialShadowName(name, it.name);
  m["labels"] = {{api::TrialLabel, trialLabelValue(name)},
                 {api::RoleLabel, "shadow"},
                 {api::TrialTypeLabel, it.name},
                 {api::FidelityLabel, "Mirror"}};
  m["ownerReferences"] = Json::array({{{"apiVersion", std::string(api::Group) + "/" + api::Version},
                                       {"kind", "InstancetypeTrial"},
                                       {"name", name},
                                       {"uid", meta.value("uid", "")},
                                       {"controller", true},
                                       {"blockOwnerDeletion", true}}});
  return vmi;
}

api::TrialMeasurement atFullLoad(const ShadowReading& r, double share, int vcpus) {
  api::TrialMeasurement m;
  m.requestsPerSecond = r.requestsPerSecond / share;
  m.p50Ms = r.p50Ms * share;
  m.p95Ms = r.p95Ms * share;
  m.cpuPerRequestMs = r.requestsPerSecond > 0 ? 1000 * r.cpuCores / r.requestsPerSecond : 0;
  m.utilisation = std::clamp(r.cpuCores / (share * std::max(1, vcpus)), 0.0, 1.0);
  m.steal = std::clamp(r.stealFraction, 0.0, 1.0);
  return m;
}

double trialConfidence(double requests) {
  return std::clamp(requests / ConfidentRequests, 0.0, 1.0);
}

bool clearlyWorse(const api::TrialMeasurement& m, double sloP95Ms) {
  return m.utilisation >= 0.99 || m.p95Ms > 2 * sloP95Ms;
}

std::vector<const api::TrialCandidate*> rankCandidates(
    const std::vector<api::TrialCandidate>& all) {
  std::vector<const api::TrialCandidate*> out;
  for (const auto& c : all)
    if (c.measured)
      out.push_back(&c);
  std::stable_sort(out.begin(), out.end(), [](const auto* a, const auto* b) {
    if (a->meetsSlo != b->meetsSlo)
      return a->meetsSlo;
    if (a->meetsSlo && a->costPerHour != b->costPerHour)
      return a->costPerHour < b->costPerHour;
    return a->measured->p95Ms < b->measured->p95Ms;
  });
  return out;
}

std::string memoryShortfall(double typeGiB, std::optional<double> inUseGiB) {
  if (!inUseGiB || typeGiB >= *inUseGiB * (1 + MemoryMargin))
    return "";
  char buf[128];
  std::snprintf(buf, sizeof(buf), "its %.3g GiB are below the VM's %.3g GiB in use + 10 %%",
                typeGiB, *inUseGiB);
  return buf;
}

std::string formatMs(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), v < 10 ? "%.1f ms" : "%.0f ms", v);
  return buf;
}

std::string formatPrice(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.3g/h", v);
  return buf;
}

std::optional<double> shadowCostPercent(const std::vector<api::TrialCandidate>& candidates,
                                        double share, std::chrono::milliseconds observation,
                                        double vmCostPerHour, Duration elapsed) {
  using Hours = std::chrono::duration<double, std::ratio<3600>>;
  const double vm = vmCostPerHour * std::chrono::duration_cast<Hours>(elapsed).count();
  if (vm <= 0)
    return std::nullopt;
  double shadows = 0;
  for (const auto& c : candidates)
    if (c.startedAt && c.measured)
      shadows += c.costPerHour * share * std::chrono::duration_cast<Hours>(observation).count() *
                 (c.state == api::candidate_state::Dropped ? 0.5 : 1 + c.extensions);
  return 100 * shadows / vm;
}

std::optional<std::pair<api::InstancetypeRef, std::string>> nextToExplore(
    const std::vector<api::TrialCandidate>& candidates,
    const std::vector<CatalogueEntry>& catalogue) {
  const auto ranked = rankCandidates(candidates);
  if (ranked.empty())
    return std::nullopt;
  const api::TrialCandidate& best = *ranked.front();
  const auto [down, up] = neighboursOf(best.ref.name, catalogue);
  const auto next = best.meetsSlo ? down : up;
  for (const auto& c : candidates)
    if (next && c.ref.name == next->name)
      return std::nullopt;
  if (!next)
    return std::nullopt;
  return std::pair{*next, next->name + ": the " + (best.meetsSlo ? "next smaller" : "next larger") +
                              " size of " + best.ref.name +
                              (best.meetsSlo ? ", which meets the SLO" : ", the fastest so far")};
}

std::pair<std::optional<api::InstancetypeRef>, std::optional<api::InstancetypeRef>> neighboursOf(
    const std::string& name, const std::vector<CatalogueEntry>& catalogue) {
  const std::string series = seriesOf(name);
  const CatalogueEntry* self = nullptr;
  for (const auto& e : catalogue)
    if (e.ref.name == name)
      self = &e;
  if (series.empty() || !self)
    return {};
  const CatalogueEntry *down = nullptr, *up = nullptr;
  for (const auto& e : catalogue) {
    if (e.ref.name == name || seriesOf(e.ref.name) != series || e.ref.kind != self->ref.kind)
      continue;
    if (smaller(e.size, self->size) && (!down || smaller(down->size, e.size)))
      down = &e;
    if (smaller(self->size, e.size) && (!up || smaller(e.size, up->size)))
      up = &e;
  }
  return {down ? std::optional(down->ref) : std::nullopt,
          up ? std::optional(up->ref) : std::nullopt};
}

}  // namespace umbra::placement
