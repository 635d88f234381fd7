#include "sim/files.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <streambuf>

namespace umbra::sim {
namespace {

// An input streambuf over a gzip (or plain) file, so a 60 MB trace is never held whole.
class GzBuf : public std::streambuf {
 public:
  explicit GzBuf(const std::string& path) : file_(gzopen(path.c_str(), "rb")) {
    if (file_)
      gzbuffer(file_, 1 << 17);
  }
  ~GzBuf() override {
    if (file_)
      gzclose(file_);
  }
  GzBuf(const GzBuf&) = delete;
  GzBuf& operator=(const GzBuf&) = delete;
  bool ok() const { return file_ != nullptr; }
  bool failed() const { return failed_; }

 protected:
  int_type underflow() override {
    if (gptr() < egptr())
      return traits_type::to_int_type(*gptr());
    const int n = gzread(file_, buffer_, sizeof(buffer_));
    if (n < 0)
      failed_ = true;
    if (n <= 0)
      return traits_type::eof();
    setg(buffer_, buffer_, buffer_ + n);
    return traits_type::to_int_type(*gptr());
  }

 private:
  gzFile file_;
  bool failed_ = false;
  char buffer_[1 << 16];
};

}  // namespace

Result<ClusterSpec> loadCluster(const std::string& path) {
  std::ifstream in(path);
  if (!in)
    return Error::config(path + ": cannot read: " + std::strerror(errno));
  std::stringstream text;
  text << in.rdbuf();
  return parseCluster(text.str(), path);
}

Result<TraceSet> loadTraces(const std::string& dir, double stepSeconds) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    return Error::config(dir + ": not a directory of traces");
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    const bool csv = name.ends_with(".csv.gz") || name.ends_with(".csv");
    if (csv && name.find("_meta.csv") == std::string::npos)
      files.push_back(e.path());
  }
  if (ec)
    return Error::config(dir + ": " + ec.message());
  if (files.empty())
    return Error::config(dir + ": no *.csv.gz traces");
  std::sort(files.begin(), files.end());
  TraceSet set;
  for (const auto& f : files) {
    const std::string name = f.filename().string();
    TraceUnits units;
    if (name.starts_with("alibaba")) {
      units.diskBytesPerUnit = 200.0 * 1024 * 1024 / 100;      // % of a 200 MiB/s device
      units.networkBytesPerUnit = 1250.0 * 1024 * 1024 / 200;  // of a 10 Gb/s link
    }
    GzBuf buf(f.string());
    if (!buf.ok())
      return Error::config(f.string() + ": cannot read: " + std::strerror(errno));
    std::istream in(&buf);
    UMBRA_CHECK(parseTraceCsv(in, f.string(), stepSeconds, units, set));
    if (buf.failed())
      return Error::config(f.string() + ": corrupt gzip data");
    const std::string base = name.substr(0, name.find(".csv"));
    const fs::path meta = f.parent_path() / (base + "_meta.csv");
    if (fs::exists(meta)) {
      std::ifstream m(meta);
      UMBRA_CHECK(parseTraceMeta(m, meta.string(), set));
    }
  }
  return set;
}

Status checkTraces(const ClusterSpec& cluster, const TraceSet& traces, const std::string& source) {
  if (!traces.capacityProblem.empty())
    return Error::config(traces.capacityProblem);
  for (size_t i = 0; i < cluster.nodes.size(); ++i) {
    const std::string& t = cluster.nodes[i].background.trace;
    if (!t.empty() && !traces.series.count(t))
      return Error::config(std::string(source)
                               .append(": node ")
                               .append(cluster.nodes[i].name)
                               .append(": background.trace: no series ")
                               .append(t)
                               .append(" in the traces"));
  }
  return okStatus();
}

}  // namespace umbra::sim
