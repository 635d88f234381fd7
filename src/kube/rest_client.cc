#include "kube/rest_client.h"
#include "common/files.h"

#include <cpprest/http_client.h>
#include <pplx/threadpool.h>

#include <boost/asio/ssl.hpp>
#include <chrono>
#include <mutex>
#include <semaphore>
#include <string_view>
#include <vector>

#include "common/tls_trust.h"
#include "kube_core/status.h"

namespace umbra::kube {
namespace {

using web::http::client::http_client;
using web::http::client::http_client_config;

constexpr auto TokenFileRefresh = std::chrono::minutes(1);  // client-go's cached token source
constexpr auto WatchIdleTimeout = std::chrono::minutes(15);
// Requests in flight at once (watches apart). cpprestsdk speaks HTTP/1.1, one connection per
// concurrent request, and sets up every new connection's TLS context from scratch, loading the
// system CA bundle (OpenSSL 3: about 40 ms of CPU each here). 64 concurrent creates from a cold
// pool took 2.35 s before the first answer, 0.43 s with 8 in flight; 24 suits the operator's
// default 16 workers, whose passes create a placement's shadows concurrently (bench-controller).
// (client-go multiplexes everything over one HTTP/2 connection.)
constexpr std::ptrdiff_t MaxInFlight = 24;

// As client-go: a configured CA is the only root trusted; without one, the system's roots.
tls::Material trustOf(const ClusterConfig& cfg) {
  return {cfg.caPem, false, cfg.clientCertPem, cfg.clientKeyPem};
}

http_client_config clientConfig(const ClusterConfig& cfg, std::chrono::seconds timeout) {
  http_client_config c;
  c.set_timeout(timeout);
  c.set_validate_certificates(!cfg.insecureSkipTlsVerify);
  // Parsed once and shared by every connection (common/tls_trust.h).
  const tls::Material material = trustOf(cfg);
  c.set_ssl_context_callback(
      [material](boost::asio::ssl::context& ctx) { tls::apply(ctx.native_handle(), material); });
  return c;
}

}  // namespace

Status setHttpIoThreads(size_t threads) {
  try {
    crossplat::threadpool::initialize_with_threads(threads);
    return okStatus();
  } catch (const std::exception& e) {
    return Error::make(ErrorKind::Internal,
                       std::string("cannot size the HTTP I/O thread pool: ") + e.what());
  }
}

struct RestClient::Impl {
  ClusterConfig cfg;
  http_client client;
  http_client watchClient;
  RequestObserver observer;
  std::mutex tokenMutex;
  std::string cachedToken;
  std::chrono::steady_clock::time_point tokenReadAt{};
  std::counting_semaphore<MaxInFlight> inFlight{MaxInFlight};

  explicit Impl(const ClusterConfig& c)
      : cfg(c),
        client(web::uri(c.server), clientConfig(c, c.requestTimeout)),
        watchClient(
            web::uri(c.server),
            clientConfig(c, std::chrono::duration_cast<std::chrono::seconds>(WatchIdleTimeout))) {}

  std::string bearerToken() {
    if (cfg.tokenFile.empty()) {
      return cfg.token;
    }
    const std::lock_guard<std::mutex> lock(tokenMutex);
    const auto now = std::chrono::steady_clock::now();
    if (cachedToken.empty() || now - tokenReadAt > TokenFileRefresh) {
      auto text = readFile(cfg.tokenFile);
      if (text.ok()) {
        cachedToken = *text;
        while (!cachedToken.empty() &&
               std::isspace(static_cast<unsigned char>(cachedToken.back()))) {
          cachedToken.pop_back();
        }
        tokenReadAt = now;
      }  // else keep the last token: a rotation in progress must not break every request
    }
    return cachedToken;
  }

  web::http::http_request build(const HttpRequest& r) {
    web::http::http_request req(r.method);
    req.set_request_uri(r.target());
    auto& h = req.headers();
    h.add("Accept", "application/json");
    h.add("User-Agent", cfg.userAgent);
    if (const std::string token = bearerToken(); !token.empty()) {
      h.add("Authorization", "Bearer " + token);
    }
    if (!r.body.empty()) {
      req.set_body(r.body, r.contentType);
    }
    return req;
  }

  std::string what(const HttpRequest& r) const { return r.method + " " + cfg.server + r.target(); }

  // Turns a transport exception into a one-line error naming the URL (and the CA on TLS trouble).
  Error transportError(const HttpRequest& r, const std::exception& e) const {
    std::string msg = e.what();
    ErrorKind kind = ErrorKind::Network;
    if (const auto* he = dynamic_cast<const web::http::http_exception*>(&e)) {
      if (he->error_code() == std::errc::timed_out) {
        kind = ErrorKind::Timeout;
      }
    }
    const bool tls = msg.find("handshake") != std::string::npos ||
                     msg.find("certificate") != std::string::npos ||
                     msg.find("SSL") != std::string::npos;
    if (tls) {
      msg = "TLS handshake failed (" + msg + "); the server certificate is not trusted by " +
            (cfg.caSource.empty() ? std::string("the system trust store") : cfg.caSource);
    }
    return Error::make(kind, what(r) + ": " + msg);
  }

  void observe(const HttpRequest& r, int code, std::chrono::steady_clock::time_point start) {
    if (observer) {
      observer(r.watch ? "WATCH" : r.method, code,
               std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
  }

  Result<Json> roundTrip(const HttpRequest& r) {
    const auto start = std::chrono::steady_clock::now();
    inFlight.acquire();
    struct Release {
      std::counting_semaphore<MaxInFlight>& s;
      ~Release() { s.release(); }
    } release{inFlight};
    try {
      web::http::http_response resp = client.request(build(r)).get();
      const int code = resp.status_code();
      const std::string body = resp.extract_utf8string(true).get();
      observe(r, code, start);
      if (code < 200 || code >= 300) {
        std::optional<std::string> retryAfter;
        if (resp.headers().has("Retry-After")) {
          retryAfter = resp.headers()["Retry-After"];
        }
        return errorFromResponse(code, body, what(r), retryAfter);
      }
      if (body.empty()) {
        return Json::object();
      }
      auto parsed = Json::parse(body, nullptr, false);
      if (parsed.is_discarded()) {
        return Error::make(ErrorKind::ServerError, what(r) + ": response is not JSON");
      }
      return parsed;
    } catch (const std::exception& e) {
      observe(r, 0, start);
      return transportError(r, e);
    }
  }

  Status streamWatch(const HttpRequest& r, const WatchHandler& handler,
                     const CancellationPtr& cancel) {
    const auto start = std::chrono::steady_clock::now();
    pplx::cancellation_token_source cts;
    size_t reg = SIZE_MAX;
    if (cancel) {
      reg = cancel->onCancel([cts]() mutable { cts.cancel(); });
    }
    struct Unregister {
      const CancellationPtr& c;
      size_t id;
      ~Unregister() {
        if (c && id != SIZE_MAX) {
          c->unregister(id);
        }
      }
    } unregister{cancel, reg};
    try {
      web::http::http_response resp = watchClient.request(build(r), cts.get_token()).get();
      const int code = resp.status_code();
      observe(r, code, start);
      if (code != 200) {
        const std::string body = resp.extract_utf8string(true).get();
        return errorFromResponse(code, body, what(r));
      }
      // Read what has arrived in one piece and split it into lines here: cpprestsdk's
      // read_line() takes a lock and may schedule a task per byte, which cost the operator about
      // 6 % of its CPU in a burst of placements (bench-controller).
      auto body = resp.body().streambuf();
      using Traits = concurrency::streams::streambuf<uint8_t>::traits;
      std::vector<uint8_t> chunk(size_t{64} * 1024);
      std::string pending;  // bytes after the last complete line
      size_t scanned = 0;   // pending[0, scanned) holds no newline
      bool ended = false;
      while (!ended) {
        if (const size_t avail = body.in_avail(); avail > 0) {
          const size_t n = body.getn(chunk.data(), std::min(avail, chunk.size())).get();
          pending.append(reinterpret_cast<const char*>(chunk.data()), n);
        } else if (const auto c = body.bumpc().get(); c != Traits::eof()) {
          pending.push_back(static_cast<char>(c));  // waited for the next byte
        } else {
          ended = true;  // the server ended the stream (timeoutSeconds)
          pending.push_back('\n');
        }
        size_t begin = 0;
        for (size_t nl; (nl = pending.find('\n', scanned)) != std::string::npos; scanned = begin) {
          const std::string_view line(pending.data() + begin, nl - begin);
          begin = nl + 1;
          if (cancel && cancel->cancelled()) {
            return Error::make(ErrorKind::Cancelled, what(r) + ": cancelled");
          }
          auto event = parseWatchLine(line);
          if (!event.ok()) {
            return Error::make(ErrorKind::ServerError, what(r) + ": " + event.error().message);
          }
          if (!event->has_value()) {
            continue;  // a blank line
          }
          if (!handler(std::move(**event))) {
            cts.cancel();
            return okStatus();
          }
        }
        pending.erase(0, begin);
        scanned = pending.size();
      }
      return okStatus();
    } catch (const pplx::task_canceled&) {
      return Error::make(ErrorKind::Cancelled, what(r) + ": cancelled");
    } catch (const std::exception& e) {
      if (cancel && cancel->cancelled()) {
        return Error::make(ErrorKind::Cancelled, what(r) + ": cancelled");
      }
      return transportError(r, e);
    }
  }
};

Result<std::unique_ptr<RestClient>> RestClient::fromConfig(const ClusterConfig& config) {
  try {
    web::uri check(config.server);
    (void)check;
  } catch (const std::exception& e) {
    return Error::config(config.source + ": server \"" + config.server + "\": " + e.what());
  }
  // Checked one at a time so that the error names the field that is wrong; this also parses the
  // material for every connection to come (tls::apply caches it).
  boost::asio::ssl::context probe(boost::asio::ssl::context::sslv23_client);
  tls::Material ca = trustOf(config);
  ca.clientCertPem.clear();
  ca.clientKeyPem.clear();
  try {
    tls::apply(probe.native_handle(), ca);
  } catch (const std::exception& e) {
    return Error::config(config.source + ": invalid TLS material in " + config.caSource + ": " +
                         e.what());
  }
  try {
    tls::apply(probe.native_handle(), trustOf(config));
  } catch (const std::exception& e) {
    return Error::config(config.source + ": invalid TLS material in " + config.clientCertSource +
                         " (or its client-key): " + e.what());
  }
  tls::skipPerConnectionBundle();
  return std::unique_ptr<RestClient>(new RestClient(std::make_unique<Impl>(config)));
}

RestClient::RestClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RestClient::~RestClient() = default;

void RestClient::setObserver(RequestObserver observer) {
  impl_->observer = std::move(observer);
}
const ClusterConfig& RestClient::config() const {
  return impl_->cfg;
}

Result<Json> RestClient::get(const ResourceType& type, const ObjectRef& ref) {
  return impl_->roundTrip(getRequest(type, ref));
}

Result<Json> RestClient::list(const ResourceType& type, const std::string& ns,
                              const ListOptions& opts) {
  return impl_->roundTrip(listRequest(type, ns, opts));
}

Result<Json> RestClient::create(const ResourceType& type, const std::string& ns, const Json& obj,
                                const WriteOptions& opts) {
  return impl_->roundTrip(createRequest(type, ns, obj.dump(), opts));
}

Result<Json> RestClient::update(const ResourceType& type, const Json& obj, const WriteOptions& opts,
                                const std::string& subresource) {
  const auto& meta = obj.at("metadata");
  const ObjectRef ref{meta.value("namespace", ""), meta.value("name", "")};
  return impl_->roundTrip(updateRequest(type, ref, obj.dump(), opts, subresource));
}

Result<Json> RestClient::patch(const ResourceType& type, const ObjectRef& ref, PatchType patchType,
                               const Json& body, const WriteOptions& opts,
                               const std::string& subresource) {
  return impl_->roundTrip(patchRequest(type, ref, patchType, body.dump(), opts, subresource));
}

Result<Json> RestClient::remove(const ResourceType& type, const ObjectRef& ref,
                                const DeleteOptions& opts) {
  return impl_->roundTrip(deleteRequest(type, ref, opts));
}

Result<Json> RestClient::send(const HttpRequest& request) {
  return impl_->roundTrip(request);
}

Status RestClient::watch(const ResourceType& type, const std::string& ns, const WatchOptions& opts,
                         const WatchHandler& handler, const CancellationPtr& cancel) {
  return impl_->streamWatch(watchRequest(type, ns, opts), handler, cancel);
}

}  // namespace umbra::kube
