#include "simulator/virt_api.h"

#include <algorithm>
#include <thread>

#include "common/log.h"
#include "exposition/serving_cert.h"
#include "kube_core/resource.h"
#include "simulator/virt_api_handlers.h"
#include "simulator/virt_api_internal.h"

namespace umbra::simulator {

using kube::Json;

using namespace virt_api_detail;
using kube::resources::apiServices;
using kube::resources::subjectAccessReviews;

struct VirtApiServer::Impl {
  kube::KubeClient& client;
  VirtApiOptions options;
  RequestHeaderAuth auth;
  exposition::ServingCert cert;
  std::unique_ptr<exposition::TlsServer> server;

  Impl(kube::KubeClient& c, VirtApiOptions o) : client(c), options(std::move(o)) {}

  bool allowedProxy(const std::string& cn) const {
    if (cn.empty())
      return false;
    if (auth.allowedNames.empty())
      return true;
    return std::find(auth.allowedNames.begin(), auth.allowedNames.end(), cn) !=
           auth.allowedNames.end();
  }

  // The user the front proxy vouches for, asked of the API server with a SubjectAccessReview.
  Reply authorize(const exposition::HttpRequest& req, const SubresourceCall& call) {
    std::string user;
    for (const auto& h : auth.usernameHeaders) {
      if (const std::string v = req.header(h); !v.empty()) {
        user = v;
        break;
      }
    }
    if (user.empty())
      return statusReply(401, "Unauthorized", "request is not authenticated");
    Json groups = Json::array();
    for (const auto& h : auth.groupHeaders)
      for (const auto& v : req.headerValues(h))
        groups.push_back(v);
    Json extra = Json::object();
    if (!auth.extraHeadersPrefix.empty()) {
      std::string prefix = auth.extraHeadersPrefix;
      std::transform(prefix.begin(), prefix.end(), prefix.begin(), ::tolower);
      for (const auto& [name, value] : req.headers)  // names are lower-cased
        if (name.rfind(prefix, 0) == 0)
          extra[name.substr(prefix.size())].push_back(value);
    }
    const Json sar = {{"apiVersion", "authorization.k8s.io/v1"},
                      {"kind", "SubjectAccessReview"},
                      {"spec",
                       {{"user", user},
                        {"groups", groups},
                        {"extra", extra},
                        {"resourceAttributes",
                         {{"namespace", call.ns},
                          {"verb", "update"},
                          {"group", SubresourceGroup},
                          {"version", call.version},
                          {"resource", call.resource},
                          {"subresource", call.subresource},
                          {"name", call.name}}}}}};
    auto review = client.create(subjectAccessReviews(), "", sar);
    if (!review.ok())
      return statusReply(500, "InternalError",
                         "Internal error occurred: SubjectAccessReview: " + review.error().message);
    const Json st = (*review).value("status", Json::object());
    if (st.value("allowed", false))
      return {200, ""};
    std::string message = "User \"" + user + "\" cannot update resource \"" + call.resource + "/" +
                          call.subresource + "\" in API group \"" + SubresourceGroup +
                          "\" in the namespace \"" + call.ns + "\"";
    if (const std::string reason = st.value("reason", ""); !reason.empty())
      message += ": " + reason;
    return statusReply(403, "Forbidden", message);
  }

  Reply route(const exposition::HttpRequest& req) {
    const std::string& path = req.path;
    if (req.method == "GET") {
      if (path == "/healthz" || path == "/readyz")
        return {200, "ok", "text/plain"};
      if (auto doc = discovery(path))
        return {200, doc->dump()};
    }
    if (!allowedProxy(req.peerCommonName))
      return statusReply(401, "Unauthorized", "request is not authenticated");
    const auto call = parseSubresourcePath(path);
    if (!call)
      return statusReply(404, "NotFound", "the server could not find the requested resource");
    if (req.method != "PUT")
      return statusReply(405, "MethodNotAllowed",
                         "the server does not allow this method on the requested resource");
    if (Reply denied = authorize(req, *call); denied.code != 200)
      return denied;
    return handleSubresource(client, *call, req.body);
  }
};

Result<std::unique_ptr<VirtApiServer>> VirtApiServer::start(kube::KubeClient& client,
                                                            const VirtApiOptions& options) {
  auto impl = std::make_unique<Impl>(client, options);
  auto cm = client.get(kube::resources::configMaps(),
                       {"kube-system", "extension-apiserver-authentication"});
  if (!cm.ok())
    return cm.error().wrap("ConfigMap kube-system/extension-apiserver-authentication");
  auto auth = requestHeaderAuthFrom(*cm);
  if (!auth.ok())
    return auth.error();
  impl->auth = std::move(auth).value();
  const std::string svc = options.serviceName + "." + options.serviceNamespace + ".svc";
  auto cert = exposition::generateServingCert(
      "umbra-sim virt-api CA", {svc, svc + ".cluster.local", "localhost"}, {"127.0.0.1"}, 365);
  if (!cert.ok())
    return cert.error();
  impl->cert = std::move(cert).value();
  exposition::TlsServerOptions tls;
  tls.address = options.address;
  tls.flag = "--virt-api-addr";
  tls.serverName = "umbra-sim virt-api";
  tls.certPem = impl->cert.certPem;
  tls.keyPem = impl->cert.keyPem;
  tls.clientCaPem = impl->auth.clientCaPem;
  Impl* raw = impl.get();
  auto tlsServer =
      exposition::TlsServer::start(tls, [raw](const exposition::HttpRequest& req) -> Reply {
        try {
          return raw->route(req);
        } catch (const std::exception& e) {
          return statusReply(500, "InternalError",
                             std::string("Internal error occurred: ") + e.what());
        }
      });
  if (!tlsServer.ok())
    return tlsServer.error();
  impl->server = std::move(tlsServer).value();
  std::unique_ptr<VirtApiServer> server(new VirtApiServer(std::move(impl)));
  if (Status s = registerApi(client, options, server->port(), server->impl_->cert.caPem); !s.ok())
    return s.error();  // the destructor stops the threads and removes what was registered
  log::info("virt-api serving subresources.kubevirt.io",
            {{"address", options.address},
             {"port", std::to_string(server->port())},
             {"service", options.serviceNamespace + "/" + options.serviceName}});
  return server;
}

VirtApiServer::VirtApiServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

VirtApiServer::~VirtApiServer() {
  impl_->server.reset();
  unregisterApi(impl_->client, impl_->options);
}

uint16_t VirtApiServer::port() const {
  return impl_->server->port();
}

Status VirtApiServer::waitAvailable(std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string last = "not yet reported";
  while (std::chrono::steady_clock::now() < deadline) {
    auto got = impl_->client.get(apiServices(), {"", std::string("v1.") + SubresourceGroup});
    if (got.ok()) {
      for (const auto& c :
           (*got).value("status", Json::object()).value("conditions", Json::array())) {
        if (c.value("type", "") != "Available")
          continue;
        if (c.value("status", "") == "True")
          return {};
        last = c.value("reason", "") + ": " + c.value("message", "");
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return Error::make(ErrorKind::Timeout, std::string("APIService v1.") + SubresourceGroup +
                                             " did not become Available: " + last);
}

}  // namespace umbra::simulator
