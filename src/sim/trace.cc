#include "sim/trace.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>

namespace umbra::sim {

size_t Trace::gaps() const {
  return static_cast<size_t>(std::count(observed.begin(), observed.end(), 0));
}

Trace::Point Trace::at(double t) const {
  if (cpu.empty())
    return {0, 0, 0, 0};
  const double len = seconds();
  t = std::fmod(t, len);
  if (t < 0)
    t += len;
  const double pos = t / stepSeconds;
  const size_t i = std::min(static_cast<size_t>(pos), slots() - 1);
  const size_t j = (i + 1) % slots();
  const double w = pos - static_cast<double>(i);
  const auto lerp = [&](const std::vector<float>& v) { return v[i] * (1 - w) + v[j] * w; };
  return {lerp(cpu), lerp(memory), lerp(disk), lerp(network)};
}

std::vector<std::string> TraceSet::ids() const {
  std::vector<std::string> out;
  out.reserve(series.size());
  for (const auto& [id, t] : series)
    out.push_back(id);
  return out;
}

namespace {

struct Accumulator {
  std::array<std::vector<double>, 4> sum;
  std::array<std::vector<uint32_t>, 4> count;
  void add(size_t slot, int column, double v) {
    if (sum[column].size() <= slot) {
      sum[column].resize(slot + 1, 0.0);
      count[column].resize(slot + 1, 0);
    }
    sum[column][slot] += v;
    count[column][slot] += 1;
  }
};

void finish(const std::string& id, double step, Accumulator& acc, TraceSet& out) {
  size_t slots = 0;
  for (const auto& s : acc.sum)
    slots = std::max(slots, s.size());
  if (slots == 0)
    return;
  Trace t;
  t.id = id;
  t.stepSeconds = step;
  std::vector<float>* columns[4] = {&t.cpu, &t.memory, &t.disk, &t.network};
  t.observed.assign(slots, 0);
  for (int c = 0; c < 4; ++c) {
    auto& v = *columns[c];
    v.assign(slots, 0.0f);
    // The first observation also stands for any leading gap.
    float last = 0;
    for (size_t i = 0; i < acc.count[c].size(); ++i) {
      if (acc.count[c][i]) {
        last = static_cast<float>(acc.sum[c][i] / acc.count[c][i]);
        break;
      }
    }
    for (size_t i = 0; i < slots; ++i) {
      const bool have = i < acc.count[c].size() && acc.count[c][i] > 0;
      if (have) {
        last = static_cast<float>(acc.sum[c][i] / acc.count[c][i]);
        if (c == 0)
          t.observed[i] = 1;
      }
      v[i] = last;
    }
  }
  out.series[id] = std::move(t);
  acc = Accumulator{};
}

// Splits a CSV line without quotes (the format has none) into at most `n` fields.
size_t split(const std::string& line, std::string_view* fields, size_t n) {
  size_t k = 0;
  size_t start = 0;
  while (k < n) {
    const size_t comma = line.find(',', start);
    fields[k++] =
        std::string_view(line).substr(start, comma == std::string::npos ? comma : comma - start);
    if (comma == std::string::npos)
      break;
    start = comma + 1;
  }
  return k;
}

bool number(std::string_view text, double& out) {
  char buf[64];
  if (text.empty() || text.size() >= sizeof(buf))  // no number of the format is that long
    return false;
  const size_t n = text.size();
  std::copy_n(text.data(), n, buf);
  buf[n] = 0;
  char* end = nullptr;
  out = std::strtod(buf, &end);
  return end == buf + n && std::isfinite(out);
}

}  // namespace

Status parseTraceCsv(std::istream& in, const std::string& source, double stepSeconds,
                     const TraceUnits& units, TraceSet& out) {
  static const char* Header = "series_id,timestamp_s,cpu_util,mem_util,disk_io,net_io";
  static const char* Columns[] = {"cpu_util", "mem_util", "disk_io", "net_io"};
  std::string line;
  if (!std::getline(in, line))
    return Error::config(source + ": empty file");
  if (!line.empty() && line.back() == '\r')
    line.pop_back();
  if (line != Header)
    return Error::config(source + ":1: header must be \"" + std::string(Header) + "\", got \"" +
                         line.substr(0, 80) + "\"");
  std::string current;
  Accumulator acc;
  size_t lineNo = 1;
  const double scale[4] = {1, 1, units.diskBytesPerUnit, units.networkBytesPerUnit};
  while (std::getline(in, line)) {
    ++lineNo;
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    if (line.empty())
      continue;
    std::string_view f[6];
    if (split(line, f, 6) != 6)
      return Error::config(source + ":" + std::to_string(lineNo) + ": expected 6 fields");
    const auto where = [&](const std::string& column) {
      return std::string(source)
          .append(":")
          .append(std::to_string(lineNo))
          .append(": ")
          .append(column)
          .append(": ");
    };
    if (f[0].empty())
      return Error::config(where("series_id") + "empty");
    if (f[0] != current) {
      if (!current.empty())
        finish(current, stepSeconds, acc, out);
      current = std::string(f[0]);
      if (out.series.count(current))
        return Error::config(where("series_id") + current +
                             " appears twice (rows must be sorted by series)");
    }
    double t = 0;
    if (!number(f[1], t) || t < 0)
      return Error::config(where("timestamp_s") + "not a non-negative number \"" +
                           std::string(f[1]) + "\"");
    if (t / stepSeconds > 10'000'000)  // checked before the conversion, which would overflow
      return Error::config(where("timestamp_s") + "too far from the series start");
    const size_t slot = static_cast<size_t>(t / stepSeconds);
    for (int c = 0; c < 4; ++c) {
      if (f[c + 2].empty())
        continue;  // unknown, not zero
      double v = 0;
      if (!number(f[c + 2], v) || v < 0)
        return Error::config(where(Columns[c]) + "not a non-negative number \"" +
                             std::string(f[c + 2]) + "\"");
      acc.add(slot, c, c < 2 ? std::min(v, 1.0) : v * scale[c]);
    }
  }
  if (!current.empty())
    finish(current, stepSeconds, acc, out);
  if (in.bad())
    return Error::config(source + ": read error after line " + std::to_string(lineNo));
  return okStatus();
}

Status parseTraceMeta(std::istream& in, const std::string& source, TraceSet& out) {
  std::string line;
  if (!std::getline(in, line))
    return Error::config(source + ": empty file");
  const auto chomp = [](std::string& l) {  // CRLF and LF both
    if (!l.empty() && l.back() == '\r')
      l.pop_back();
  };
  chomp(line);
  std::vector<std::string> header;
  for (size_t start = 0;;) {
    const size_t comma = line.find(',', start);
    header.push_back(line.substr(start, comma == std::string::npos ? comma : comma - start));
    if (comma == std::string::npos)
      break;
    start = comma + 1;
  }
  const auto column = [&](const std::string& name) -> int {
    const auto it = std::find(header.begin(), header.end(), name);
    return it == header.end() ? -1 : static_cast<int>(it - header.begin());
  };
  const int id = column("series_id");
  const int cores = column("cpu_cores") >= 0 ? column("cpu_cores") : column("cpu_num");
  const int memKb = column("mem_capacity_kb");
  const int memNorm = column("mem_size_normalized");
  if (id < 0)
    return Error::config(source + ":1: needs a series_id column");
  if (cores < 0 || (memKb < 0 && memNorm < 0)) {
    // Forecasting does not need capacities; placement does (checkTraces()).
    if (out.capacityProblem.empty())
      out.capacityProblem = source +
                            ":1: needs cpu_cores|cpu_num and mem_capacity_kb|mem_size_normalized "
                            "columns to size the VMs";
    return okStatus();
  }
  size_t lineNo = 1;
  while (std::getline(in, line)) {
    ++lineNo;
    chomp(line);
    std::vector<std::string_view> f(header.size() + 1);
    const size_t n = split(line, f.data(), f.size());
    if (n < header.size())
      continue;  // trailing notes
    auto it = out.series.find(std::string(f[static_cast<size_t>(id)]));
    if (it == out.series.end())
      continue;
    double c = 0;
    double m = 0;
    if (!number(f[static_cast<size_t>(cores)], c) || c <= 0)
      return Error::config(source + ":" + std::to_string(lineNo) +
                           ": cpu cores: not a positive number");
    const bool kb = memKb >= 0;
    if (!number(f[static_cast<size_t>(kb ? memKb : memNorm)], m) || m <= 0)
      return Error::config(source + ":" + std::to_string(lineNo) +
                           ": memory: not a positive number");
    it->second.cpuCores = c;
    // Alibaba normalises memory to its largest machine (100); we take that one as 512 GiB.
    it->second.memoryBytes = kb ? m * 1024 : m / 100.0 * 512.0 * 1024 * 1024 * 1024;
  }
  return okStatus();
}

}  // namespace umbra::sim
