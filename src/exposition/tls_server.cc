#include "exposition/tls_server.h"

#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <list>
#include <mutex>
#include <sstream>
#include <thread>

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "common/log.h"

namespace umbra::exposition {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

Result<std::string> readFile(const std::string& path, const std::string& flag) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return Error::make(ErrorKind::Config, flag + ": cannot read " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::filesystem::file_time_type modified(const std::string& path) {
  std::error_code ec;
  const auto t = std::filesystem::last_write_time(path, ec);
  return ec ? std::filesystem::file_time_type{} : t;
}

}  // namespace

std::string HttpRequest::header(const std::string& name) const {
  const std::string key = lower(name);
  for (const auto& [k, v] : headers)
    if (k == key)
      return v;
  return "";
}

std::vector<std::string> HttpRequest::headerValues(const std::string& name) const {
  const std::string key = lower(name);
  std::vector<std::string> out;
  for (const auto& [k, v] : headers)
    if (k == key)
      out.push_back(v);
  return out;
}

struct TlsServer::Impl {
  TlsServerOptions options;
  Handler handler;
  asio::io_context io;
  tcp::acceptor acceptor{io};
  uint16_t port = 0;
  std::atomic<bool> stopping{false};
  std::thread acceptThread;

  // The TLS context in use; replaced when the certificate files change. A connection holds the
  // context it started with.
  std::mutex tlsMutex;
  std::shared_ptr<ssl::context> tls;
  std::filesystem::file_time_type certTime, keyTime;
  std::chrono::steady_clock::time_point nextCheck;

  // A connection: its thread serves requests until the peer closes or we stop. `fd` is -1 once
  // the socket is closed, so that stopping never shuts down a descriptor reused by another file.
  struct Conn {
    int fd = -1;
    bool done = false;
    std::thread thread;
  };
  std::mutex connMutex;
  std::list<Conn> conns;

  Impl(TlsServerOptions o, Handler h) : options(std::move(o)), handler(std::move(h)) {}

  Error configError(const std::string& what) const {
    return Error::make(ErrorKind::Config, options.flag + " " + options.address + ": " + what);
  }

  Status listen() {
    const auto colon = options.address.rfind(':');
    if (colon == std::string::npos)
      return configError("expected host:port");
    boost::system::error_code ec;
    const auto host = asio::ip::make_address(options.address.substr(0, colon), ec);
    int portNumber = -1;
    try {
      size_t used = 0;
      const std::string p = options.address.substr(colon + 1);
      portNumber = std::stoi(p, &used);
      if (used != p.size())
        portNumber = -1;
    } catch (const std::exception&) {
    }
    if (ec || portNumber < 0 || portNumber > 65535)
      return configError("expected an IP address and a port");
    const tcp::endpoint ep(host, static_cast<uint16_t>(portNumber));
    acceptor.open(ep.protocol(), ec);
    if (!ec)
      acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec)
      acceptor.bind(ep, ec);
    if (!ec)
      acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec)
      return configError(ec.message());
    port = acceptor.local_endpoint().port();
    return {};
  }

  Result<std::shared_ptr<ssl::context>> makeContext(const std::string& certPem,
                                                    const std::string& keyPem) const {
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
    try {
      ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
      ctx->use_certificate_chain(asio::buffer(certPem));
      ctx->use_private_key(asio::buffer(keyPem), ssl::context::pem);
      if (!options.clientCaPem.empty()) {
        ctx->add_certificate_authority(asio::buffer(options.clientCaPem));
        // VerifyClientCertIfGiven: a certificate is optional, but one that is sent must chain
        // to the CA (KubeVirt's virt-api, pkg/virt-api/api.go).
        ctx->set_verify_mode(ssl::verify_peer);
        BIO* bio = BIO_new_mem_buf(options.clientCaPem.data(),
                                   static_cast<int>(options.clientCaPem.size()));
        while (X509* ca = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
          SSL_CTX_add_client_CA(ctx->native_handle(), ca);
          X509_free(ca);
        }
        BIO_free(bio);
      }
    } catch (const std::exception& e) {
      return configError(std::string("TLS setup: ") + e.what());
    }
    return ctx;
  }

  Status loadFiles() {
    const auto cert = readFile(options.certFile, options.flag);
    if (!cert.ok())
      return cert.error();
    const auto key = readFile(options.keyFile, options.flag);
    if (!key.ok())
      return key.error();
    const auto t1 = modified(options.certFile), t2 = modified(options.keyFile);
    auto ctx = makeContext(*cert, *key);
    if (!ctx.ok())
      return ctx.error();
    tls = std::move(ctx).value();
    certTime = t1;
    keyTime = t2;
    return {};
  }

  std::shared_ptr<ssl::context> context() {
    const std::lock_guard<std::mutex> lock(tlsMutex);
    const auto now = std::chrono::steady_clock::now();
    if (!options.certFile.empty() && now >= nextCheck) {
      nextCheck = now + options.reloadCheck;
      if (modified(options.certFile) != certTime || modified(options.keyFile) != keyTime) {
        // A half-written pair fails to load: the previous context serves on, tried again later.
        if (Status s = loadFiles(); s.ok())
          log::info("serving certificate reloaded", {{"file", options.certFile}});
        else
          log::warn("serving certificate not reloaded", {{"error", s.error().message}});
      }
    }
    return tls;
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
      auto ctx = context();
      const std::lock_guard<std::mutex> lock(connMutex);
      conns.remove_if([](Conn& c) {
        if (!c.done)
          return false;
        c.thread.join();
        return true;
      });
      Conn& conn = conns.emplace_back();
      conn.fd = socket.native_handle();
      conn.thread = std::thread([this, &conn, ctx, s = std::move(socket)]() mutable {
        serve(std::move(s), *ctx);
        const std::lock_guard<std::mutex> done(connMutex);
        conn.fd = -1;
        conn.done = true;
      });
    }
  }

  // The verified client certificate's CN, or "" if the peer sent none.
  static std::string peerName(SSL* ssl) {
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

  void serve(tcp::socket socket, ssl::context& ctx) {
    ssl::stream<tcp::socket> stream(std::move(socket), ctx);
    boost::system::error_code ec;
    stream.handshake(ssl::stream_base::server, ec);
    if (ec)
      return;  // e.g. plain HTTP, or a client certificate from another CA
    const std::string peer = peerName(stream.native_handle());
    boost::beast::flat_buffer buffer;
    while (!stopping) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(1 << 20);
      http::read(stream, buffer, parser, ec);
      if (ec)
        break;
      const auto& req = parser.get();
      HttpRequest in;
      in.method = std::string(req.method_string());
      in.target = std::string(req.target());
      in.path = in.target.substr(0, in.target.find('?'));
      for (const auto& field : req)
        in.headers.emplace_back(lower(std::string(field.name_string())),
                                std::string(field.value()));
      in.body = req.body();
      in.peerCommonName = peer;
      HttpReply reply;
      try {
        reply = handler(in);
      } catch (const std::exception& e) {
        reply = {500, std::string("internal error: ") + e.what(), "text/plain"};
      }
      http::response<http::string_body> res{static_cast<http::status>(reply.code), req.version()};
      res.set(http::field::server, options.serverName);
      if (!reply.body.empty())
        res.set(http::field::content_type, reply.contentType);
      res.body() = std::move(reply.body);
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

Result<std::unique_ptr<TlsServer>> TlsServer::start(const TlsServerOptions& options,
                                                    Handler handler) {
  auto impl = std::make_unique<Impl>(options, std::move(handler));
  if (options.certFile.empty() != options.keyFile.empty())
    return impl->configError("a certificate file needs its key file, and the other way round");
  if (!options.certFile.empty()) {
    if (Status s = impl->loadFiles(); !s.ok())
      return s.error();
  } else {
    auto ctx = impl->makeContext(options.certPem, options.keyPem);
    if (!ctx.ok())
      return ctx.error();
    impl->tls = std::move(ctx).value();
  }
  if (Status s = impl->listen(); !s.ok())
    return s.error();
  impl->acceptThread = std::thread([raw = impl.get()] { raw->acceptLoop(); });
  return std::unique_ptr<TlsServer>(new TlsServer(std::move(impl)));
}

TlsServer::TlsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

TlsServer::~TlsServer() {
  impl_->stop();
}

uint16_t TlsServer::port() const {
  return impl_->port;
}

}  // namespace umbra::exposition
