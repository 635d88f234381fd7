#include "simulator/virt_api.h"

#include <sys/socket.h>

#include <atomic>
#include <list>
#include <mutex>
#include <thread>

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "common/log.h"
#include "kube_core/resource.h"
#include "simulator/serving_cert.h"
#include "simulator/virt_api_handlers.h"
#include "simulator/virt_api_internal.h"

namespace umbra::simulator {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using kube::Json;

using namespace virt_api_detail;
using kube::resources::apiServices;
using kube::resources::subjectAccessReviews;

struct VirtApiServer::Impl {
  kube::KubeClient& client;
  VirtApiOptions options;
  RequestHeaderAuth auth;
  ServingCert cert;
  asio::io_context io;
  ssl::context tls{ssl::context::tls_server};
  tcp::acceptor acceptor{io};
  uint16_t port = 0;
  std::atomic<bool> stopping{false};
  std::thread acceptThread;

  // A connection: its thread serves requests until the peer closes or we stop. `fd` is -1 once
  // the socket is closed, so that stopping never shuts down a descriptor reused by another file.
  struct Conn {
    int fd = -1;
    bool done = false;
    std::thread thread;
  };
  std::mutex connMutex;
  std::list<Conn> conns;

  Impl(kube::KubeClient& c, VirtApiOptions o) : client(c), options(std::move(o)) {}

  Status listen() {
    const auto colon = options.address.rfind(':');
    if (colon == std::string::npos)
      return Error::make(ErrorKind::Config,
                         "--virt-api-addr " + options.address + ": expected host:port");
    boost::system::error_code ec;
    const auto host = asio::ip::make_address(options.address.substr(0, colon), ec);
    int portNumber = -1;
    try {
      portNumber = std::stoi(options.address.substr(colon + 1));
    } catch (const std::exception&) {
    }
    if (ec || portNumber < 0 || portNumber > 65535)
      return Error::make(ErrorKind::Config, "--virt-api-addr " + options.address +
                                                ": expected an IP address and a port");
    const tcp::endpoint ep(host, static_cast<uint16_t>(portNumber));
    acceptor.open(ep.protocol(), ec);
    if (!ec)
      acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec)
      acceptor.bind(ep, ec);
    if (!ec)
      acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec)
      return Error::make(ErrorKind::Config,
                         "--virt-api-addr " + options.address + ": " + ec.message());
    port = acceptor.local_endpoint().port();
    return {};
  }

  Status configureTls() {
    try {
      tls.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                      ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
      tls.use_certificate_chain(asio::buffer(cert.certPem));
      tls.use_private_key(asio::buffer(cert.keyPem), ssl::context::pem);
      tls.add_certificate_authority(asio::buffer(auth.clientCaPem));
      // VerifyClientCertIfGiven: a certificate is optional, but one that is sent must chain to
      // the front proxy's CA (virt-api, pkg/virt-api/api.go).
      tls.set_verify_mode(ssl::verify_peer);
      BIO* bio =
          BIO_new_mem_buf(auth.clientCaPem.data(), static_cast<int>(auth.clientCaPem.size()));
      while (X509* ca = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
        SSL_CTX_add_client_CA(tls.native_handle(), ca);
        X509_free(ca);
      }
      BIO_free(bio);
    } catch (const std::exception& e) {
      return Error::make(ErrorKind::Config, std::string("virt-api TLS setup: ") + e.what());
    }
    return {};
  }

  void acceptLoop() {
    while (!stopping) {
      tcp::socket socket(io);
      boost::system::error_code ec;
      acceptor.accept(socket, ec);
      if (stopping)
        return;
      if (ec) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        continue;
      }
      const std::lock_guard<std::mutex> lock(connMutex);
      conns.remove_if([](Conn& c) {
        if (!c.done)
          return false;
        c.thread.join();
        return true;
      });
      Conn& conn = conns.emplace_back();
      conn.fd = socket.native_handle();
      conn.thread = std::thread([this, &conn, s = std::move(socket)]() mutable {
        serve(std::move(s));
        const std::lock_guard<std::mutex> done(connMutex);
        conn.fd = -1;
        conn.done = true;
      });
    }
  }

  // The authenticated front proxy's CN, or "" if the peer sent no valid certificate.
  std::string proxyName(SSL* ssl) const {
    X509* peer = SSL_get1_peer_certificate(ssl);
    if (!peer)
      return "";
    std::string cn;
    char buf[256] = {0};
    if (SSL_get_verify_result(ssl) == X509_V_OK &&
        X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, buf, sizeof buf) >=
            0)
      cn = buf;
    X509_free(peer);
    return cn;
  }

  bool allowedProxy(const std::string& cn) const {
    if (cn.empty())
      return false;
    if (auth.allowedNames.empty())
      return true;
    return std::find(auth.allowedNames.begin(), auth.allowedNames.end(), cn) !=
           auth.allowedNames.end();
  }

  // The user the front proxy vouches for, asked of the API server with a SubjectAccessReview.
  Reply authorize(const http::request<http::string_body>& req, const SubresourceCall& call) {
    std::string user;
    for (const auto& h : auth.usernameHeaders) {
      const auto it = req.find(h);
      if (it != req.end() && !it->value().empty()) {
        user = std::string(it->value());
        break;
      }
    }
    if (user.empty())
      return statusReply(401, "Unauthorized", "request is not authenticated");
    Json groups = Json::array();
    for (const auto& h : auth.groupHeaders)
      for (auto [it, end] = req.equal_range(h); it != end; ++it)
        groups.push_back(std::string(it->value()));
    Json extra = Json::object();
    if (!auth.extraHeadersPrefix.empty()) {
      std::string prefix = auth.extraHeadersPrefix;
      std::transform(prefix.begin(), prefix.end(), prefix.begin(), ::tolower);
      for (const auto& field : req) {
        std::string name(field.name_string());
        std::transform(name.begin(), name.end(), name.begin(), ::tolower);
        if (name.rfind(prefix, 0) == 0)
          extra[name.substr(prefix.size())].push_back(std::string(field.value()));
      }
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

  Reply route(const http::request<http::string_body>& req, const std::string& proxy) {
    std::string path(req.target());
    if (const auto q = path.find('?'); q != std::string::npos)
      path.resize(q);
    if (req.method() == http::verb::get) {
      if (path == "/healthz" || path == "/readyz")
        return {200, "ok", "text/plain"};
      if (auto doc = discovery(path))
        return {200, doc->dump()};
    }
    if (!allowedProxy(proxy))
      return statusReply(401, "Unauthorized", "request is not authenticated");
    const auto call = parseSubresourcePath(path);
    if (!call)
      return statusReply(404, "NotFound", "the server could not find the requested resource");
    if (req.method() != http::verb::put)
      return statusReply(405, "MethodNotAllowed",
                         "the server does not allow this method on the requested resource");
    if (Reply denied = authorize(req, *call); denied.code != 200)
      return denied;
    return handleSubresource(client, *call, req.body());
  }

  void serve(tcp::socket socket) {
    ssl::stream<tcp::socket> stream(std::move(socket), tls);
    boost::system::error_code ec;
    stream.handshake(ssl::stream_base::server, ec);
    if (ec)
      return;  // e.g. a client certificate from another CA: OpenSSL refused it
    const std::string proxy = proxyName(stream.native_handle());
    boost::beast::flat_buffer buffer;
    while (!stopping) {
      http::request<http::string_body> req;
      http::read(stream, buffer, req, ec);
      if (ec)
        break;
      Reply reply;
      try {
        reply = route(req, proxy);
      } catch (const std::exception& e) {
        reply =
            statusReply(500, "InternalError", std::string("Internal error occurred: ") + e.what());
      }
      http::response<http::string_body> res{static_cast<http::status>(reply.code), req.version()};
      res.set(http::field::server, "umbra-sim virt-api");
      if (!reply.body.empty())
        res.set(http::field::content_type, reply.contentType);
      res.body() = reply.body;
      res.keep_alive(req.keep_alive());
      res.prepare_payload();
      http::write(stream, res, ec);
      if (ec || !res.keep_alive())
        break;
    }
    stream.shutdown(ec);
  }

  void stop() {
    stopping = true;
    ::shutdown(acceptor.native_handle(), SHUT_RDWR);
    if (acceptThread.joinable())
      acceptThread.join();
    std::list<Conn> all;
    {
      const std::lock_guard<std::mutex> lock(connMutex);
      for (auto& c : conns)
        if (!c.done && c.fd >= 0)
          ::shutdown(c.fd, SHUT_RDWR);
      all.splice(all.end(), conns);
    }
    for (auto& c : all)
      if (c.thread.joinable())
        c.thread.join();
    boost::system::error_code ec;
    acceptor.close(ec);
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
  if (Status s = impl->listen(); !s.ok())
    return s.error();
  const std::string svc = options.serviceName + "." + options.serviceNamespace + ".svc";
  auto cert = generateServingCert({svc, svc + ".cluster.local", "localhost"}, {"127.0.0.1"}, 365);
  if (!cert.ok())
    return cert.error();
  impl->cert = std::move(cert).value();
  if (Status s = impl->configureTls(); !s.ok())
    return s.error();
  impl->acceptThread = std::thread([raw = impl.get()] { raw->acceptLoop(); });
  std::unique_ptr<VirtApiServer> server(new VirtApiServer(std::move(impl)));
  if (Status s = registerApi(client, options, server->impl_->port, server->impl_->cert.caPem);
      !s.ok())
    return s.error();  // the destructor stops the threads and removes what was registered
  log::info("virt-api serving subresources.kubevirt.io",
            {{"address", options.address},
             {"port", std::to_string(server->port())},
             {"service", options.serviceNamespace + "/" + options.serviceName}});
  return server;
}

VirtApiServer::VirtApiServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

VirtApiServer::~VirtApiServer() {
  impl_->stop();
  unregisterApi(impl_->client, impl_->options);
}

uint16_t VirtApiServer::port() const {
  return impl_->port;
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
