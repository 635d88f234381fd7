// Demand: what each workload and each node's background asks for at a demand time, and the
// noise on demand and on what the exporters count.
#include <algorithm>
#include <array>
#include <cmath>
#include <numbers>

#include "sim/random.h"
#include "sim/simulation.h"

namespace umbra::sim {

using detail::mix;
using detail::NoiseSlotSeconds;
using detail::uniform;

namespace {

constexpr double MiB = 1024.0 * 1024;

}  // namespace

uint64_t hashOf(const std::string& text) {
  uint64_t h = 1469598103934665603ULL;  // FNV-1a
  for (const unsigned char c : text) {
    h = (h ^ c) * 1099511628211ULL;
  }
  return h;
}

double profileFactor(const std::string& profile, double t, uint64_t key) {
  if (profile == "diurnal") {
    // Lowest at 03:00 (t = 0 is midnight), highest at 15:00.
    return 1.0 + 0.7 * std::sin(2 * std::numbers::pi * (t / 86400.0 - 9.0 / 24.0));
  }
  if (profile == "spiky") {
    const auto slot = static_cast<uint64_t>(std::max(0.0, t) / 60.0);
    return uniform(mix(key ^ mix(slot))) < 0.15 ? 3.0 : 0.5;
  }
  if (profile == "bursty") {
    const auto slot = static_cast<uint64_t>(std::max(0.0, t) / 300.0);
    return uniform(mix(key ^ mix(slot + 0x5bd1e995))) < 0.35 ? 2.2 : 0.35;
  }
  return 1.0;  // steady
}

namespace {

// A standard normal draw, clipped to +-3, from a hash (Box-Muller from two independent uniforms).
double normalOf(uint64_t h) {
  const double u1 = std::max(uniform(h), 1e-12);
  const double u2 = uniform(mix(h));
  const double z = std::sqrt(-2 * std::log(u1)) * std::cos(2 * std::numbers::pi * u2);
  return std::clamp(z, -3.0, 3.0);
}

}  // namespace

double Simulation::noise(uint64_t key, double t) const {
  const double sigma = cluster_.physics.noise;
  if (sigma <= 0)
    return 1.0;
  const auto slot = static_cast<uint64_t>(std::max(0.0, t) / NoiseSlotSeconds);
  return std::max(0.0, 1.0 + sigma * normalOf(mix(seed_ ^ mix(key ^ mix(slot)))));
}

double Simulation::jitter(uint64_t key, int signal, double t) const {
  const double sigma = cluster_.physics.measurementNoise;
  if (sigma <= 0)
    return 1.0;
  const auto slot = static_cast<uint64_t>(std::max(0.0, t) / NoiseSlotSeconds);
  const uint64_t h = mix(~seed_ ^ mix(key ^ mix(slot * 64 + static_cast<uint64_t>(signal))));
  return std::max(0.0, 1.0 + sigma * normalOf(h));
}

double probePairsPerSecond(double busyShare, double limitCores) {
  constexpr double SleepSeconds = 9;  // sleep $(( (1000 - B) / 100 )), whole seconds
  const double busyWall = std::clamp(busyShare, 0.0, 1.0) * 10;
  const double rate = limitCores > 0 ? std::min(1.0, limitCores) : 1.0;
  const double pairWall = ProbePairCpuSeconds / rate;
  const double pairs = std::ceil(busyWall / pairWall - 1e-9);  // the last pair runs out B
  return pairs > 0 ? pairs / (pairs * pairWall + SleepSeconds) : 0;
}

double probeChunkError(double limitCores) {
  // bench/results/probe_noise.md: the loss's spread over 5 minutes between copies (0.048, 0.076,
  // 0.058) is sqrt(2) x error / sqrt(chunks in 5 minutes) with probePairsPerSecond's chunks.
  static constexpr std::array<std::pair<double, double>, 3> Measured{
      {{0.01, 0.165}, {0.04, 0.295}, {0.16, 0.450}}};
  const double limit = limitCores > 0 ? limitCores : Measured.back().first;
  if (limit <= Measured.front().first)
    return Measured.front().second;
  for (size_t i = 1; i < Measured.size(); ++i) {
    const auto [x0, y0] = Measured[i - 1];
    const auto [x1, y1] = Measured[i];
    if (limit <= x1)
      return y0 + (y1 - y0) * std::log(limit / x0) / std::log(x1 / x0);
  }
  return Measured.back().second;
}

Demand Simulation::demandAt(const WorkloadSpec& spec, double t, int depth) const {
  const DemandSource& src = spec.source;
  const uint64_t key = hashOf(spec.id);
  // What the demand's fractions are of (the vCPUs cap what is served, below).
  const double size = spec.demandVcpus > 0 ? spec.demandVcpus : spec.vcpus;
  Demand d;
  switch (src.kind) {
    case SourceKind::Idle: d = {0.03 * spec.vcpus, 0.25 * spec.memoryBytes, 4 * 1024, 1024}; break;
    case SourceKind::Probe: {
      // The script's pairs of chunks: CPU time, not work; no I/O beyond an idle guest's.
      const double busy = std::min(1.0, src.level * profileFactor(src.profile, t, key ^ seed_));
      const double pairs = probePairsPerSecond(busy, spec.cpuLimit);
      d = {std::max(pairs * ProbePairCpuSeconds, 0.03 * spec.vcpus), 0.25 * spec.memoryBytes,
           4 * 1024, 1024};
      d.probePairs = pairs;
      break;
    }
    case SourceKind::Profile: {
      const double f = profileFactor(src.profile, t, key ^ seed_);
      const double load = src.level * f;
      d = {load * size, (0.3 + 0.4 * src.level) * spec.memoryBytes, load * size * 10 * MiB,
           load * size * 5 * MiB};
      break;
    }
    case SourceKind::Trace: {
      const auto p = src.trace->at(src.traceOffset + t);
      d = {p.cpu * size, p.memory * spec.memoryBytes, p.disk, p.network};
      break;
    }
    case SourceKind::Mirror: {
      // An idle guest's share until a mirrored workload is there; memory at least that.
      d = {0, 0.25 * spec.memoryBytes, 0, 0};
      bool fed = false;
      for (const auto& in : src.mirrors) {
        const auto it = workloads_.find(in.of);
        if (it == workloads_.end() || depth > 0)
          continue;
        const Demand m = demandAt(it->second.spec, t, depth + 1);
        d.cpu += m.cpu * in.fraction;
        d.memory = std::max(d.memory, m.memory * in.fraction);
        d.disk += m.disk * in.fraction;
        d.network += m.network * in.fraction;
        fed = true;
      }
      if (!fed)
        d = {0.03 * spec.vcpus, 0.25 * spec.memoryBytes, 4 * 1024, 1024};
      break;
    }
  }
  if (!spec.sharedBy.empty()) {
    double sharing = 0;
    for (const auto& [id, w] : workloads_)
      sharing += w.spec.sharedBy == spec.sharedBy && !w.paused ? 1 : 0;
    if (sharing > 1) {
      d.cpu /= sharing;
      d.disk /= sharing;
      d.network /= sharing;
    }
  }
  const double n = noise(key, t);
  // The vCPUs cap the work; a CPU limit throttles it on the node (stepNode).
  return {std::min(d.cpu * n, spec.vcpus), std::min(d.memory, spec.memoryBytes), d.disk * n,
          d.network * n, d.probePairs};
}

Demand Simulation::background(const NodeSpec& n, double t) const {
  const Background& b = n.background;
  Demand d;
  d.memory = b.memory * n.memoryBytes;
  if (!b.profile.empty()) {
    const double load = b.level * profileFactor(b.profile, t, hashOf(n.name) ^ seed_);
    d.cpu = load * n.cpuCores;
    d.disk = load * 0.2 * n.diskBytesPerSecond;
    d.network = load * 0.1 * n.networkBytesPerSecond;
  } else if (!b.trace.empty() && traces_) {
    const auto it = traces_->series.find(b.trace);
    if (it != traces_->series.end()) {
      const double offset = uniform(mix(seed_ ^ hashOf(n.name))) * it->second.seconds();
      const auto p = it->second.at(offset + t);
      d.cpu = p.cpu * b.share * n.cpuCores;
      d.disk = p.disk * b.share;
      d.network = p.network * b.share;
    }
  }
  d.cpu *= noise(hashOf(n.name), t);
  return d;
}

}  // namespace umbra::sim
