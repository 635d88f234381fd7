#include "model/outcomes.h"

#include "common/log.h"
#include "model/series_forecast.h"

namespace umbra::model {

namespace {

// The mean of a feature's present cells, or nullopt if it has none.
std::optional<double> meanOf(const telemetry::FeatureFrame& f, const std::string& feature,
                             double scale) {
  const int c = f.column(feature);
  if (c < 0)
    return std::nullopt;
  double sum = 0;
  size_t n = 0;
  for (size_t r = 0; r < f.rows(); ++r) {
    if (f.has(r, static_cast<size_t>(c))) {
      sum += f.value(r, static_cast<size_t>(c)) * scale;
      ++n;
    }
  }
  return n ? std::optional<double>(sum / static_cast<double>(n)) : std::nullopt;
}

}  // namespace

std::optional<double> p95Of(const telemetry::FeatureFrame& f, const std::string& feature,
                            double scale) {
  const int c = f.column(feature);
  if (c < 0)
    return std::nullopt;
  std::vector<double> v;
  for (size_t r = 0; r < f.rows(); ++r)
    if (f.has(r, static_cast<size_t>(c)))
      v.push_back(f.value(r, static_cast<size_t>(c)) * scale);
  if (v.empty())
    return std::nullopt;
  return percentileOf(std::move(v), 0.95);  // interpolated, as the placement benchmark's p95s
}

OutcomeRecorder::OutcomeRecorder(telemetry::PrometheusSource& prometheus,
                                 model::ModelForecaster& forecaster, std::string path,
                                 std::chrono::milliseconds window, bool p95,
                                 std::function<void(const std::string&)> counted)
    : prometheus_(prometheus),
      forecaster_(forecaster),
      path_(std::move(path)),
      window_(window),
      p95_(p95),
      counted_(std::move(counted)),
      thread_([this] { run(); }) {}

OutcomeRecorder::~OutcomeRecorder() {
  stop();
}

void OutcomeRecorder::placed(const std::string& target, const std::string& node, SystemTime at) {
  const auto inputs = forecaster_.inputsFor(target, node);
  forecaster_.forget(target);
  if (!inputs) {
    return;  // decided before this process started: nothing known about the decision
  }
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    due_.emplace(at + window_, Pending{target, node, at, *inputs});
  }
  cv_.notify_all();
}

void OutcomeRecorder::stop() {
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable())
    thread_.join();
}

void OutcomeRecorder::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    if (due_.empty()) {
      cv_.wait(lock);
      continue;
    }
    // A little past the window, so that the last scrape of it has landed.
    const auto next = due_.begin()->first + std::chrono::seconds(5);
    if (std::chrono::system_clock::now() < next) {
      cv_.wait_until(lock, next);
      continue;
    }
    const Pending p = due_.begin()->second;
    due_.erase(due_.begin());
    lock.unlock();
    record(p);
    lock.lock();
  }
}

void OutcomeRecorder::record(const Pending& p) {
  const auto slash = p.target.find('/');
  const std::string ns = p.target.substr(0, slash), name = p.target.substr(slash + 1);
  const auto end = p.at + window_;
  // The mean: 60 steps over the window. The p95: of 300 s steps (12 at least, on short windows).
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(window_);
  const auto step = std::max<std::chrono::seconds>(
      std::chrono::seconds(5),
      p95_ ? std::min<std::chrono::seconds>(std::chrono::seconds(300), seconds / 12)
           : seconds / 60);
  const auto& catalog = prometheus_.catalog();
  const auto scaleOf = [&](const std::string& f) {
    const int i = catalog.index(f);
    return i < 0 ? 1.0 : catalog.features[static_cast<size_t>(i)].scale;
  };
  auto vm = prometheus_.history(telemetry::Scope::Shadow, telemetry::nameAlternation({ns}), {name},
                                p.at, end, step, {"cpu_steal"});
  auto node = prometheus_.history(telemetry::Scope::Node, "", {p.node}, p.at, end, step,
                                  {"node_pressure_memory", "node_cpu_iowait"});
  if (!vm.ok() || !node.ok()) {
    counted_("failed");
    log::warn("cannot measure a placement's outcome",
              {{"target", p.target}, {"error", (vm.ok() ? node.error() : vm.error()).message}});
    return;
  }
  const auto v = vm->find(p.target);
  const auto n = node->find(p.node);
  const auto steal = v == vm->end() ? std::nullopt
                     : p95_         ? p95Of(v->second, "cpu_steal", scaleOf("cpu_steal"))
                                    : meanOf(v->second, "cpu_steal", scaleOf("cpu_steal"));
  if (!steal) {
    counted_("no_data");
    log::warn("no steal series for the placed VM over the outcome window; no outcome recorded",
              {{"target", p.target}, {"node", p.node}});
    return;
  }
  model::Outcome o;
  o.time = std::chrono::duration_cast<std::chrono::seconds>(p.at.time_since_epoch()).count();
  o.source = "operator";
  o.target = p.target;
  o.node = p.node;
  o.inputs = p.inputs;
  o.actual.cpuContention = *steal;
  if (n != node->end()) {
    o.actual.memoryPressure =
        meanOf(n->second, "node_pressure_memory", scaleOf("node_pressure_memory")).value_or(0);
    o.actual.ioWait = meanOf(n->second, "node_cpu_iowait", scaleOf("node_cpu_iowait")).value_or(0);
  }
  if (auto st = model::appendOutcome(path_, o); !st.ok()) {
    counted_("failed");
    log::warn("cannot record a placement's outcome", {{"error", st.error().message}});
    return;
  }
  counted_("recorded");
  log::info("placement outcome recorded",
            {{"target", p.target}, {"node", p.node}, {"steal", std::to_string(*steal)}});
}

}  // namespace umbra::model
