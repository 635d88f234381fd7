#pragma once

// virt-api's subresource handlers (pkg/virt-api/rest/lifecycle.go, subresource.go), played
// against the real API server: what a PUT on .../pause, /unpause, /start, /stop, /restart or
// /migrate changes, with KubeVirt's preconditions, status codes and messages. virt-handler's part
// of pause and unpause (libvirt Suspend/Resume, then the VMI's Paused condition) is done before
// the reply, as the synchronous call through virt-handler finishes before virt-api answers.
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "api/kubevirt_subresources.h"
#include "exposition/tls_server.h"
#include "kube/client.h"

namespace umbra::simulator {

using api::SubresourceGroup;

// A PUT on one of the subresources, parsed from its path.
struct SubresourceCall {
  std::string version;  // v1 or v1alpha3
  std::string ns, name;
  std::string resource;     // virtualmachines | virtualmachineinstances
  std::string subresource;  // start stop restart migrate | pause unpause
};
// nullopt for any other path (the caller answers 404).
std::optional<SubresourceCall> parseSubresourcePath(const std::string& path);

// An HTTP answer: `body` is "" or a JSON document (a metav1.Status for errors).
using Reply = exposition::HttpReply;
// A metav1.Status as Kubernetes writes it.
Reply statusReply(int code, const std::string& reason, const std::string& message);

// Carries out `call` with `body` (StartOptions, StopOptions, MigrateOptions, ...; may be empty).
Reply handleSubresource(kube::KubeClient& client, const SubresourceCall& call,
                        const std::string& body);

}  // namespace umbra::simulator
