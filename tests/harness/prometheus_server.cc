#include "harness/prometheus_server.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "harness/control_plane.h"
#include "harness/process.h"

namespace umbra::testing {

PrometheusServer::~PrometheusServer() {
  stop();
}

Status PrometheusServer::start(const std::string& openMetrics) {
  char tmpl[] = "/tmp/umbra-prom.XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) {
    return Error::bug("mkdtemp failed");
  }
  dir_ = tmpl;
  std::ofstream(dir_ + "/data.om") << openMetrics;
  std::ofstream(dir_ + "/prometheus.yml") << "global: {scrape_interval: 15s}\nscrape_configs: []\n";
  const auto backfill = runCommand("promtool tsdb create-blocks-from openmetrics " + dir_ +
                                   "/data.om " + dir_ + "/tsdb");
  if (backfill.exitCode != 0) {
    return Error::make(ErrorKind::Internal, "promtool backfill failed: " + backfill.output);
  }
  return launch();
}

Status PrometheusServer::startScraping(const std::string& target) {
  char tmpl[] = "/tmp/umbra-prom.XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) {
    return Error::bug("mkdtemp failed");
  }
  dir_ = tmpl;
  std::ofstream(dir_ + "/prometheus.yml")
      << "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
         "scrape_configs:\n"
         "- job_name: umbra-test\n"
         "  honor_labels: true\n"
         "  static_configs: [{targets: ['"
      << target << "']}]\n";
  return launch();
}

void PrometheusServer::setWebConfig(std::string yaml, std::map<std::string, std::string> files,
                                    bool tls, std::string curlArgs) {
  webConfig_ = std::move(yaml);
  webFiles_ = std::move(files);
  tls_ = tls;
  curlArgs_ = std::move(curlArgs);
}

Status PrometheusServer::launch() {
  if (listen_.empty()) {
    const auto port = runCommand(
        "python3 -c 'import socket; s=socket.socket(); s.bind((\"127.0.0.1\",0)); "
        "print(s.getsockname()[1])'");
    listen_ = "127.0.0.1:" + port.output.substr(0, port.output.find('\n'));
  }
  url_ = (tls_ ? "https://" : "http://") + listen_;
  std::string web;
  if (!webConfig_.empty()) {
    for (const auto& [name, content] : webFiles_)
      std::ofstream(dir_ + "/" + name) << content;
    std::ofstream(dir_ + "/web.yml") << webConfig_;
    web = "--web.config.file=" + dir_ + "/web.yml";
  }
  const pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ == 0) {
    ::setpgid(0, 0);
    dieWithParent(parent);
    const std::string log = dir_ + "/prometheus.log";
    FILE* out = std::freopen(log.c_str(), "a", stderr);
    (void)out;
    const std::string cfg = "--config.file=" + dir_ + "/prometheus.yml";
    const std::string tsdb = "--storage.tsdb.path=" + dir_ + "/tsdb";
    const std::string addr = "--web.listen-address=" + listen_;
    if (web.empty()) {
      ::execlp("prometheus", "prometheus", cfg.c_str(), tsdb.c_str(), addr.c_str(),
               "--storage.tsdb.retention.time=30d", "--log.level=warn", nullptr);
    } else {
      ::execlp("prometheus", "prometheus", cfg.c_str(), tsdb.c_str(), addr.c_str(), web.c_str(),
               "--storage.tsdb.retention.time=30d", "--log.level=warn", nullptr);
    }
    ::_exit(127);
  }
  const bool ready = eventually(
      [&] { return runCommand("curl -fsS " + curlArgs_ + " " + url_ + "/-/ready").exitCode == 0; },
      std::chrono::seconds(30));
  if (!ready) {
    stop();
    return Error::make(ErrorKind::Timeout, "prometheus did not become ready at " + url_);
  }
  return okStatus();
}

void PrometheusServer::kill() {
  if (pid_ > 0) {
    ::kill(-pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 100 && ::waitpid(pid_, &status, WNOHANG) == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ::kill(-pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }
}

void PrometheusServer::pause() {
  kill();
}

Status PrometheusServer::resume() {
  return launch();
}

void PrometheusServer::stop() {
  kill();
  if (!dir_.empty()) {
    std::filesystem::remove_all(dir_);
    dir_.clear();
  }
}

}  // namespace umbra::testing
