#pragma once

#include <map>
#include <string>

#include "common/result.h"

namespace umbra::testing {

// A real Prometheus (Debian's package) on a free loopback port, over a TSDB backfilled from
// OpenMetrics text with promtool, so that queries have exactly known answers. Stopped (and its
// directory removed) by stop() or the destructor.
class PrometheusServer {
 public:
  ~PrometheusServer();
  // `openMetrics` must end with "# EOF".
  Status start(const std::string& openMetrics);
  // An empty TSDB scraping http://<target>/metrics every second (honor_labels).
  Status startScraping(const std::string& target);
  void stop();
  // Before start(): serve behind Prometheus' web config (TLS and/or basic auth). `files` are
  // written next to it (name -> content, e.g. a certificate); `curlArgs` let the readiness probe
  // through.
  void setWebConfig(std::string yaml, std::map<std::string, std::string> files, bool tls,
                    std::string curlArgs);
  // Stops the process only (data and port kept) / starts it again on the same address.
  void pause();
  Status resume();
  const std::string& dir() const { return dir_; }
  const std::string& url() const { return url_; }

 private:
  std::string dir_;
  std::string url_;
  Status launch();
  void kill();
  int pid_ = -1;
  std::string listen_;
  std::string webConfig_;
  std::map<std::string, std::string> webFiles_;
  bool tls_ = false;
  std::string curlArgs_;
};

}  // namespace umbra::testing
