// The ShadowPlacement reconciler against a real API server with KubeVirt's CRDs, umbra-sim's
// KubeVirt and nodes (in process), a fake telemetry source and an injected clock. Each test
// drives reconcile passes and the simulator's rounds itself (no timers), reading results from the
// API server, not the operator's cache.
#include <map>
#include <set>
#include <thread>

#include "api/shadow_placement_status.h"
#include "common/log.h"
#include "controller/shadow_placement_reconciler.h"
#include "fakes/fake_clock.h"
#include "fakes/fake_metrics_source.h"
#include "fakes/fault_injecting_client.h"
#include "harness/openapi_validator.h"
#include "integration/common.h"
#include "integration/kubevirt_examples.h"
#include "integration/kubevirt_fixture.h"
#include "kube/informer.h"
#include "runtime/error_policy.h"
#include "sim/cluster.h"
#include "simulator/kubevirt_sim.h"

namespace umbra::testing {
namespace {

using kube::Json;
using namespace std::chrono_literals;

// The operator's moving parts, minus the work queue: informers, the reconciler, its fakes.
class Operator {
 public:
  Operator(kube::KubeClient& writer, kube::KubeClient& reader, const std::string& ns,
           FakeMetricsSource& metrics, FakeClock& clock, config::OperatorConfig config = {})
      : placements_(reader, {api::shadowPlacements(), ns}, {}),
        vmis_(reader, {api::virtualMachineInstances(), ""}, {}),
        vms_(reader, {api::virtualMachines(), ns}, {}),
        nodes_(reader, {kube::resources::nodes(), ""}, {}),
        pods_(reader, {kube::resources::pods(), ""}, {}),
        migrations_(reader, {api::migrations(), ns}, {}),
        clusterInstancetypes_(reader, {api::clusterInstancetypes(), ""}, {}),
        instancetypes_(reader, {api::instancetypes(), ns}, {}),
        // Events go through the reader, so the fault-injection test counts the reconciler's own
        // calls only (Events are written on a background thread, in no fixed order).
        events_(reader, "umbra-operator", "test", clock),
        reconciler_(
            {writer,
             {placements_.store(), vmis_.store(), vms_.store(), nodes_.store(), pods_.store(),
              migrations_.store(), clusterInstancetypes_.store(), instancetypes_.store()},
             metrics,
             forecaster_,
             events_,
             clock,
             std::move(config)}) {
    for (auto* i : all())
      i->start();
    for (auto* i : all()) {
      EXPECT_TRUE(i->waitForSync(20s));
    }
  }
  controller::ShadowPlacementReconciler& reconciler() { return reconciler_; }
  bool flushEvents() { return events_.flush(); }
  const kube::Store& placements() const { return placements_.store(); }
  const kube::Store& vmis() const { return vmis_.store(); }
  const kube::Store& vms() const { return vms_.store(); }
  const kube::Store& nodes() const { return nodes_.store(); }
  const kube::Store& clusterInstancetypes() const { return clusterInstancetypes_.store(); }
  const kube::Store& instancetypes() const { return instancetypes_.store(); }

 private:
  std::vector<kube::Informer*> all() {
    return {&placements_,           &vmis_,         &vms_, &nodes_, &pods_, &migrations_,
            &clusterInstancetypes_, &instancetypes_};
  }
  kube::Informer placements_, vmis_, vms_, nodes_, pods_, migrations_, clusterInstancetypes_,
      instancetypes_;
  model::WindowMeanForecaster forecaster_;
  runtime::EventRecorder events_;
  controller::ShadowPlacementReconciler reconciler_;
};

std::string rvOf(const Json& o) {
  return o["metadata"].value("resourceVersion", "");
}

// A VMI already Running on `node`, as if started earlier (the simulator adopts it).
Status createRunningVmi(kube::KubeClient& client, const std::string& ns, const std::string& name,
                        const std::string& node, const Json& spec) {
  Json vmi = {{"apiVersion", "kubevirt.io/v1"},
              {"kind", "VirtualMachineInstance"},
              {"metadata",
               {{"name", name}, {"namespace", ns}, {"labels", {{"kubevirt.io/nodeName", node}}}}},
              {"spec", spec}};
  UMBRA_TRY(Json created, client.create(api::virtualMachineInstances(), ns, vmi));
  created["status"] = {{"phase", "Running"}, {"nodeName", node}};
  auto r = client.update(api::virtualMachineInstances(), created);
  return r.ok() ? okStatus() : Status(r.error());
}

class ReconcilerTest : public KubeVirtFixture {
 protected:
  void SetUp() override {
    KubeVirtFixture::SetUp();
    // umbra-sim's KubeVirt and nodes, driven by the test (kubevirt()): four nodes of 16 cores and
    // 64Gi for this test's placements. No boot or migration delay: one pass, one round.
    std::string yaml = "name: " + ns_.name() + "\nnodes:\n";
    for (const char* n : {"a", "b", "c", "d"}) {
      yaml += "  - {name: " + node(n) +
              ", cpu: 16, memory: 64Gi, labels: {umbra.test/group: " + ns_.name() + nodeExtras(n) +
              "}\n";
    }
    log::configure(log::Format::Text, log::Level::Warn);  // the simulator's rounds, unless amiss
    auto cluster = sim::parseCluster(yaml, "reconciler_test");
    ASSERT_TRUE(cluster.ok()) << cluster.error().message;
    simulator::SimulatorOptions options;
    options.bootDelay = options.migrationDelay = std::chrono::milliseconds(0);
    kubevirt_ = std::make_unique<simulator::KubeVirtSimulator>(*admin_, std::move(*cluster),
                                                               nullptr, options);
    const Status started = kubevirt_->start();
    ASSERT_TRUE(started.ok()) << started.error().message;
    // Contention grows from a to d.
    metrics_.setSteal(node("a"), 0.02);
    metrics_.setSteal(node("b"), 0.08);
    metrics_.setSteal(node("c"), 0.20);
    metrics_.setSteal(node("d"), 0.40);
  }
  void TearDown() override {
    op_.reset();
    kubevirt_.reset();
    KubeVirtFixture::TearDown();
  }
  // More of node n's YAML: labels after the group label (", k: v}"), then other fields.
  virtual std::string nodeExtras(const std::string&) const { return "}"; }
  void startOperator(kube::KubeClient& writer, config::OperatorConfig config = {}) {
    op_ = std::make_unique<Operator>(writer, *admin_, ns_.name(), metrics_, clock_,
                                     std::move(config));
  }
  std::string key(const std::string& name) const { return ns_.name() + "/" + name; }

  Json server(const kube::ResourceType& t, const std::string& name) {
    auto r = admin_->get(t, {ns_.name(), name});
    return r.ok() ? *r : Json();
  }
  Json placement(const std::string& name) { return server(api::shadowPlacements(), name); }
  std::string phaseOf(const std::string& name) {
    const Json sp = placement(name);
    return sp.is_null() ? "<gone>" : sp.value("status", Json::object()).value("phase", "");
  }

  // Waits until the operator's caches hold what the server holds for this namespace.
  void waitForCaches(const std::string& name) {
    const bool caught = eventually(
        [&] {
          const Json sp = placement(name);
          const auto cached = op_->placements().get(key(name));
          if (sp.is_null() != (cached == nullptr))
            return false;
          if (cached && rvOf(*cached) != rvOf(sp))
            return false;
          auto l = admin_->list(api::virtualMachineInstances(), ns_.name(), {});
          if (!l.ok())
            return false;
          size_t inNs = 0;
          for (const auto& v : op_->vmis().byNamespace(ns_.name())) {
            (void)v;
            ++inNs;
          }
          if (inNs != (*l)["items"].size())
            return false;
          for (const auto& item : (*l)["items"]) {
            const auto c = op_->vmis().get(kube::keyOf(item));
            if (!c || rvOf(*c) != rvOf(item))
              return false;
          }
          return true;
        },
        10s);
    ASSERT_TRUE(caught) << "operator caches did not catch up";
  }

  // A VMI `name` already running on `node`, and a placement of it.
  bool createRunningVmiAndPlacement(const std::string& name, const std::string& node) {
    const bool vmi = createRunningVmi(*admin_, ns_.name(), name, node,
                                      haltedVm(ns_.name(), "x")["spec"]["template"]["spec"])
                         .ok();
    const bool sp =
        admin_
            ->create(api::shadowPlacements(), ns_.name(),
                     placementFor(ns_.name(), name, "VirtualMachineInstance", name, ns_.name()))
            .ok();
    return vmi && sp;
  }

  // A placement `name` of VirtualMachine `vm` with one spec field set (path under spec, value).
  // A placement of VM `vm`, with one spec field set if `field` is given.
  bool createVmPlacement(const std::string& name, const std::string& vm,
                         const std::string& field = "", const Json& value = nullptr) {
    Json sp = placementFor(ns_.name(), name, "VirtualMachine", vm, ns_.name());
    if (!field.empty())
      sp["spec"][Json::json_pointer(field)] = value;
    return admin_->create(api::shadowPlacements(), ns_.name(), sp).ok();
  }

  // The shadows of placement `name` on the server.
  std::vector<Json> shadowsOf(const std::string& name) {
    std::vector<Json> out;
    for (const auto& s : shadows()) {
      if (s["metadata"]["labels"].value("umbra.io/placement", "") == name)
        out.push_back(s);
    }
    return out;
  }

  // Cordons a node and waits until the operator's cache shows it.
  void cordon(const std::string& name) {
    ASSERT_TRUE(admin_
                    ->patch(kube::resources::nodes(), {"", name}, kube::PatchType::Merge,
                            {{"spec", {{"unschedulable", true}}}})
                    .ok());
    ASSERT_TRUE(eventually([&] {
      const auto cached = op_->nodes().get(name);
      return cached && (*cached)["spec"].value("unschedulable", false);
    }));
  }

  // A halted VM `name` and a placement of it restricted to this test's nodes.
  // Creates a VM and waits until the operator's cache has it: passes run back to back, faster
  // than a watch event may arrive, and a pass that misses the target reports TargetNotFound.
  bool createVm(const Json& vm) {
    const std::string name = vm["metadata"]["name"];
    if (!admin_->create(api::virtualMachines(), ns_.name(), vm).ok())
      return false;
    const bool cached = eventually([&] { return op_ && op_->vms().get(key(name)) != nullptr; });
    EXPECT_TRUE(cached) << "the VM never reached the operator's cache";
    return cached;
  }

  bool createVmAndPlacement(const std::string& name) {
    auto vm = admin_->create(api::virtualMachines(), ns_.name(), haltedVm(ns_.name(), name));
    auto sp = admin_->create(api::shadowPlacements(), ns_.name(),
                             placementFor(ns_.name(), name, "VirtualMachine", name, ns_.name()));
    EXPECT_TRUE(vm.ok() && sp.ok());
    // The target exists for these tests: wait until the operator's cache has it too (passes
    // run back to back, faster than a watch event may arrive).
    const bool cached = eventually([&] { return op_ && op_->vms().get(key(name)) != nullptr; });
    EXPECT_TRUE(cached) << "the VM never reached the operator's cache";
    return vm.ok() && sp.ok() && cached;
  }

  // KubeVirt's turn: simulator rounds until every VMI of the namespace has booted (shadows, and
  // the VMs the operator started) or been found unschedulable, and every migration has ended.
  void kubevirt() {
    const auto settled = [&] {
      auto vmis = admin_->list(api::virtualMachineInstances(), ns_.name(), {});
      auto migrations = admin_->list(api::migrations(), ns_.name(), {});
      if (!vmis.ok() || !migrations.ok())
        return false;
      for (const auto& v : (*vmis)["items"]) {
        const Json status = v.value("status", Json::object());
        const std::string phase = status.value("phase", "");
        const Json conditions = status.value("conditions", Json::array());
        const bool unschedulable = phase == "Pending" && !conditions.empty() &&
                                   conditions[0].value("reason", "") == "Unschedulable";
        if (!v["metadata"].contains("deletionTimestamp") && phase != "Running" &&
            phase != "Succeeded" && phase != "Failed" && !unschedulable)
          return false;
      }
      for (const auto& m : (*migrations)["items"]) {
        const std::string phase = m.value("status", Json::object()).value("phase", "");
        if (phase != "Succeeded" && phase != "Failed")
          return false;
      }
      return true;
    };
    EXPECT_TRUE(eventually([&] {
      kubevirt_->tick();
      return settled();
    })) << "the simulator did not run this namespace's VMIs";
  }

  // Where the simulator runs VMI `name` once it has caught up ("" if nowhere).
  std::string runningOn(const std::string& name) {
    std::string where;
    eventually([&] {
      kubevirt_->tick();
      const Json vmi = server(api::virtualMachineInstances(), name);
      const Json status = vmi.is_null() ? Json::object() : vmi.value("status", Json::object());
      where = status.value("phase", "") == "Running" ? status.value("nodeName", "") : "";
      return !where.empty();
    });
    return where;
  }

  // One reconcile pass after the caches caught up; KubeVirt then runs what was created.
  Result<runtime::Action> pass(const std::string& name) {
    waitForCaches(name);
    auto r = op_->reconciler().reconcile(key(name));
    kubevirt();
    return r;
  }

  // As the controller does after an error: pass again until a pass succeeds with nothing left.
  void settle(const std::string& name) {
    for (int i = 0; i < 10; ++i) {
      auto r = pass(name);
      if (r.ok() && !r->requeues())
        return;
    }
    ADD_FAILURE() << name << " did not settle";
  }

  // Passes until the phase is one of `phases`; time jumps past each requested requeue.
  std::string runUntil(const std::string& name, const std::set<std::string>& phases,
                       int maxPasses = 30) {
    for (int i = 0; i < maxPasses; ++i) {
      std::string ph = phaseOf(name);
      if (phases.count(ph))
        return ph;
      auto r = pass(name);
      if (!r.ok()) {
        std::fprintf(stderr, "[pass] %s: %s\n", name.c_str(), r.error().describe().c_str());
      }
      if (r.ok() && r->requeues()) {
        clock_.advance(*r->requeueAfter + 1s);
      }
    }
    std::fprintf(stderr, "[runUntil] %s stopped in %s: %s\n", name.c_str(), phaseOf(name).c_str(),
                 placement(name).value("status", Json::object()).dump().c_str());
    return phaseOf(name);
  }

  FakeMetricsSource metrics_;
  FakeClock clock_;
  std::unique_ptr<simulator::KubeVirtSimulator> kubevirt_;
  std::unique_ptr<Operator> op_;
};

TEST_F(ReconcilerTest, HaltedVmIsStartedOnTheLeastContendedNode) {
  startOperator(*admin_);
  ASSERT_TRUE(createVmAndPlacement("web"));
  ASSERT_EQ(runUntil("web", {"Observing"}), "Observing");

  // Three shadows, one per top candidate, each a valid KubeVirt VMI pinned to its node.
  auto schema = KubeVirtSchema::load(ControlPlane::thirdPartyDir() + "/kubevirt/swagger.json");
  ASSERT_TRUE(schema.ok());
  const auto live = shadows();
  ASSERT_EQ(live.size(), 3u);
  std::set<std::string> nodes;
  for (Json s : live) {
    nodes.insert(s["spec"]["nodeSelector"]["kubernetes.io/hostname"]);
    EXPECT_EQ(s["metadata"]["ownerReferences"][0]["kind"], "ShadowPlacement");
    s.erase("status");
    s["metadata"] = Json::object();
    EXPECT_EQ(schema->validate(s), std::vector<std::string>{});
  }
  EXPECT_EQ(nodes.size(), 3u);

  ASSERT_EQ(runUntil("web", {"Placed", "Failed"}), "Placed");
  const Json sp = placement("web");
  const Json& st = sp["status"];
  const std::string best = node("a");
  EXPECT_EQ(st["selectedNode"], best);
  EXPECT_EQ(st["candidates"].size(), 3u);
  EXPECT_EQ(st["candidates"][0]["node"], best);
  EXPECT_GT(st["candidates"][0]["score"].get<double>(), st["candidates"][1]["score"].get<double>());
  EXPECT_EQ(st["model"], "baseline/window-mean");
  EXPECT_EQ(st["extensions"], 0) << "steady nodes: the default window is enough";
  EXPECT_GE(st["confidence"].get<double>(), 0.7);
  EXPECT_EQ(api::statusFromJson(st)->conditionStatus("Placed"), "True");
  EXPECT_EQ(api::statusFromJson(st)->conditionStatus("Decided"), "True");
  EXPECT_EQ(api::statusFromJson(st)->conditionStatus("ShadowsReady"), "True");
  EXPECT_EQ(api::statusFromJson(st)->conditionStatus("MetricsAvailable"), "True");
  const Json vm = server(api::virtualMachines(), "web");
  EXPECT_EQ(vm["spec"]["runStrategy"], "Always");
  EXPECT_EQ(runningOn("web"), best) << "KubeVirt started the VM where the operator put it";
  // pinPolicy UntilRunning (the default): the pin is gone once the VM runs there.
  EXPECT_FALSE(vm["spec"]["template"]["spec"]
                   .value("nodeSelector", Json::object())
                   .contains("kubernetes.io/hostname"))
      << vm["spec"]["template"].dump();
  EXPECT_FALSE(
      vm["metadata"].value("annotations", Json::object()).contains("umbra.io/pinned-node"));
  EXPECT_TRUE(eventually([&] { return shadows().empty(); })) << "no shadow may remain";
  ASSERT_TRUE(op_->flushEvents());
  auto events = admin_->list(kube::resources::events(), ns_.name(), {});
  std::set<std::string> reasons;
  for (const auto& e : (*events)["items"])
    reasons.insert(e["reason"]);
  for (const char* r : {"CandidatesSelected", "Observing", "Placed"}) {
    EXPECT_TRUE(reasons.count(r)) << r;
  }
}

TEST_F(ReconcilerTest, RunningVmIsMovedWithAMigration) {
  startOperator(*admin_);
  Json vm = haltedVm(ns_.name(), "web");
  vm["spec"]["runStrategy"] = "Always";
  ASSERT_TRUE(createVm(vm));
  ASSERT_TRUE(
      createRunningVmi(*admin_, ns_.name(), "web", node("d"), vm["spec"]["template"]["spec"]).ok());
  ASSERT_TRUE(admin_
                  ->create(api::shadowPlacements(), ns_.name(),
                           placementFor(ns_.name(), "web", "VirtualMachine", "web", ns_.name()))
                  .ok());
  ASSERT_EQ(runUntil("web", {"Placed", "Failed"}), "Placed");
  const std::string best = placement("web")["status"]["selectedNode"];
  EXPECT_EQ(best, node("a"));
  const std::string migration = placement("web")["status"]["moves"][0].value("migration", "");
  ASSERT_FALSE(migration.empty()) << "the move was a migration";
  auto mig = admin_->get(api::migrations(), {ns_.name(), migration});
  ASSERT_TRUE(mig.ok()) << mig.error().message;
  EXPECT_EQ((*mig)["metadata"]["ownerReferences"][0]["kind"], "ShadowPlacement")
      << "owned by the placement";
  EXPECT_EQ((*mig)["spec"]["vmiName"], "web");
  EXPECT_EQ((*mig)["spec"]["addedNodeSelector"]["kubernetes.io/hostname"], best);
  EXPECT_TRUE(eventually([&] {
    kubevirt_->tick();
    const Json m = server(api::migrations(), migration);
    return m.value("status", Json::object()).value("phase", "") == "Succeeded";
  })) << "KubeVirt carried the migration out";
  EXPECT_EQ(runningOn("web"), best);
  EXPECT_TRUE(eventually([&] { return shadows().empty(); }));
}

TEST_F(ReconcilerTest, VmiTargetIsMovedWithAMigration) {
  startOperator(*admin_);
  ASSERT_TRUE(createRunningVmiAndPlacement("db", node("c")));
  ASSERT_EQ(runUntil("db", {"Placed", "Failed"}), "Placed");
  auto mig =
      admin_->get(api::migrations(),
                  {ns_.name(), placement("db")["status"]["moves"][0].value("migration", "")});
  ASSERT_TRUE(mig.ok());
  EXPECT_EQ((*mig)["spec"]["addedNodeSelector"]["kubernetes.io/hostname"], node("a"));
  EXPECT_EQ(runningOn("db"), node("a")) << "the VMI moved";
}

TEST_F(ReconcilerTest, RecommendModeChangesNothing) {
  startOperator(*admin_);
  ASSERT_TRUE(createVm(haltedVm(ns_.name(), "web")));
  ASSERT_TRUE(createVmPlacement("web", "web", "/mode", "Recommend"));
  ASSERT_EQ(runUntil("web", {"Recommended", "Failed"}), "Recommended");
  EXPECT_EQ(placement("web")["status"]["selectedNode"], node("a"));
  const Json vm = server(api::virtualMachines(), "web");
  EXPECT_EQ(vm["spec"]["runStrategy"], "Halted");
  EXPECT_FALSE(vm["spec"]["template"]["spec"].contains("nodeSelector"));
  EXPECT_TRUE(eventually([&] { return shadows().empty(); }));
}

TEST_F(ReconcilerTest, FewerFeasibleNodesThanRequestedUsesThem) {
  startOperator(*admin_);
  for (const char* n : {"c", "d"})  // cordon two of the four
    cordon(node(n));
  ASSERT_TRUE(createVmAndPlacement("web"));
  ASSERT_EQ(runUntil("web", {"Observing"}), "Observing");
  EXPECT_EQ(shadows().size(), 2u);
  EXPECT_EQ(placement("web")["status"]["shadowCount"], 2);
  ASSERT_TRUE(op_->flushEvents());
  auto events = admin_->list(kube::resources::events(), ns_.name(), {});
  ASSERT_TRUE(events.ok());
  bool said = false;
  for (const auto& e : (*events)["items"]) {
    said |= e.value("note", "").find("probing 2 of 3 requested candidates") != std::string::npos;
  }
  EXPECT_TRUE(said) << "the CandidatesSelected event says how many were feasible";
  ASSERT_EQ(runUntil("web", {"Placed", "Failed"}), "Placed");
}

TEST_F(ReconcilerTest, NoFeasibleNodeStaysPendingUnschedulable) {
  startOperator(*admin_);
  Json vm = haltedVm(ns_.name(), "huge");
  vm["spec"]["template"]["spec"]["domain"]["resources"]["requests"]["cpu"] = "64";
  ASSERT_TRUE(createVm(vm));
  ASSERT_TRUE(admin_
                  ->create(api::shadowPlacements(), ns_.name(),
                           placementFor(ns_.name(), "huge", "VirtualMachine", "huge", ns_.name()))
                  .ok());
  auto r = pass("huge");  // finalizer
  r = pass("huge");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->requeues()) << "retried later";
  const Json st = placement("huge")["status"];
  EXPECT_EQ(st["phase"], "Pending");
  EXPECT_EQ(st["reason"], "Unschedulable");
  EXPECT_NE(st["message"].get<std::string>().find("insufficient cpu"), std::string::npos);
  EXPECT_TRUE(shadows().empty());
}

TEST_F(ReconcilerTest, MissingTargetFails) {
  startOperator(*admin_);
  ASSERT_TRUE(admin_
                  ->create(api::shadowPlacements(), ns_.name(),
                           placementFor(ns_.name(), "ghost", "VirtualMachine", "ghost", ns_.name()))
                  .ok());
  ASSERT_TRUE(pass("ghost").ok());  // finalizer
  ASSERT_TRUE(pass("ghost").ok());
  EXPECT_EQ(phaseOf("ghost"), "Pending") << "the target may still be on its way";
  EXPECT_EQ(placement("ghost")["status"]["reason"], "TargetNotFound");
  ASSERT_EQ(runUntil("ghost", {"Failed"}, 40), "Failed");
  const Json st = placement("ghost")["status"];
  EXPECT_EQ(st["reason"], "TargetNotFound");
  EXPECT_NE(st["message"].get<std::string>().find("VirtualMachine " + ns_.name() +
                                                  "/ghost does not exist"),
            std::string::npos);
}

TEST_F(ReconcilerTest, TargetCreatedAfterThePlacementIsPlaced) {
  startOperator(*admin_);
  ASSERT_TRUE(admin_
                  ->create(api::shadowPlacements(), ns_.name(),
                           placementFor(ns_.name(), "web", "VirtualMachine", "web", ns_.name()))
                  .ok());
  ASSERT_TRUE(pass("web").ok());
  ASSERT_TRUE(pass("web").ok());
  ASSERT_EQ(phaseOf("web"), "Pending");
  ASSERT_TRUE(admin_->create(api::virtualMachines(), ns_.name(), haltedVm(ns_.name(), "web")).ok());
  ASSERT_TRUE(eventually([&] { return op_->vms().get(key("web")) != nullptr; }));
  EXPECT_EQ(runUntil("web", {"Placed", "Failed"}), "Placed");
}

TEST_F(ReconcilerTest, DeletedMidObservationLeavesNoShadow) {
  startOperator(*admin_);
  ASSERT_TRUE(createVmAndPlacement("web"));
  ASSERT_EQ(runUntil("web", {"Observing"}), "Observing");
  ASSERT_EQ(shadows().size(), 3u);
  ASSERT_TRUE(admin_->remove(api::shadowPlacements(), {ns_.name(), "web"}).ok());
  EXPECT_EQ(runUntil("web", {"<gone>"}, 10), "<gone>") << "the finalizer must be released";
  EXPECT_TRUE(shadows().empty());
  EXPECT_EQ(server(api::virtualMachines(), "web")["spec"]["runStrategy"], "Halted");
}

TEST_F(ReconcilerTest, LowConfidenceExtendsObservationThenDecidesAndSaysSo) {
  startOperator(*admin_);
  // Two close candidates with very noisy steal: which is better stays uncertain.
  metrics_.setSteal(node("a"), 0.10);
  metrics_.setSteal(node("b"), 0.13);
  metrics_.setJitter(0.10);
  ASSERT_TRUE(createVm(haltedVm(ns_.name(), "web")));
  ASSERT_TRUE(createVmPlacement("web", "web", "/observation/minConfidence", 0.9));
  ASSERT_EQ(runUntil("web", {"Placed", "Failed"}), "Placed");
  const Json st = placement("web")["status"];
  EXPECT_EQ(st["extensions"], 2) << "maxExtensions";
  for (const auto& c : st["conditions"]) {
    if (c["type"] == "Decided") {
      EXPECT_EQ(c["reason"], "LowConfidence");
    }
  }
}

TEST_F(ReconcilerTest, TelemetryOutageIsReportedNotGuessed) {
  startOperator(*admin_);
  metrics_.setUnavailable(true);
  ASSERT_TRUE(createVmAndPlacement("web"));
  runUntil("web", {"Placed"}, 12);
  Json st = placement("web")["status"];
  EXPECT_EQ(st["phase"], "Observing");
  EXPECT_EQ(st["reason"], "TelemetryUnavailable") << "kubectl get sp shows the wait";
  EXPECT_EQ(api::statusFromJson(st)->conditionStatus("MetricsAvailable"), "False");
  EXPECT_FALSE(st.contains("selectedNode"));
  metrics_.setUnavailable(false);
  ASSERT_EQ(runUntil("web", {"Placed"}), "Placed");
  EXPECT_EQ(api::statusFromJson(placement("web")["status"])->conditionStatus("MetricsAvailable"),
            "True");
}

TEST_F(ReconcilerTest, AWindowWithATelemetryGapIsObservedAgainNeverDecided) {
  startOperator(*admin_);
  ASSERT_TRUE(createVmAndPlacement("web"));
  ASSERT_EQ(runUntil("web", {"Observing"}), "Observing");
  const std::string firstStart = placement("web")["status"]["observationStartedAt"];
  // Prometheus was down for part of the window: the data has a hole.
  metrics_.setGap("cpu_steal has no data for 300s of the window (up to 60s before its end)");
  for (int i = 0; i < 4; ++i) {
    auto r = pass("web");
    ASSERT_TRUE(r.ok()) << r.error().message;
    const Json st = placement("web")["status"];
    ASSERT_EQ(st["phase"], "Observing") << st.dump();
    EXPECT_FALSE(st.contains("selectedNode")) << "never a decision on a gappy window";
    if (r->requeues())
      clock_.advance(*r->requeueAfter + 1s);
  }
  Json st = placement("web")["status"];
  EXPECT_EQ(st["reason"], "TelemetryGap");
  EXPECT_NE(st["observationStartedAt"], firstStart) << "the window starts again";
  EXPECT_EQ(api::statusFromJson(st)->conditionStatus("MetricsAvailable"), "False");
  metrics_.setGap("");
  ASSERT_EQ(runUntil("web", {"Placed", "Failed"}), "Placed");
  st = placement("web")["status"];
  EXPECT_EQ(st["shadowCount"], 0) << "SHADOWS counts live shadows";
  const double c = st["confidence"].get<double>() * 100;
  EXPECT_NEAR(c, std::round(c), 1e-9) << "two decimals: " << st["confidence"];
}

TEST_F(ReconcilerTest, RestartMidObservationResumesWithoutDuplicates) {
  startOperator(*admin_);
  ASSERT_TRUE(createVmAndPlacement("web"));
  ASSERT_EQ(runUntil("web", {"Observing"}), "Observing");
  std::set<std::string> before;
  for (const auto& s : shadows())
    before.insert(s["metadata"]["uid"]);
  op_.reset();  // the operator goes away with everything in memory
  startOperator(*admin_);
  ASSERT_EQ(runUntil("web", {"Placed", "Failed"}), "Placed");
  EXPECT_EQ(before.size(), 3u);
  EXPECT_TRUE(eventually([&] { return shadows().empty(); }));
}

std::set<std::string> shadowNodes(const std::vector<Json>& live) {
  std::set<std::string> nodes;
  for (const auto& v : live)
    nodes.insert(v["spec"]["nodeSelector"].value("kubernetes.io/hostname", ""));
  return nodes;
}

std::set<std::string> statusNodes(const Json& sp) {
  std::set<std::string> nodes;
  for (const auto& s : sp.value("status", Json::object()).value("shadows", Json::array()))
    nodes.insert(s.value("node", ""));
  return nodes;
}

TEST_F(ReconcilerTest, FirstPassCreatesOnlyTheShadowsAndTheNextRecordsThem) {
  startOperator(*admin_);
  ASSERT_TRUE(createVmAndPlacement("web"));
  waitForCaches("web");
  auto first = op_->reconciler().reconcile(key("web"));
  ASSERT_TRUE(first.ok()) << first.error().describe();
  EXPECT_TRUE(first->requeues()) << "the rest of the work is queued at once";
  EXPECT_LT(*first->requeueAfter, 1s);
  const auto created = shadowNodes(shadows());
  EXPECT_EQ(created.size(), 3u);
  Json sp = placement("web");
  EXPECT_FALSE(sp["metadata"].contains("finalizers")) << "no write but the shadows";
  EXPECT_EQ(phaseOf("web"), "");

  ASSERT_TRUE(pass("web").ok());
  sp = placement("web");
  EXPECT_EQ(sp["metadata"].value("finalizers", Json::array()), Json::array({"umbra.io/cleanup"}));
  EXPECT_EQ(phaseOf("web"), "Probing");
  EXPECT_EQ(statusNodes(sp), created) << "the shadows of the first pass are the ones recorded";
  EXPECT_EQ(shadows().size(), 3u);
  ASSERT_TRUE(op_->flushEvents());
  auto events = admin_->list(kube::resources::events(), ns_.name(), {});
  ASSERT_TRUE(events.ok());
  int selected = 0;
  for (const auto& e : (*events)["items"])
    selected += e.value("reason", "") == "CandidatesSelected";
  EXPECT_EQ(selected, 1);
}

TEST_F(ReconcilerTest, ShadowsOfAFirstPassLostInARestartAreAdoptedNotChosenAgain) {
  startOperator(*admin_);
  ASSERT_TRUE(createVmAndPlacement("web"));
  waitForCaches("web");
  ASSERT_TRUE(op_->reconciler().reconcile(key("web")).ok());
  const auto created = shadowNodes(shadows());
  ASSERT_EQ(created.size(), 3u);
  // A choice made now would differ: one of the chosen nodes is cordoned.
  const std::string cordoned = *created.begin();
  ASSERT_TRUE(admin_
                  ->patch(kube::resources::nodes(), {"", cordoned}, kube::PatchType::Merge,
                          {{"spec", {{"unschedulable", true}}}})
                  .ok());
  op_.reset();  // the operator goes away before it recorded its choice
  startOperator(*admin_);
  EXPECT_TRUE(eventually([&] {
    const auto n = op_->nodes().get(cordoned);
    return n && (*n)["spec"].value("unschedulable", false);
  }));
  ASSERT_TRUE(pass("web").ok());
  EXPECT_EQ(statusNodes(placement("web")), created);
  EXPECT_EQ(shadowNodes(shadows()), created) << "no shadow of a second choice";
  // KubeVirt cannot start the shadow on the cordoned node: its candidate is dropped once the
  // shadows' start timeout (3 min, rechecked every 2 s of the test's clock) has passed.
  ASSERT_EQ(runUntil("web", {"Placed", "Failed"}, 90), "Placed");
  const Json st = placement("web")["status"];
  for (const auto& s : st["shadows"]) {
    EXPECT_EQ(s["phase"], s["node"] == cordoned ? "Dropped" : "Running") << s.dump();
  }
  EXPECT_NE(st["selectedNode"], cordoned);
  EXPECT_TRUE(eventually([&] { return shadows().empty(); }));
}

// The reconciler over caches the test fills by hand, so that they can be held stale.
TEST_F(ReconcilerTest, APassOnACacheOlderThanItsOwnWriteWaitsForTheWatch) {
  ASSERT_TRUE(admin_->create(api::virtualMachines(), ns_.name(), haltedVm(ns_.name(), "web")).ok());
  ASSERT_TRUE(admin_
                  ->create(api::shadowPlacements(), ns_.name(),
                           placementFor(ns_.name(), "web", "VirtualMachine", "web", ns_.name()))
                  .ok());
  kube::Store placements, vmis, vms, nodes, pods, migrations, clusterTypes, types;
  const auto load = [&](kube::Store& store, const kube::ResourceType& type, const std::string& ns) {
    auto l = admin_->list(type, ns, {});
    ASSERT_TRUE(l.ok());
    for (auto item : (*l)["items"]) {
      item["apiVersion"] = type.apiVersion();
      item["kind"] = type.kind;
      store.upsert(item);
    }
  };
  load(placements, api::shadowPlacements(), ns_.name());
  load(vms, api::virtualMachines(), ns_.name());
  load(nodes, kube::resources::nodes(), "");
  model::WindowMeanForecaster forecaster;
  runtime::EventRecorder events(*admin_, "umbra-operator", "test", clock_);
  FaultInjectingClient counting(*admin_, -1);  // counts the calls, fails none
  controller::ShadowPlacementReconciler reconciler(
      {counting,
       {placements, vmis, vms, nodes, pods, migrations, clusterTypes, types},
       metrics_,
       forecaster,
       events,
       clock_,
       config::OperatorConfig{}});

  ASSERT_TRUE(reconciler.reconcile(key("web")).ok());  // the shadows
  ASSERT_EQ(shadows().size(), 3u);
  load(vmis, api::virtualMachineInstances(), ns_.name());
  ASSERT_TRUE(reconciler.reconcile(key("web")).ok());  // finalizer, status
  ASSERT_EQ(phaseOf("web"), "Probing");
  ASSERT_NE(rvOf(*placements.get(key("web"))), rvOf(placement("web"))) << "the cache is stale";

  const int before = counting.calls();
  auto stale = reconciler.reconcile(key("web"));
  ASSERT_TRUE(stale.ok());
  EXPECT_FALSE(stale->requeues()) << "the watch event of our own write re-queues the key";
  EXPECT_EQ(counting.calls(), before) << "nothing done on a cache that predates our own write";

  load(placements, api::shadowPlacements(), ns_.name());  // the watch caught up
  auto current = reconciler.reconcile(key("web"));
  ASSERT_TRUE(current.ok()) << current.error().describe();
  EXPECT_TRUE(current->requeues()) << "probing goes on: waiting for the shadows to run";
  EXPECT_EQ(phaseOf("web"), "Probing");
  EXPECT_EQ(shadows().size(), 3u);
  ASSERT_TRUE(events.flush());
}

// The real API server, except that one verb on one resource is refused with `kind` (a gap in
// RBAC, an object the server finds invalid).
class RefusingClient final : public kube::KubeClient {
 public:
  RefusingClient(kube::KubeClient& inner, std::string resource, std::string verb, ErrorKind kind)
      : inner_(inner), resource_(std::move(resource)), verb_(std::move(verb)), kind_(kind) {}
  Result<Json> get(const kube::ResourceType& t, const kube::ObjectRef& r) override {
    return inner_.get(t, r);
  }
  Result<Json> list(const kube::ResourceType& t, const std::string& ns,
                    const kube::ListOptions& o) override {
    return inner_.list(t, ns, o);
  }
  Result<Json> create(const kube::ResourceType& t, const std::string& ns, const Json& obj,
                      const kube::WriteOptions& o = {}) override {
    if (refused(t, "POST"))
      return refusal(obj["metadata"].value("name", ""));
    return inner_.create(t, ns, obj, o);
  }
  Result<Json> update(const kube::ResourceType& t, const Json& obj,
                      const kube::WriteOptions& o = {}, const std::string& sub = "") override {
    return inner_.update(t, obj, o, sub);
  }
  Result<Json> patch(const kube::ResourceType& t, const kube::ObjectRef& r, kube::PatchType pt,
                     const Json& body, const kube::WriteOptions& o = {},
                     const std::string& sub = "") override {
    if (refused(t, "PATCH"))
      return refusal(r.name);
    return inner_.patch(t, r, pt, body, o, sub);
  }
  Result<Json> remove(const kube::ResourceType& t, const kube::ObjectRef& r,
                      const kube::DeleteOptions& o = {}) override {
    return inner_.remove(t, r, o);
  }
  Result<Json> send(const kube::HttpRequest& req) override { return inner_.send(req); }
  Status watch(const kube::ResourceType& t, const std::string& ns, const kube::WatchOptions& o,
               const kube::WatchHandler& h, const CancellationPtr& c) override {
    return inner_.watch(t, ns, o, h, c);
  }

 private:
  bool refused(const kube::ResourceType& t, const char* verb) const {
    return t.resource == resource_ && verb_ == verb;
  }
  Result<Json> refusal(const std::string& name) const {
    Error e = Error::make(kind_, resource_ + " \"" + name + "\" is refused (" + verb_ + ")");
    e.httpCode = kind_ == ErrorKind::Forbidden ? 403 : 422;
    return e;
  }
  kube::KubeClient& inner_;
  std::string resource_, verb_;
  ErrorKind kind_;
};

TEST_F(ReconcilerTest, AnInvalidShadowFailsThePlacementAndReleasesItsSlot) {
  RefusingClient writer(*admin_, "virtualmachineinstances", "POST", ErrorKind::Invalid);
  startOperator(writer);
  ASSERT_TRUE(createVmAndPlacement("web"));
  ASSERT_EQ(runUntil("web", {"Failed", "Observing"}), "Failed");
  const Json st = placement("web")["status"];
  EXPECT_EQ(st["reason"], "Invalid");
  EXPECT_NE(st.value("message", "").find("while creating shadow VMI"), std::string::npos)
      << st.dump();
  // The slot is free: a placement of another VM by a working client is not queued behind it.
  startOperator(*admin_);
  ASSERT_TRUE(createVm(haltedVm(ns_.name(), "db")));
  ASSERT_TRUE(admin_
                  ->create(api::shadowPlacements(), ns_.name(),
                           placementFor(ns_.name(), "db", "VirtualMachine", "db", ns_.name()))
                  .ok());
  ASSERT_EQ(runUntil("db", {"Observing", "Failed"}), "Observing");
  ASSERT_TRUE(admin_->remove(api::shadowPlacements(), {ns_.name(), "web"}).ok());
  ASSERT_EQ(runUntil("web", {"<gone>"}, 10), "<gone>") << "deletion is never blocked";
}

TEST_F(ReconcilerTest, AForbiddenMoveIsReportedOnThePlacementAndNotHammered) {
  RefusingClient writer(*admin_, "virtualmachines", "PATCH", ErrorKind::Forbidden);
  startOperator(writer);
  ASSERT_TRUE(createVmAndPlacement("web"));
  ASSERT_EQ(runUntil("web", {"Placing", "Placed", "Failed"}), "Placing");
  const Json st = placement("web")["status"];
  EXPECT_FALSE(st.value("selectedNode", "").empty()) << "the decision is kept for the retry";
  auto typed = api::statusFromJson(st);
  ASSERT_TRUE(typed.ok());
  EXPECT_EQ(typed->conditionStatus("Placed"), "False");
  for (const auto& c : typed->conditions) {
    if (c.type == "Placed") {
      EXPECT_EQ(c.reason, "Forbidden");
      EXPECT_NE(c.message.find("while patching VirtualMachine " + ns_.name() + "/web: "),
                std::string::npos)
          << c.message;
    }
  }
  auto again = pass("web");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(runtime::errorPolicy(again.error()).how, runtime::Retry::How::Never)
      << "the same request gets the same answer: no backoff loop";
  EXPECT_EQ(phaseOf("web"), "Placing");
  ASSERT_TRUE(op_->flushEvents());
  auto events = admin_->list(kube::resources::events(), ns_.name(), {});
  ASSERT_TRUE(events.ok());
  bool warned = false;
  for (const auto& e : (*events)["items"])
    warned |= e.value("reason", "") == "Forbidden" && e.value("type", "") == "Warning";
  EXPECT_TRUE(warned) << "a Warning Event names the refusal";
  EXPECT_FALSE(
      server(api::virtualMachines(), "web")["spec"]["template"]["spec"].contains("nodeSelector"));
}

// ---- issue 24: Placed means moved -------------------------------------------------------------

TEST_F(ReconcilerTest, NodesCordonedWhileTheShadowsRanAreNotChosen) {
  startOperator(*admin_);
  ASSERT_TRUE(createVmAndPlacement("web"));
  ASSERT_EQ(runUntil("web", {"Observing"}), "Observing");
  // The two best candidates are cordoned between the observation and the decision.
  for (const char* n : {"a", "b"})
    cordon(node(n));
  ASSERT_EQ(runUntil("web", {"Placed", "Failed"}), "Placed") << placement("web")["status"].dump();
  const std::string chosen = placement("web")["status"]["selectedNode"];
  EXPECT_NE(chosen, node("a"));
  EXPECT_NE(chosen, node("b"));
  EXPECT_EQ(runningOn("web"), chosen) << "Placed: the VM runs where the status says";
}

TEST_F(ReconcilerTest, AFailedMigrationMovesTheVmToTheNextCandidate) {
  startOperator(*admin_);
  ASSERT_TRUE(createRunningVmiAndPlacement("db", node("d")));
  ASSERT_EQ(runUntil("db", {"Observing"}), "Observing");
  // Decide without letting KubeVirt act, so that the chosen node can be cordoned between the
  // migration's creation and KubeVirt's scheduling of it.
  for (int i = 0; i < 10 && phaseOf("db") == "Observing"; ++i) {
    waitForCaches("db");
    auto r = op_->reconciler().reconcile(key("db"));
    ASSERT_TRUE(r.ok()) << r.error().message;
    if (r->requeues())
      clock_.advance(*r->requeueAfter + 1s);
  }
  ASSERT_EQ(phaseOf("db"), "Placing");
  const Json first = placement("db")["status"]["moves"][0];
  ASSERT_FALSE(first.value("migration", "").empty());
  ASSERT_TRUE(admin_
                  ->patch(kube::resources::nodes(), {"", first["node"]}, kube::PatchType::Merge,
                          {{"spec", {{"unschedulable", true}}}})
                  .ok());
  ASSERT_EQ(runUntil("db", {"Placed", "Failed"}), "Placed") << placement("db")["status"].dump();
  const Json st = placement("db")["status"];
  ASSERT_EQ(st["moves"].size(), 2u);
  EXPECT_EQ(st["moves"][0]["phase"], "Failed");
  EXPECT_NE(st["moves"][0].value("reason", "").find("failed"), std::string::npos);
  EXPECT_NE(st["selectedNode"], first["node"]);
  EXPECT_NE(st["moves"][1]["migration"], first["migration"]) << "a migration per attempt";
  EXPECT_EQ(runningOn("db"), st["selectedNode"].get<std::string>());
}

TEST_F(ReconcilerTest, APlacementReCreatedUnderTheSameNameMovesTheVmAgain) {
  startOperator(*admin_);
  ASSERT_TRUE(createRunningVmi(*admin_, ns_.name(), "db", node("d"),
                               haltedVm(ns_.name(), "x")["spec"]["template"]["spec"])
                  .ok());
  const Json sp = placementFor(ns_.name(), "db", "VirtualMachineInstance", "db", ns_.name());
  ASSERT_TRUE(admin_->create(api::shadowPlacements(), ns_.name(), sp).ok());
  ASSERT_EQ(runUntil("db", {"Placed", "Failed"}), "Placed");
  const std::string best = placement("db")["status"]["selectedNode"];
  ASSERT_EQ(runningOn("db"), best);
  ASSERT_TRUE(admin_->remove(api::shadowPlacements(), {ns_.name(), "db"}).ok());
  ASSERT_EQ(runUntil("db", {"<gone>"}, 10), "<gone>");
  // Someone moves the VMI back to d; the same placement is created again.
  const Json back = {
      {"apiVersion", "kubevirt.io/v1"},
      {"kind", "VirtualMachineInstanceMigration"},
      {"metadata", {{"name", "back"}, {"namespace", ns_.name()}}},
      {"spec",
       {{"vmiName", "db"}, {"addedNodeSelector", {{"kubernetes.io/hostname", node("d")}}}}}};
  ASSERT_TRUE(admin_->create(api::migrations(), ns_.name(), back).ok());
  kubevirt();
  ASSERT_EQ(runningOn("db"), node("d"));
  ASSERT_TRUE(admin_->create(api::shadowPlacements(), ns_.name(), sp).ok());
  ASSERT_EQ(runUntil("db", {"Placed", "Failed"}), "Placed");
  EXPECT_EQ(placement("db")["status"]["selectedNode"], best);
  EXPECT_EQ(runningOn("db"), best) << "Placed only once the VMI runs there again";
}

TEST_F(ReconcilerTest, UmbrasOwnPinNeverLimitsTheNextPlacement) {
  startOperator(*admin_);
  ASSERT_TRUE(createVm(haltedVm(ns_.name(), "web")));
  ASSERT_TRUE(createVmPlacement("web", "web", "/pinPolicy", "Required"));
  ASSERT_EQ(runUntil("web", {"Placed", "Failed"}), "Placed");
  const Json vm = server(api::virtualMachines(), "web");
  const std::string pinned =
      vm["spec"]["template"]["spec"]["nodeSelector"]["kubernetes.io/hostname"];
  EXPECT_EQ(vm["metadata"]["annotations"]["umbra.io/pinned-node"], pinned);
  ASSERT_TRUE(createVmPlacement("web-again", "web"));
  ASSERT_EQ(runUntil("web-again", {"Observing", "Failed"}), "Observing");
  EXPECT_EQ(placement("web-again")["status"]["shadows"].size(), 3u)
      << "every feasible node is a candidate again, not only the one Umbra pinned";
}

TEST_F(ReconcilerTest, TwoPlacementsOfOneVmActOneAfterTheOther) {
  startOperator(*admin_);
  ASSERT_TRUE(createVm(haltedVm(ns_.name(), "web")));
  // Created 1 s apart (creation timestamps have whole seconds), and both reconciled from then on.
  ASSERT_TRUE(admin_
                  ->create(api::shadowPlacements(), ns_.name(),
                           placementFor(ns_.name(), "first", "VirtualMachine", "web", ns_.name()))
                  .ok());
  std::this_thread::sleep_for(1100ms);
  ASSERT_TRUE(admin_
                  ->create(api::shadowPlacements(), ns_.name(),
                           placementFor(ns_.name(), "second", "VirtualMachine", "web", ns_.name()))
                  .ok());
  const std::set<std::string> active{"Probing", "Observing", "Placing"};
  bool sawBusy = false;
  for (int i = 0; i < 60; ++i) {
    if (phaseOf("first") == "Placed" && phaseOf("second") == "Placed")
      break;
    Duration step = 1s;
    for (const char* name : {"second", "first"}) {
      auto r = pass(name);
      ASSERT_TRUE(r.ok()) << r.error().message;
      if (r->requeues())
        step = std::max<Duration>(step, *r->requeueAfter);
    }
    const std::string a = phaseOf("first"), b = phaseOf("second");
    ASSERT_FALSE(active.count(a) && active.count(b)) << "both act on the VM: " << a << ", " << b;
    if (active.count(a)) {
      const Json st = placement("second")["status"];
      EXPECT_EQ(st.value("reason", ""), "TargetBusy");
      EXPECT_NE(st.value("message", "").find("ShadowPlacement first"), std::string::npos)
          << st.dump();
      for (const auto& s : shadows())
        EXPECT_EQ(s["metadata"]["labels"]["umbra.io/placement"], "first");
      sawBusy = true;
    }
    clock_.advance(step + 1s);
  }
  EXPECT_TRUE(sawBusy);
  ASSERT_EQ(phaseOf("first"), "Placed");
  ASSERT_EQ(phaseOf("second"), "Placed") << "the second goes on once the first has ended";
  EXPECT_GT(placement("second")["status"]["decidedAt"].get<std::string>(),
            placement("first")["status"]["decidedAt"].get<std::string>());
  EXPECT_EQ(runningOn("web"), placement("second")["status"]["selectedNode"].get<std::string>());
}

TEST_F(ReconcilerTest, QueuedPlacementsStartInTheOrderTheyWereCreated) {
  config::OperatorConfig config;
  config.maxConcurrentPlacements = 1;
  startOperator(*admin_, config);
  const std::vector<std::string> names = {"first", "second", "third"};
  for (const auto& name : names) {
    ASSERT_TRUE(createVmAndPlacement(name));
    std::this_thread::sleep_for(1100ms);  // creation timestamps have whole seconds
  }
  // Passes in reverse order: without first come, first served the last would take the slot.
  const std::set<std::string> started{"Probing", "Observing", "Placing", "Placed"};
  std::map<std::string, int> startedAt;
  std::string queuedMessage;
  for (int round = 0; round < 60 && startedAt.size() < names.size(); ++round) {
    Duration step = 1s;
    for (auto it = names.rbegin(); it != names.rend(); ++it) {
      auto r = pass(*it);
      ASSERT_TRUE(r.ok()) << r.error().message;
      if (r->requeues())
        step = std::max<Duration>(step, *r->requeueAfter);
      if (started.count(phaseOf(*it)) || !shadowsOf(*it).empty())
        startedAt.emplace(*it, round);
      const Json st = placement(*it).value("status", Json::object());
      if (*it == "third" && st.value("reason", "") == "Queued" && queuedMessage.empty())
        queuedMessage = st.value("message", "");
    }
    clock_.advance(step + 1s);
  }
  ASSERT_EQ(startedAt.size(), 3u);
  EXPECT_LT(startedAt["first"], startedAt["second"]);
  EXPECT_LT(startedAt["second"], startedAt["third"]);
  EXPECT_NE(queuedMessage.find("2 queued ahead"), std::string::npos) << queuedMessage;
}

// Fair sharing (issue 25): one namespace holds at most limits.concurrentPlacementsPerNamespace
// slots although more are free; the next starts when one ends.
TEST_F(ReconcilerTest, ANamespaceHoldingItsShareOfSlotsWaitsThoughSlotsAreFree) {
  config::OperatorConfig config;
  config.maxConcurrentPlacements = 3;
  config.concurrentPlacementsPerNamespace = 1;
  startOperator(*admin_, config);
  ASSERT_TRUE(createVmAndPlacement("first"));
  std::this_thread::sleep_for(1100ms);  // creation timestamps have whole seconds
  ASSERT_TRUE(createVmAndPlacement("second"));
  ASSERT_EQ(runUntil("first", {"Observing"}), "Observing");
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(pass("second").ok());
  const Json st = placement("second")["status"];
  EXPECT_EQ(st.value("reason", ""), "Queued");
  EXPECT_NE(st.value("message", "").find("limits.concurrentPlacementsPerNamespace"),
            std::string::npos)
      << st.dump();
  EXPECT_TRUE(shadowsOf("second").empty());
  ASSERT_EQ(runUntil("first", {"Placed"}), "Placed");
  EXPECT_EQ(runUntil("second", {"Observing", "Placed"}), "Observing") << "its turn now";
}

// A placement that cannot finish (telemetry away for good) fails at its deadline with its last
// state, and its shadows go.
TEST_F(ReconcilerTest, APlacementStuckWithoutTelemetryFailsAtItsDeadlineAndItsShadowsGo) {
  config::OperatorConfig config;
  config.deadlineGrace = 10min;
  startOperator(*admin_, config);
  metrics_.setUnavailable(true);
  ASSERT_TRUE(createVmAndPlacement("web"));
  runUntil("web", {"Placed"}, 12);
  ASSERT_EQ(phaseOf("web"), "Observing");
  ASSERT_EQ(placement("web")["status"].value("reason", ""), "TelemetryUnavailable");
  ASSERT_FALSE(shadows().empty());
  clock_.advance(3h);
  ASSERT_EQ(runUntil("web", {"Failed"}, 3), "Failed");
  const Json st = placement("web")["status"];
  EXPECT_EQ(st.value("reason", ""), "DeadlineExceeded");
  EXPECT_NE(st.value("message", "").find("(last: TelemetryUnavailable: "), std::string::npos)
      << st.dump();
  EXPECT_TRUE(eventually([&] { return shadows().empty(); })) << "no shadow outlives the deadline";
  EXPECT_EQ(server(api::virtualMachines(), "web")["spec"]["runStrategy"], "Halted");
}

TEST_F(ReconcilerTest, ADeletedTargetStopsItsShadowsAtOnce) {
  startOperator(*admin_);
  ASSERT_TRUE(createVmAndPlacement("web"));
  ASSERT_EQ(runUntil("web", {"Observing"}), "Observing");
  ASSERT_EQ(shadows().size(), 3u);
  ASSERT_TRUE(admin_->remove(api::virtualMachines(), {ns_.name(), "web"}).ok());
  ASSERT_TRUE(eventually([&] { return op_->vms().get(key("web")) == nullptr; }));
  clock_.advance(1s);  // well within targetWaitTimeout
  auto r = pass("web");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(phaseOf("web"), "Failed");
  EXPECT_EQ(placement("web")["status"]["reason"], "TargetDeleted");
  EXPECT_TRUE(eventually([&] { return shadows().empty(); })) << "no shadow outlives its target";
}

TEST_F(ReconcilerTest, APlacedVmStaysFreeToBePlacedAgainUnderEachPinPolicy) {
  startOperator(*admin_);
  // UntilRunning (default): pinned while it starts, free once it runs; placed again anywhere.
  ASSERT_TRUE(createVmAndPlacement("web"));
  ASSERT_EQ(runUntil("web", {"Placed", "Failed"}), "Placed");
  EXPECT_EQ(runningOn("web"), node("a"));
  ASSERT_TRUE(createVmPlacement("web-again", "web"));
  ASSERT_EQ(runUntil("web-again", {"Observing", "Failed"}), "Observing");
  EXPECT_EQ(placement("web-again")["status"]["shadows"].size(), 3u);
  ASSERT_EQ(runUntil("web-again", {"Placed", "Failed"}), "Placed");

  // Preferred: a preferred node affinity term instead of a nodeSelector; KubeVirt's scheduler
  // honours it when it starts the VM, and a later placement replaces Umbra's term, not adds one.
  ASSERT_TRUE(createVm(haltedVm(ns_.name(), "db")));
  ASSERT_TRUE(createVmPlacement("db", "db", "/pinPolicy", "Preferred"));
  ASSERT_EQ(runUntil("db", {"Placed", "Failed"}), "Placed") << placement("db")["status"].dump();
  const std::string first = placement("db")["status"]["selectedNode"];
  EXPECT_EQ(runningOn("db"), first);
  Json tmpl = server(api::virtualMachines(), "db")["spec"]["template"]["spec"];
  EXPECT_FALSE(tmpl.value("nodeSelector", Json::object()).contains("kubernetes.io/hostname"));
  const auto terms = [&] {
    return server(api::virtualMachines(),
                  "db")["spec"]["template"]["spec"]["affinity"]["nodeAffinity"]
                       ["preferredDuringSchedulingIgnoredDuringExecution"];
  };
  ASSERT_EQ(terms().size(), 1u) << tmpl.dump();
  EXPECT_EQ(terms()[0]["preference"]["matchExpressions"][0]["values"][0], first);
  cordon(first);
  ASSERT_TRUE(createVmPlacement("db-again", "db", "/pinPolicy", "Preferred"));
  ASSERT_EQ(runUntil("db-again", {"Placed", "Failed"}), "Placed")
      << placement("db-again")["status"].dump();
  const std::string second = placement("db-again")["status"]["selectedNode"];
  EXPECT_NE(second, first);
  ASSERT_EQ(terms().size(), 1u) << "Umbra's earlier term was replaced";
  EXPECT_EQ(terms()[0]["preference"]["matchExpressions"][0]["values"][0], second);
  EXPECT_EQ(runningOn("db"), second);
}

TEST_F(ReconcilerTest, ANameOfAnyLengthGivesValidLabelsAndCanBeDeleted) {
  startOperator(*admin_);
  const std::string name = "web-" + std::string(70, 'x');  // a valid name, too long for a label
  ASSERT_TRUE(createVm(haltedVm(ns_.name(), "web")));
  ASSERT_TRUE(admin_
                  ->create(api::shadowPlacements(), ns_.name(),
                           placementFor(ns_.name(), name, "VirtualMachine", "web", ns_.name()))
                  .ok());
  ASSERT_EQ(runUntil(name, {"Observing", "Failed"}), "Observing")
      << placement(name).value("status", Json::object()).dump();
  EXPECT_EQ(shadows().size(), 3u);
  for (const auto& s : shadows())
    EXPECT_LE(s["metadata"]["labels"]["umbra.io/placement"].get<std::string>().size(), 63u);
  ASSERT_TRUE(admin_->remove(api::shadowPlacements(), {ns_.name(), name}).ok());
  ASSERT_EQ(runUntil(name, {"<gone>"}, 10), "<gone>") << "the finalizer is released";
  EXPECT_TRUE(eventually([&] { return shadows().empty(); }));
}

TEST_F(ReconcilerTest, EveryFailingCallLeavesNoOrphanedShadow) {
  int run = 0;
  for (int failAt = 0;; ++failAt, ++run) {
    SCOPED_TRACE("failing call " + std::to_string(failAt));
    FaultInjectingClient faulty(*admin_, failAt);
    op_.reset();
    clock_.reset();  // each run's placement is young again (the target wait is measured from it)
    startOperator(faulty);
    const std::string name = "web-" + std::to_string(run);
    ASSERT_TRUE(createVm(haltedVm(ns_.name(), name)));
    ASSERT_TRUE(admin_
                    ->create(api::shadowPlacements(), ns_.name(),
                             placementFor(ns_.name(), name, "VirtualMachine", name, ns_.name()))
                    .ok());
    ASSERT_EQ(runUntil(name, {"Placed", "Failed"}, 40), "Placed")
        << placement(name).value("status", Json::object()).dump();
    settle(name);  // a failed call is always retried by the controller
    EXPECT_TRUE(eventually([&] { return shadows().empty(); })) << "orphaned shadow after Placed";
    EXPECT_EQ(runningOn(name), node("a"));
    // Deleting the placement releases its finalizer.
    ASSERT_TRUE(admin_->remove(api::shadowPlacements(), {ns_.name(), name}).ok());
    ASSERT_EQ(runUntil(name, {"<gone>"}, 10), "<gone>");
    EXPECT_TRUE(shadows().empty());
    // The VM the simulator started is stopped again: the next run finds node a as free.
    ASSERT_TRUE(admin_
                    ->patch(api::virtualMachines(), {ns_.name(), name}, kube::PatchType::Merge,
                            {{"spec", {{"runStrategy", "Halted"}}}})
                    .ok());
    ASSERT_TRUE(eventually([&] {
      kubevirt_->tick();
      return server(api::virtualMachineInstances(), name).is_null();
    })) << "the simulator did not stop "
        << name;
    if (!faulty.fired()) {
      std::fprintf(stderr, "[fault-injection] %d runs; a placement takes %d API calls\n", run + 1,
                   faulty.calls());
      break;
    }
  }
  EXPECT_GT(run, 5);
}

}  // namespace
}  // namespace umbra::testing

namespace umbra::testing {
namespace {

// Nodes with different hardware, contention growing from a to d as in ReconcilerTest:
//   a: plain (label something=something);  b: 2 GPUs, a USB storage device, 4 SR-IOV VFs;
//   c: 2 GPUs, 8Gi of 1Gi hugepages, CPU manager (something=something);  d: arm64.
class HardwareTest : public ReconcilerTest {
 protected:
  std::string nodeExtras(const std::string& n) const override {
    if (n == "a")
      return ", something: something}";
    if (n == "b")
      return "}, devices: {nvidia.com/GP102GL_Tesla_P40: 2, kubevirt.io/storage: 1, "
             "intel.com/sriov_netdevice: 4}";
    if (n == "c")
      return ", something: something, cpumanager: 'true'}, devices: "
             "{nvidia.com/GP102GL_Tesla_P40: 2, hugepages-1Gi: 8Gi}";
    return ", kubernetes.io/arch: arm64}";
  }

  // Places VM `vm` (created here) and returns the placement's final status.
  Json place(Json vm, const std::set<std::string>& until = {"Placed", "Failed"}) {
    const std::string name = vm["metadata"]["name"];
    vm["metadata"]["namespace"] = ns_.name();
    EXPECT_TRUE(createVm(vm));
    EXPECT_TRUE(admin_
                    ->create(api::shadowPlacements(), ns_.name(),
                             placementFor(ns_.name(), name, "VirtualMachine", name, ns_.name()))
                    .ok());
    runUntil(name, until);
    return placement(name).value("status", Json::object());
  }
  static std::string excludedReason(const Json& status, const std::string& node) {
    for (const auto& c : status.value("candidates", Json::array())) {
      if (c.value("node", "") == node)
        return c.value("excluded", "");
    }
    return "";
  }
};

TEST_F(HardwareTest, KubeVirtsDeviceExamplesGoOnlyWhereTheirHardwareIs) {
  startOperator(*admin_);
  const Json gpu = place(vmFromVmiExample("vmi-gpu.yaml", "gpu"));
  ASSERT_EQ(gpu.value("phase", ""), "Placed") << gpu.dump();
  EXPECT_EQ(gpu["selectedNode"], node("b"));
  EXPECT_EQ(gpu["shadows"].size(), 2u) << "only b and c have the GPU";
  EXPECT_EQ(excludedReason(gpu, node("a")), "node has no nvidia.com/GP102GL_Tesla_P40");
  EXPECT_EQ(runningOn("gpu"), node("b"));

  const Json usb = place(vmFromVmiExample("vmi-usb.yaml", "usb"));
  ASSERT_EQ(usb.value("phase", ""), "Placed") << usb.dump();
  EXPECT_EQ(usb["selectedNode"], node("b"));
  EXPECT_EQ(excludedReason(usb, node("c")), "node has no kubevirt.io/storage");

  const Json dedicated = place(vmFromVmiExample("vmi-fedora-dedicated.yaml", "dedicated"));
  ASSERT_EQ(dedicated.value("phase", ""), "Placed") << dedicated.dump();
  EXPECT_EQ(dedicated["selectedNode"], node("c"));
  EXPECT_EQ(excludedReason(dedicated, node("a")),
            "no CPU manager for dedicated CPUs (label cpumanager=true)");

  // virt-api's defaulting sets spec.architecture; on an arm64 cluster it is arm64.
  Json arm = vmFromVmiExample("vmi-arm.yaml", "arm");
  arm["spec"]["template"]["spec"]["architecture"] = "arm64";
  const Json armStatus = place(arm);
  ASSERT_EQ(armStatus.value("phase", ""), "Placed") << armStatus.dump();
  EXPECT_EQ(armStatus["selectedNode"], node("d"));
  EXPECT_EQ(excludedReason(armStatus, node("a")), "architecture is not arm64");

  // 1Gi hugepages back the guest memory (the arm example, amd64 and 2Gi of hugepages).
  Json huge = vmFromVmiExample("vmi-arm.yaml", "huge");
  huge["spec"]["template"]["spec"]["domain"]["memory"] = {{"guest", "2Gi"},
                                                          {"hugepages", {{"pageSize", "1Gi"}}}};
  const Json hugeStatus = place(huge);
  ASSERT_EQ(hugeStatus.value("phase", ""), "Placed") << hugeStatus.dump();
  EXPECT_EQ(hugeStatus["selectedNode"], node("c"));
  EXPECT_EQ(excludedReason(hugeStatus, node("b")), "node has no hugepages-1Gi");
}

// A DRA driver's view of the cluster: one ResourceSlice per node with the given devices of
// driver gpu.example.com (pool = node), and the DeviceClass KubeVirt's DRA examples request.
class DraTest : public HardwareTest {
 protected:
  void TearDown() override {
    for (const auto& name : slices_)
      (void)admin_->remove(kube::resources::resourceSlices(), {"", name});
    HardwareTest::TearDown();
  }
  void publish(const std::string& n, const std::vector<std::string>& devices) {
    Json list = Json::array();
    for (const auto& d : devices)
      list.push_back({{"name", d}, {"attributes", {{"model", {{"string", "a100"}}}}}});
    const Json slice = {
        {"apiVersion", "resource.k8s.io/v1"},
        {"kind", "ResourceSlice"},
        {"metadata", {{"name", node(n)}}},
        {"spec",
         {{"driver", "gpu.example.com"},
          {"nodeName", node(n)},
          {"pool", {{"name", node(n)}, {"generation", 1}, {"resourceSliceCount", 1}}},
          {"devices", list}}}};
    ASSERT_TRUE(admin_->create(kube::resources::resourceSlices(), "", slice).ok());
    slices_.push_back(node(n));
  }
  void deviceClass() {
    const Json cls = {{"apiVersion", "resource.k8s.io/v1"},
                      {"kind", "DeviceClass"},
                      {"metadata", {{"name", "gpu.example.com"}}},
                      {"spec",
                       {{"selectors", Json::array({{{"cel",
                                                      {{"expression",
                                                        "device.driver == \"gpu.example.com\""}}}}})}}}};
    auto r = admin_->create(kube::resources::deviceClasses(), "", cls);
    ASSERT_TRUE(r.ok() || r.error().is(ErrorKind::AlreadyExists)) << r.error().message;
  }
  std::vector<std::string> slices_;
};

TEST_F(DraTest, ADraGpuGoesWhereAFreeDeviceIs) {
  deviceClass();
  publish("b", {"gpu-0"});
  publish("c", {"gpu-0"});
  // c's only device is allocated to another workload's claim.
  const Json other = {{"apiVersion", "resource.k8s.io/v1"},
                      {"kind", "ResourceClaim"},
                      {"metadata", {{"name", "other"}, {"namespace", ns_.name()}}},
                      {"spec",
                       {{"devices",
                         {{"requests", Json::array({{{"name", "g"},
                                                     {"exactly",
                                                      {{"deviceClassName", "gpu.example.com"}}}}})}}}}}};
  ASSERT_TRUE(admin_->create(kube::resources::resourceClaims(), ns_.name(), other).ok());
  const Json taken = {{"status",
                       {{"allocation",
                         {{"devices",
                           {{"results", Json::array({{{"request", "g"},
                                                      {"driver", "gpu.example.com"},
                                                      {"pool", node("c")},
                                                      {"device", "gpu-0"}}})}}}}}}}};
  ASSERT_TRUE(admin_
                  ->patch(kube::resources::resourceClaims(), {ns_.name(), "other"},
                          kube::PatchType::Merge, taken, {}, "status")
                  .ok());
  // KubeVirt's DRA GPU example and the claim template it references.
  Json tmpl = kubevirtExample("pgpu-resource-claim-tmpl.yaml");
  tmpl["metadata"]["namespace"] = ns_.name();
  ASSERT_TRUE(admin_->create(kube::resources::resourceClaimTemplates(), ns_.name(), tmpl).ok());
  startOperator(*admin_);

  const Json placed = place(vmFromVmiExample("vmi-dra-pgpu.yaml", "dra"));
  ASSERT_EQ(placed.value("phase", ""), "Placed") << placed.dump();
  EXPECT_EQ(placed["selectedNode"], node("b"));
  EXPECT_EQ(placed["shadows"].size(), 1u) << "only b has a free gpu.example.com device";
  const std::string noDevice = "no free device of class gpu.example.com for ResourceClaimTemplate " +
                               ns_.name() + "/pgpu-resource-claim-tmpl request pgpu";
  EXPECT_EQ(excludedReason(placed, node("a")), noDevice);
  EXPECT_EQ(excludedReason(placed, node("c")), noDevice) << "its device is allocated";
  EXPECT_EQ(runningOn("dra"), node("b"));
  // umbra-sim allocated b's device to the VMI's claim, as the scheduler would.
  const Json claim = server(kube::resources::resourceClaims(), "dra-pgpu-resource-claim");
  ASSERT_FALSE(claim.is_null());
  EXPECT_EQ(claim["status"]["allocation"]["devices"]["results"][0]["pool"], node("b"));

  // A second one: every device is taken now; it waits for one (Unschedulable) and moves nothing.
  const Json second =
      place(vmFromVmiExample("vmi-dra-pgpu.yaml", "dra2"), {"Pending", "Failed", "Placed"});
  EXPECT_EQ(second.value("phase", ""), "Pending") << second.dump();
  EXPECT_EQ(second.value("reason", ""), "Unschedulable");
  EXPECT_EQ(excludedReason(second, node("b")), noDevice) << second.dump();
  EXPECT_TRUE(server(api::virtualMachineInstances(), "dra2").is_null());

  // A claim template that does not exist: Failed, naming it.
  Json lost = vmFromVmiExample("vmi-dra-pgpu.yaml", "lost");
  lost["spec"]["template"]["spec"]["resourceClaims"][0]["resourceClaimTemplateName"] = "nope";
  const Json failed = place(lost);
  EXPECT_EQ(failed.value("phase", ""), "Failed");
  EXPECT_NE(failed.value("message", "").find("ResourceClaimTemplate " + ns_.name() + "/nope"),
            std::string::npos)
      << failed.dump();
}

TEST_F(HardwareTest, AnSriovInterfaceNeedsANodeWithItsNetworksDevices) {
  ASSERT_TRUE(ControlPlane::instance()
                  .installCrds({ControlPlane::sourceDir() +
                                "/tests/integration/testdata/"
                                "network-attachment-definitions.k8s.cni.cncf.io.yaml"})
                  .ok());
  startOperator(*admin_);
  const Json nad = {
      {"apiVersion", "k8s.cni.cncf.io/v1"},
      {"kind", "NetworkAttachmentDefinition"},
      {"metadata",
       {{"name", "sriov-network"},
        {"namespace", ns_.name()},
        {"annotations", {{"k8s.v1.cni.cncf.io/resourceName", "intel.com/sriov_netdevice"}}}}},
      {"spec", {{"config", R"({"cniVersion": "0.3.1", "type": "sriov", "vlan": 0})"}}}};
  ASSERT_TRUE(admin_->create(api::networkAttachmentDefinitions(), ns_.name(), nad).ok());
  // KubeVirt's SR-IOV example, its Multus network in this test's namespace.
  Json vm = vmFromVmiExample("vmi-sriov.yaml", "sriov");
  vm["spec"]["template"]["spec"]["networks"][1]["multus"]["networkName"] =
      ns_.name() + "/sriov-network";
  const Json placed = place(vm);
  ASSERT_EQ(placed.value("phase", ""), "Placed") << placed.dump();
  EXPECT_EQ(placed["selectedNode"], node("b"));
  EXPECT_EQ(placed["shadows"].size(), 1u) << "only b has the network's virtual functions";
  EXPECT_EQ(excludedReason(placed, node("a")), "node has no intel.com/sriov_netdevice");

  // A network that does not exist: the placement fails naming it.
  Json lost = vmFromVmiExample("vmi-sriov.yaml", "lost");
  lost["spec"]["template"]["spec"]["networks"][1]["multus"]["networkName"] =
      ns_.name() + "/no-such-network";
  const Json failed = place(lost);
  EXPECT_EQ(failed.value("phase", ""), "Failed");
  EXPECT_NE(failed.value("message", "")
                .find("NetworkAttachmentDefinition " + ns_.name() + "/no-such-network"),
            std::string::npos)
      << failed.dump();
}

TEST_F(HardwareTest, AVmSizedByAnInstancetypeIsSizedByIt) {
  startOperator(*admin_);
  // KubeVirt's cluster-csmall, served as v1beta1 under the name its VM example references.
  Json small = kubevirtExample("cluster-csmall.yaml");
  small["apiVersion"] = "instancetype.kubevirt.io/v1beta1";
  small["metadata"]["name"] = ns_.name() + "-csmall";
  Json big = small;
  big["metadata"]["name"] = ns_.name() + "-huge";
  big["spec"] = {{"cpu", {{"guest", 64}}}, {"memory", {{"guest", "512Gi"}}}};
  for (const Json& it : {small, big})
    ASSERT_TRUE(admin_->create(api::clusterInstancetypes(), "", it).ok());
  ASSERT_TRUE(
      eventually([&] { return op_->clusterInstancetypes().get(ns_.name() + "-huge") != nullptr; }));
  Json vm = kubevirtExample("vm-cirros-cluster-csmall.yaml");
  vm["metadata"]["name"] = "csmall";
  vm["spec"]["instancetype"]["name"] = ns_.name() + "-csmall";
  const Json placed = place(vm);
  EXPECT_EQ(placed.value("phase", ""), "Placed") << placed.dump();
  EXPECT_EQ(runningOn("csmall"), placed.value("selectedNode", "-"));

  // A namespaced VirtualMachineInstancetype, in the VM's namespace.
  Json local = small;
  local["kind"] = "VirtualMachineInstancetype";
  local["metadata"] = {{"name", "local"}, {"namespace", ns_.name()}};
  local["spec"] = {{"cpu", {{"guest", 2}}}, {"memory", {{"guest", "1Gi"}}}};
  ASSERT_TRUE(admin_->create(api::instancetypes(), ns_.name(), local).ok());
  vm["metadata"]["name"] = "local";
  vm["spec"]["instancetype"] = {{"kind", "VirtualMachineInstancetype"}, {"name", "local"}};
  ASSERT_TRUE(eventually([&] { return op_->instancetypes().get(key("local")) != nullptr; }));
  const Json localPlaced = place(vm);
  EXPECT_EQ(localPlaced.value("phase", ""), "Placed") << localPlaced.dump();
  const Json localVmi = server(api::virtualMachineInstances(), "local");
  EXPECT_EQ(localVmi["spec"]["domain"]["cpu"]["sockets"], 2) << "KubeVirt (umbra-sim) expands it";

  vm["metadata"]["name"] = "huge";
  vm["spec"]["instancetype"] = {{"kind", "VirtualMachineClusterInstancetype"},
                                {"name", ns_.name() + "-huge"}};
  const Json huge = place(vm, {"Pending", "Placed", "Failed"});
  EXPECT_EQ(huge.value("reason", ""), "Unschedulable") << huge.dump();
  EXPECT_NE(huge.value("message", "").find("insufficient memory"), std::string::npos);
  for (const Json& it : {small, big})
    EXPECT_TRUE(admin_->remove(api::clusterInstancetypes(), {"", it["metadata"]["name"]}).ok());
}

TEST_F(HardwareTest, APreferencesArchitectureChoosesTheNodes) {
  ASSERT_TRUE(ControlPlane::instance()
                  .installCrds({ControlPlane::sourceDir() +
                                "/tests/integration/testdata/kubevirt-preferences-standin.yaml"})
                  .ok());
  startOperator(*admin_);
  const std::string name = ns_.name() + "-arm";
  const Json preference = {{"apiVersion", "instancetype.kubevirt.io/v1beta1"},
                           {"kind", "VirtualMachineClusterPreference"},
                           {"metadata", {{"name", name}}},
                           {"spec", {{"preferredArchitecture", "arm64"}}}};
  ASSERT_TRUE(admin_->create(api::clusterPreferences(), "", preference).ok());
  // KubeVirt's arm example without spec.architecture: the preference sets it.
  Json vm = vmFromVmiExample("vmi-arm.yaml", "arm");
  vm["spec"]["preference"] = {{"kind", "VirtualMachineClusterPreference"}, {"name", name}};
  const Json placed = place(vm);
  ASSERT_EQ(placed.value("phase", ""), "Placed") << placed.dump();
  EXPECT_EQ(placed["selectedNode"], node("d"));
  EXPECT_EQ(excludedReason(placed, node("a")), "architecture is not arm64");
  // A preference that does not exist fails the placement naming it.
  Json lost = vmFromVmiExample("vmi-arm.yaml", "lost");
  lost["spec"]["preference"] = {{"kind", "VirtualMachinePreference"}, {"name", "none"}};
  const Json failed = place(lost);
  EXPECT_EQ(failed.value("phase", ""), "Failed");
  EXPECT_NE(failed.value("message", "").find("spec.preference: VirtualMachinePreference \"none\""),
            std::string::npos)
      << failed.dump();
  EXPECT_TRUE(admin_->remove(api::clusterPreferences(), {"", name}).ok());
}

TEST_F(HardwareTest, ANonMigratableVmiIsNeverGivenAMigration) {
  startOperator(*admin_);
  // KubeVirt's GPU example running on c; virt-controller marks it not live-migratable.
  const Json spec = kubevirtExample("vmi-gpu.yaml")["spec"];
  ASSERT_TRUE(createRunningVmi(*admin_, ns_.name(), "gpu", node("c"), spec).ok());
  Json vmi = server(api::virtualMachineInstances(), "gpu");
  vmi["status"]["conditions"] = Json::array({{{"type", "LiveMigratable"},
                                              {"status", "False"},
                                              {"reason", "HostDeviceNotLiveMigratable"},
                                              {"message", "VMI uses a PCI host devices"}}});
  ASSERT_TRUE(admin_->update(api::virtualMachineInstances(), vmi).ok());
  ASSERT_TRUE(
      admin_
          ->create(api::shadowPlacements(), ns_.name(),
                   placementFor(ns_.name(), "gpu", "VirtualMachineInstance", "gpu", ns_.name()))
          .ok());
  ASSERT_EQ(runUntil("gpu", {"Placed", "Recommended", "Failed"}), "Recommended");
  const Json st = placement("gpu")["status"];
  EXPECT_EQ(st["reason"], "NotLiveMigratable");
  EXPECT_EQ(st["selectedNode"], node("b"));
  EXPECT_EQ(api::statusFromJson(st)->conditionStatus("Placed"), "False");
  auto migrations = admin_->list(api::migrations(), ns_.name(), {});
  ASSERT_TRUE(migrations.ok());
  EXPECT_TRUE((*migrations)["items"].empty()) << "no migration for a non-migratable VMI";
  EXPECT_EQ(runningOn("gpu"), node("c"));
  EXPECT_TRUE(eventually([&] { return shadows().empty(); }));

  // umbra-sim refuses one as virt-api's admission does.
  const Json manual = {{"apiVersion", "kubevirt.io/v1"},
                       {"kind", "VirtualMachineInstanceMigration"},
                       {"metadata", {{"name", "manual"}, {"namespace", ns_.name()}}},
                       {"spec", {{"vmiName", "gpu"}}}};
  ASSERT_TRUE(admin_->create(api::migrations(), ns_.name(), manual).ok());
  kubevirt();
  const Json m = server(api::migrations(), "manual");
  EXPECT_EQ(m["status"]["phase"], "Failed");
  EXPECT_NE(m["status"]["conditions"][0]
                .value("message", "")
                .find("Cannot migrate VMI, Reason: HostDeviceNotLiveMigratable"),
            std::string::npos)
      << m.dump();
}

}  // namespace
}  // namespace umbra::testing
