#include "exposition/process_collector.h"

#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <optional>
#include <sstream>
#include <string>

namespace umbra::exposition {
namespace {

prometheus::MetricFamily family(const char* name, const char* help, prometheus::MetricType type,
                                double value) {
  prometheus::MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = type;
  prometheus::ClientMetric m;
  if (type == prometheus::MetricType::Counter)
    m.counter.value = value;
  else
    m.gauge.value = value;
  f.metric.push_back(m);
  return f;
}

// /proc/stat's btime: the boot time in seconds since the epoch.
std::optional<double> bootTime() {
  std::ifstream in("/proc/stat");
  for (std::string key; in >> key;) {
    if (key == "btime") {
      double t = 0;
      if (in >> t)
        return t;
      return std::nullopt;
    }
    in.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
  return std::nullopt;
}

}  // namespace

std::vector<prometheus::MetricFamily> ProcessCollector::Collect() const {
  using prometheus::MetricType;
  std::vector<prometheus::MetricFamily> out;
  // /proc/self/stat: the fields after the command name, which is in parentheses and may hold
  // blanks; utime and stime are fields 14 and 15, starttime 22, vsize 23, rss 24 (proc(5)).
  std::ifstream statFile("/proc/self/stat");
  const std::string stat((std::istreambuf_iterator<char>(statFile)), {});
  const auto close = stat.rfind(')');
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
  if (close != std::string::npos && ticks > 0 && page > 0) {
    std::istringstream rest(stat.substr(close + 2));
    std::vector<std::string> f((std::istream_iterator<std::string>(rest)), {});
    // f[0] is field 3 (state): field n is f[n - 3].
    if (f.size() >= 22)
      try {
        out.push_back(family("process_cpu_seconds_total", "Total user and system CPU time spent",
                             MetricType::Counter, (std::stod(f[11]) + std::stod(f[12])) / ticks));
        if (const auto boot = bootTime())
          out.push_back(family("process_start_time_seconds",
                               "Start time of the process since the Unix epoch", MetricType::Gauge,
                               *boot + std::stod(f[19]) / ticks));
        out.push_back(family("process_virtual_memory_bytes", "Virtual memory size",
                             MetricType::Gauge, std::stod(f[20])));
        out.push_back(family("process_resident_memory_bytes", "Resident memory size",
                             MetricType::Gauge, std::stod(f[21]) * page));
      } catch (const std::exception&) {
        out.clear();  // not the format proc(5) describes: nothing rather than nonsense
      }
  }
  std::error_code ec;
  size_t fds = 0;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end;
       it.increment(ec))
    ++fds;
  if (!ec)
    out.push_back(family("process_open_fds", "Open file descriptors", MetricType::Gauge,
                         static_cast<double>(fds)));
  if (rlimit r{}; ::getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur != RLIM_INFINITY)
    out.push_back(family("process_max_fds", "Maximum number of open file descriptors",
                         MetricType::Gauge, static_cast<double>(r.rlim_cur)));
  return out;
}

}  // namespace umbra::exposition
