#include "exposition/health_server.h"

#include <cpprest/http_listener.h>

namespace umbra::exposition {

using web::http::experimental::listener::http_listener;

struct HealthServer::Impl {
  std::unique_ptr<http_listener> listener;
};

std::unique_ptr<HealthServer> HealthServer::start(const std::string& address,
                                                  const std::function<bool()>& ready,
                                                  std::string& error, Pages pages,
                                                  const std::string& flag) {
  auto impl = std::make_unique<Impl>();
  const std::string host = address.front() == ':' ? "0.0.0.0" + address : address;
  try {
    impl->listener = std::make_unique<http_listener>(web::uri("http://" + host));
    impl->listener->support(web::http::methods::GET, [ready, pages = std::move(pages)](
                                                         const web::http::http_request& req) {
      const std::string path = req.relative_uri().path();
      if (const auto page = pages.find(path); page != pages.end()) {
        req.reply(web::http::status_codes::OK, page->second(), "text/plain; version=0.0.4");
      } else if (path == "/healthz") {
        req.reply(web::http::status_codes::OK, "ok");
      } else if (path == "/readyz") {
        const bool ok = ready();
        req.reply(ok ? web::http::status_codes::OK : web::http::status_codes::ServiceUnavailable,
                  ok ? "ok" : "caches not synced");
      } else {
        req.reply(web::http::status_codes::NotFound, "not found");
      }
    });
    impl->listener->open().wait();
  } catch (const std::exception& e) {
    error = flag + " " + address + ": " + e.what();
    return nullptr;
  }
  return std::unique_ptr<HealthServer>(new HealthServer(std::move(impl)));
}

HealthServer::HealthServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HealthServer::~HealthServer() {
  try {
    impl_->listener->close().wait();
  } catch (const std::exception&) {
    // Closing at shutdown: nothing useful to do with an error here.
  }
}

}  // namespace umbra::exposition
