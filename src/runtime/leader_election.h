#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "kube/client.h"
#include "kube/config.h"

namespace umbra::runtime {

struct LeaderElectionConfig {
  std::string ns;
  std::string name;
  std::string identity;  // unique per process: hostname + "_" + random
  std::chrono::seconds leaseDuration{15};
  std::chrono::seconds renewDeadline{10};
  std::chrono::seconds retryPeriod{2};
  bool releaseOnCancel = true;
};

// Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection:
//  - a candidate takes the lease when it is free or its holder has not renewed it for
//    leaseDuration, measured on the local clock from when we last saw the record change
//    (robust to clock skew between nodes);
//  - the leader renews every retryPeriod; when renewals fail for renewDeadline it stops leading;
//  - on a clean shutdown the leader releases the lease (empty holder, 1 s duration) so that the
//    next candidate takes over at once.
class LeaderElector {
 public:
  LeaderElector(kube::KubeClient& client, LeaderElectionConfig config,
                const Clock& clock = RealClock::instance());

  // Blocks until `cancel` fires or leadership is lost. `onStartedLeading` runs on this thread
  // once the lease is ours and must not block; `onStoppedLeading` runs when we stop leading.
  void run(const CancellationPtr& cancel, const std::function<void()>& onStartedLeading,
           const std::function<void()>& onStoppedLeading);

  // Runs run() on a thread of its own until stop(): `onStartedLeading` once the lease is ours,
  // `onLost` when leadership is lost before stop().
  void start(std::function<void()> onStartedLeading, std::function<void()> onLost);
  // Ends the election and releases the lease if we hold it; joins the thread.
  void stop();
  ~LeaderElector();

  // "<hostname>_<random hex>", client-go's identity for a candidate.
  static std::string defaultIdentity();

  // The connection an elector's client should use: every request bounded by half the renew
  // deadline (an attempt is a GET and an UPDATE), so that a slow API server costs leadership
  // within the renew deadline, as client-go bounds a renewal with a context, instead of after the
  // general 30 s timeout (twice).
  static kube::ClusterConfig clientConfig(kube::ClusterConfig cluster,
                                          const LeaderElectionConfig& election);

  bool isLeader() const { return leader_.load(); }
  // One acquire-or-renew attempt (public for tests); true when we hold the lease afterwards.
  bool tryAcquireOrRenew();

 private:
  void release();
  nlohmann::json leaseSpec(const std::string& acquireTime, int64_t transitions) const;

  kube::KubeClient& client_;
  LeaderElectionConfig config_;
  const Clock& clock_;
  std::atomic<bool> leader_{false};
  std::string observedHolder_;
  std::string observedRenewTime_;
  SteadyTime observedAt_{};
  CancellationPtr cancel_;
  std::thread thread_;
};

}  // namespace umbra::runtime
