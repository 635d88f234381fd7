#include "model/model_forecaster.h"

#include <algorithm>
#include <cmath>

namespace umbra::model {

namespace {

struct Moments {
  double sum = 0, sq = 0;
  void add(double v) {
    sum += v;
    sq += v * v;
  }
  double mean(double n) const { return n > 0 ? sum / n : 0; }
  double sd(double n) const {
    return n > 0 ? std::sqrt(std::max(0.0, sq / n - (sum / n) * (sum / n))) : 0;
  }
};

double meanOf(const std::vector<double>& v) {
  double s = 0;
  for (const double x : v)
    s += x;
  return v.empty() ? 0 : s / static_cast<double>(v.size());
}

}  // namespace

std::string ForecastModels::name() const {
  std::string n = demandName + " + " + contention.describe();
  if (!fallbacks.empty()) {
    n += " (fallback:";
    for (size_t i = 0; i < fallbacks.size(); ++i)
      n += (i ? "; " : " ") + fallbacks[i];
    n += ")";
  }
  return n;
}

ModelForecaster::ModelForecaster(std::shared_ptr<const ForecastModels> models, NodeHistory history,
                                 int horizon)
    : models_(std::move(models)), history_(std::move(history)), horizon_(horizon) {}

std::shared_ptr<const ForecastModels> ModelForecaster::models() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return models_;
}

void ModelForecaster::setModels(std::shared_ptr<const ForecastModels> models) {
  const std::lock_guard<std::mutex> lock(mutex_);
  models_ = std::move(models);
}

std::string ModelForecaster::name() const {
  return models()->name();
}

double dayPeakOf(const std::vector<double>& history) {
  const size_t from = history.size() > 288 ? history.size() - 288 : 0;
  std::vector<double> day(history.begin() + static_cast<std::ptrdiff_t>(from), history.end());
  if (day.empty())
    return 0;
  const auto k = static_cast<std::ptrdiff_t>(0.95 * static_cast<double>(day.size() - 1));
  std::nth_element(day.begin(), day.begin() + k, day.end());
  return day[static_cast<size_t>(k)];
}

double hourSdOf(const std::vector<double>& history) {
  const size_t from = history.size() > 12 ? history.size() - 12 : 0;
  Moments m;
  for (size_t i = from; i < history.size(); ++i)
    m.add(history[i]);
  return m.sd(static_cast<double>(history.size() - from));
}

ContentionInputs ModelForecaster::inputsOf(const telemetry::CandidateTelemetry& observed,
                                           const TargetProfile& target,
                                           const QuantileForecast& demand,
                                           const std::vector<double>& history) {
  Moments steal, util, mem, io, net;
  // The probe's two kernel speeds, over the steps that have a probe reading.
  Moments memory, alu;
  double n = 0, probed = 0, memoryTimesAlu = 0;
  for (const auto& s : observed.samples) {
    if (!s.present)
      continue;
    ++n;
    steal.add(s.cpuSteal);
    if (s.probeAluSpeed > 0) {
      ++probed;
      memory.add(s.probeMemorySpeed);
      alu.add(s.probeAluSpeed);
      memoryTimesAlu += s.probeMemorySpeed * s.probeAluSpeed;
    }
    util.add(s.cpuUtilization);
    mem.add(s.memoryPressure);
    io.add(s.ioWait);
    net.add(s.networkLatency);
  }
  ContentionInputs in;
  in.shadowSteal = steal.mean(n);
  in.shadowStealSd = steal.sd(n);
  // The ratio of the observation's mean speeds, not the mean of each step's ratio: a step's few
  // counted operations make its ratio noisy and biased (the mean of a ratio is not the ratio of
  // the means), and a clamp at 0 per step turns that noise into a loss. The spread is one step's, linearised (delta method) so that a
  // step with almost no ALU operations does not dominate it.
  in.probeLoss = telemetry::probeLossOf(memory.mean(probed), alu.mean(probed));
  if (probed > 0 && alu.mean(probed) > 0) {
    const double m = memory.mean(probed), a = alu.mean(probed), r = m / a;
    const double cov = memoryTimesAlu / probed - m * a;
    const double var = memory.sd(probed) * memory.sd(probed) +
                       r * r * alu.sd(probed) * alu.sd(probed) - 2 * r * cov;
    in.probeLossSd = std::sqrt(std::max(0.0, var)) / a;
  }
  in.nodeUtilNow = util.mean(n);
  in.nodeUtilP50 = demand.p50.empty() ? in.nodeUtilNow : std::clamp(meanOf(demand.p50), 0.0, 1.0);
  in.nodeUtilP90 =
      demand.p90.empty() ? in.nodeUtilNow : std::clamp(meanOf(demand.p90), in.nodeUtilP50, 1.0);
  in.nodeUtilDayP95 = history.empty() ? in.nodeUtilNow : std::clamp(dayPeakOf(history), 0.0, 1.0);
  in.nodeUtilHourSd = hourSdOf(history);
  in.memoryPressure = mem.mean(n);
  in.memoryPressureSd = mem.sd(n);
  in.ioWait = io.mean(n);
  in.ioWaitSd = io.sd(n);
  in.networkLatency = net.mean(n);
  in.networkLatencySd = net.sd(n);
  in.targetVcpus = target.vcpus;
  in.cpuShare = observed.nodeCpuCores > 0 ? target.vcpus / observed.nodeCpuCores : 0;
  in.memoryShare = observed.nodeMemoryBytes > 0 ? target.memoryBytes / observed.nodeMemoryBytes : 0;
  return in;
}

Result<Forecast> ModelForecaster::forecast(const telemetry::CandidateTelemetry& observed,
                                           const TargetProfile& target) {
  size_t present = 0;
  for (const auto& s : observed.samples)
    present += s.present ? 1 : 0;
  if (present == 0) {
    return Error::make(ErrorKind::Unavailable,
                       "node " + observed.node +
                           ": no usable telemetry sample yet (is observation.duration longer than "
                           "the rate window?)");
  }
  const auto models = this->models();
  // The demand forecast from the node's history; the observation's mean if there is none.
  double historyFactor = 0.9;
  QuantileForecast demand;
  std::vector<double> history;
  if (history_) {
    const SystemTime end = observed.frame.times.empty()
                               ? SystemTime{}
                               : SystemTime{std::chrono::seconds(observed.frame.times.back())};
    std::optional<Result<std::vector<double>>> cached;
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      if (const auto it = prefetched_.find(observed.node);
          it != prefetched_.end() && prefetchedEnd_ == end)
        cached.emplace(it->second);
    }
    auto h = cached ? std::move(*cached) : history_(observed.node, end);
    if (h.ok() && h->size() > 1) {
      demand = models->demand->predict(0, *h, horizon_);
      historyFactor = 1.0;
      history = std::move(h).value();
    }
  }
  const ContentionInputs in = inputsOf(observed, target, demand, history);
  const auto reading =
      observed.fromShadow ? ContentionMap::Reading::Shadow : ContentionMap::Reading::NodeOnly;
  const ContentionQuantiles q = models->contention.predict(in, reading);
  Forecast f;
  f.p50 = q.p50;
  f.p90 = q.p90;
  for (size_t h = 0; h < demand.p50.size() && h < demand.p90.size(); ++h) {
    ContentionInputs step = in;
    step.nodeUtilP50 = std::clamp(demand.p50[h], 0.0, 1.0);
    step.nodeUtilP90 = std::clamp(demand.p90[h], step.nodeUtilP50, 1.0);
    const ContentionQuantiles s = models->contention.predict(step, reading);
    f.stepP50.push_back(s.p50);
    f.stepP90.push_back(s.p90);
  }
  const double coverage =
      static_cast<double>(present) / static_cast<double>(observed.samples.size());
  const double enough = std::min(1.0, static_cast<double>(present) / 4.0);  // < 4 samples is thin
  const double spread = (q.p90.cpuContention - q.p50.cpuContention) / (q.p90.cpuContention + 0.05);
  f.confidence = std::clamp(coverage * enough * historyFactor * (1.0 - spread), 0.0, 1.0);
  // The mapping scales the observed steal: its standard error scales alike. A map that leaves the
  // shadow's terms out does not read the observed steal: more observation would not change it.
  const double scale = in.shadowSteal > 1e-6 ? q.p50.cpuContention / in.shadowSteal : 1.0;
  f.cpuStderr = models->contention.shadowTerms()
                    ? stealStandardError(observed.samples) * std::clamp(scale, 0.0, 10.0)
                    : 0.0;
  f.cpuModelSd = models->contention.cpuDiscrepancy() * q.p50.cpuContention;
  if (!target.key.empty()) {
    const std::lock_guard<std::mutex> lock(mutex_);
    inputs_[target.key][observed.node] = in;
  }
  return f;
}

void ModelForecaster::setNodeHistories(NodeHistories histories) {
  const std::lock_guard<std::mutex> lock(mutex_);
  histories_ = std::move(histories);
}

void ModelForecaster::prefetch(const std::vector<std::string>& nodes, SystemTime end) {
  NodeHistories read;
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    read = histories_;
  }
  if (!read)
    return;
  auto all = read(nodes, end);  // outside the lock: a Prometheus round trip
  const std::lock_guard<std::mutex> lock(mutex_);
  prefetched_.clear();
  prefetchedEnd_ = end;
  if (all.ok())
    prefetched_ = std::move(all).value();
}

std::optional<ContentionInputs> ModelForecaster::inputsFor(const std::string& target,
                                                           const std::string& node) const {
  const std::lock_guard<std::mutex> lock(mutex_);
  const auto t = inputs_.find(target);
  if (t == inputs_.end())
    return std::nullopt;
  const auto n = t->second.find(node);
  if (n == t->second.end())
    return std::nullopt;
  return n->second;
}

void ModelForecaster::forget(const std::string& target) {
  const std::lock_guard<std::mutex> lock(mutex_);
  inputs_.erase(target);
}

}  // namespace umbra::model
