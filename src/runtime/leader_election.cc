#include "runtime/leader_election.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <random>

#include "common/log.h"
#include "kube_core/time.h"

namespace umbra::runtime {

using kube::Json;

LeaderElector::LeaderElector(kube::KubeClient& client, LeaderElectionConfig config,
                             const Clock& clock)
    : client_(client), config_(std::move(config)), clock_(clock) {}

Json LeaderElector::leaseSpec(const std::string& acquireTime, int64_t transitions) const {
  return {{"holderIdentity", config_.identity},
          {"leaseDurationSeconds", config_.leaseDuration.count()},
          {"acquireTime", acquireTime},
          {"renewTime", kube::formatMicroTime(clock_.wallNow())},
          {"leaseTransitions", transitions}};
}

bool LeaderElector::tryAcquireOrRenew() {
  const auto& leases = kube::resources::leases();
  const kube::ObjectRef ref{config_.ns, config_.name};
  auto current = client_.get(leases, ref);
  if (!current.ok()) {
    if (!current.error().is(ErrorKind::NotFound)) {
      log::warn("leader election: cannot read lease", {{"lease", config_.ns + "/" + config_.name},
                                                       {"error", current.error().describe()}});
      return false;
    }
    Json lease = {{"apiVersion", "coordination.k8s.io/v1"},
                  {"kind", "Lease"},
                  {"metadata", {{"name", config_.name}, {"namespace", config_.ns}}},
                  {"spec", leaseSpec(kube::formatMicroTime(clock_.wallNow()), 0)}};
    auto created = client_.create(leases, config_.ns, lease);
    if (!created.ok()) {
      return false;
    }
    observedHolder_ = config_.identity;
    observedRenewTime_ = (*created)["spec"].value("renewTime", "");
    observedAt_ = clock_.now();
    return true;
  }
  Json lease = std::move(current).value();
  Json& spec = lease["spec"];
  const std::string holder = spec.value("holderIdentity", "");
  const std::string renewTime = spec.value("renewTime", "");
  if (holder != observedHolder_ || renewTime != observedRenewTime_) {
    observedHolder_ = holder;
    observedRenewTime_ = renewTime;
    observedAt_ = clock_.now();
  }
  const auto duration = std::chrono::seconds(
      spec.value("leaseDurationSeconds", static_cast<int64_t>(config_.leaseDuration.count())));
  if (!holder.empty() && holder != config_.identity && clock_.now() < observedAt_ + duration) {
    return false;  // held by someone else, still valid
  }
  int64_t transitions = spec.value("leaseTransitions", static_cast<int64_t>(0));
  std::string acquireTime = spec.value("acquireTime", "");
  if (holder != config_.identity) {
    ++transitions;
    acquireTime = kube::formatMicroTime(clock_.wallNow());
  }
  spec = leaseSpec(acquireTime, transitions);
  auto updated = client_.update(leases, lease);  // carries resourceVersion: 409 if we raced
  if (!updated.ok()) {
    return false;
  }
  observedHolder_ = config_.identity;
  observedRenewTime_ = (*updated)["spec"].value("renewTime", "");
  observedAt_ = clock_.now();
  return true;
}

void LeaderElector::release() {
  const auto& leases = kube::resources::leases();
  auto current = client_.get(leases, {config_.ns, config_.name});
  if (!current.ok() || (*current)["spec"].value("holderIdentity", "") != config_.identity) {
    return;
  }
  Json lease = std::move(current).value();
  lease["spec"]["holderIdentity"] = "";
  lease["spec"]["leaseDurationSeconds"] = 1;
  lease["spec"]["renewTime"] = kube::formatMicroTime(clock_.wallNow());
  auto st = client_.update(leases, lease);
  if (!st.ok()) {
    log::warn("leader election: release failed", {{"error", st.error().describe()}});
  }
}

void LeaderElector::run(const CancellationPtr& cancel,
                        const std::function<void()>& onStartedLeading,
                        const std::function<void()>& onStoppedLeading) {
  const std::string lease = config_.ns + "/" + config_.name;
  while (!cancel->cancelled() && !tryAcquireOrRenew()) {
    cancel->waitFor(config_.retryPeriod);
  }
  if (cancel->cancelled()) {
    return;
  }
  leader_ = true;
  log::info("became leader", {{"lease", lease}, {"identity", config_.identity}});
  if (onStartedLeading)
    onStartedLeading();
  SteadyTime lastRenew = clock_.now();
  while (!cancel->waitFor(config_.retryPeriod)) {
    if (tryAcquireOrRenew()) {
      lastRenew = clock_.now();
    } else if (clock_.now() - lastRenew > config_.renewDeadline) {
      log::error("leadership lost: lease not renewed within the renew deadline",
                 {{"lease", lease}, {"identity", config_.identity}});
      leader_ = false;
      if (onStoppedLeading)
        onStoppedLeading();
      return;
    }
  }
  if (config_.releaseOnCancel) {
    release();
  }
  leader_ = false;
  log::info("stopped leading", {{"lease", lease}, {"identity", config_.identity}});
  if (onStoppedLeading)
    onStoppedLeading();
}

kube::ClusterConfig LeaderElector::clientConfig(kube::ClusterConfig cluster,
                                               const LeaderElectionConfig& election) {
  cluster.requestTimeout = std::max(std::chrono::seconds(1), election.renewDeadline / 2);
  return cluster;
}

LeaderElector::~LeaderElector() {
  stop();
}

void LeaderElector::start(std::function<void()> onStartedLeading, std::function<void()> onLost) {
  cancel_ = std::make_shared<Cancellation>();
  thread_ = std::thread(
      [this, cancel = cancel_, started = std::move(onStartedLeading), lost = std::move(onLost)] {
        run(cancel, started, [&] {
          if (!cancel->cancelled())
            lost();
        });
      });
}

void LeaderElector::stop() {
  if (cancel_)
    cancel_->cancel();
  if (thread_.joinable())
    thread_.join();  // releases the lease
}

std::string LeaderElector::defaultIdentity() {
  char host[256] = "unknown";
  ::gethostname(host, sizeof(host) - 1);
  char suffix[16];
  std::snprintf(suffix, sizeof(suffix), "%08llx",
                static_cast<unsigned long long>(std::random_device{}() & 0xffffffffu));
  return std::string(host) + "_" + suffix;
}

}  // namespace umbra::runtime
