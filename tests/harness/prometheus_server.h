#pragma once

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
  const std::string& url() const { return url_; }

 private:
  std::string dir_;
  std::string url_;
  Status launch();
  int pid_ = -1;
};

}  // namespace umbra::testing
