#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "kube/client.h"
#include "kube/informer.h"
#include "placement/candidates.h"
#include "sim/simulation.h"
#include "simulator/exposition.h"

namespace umbra::simulator {

struct SimulatorOptions {
  std::chrono::milliseconds bootDelay{2000};  // Scheduled -> Running
  // From a migration's creation to its first byte (Scheduling, Scheduled, PreparingTarget and
  // TargetReady take a quarter each); the transfer then takes what sim::preCopy gives, divided
  // by migrationSpeed.
  std::chrono::milliseconds migrationDelay{2000};
  double migrationSpeed = 1.0;
  std::chrono::seconds leaseDuration{40};
  double traceSpeed = 1.0;  // demand clock speed relative to real time
  uint64_t seed = 1;
};

// Plays KubeVirt's virt-controller and virt-handler and the nodes' kubelets against a real API
// server, as kwok does for pods: Node objects with heartbeats, VMIs for running VMs, scheduling,
// boot, migrations; and drives the physics with what runs where. Single-threaded: tick() does
// one round; metrics() may be called from any thread.
class KubeVirtSimulator {
 public:
  KubeVirtSimulator(kube::KubeClient& client, sim::ClusterSpec cluster, const sim::TraceSet* traces,
                    SimulatorOptions options);
  ~KubeVirtSimulator();

  // Creates (or adopts) the Node objects and starts the informers; errors name the node.
  Status start(std::chrono::milliseconds syncTimeout = std::chrono::seconds(30));
  // One round: heartbeats, VMs, VMIs, migrations, then the physics for the elapsed time.
  void tick();
  // The Prometheus exposition of the current state.
  std::string metrics() const;
  // Counts for logs and tests.
  size_t runningVmis() const;

 private:
  void heartbeat(bool force);
  void syncVms();
  void syncVmis();
  void syncMigrations();
  void syncPools();  // kubevirt_sim_pools.cc
  // KubeVirt's workload updater for a pending hotplug (kubevirt_sim_hotplug.cc).
  void workloadUpdate(const std::string& vmiKey, const nlohmann::json& vmi, bool migratable);
  void syncWorkloads();
  // The simulated nodes with the requests of what runs on them (leaving out `skipVmi`).
  std::vector<placement::NodeView> nodeViews(const std::string& skipVmi) const;
  // A feasible node, least allocated first, and its requests added to `views`; or why none.
  // `dra`: what the VMI's resource claims need (draNeeds()), if it has any.
  Result<std::string> schedule(const nlohmann::json& vmiSpec,
                               std::vector<placement::NodeView>& views,
                               const std::map<std::string, std::string>& extraSelector,
                               const std::string& avoidNode,
                               std::shared_ptr<const placement::dra::Needs> dra = nullptr);
  // DRA (kubevirt_sim_dra.cc): what a VMI's claims need, read from the API; its claims allocated
  // on the node it was scheduled to.
  Result<std::shared_ptr<const placement::dra::Needs>> draNeeds(const nlohmann::json& vmi) const;
  Status allocateClaims(const nlohmann::json& vmi, const placement::NodeView& node,
                        const placement::dra::Needs& needs);
  nlohmann::json nodeObject(const sim::NodeSpec& n) const;

  kube::KubeClient& client_;
  SimulatorOptions options_;
  const sim::TraceSet* traces_;
  mutable std::mutex mutex_;  // guards sim_ and vmiInfo_ against metrics()
  sim::Simulation sim_;
  std::map<std::string, VmiInfo> vmiInfo_;
  std::map<std::string, std::string> workloadUid_;  // id -> VMI uid in the simulation
  std::unique_ptr<kube::Informer> nodes_, vms_, vmis_, migrations_, pods_, services_;
  // The group a VMI shares demand with: its pool (umbra.io/sim-pool), else the first Service of
  // its namespace whose selector matches its labels ("" none).
  std::string sharingGroup(const nlohmann::json& vmi) const;
  std::unique_ptr<kube::Informer> pools_;  // null when pool.kubevirt.io is not served
  // Istio's VirtualServices (null when networking.istio.io is not served): the mesh's mirrors.
  std::unique_ptr<kube::Informer> virtualServices_;
  // The workloads whose demand the mesh's mirrors set now (their own source comes back after).
  std::set<std::string> meshMirrored_;
  void applyMesh();
  std::map<std::string, std::chrono::steady_clock::time_point> scheduledAt_;  // VMI key
  // A migration under way (VMIM key): when it was created, how its transfer ends.
  struct MigrationRun {
    std::chrono::steady_clock::time_point created;
    double transferSeconds = 0;  // real seconds
    sim::MigrationOutcome outcome;
    std::string phase;
    nlohmann::json state;        // status.migrationState
    nlohmann::json transitions;  // status.phaseTransitionTimestamps
  };
  std::map<std::string, MigrationRun> migrating_;
  // VMI key -> the migration the workload updater last created for a pending hotplug.
  struct WorkloadUpdate {
    std::string name;
    std::chrono::steady_clock::time_point at;
  };
  std::map<std::string, WorkloadUpdate> workloadUpdates_;
  std::map<std::string, std::string> warned_;  // VMI key -> last warning logged
  std::chrono::steady_clock::time_point lastTick_{}, lastHeartbeat_{};
  std::string readySince_;  // the nodes' conditions have held since start()
};

}  // namespace umbra::simulator
