#include "model/contention_map.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/atomic_file.h"
#include "model/json_integer.h"
#include "model/pinball.h"

namespace umbra::model {

using nlohmann::json;

namespace {

// The CPU head's features; files written before the daily peak's two and the load's swing have
// 12 (those weigh 0).
constexpr int CpuFeatures = 15, OlderCpuFeatures = 12;

double hinge(double x) {
  return std::max(0.0, x);
}

// The fixed features of each output's regression (their count is Head::features).
int featuresOf(int output, const ContentionInputs& in,
               std::array<double, ContentionMap::MaxFeatures>& f, bool shadowTerms = true) {
  switch (output) {
    case 0: {  // CPU steal: how loaded the node will be once the target adds its share
      const double rho50 = in.nodeUtilP50 + in.cpuShare;
      const double rho90 = in.nodeUtilP90 + in.cpuShare;
      const double peak = in.nodeUtilDayP95 + in.cpuShare;  // the day's peak, with the target
      // What only the shadow observes (its steal, the probe's loss, their spreads, steal x load):
      // 0 when the map leaves it out, so that those weights stay 0.
      const double keep = shadowTerms ? 1.0 : 0.0;
      f = {keep * in.shadowSteal,
           keep * in.shadowStealSd,
           in.nodeUtilNow,
           in.nodeUtilP50,
           in.nodeUtilP90,
           in.cpuShare,
           hinge(rho50 - 0.6),
           hinge(rho50 - 0.8),
           hinge(rho90 - 0.9),
           keep * in.shadowSteal * rho50,
           keep * in.probeLoss,
           keep * in.probeLossSd,
           peak,
           hinge(peak - 0.8),
           std::sqrt(std::max(0.0, in.nodeUtilHourSd))};
      return CpuFeatures;
    }
    case 1:  // memory stalls
      f = {in.memoryPressure, in.memoryPressureSd, in.memoryShare,
           in.memoryPressure * in.memoryShare};
      return 4;
    case 2:  // I/O wait
      f = {in.ioWait, in.ioWaitSd, in.nodeUtilP50, in.ioWait * in.cpuShare};
      return 4;
    default:  // network latency (seconds; scaled to milliseconds for the fit)
      f = {in.networkLatency * 1e3, in.networkLatencySd * 1e3, in.nodeUtilP50};
      return 3;
  }
}

double& outputOf(placement::Contention& c, int output) {
  switch (output) {
    case 0: return c.cpuContention;
    case 1: return c.memoryPressure;
    case 2: return c.ioWait;
    default: return c.networkLatency;
  }
}

double outputOf(const placement::Contention& c, int output) {
  return outputOf(const_cast<placement::Contention&>(c), output);
}

double unitOf(int output) {
  return output == 3 ? 1e3 : 1.0;
}  // latency fitted in ms

double apply(const ContentionMap::Head& h, const std::array<double, ContentionMap::MaxFeatures>& f,
             const std::array<double, ContentionMap::MaxFeatures + 1>& w) {
  double y = w[0];
  for (int j = 0; j < h.features; ++j)
    y += w[static_cast<size_t>(j) + 1] *
         (f[static_cast<size_t>(j)] - h.mean[static_cast<size_t>(j)]) /
         h.sd[static_cast<size_t>(j)];
  return y;
}

// Linear quantile regression by full-batch Adam on the pinball loss (standardised features).
std::array<double, ContentionMap::MaxFeatures + 1> fitQuantile(
    const std::vector<std::array<double, ContentionMap::MaxFeatures>>& x,
    const std::vector<double>& y, const ContentionMap::Head& h, double q) {
  std::array<double, ContentionMap::MaxFeatures + 1> w{}, m{}, v{};
  std::vector<double> sorted = y;
  std::sort(sorted.begin(), sorted.end());
  w[0] = sorted[static_cast<size_t>(q * static_cast<double>(sorted.size() - 1))];
  const double scale = std::max(1e-6, sorted.back() - sorted.front());
  const double lr = 0.02 * scale, b1 = 0.9, b2 = 0.999;
  const size_t d = static_cast<size_t>(h.features) + 1;
  const double n = static_cast<double>(y.size());
  for (int it = 1; it <= 1500; ++it) {
    std::array<double, ContentionMap::MaxFeatures + 1> g{};
    for (size_t i = 0; i < y.size(); ++i) {
      const double r = y[i] - apply(h, x[i], w);
      const double dl = r > 0 ? -q : (r < 0 ? 1 - q : 0);  // d loss / d prediction
      g[0] += dl;
      for (size_t j = 1; j < d; ++j)
        g[j] += dl * (x[i][j - 1] - h.mean[j - 1]) / h.sd[j - 1];
    }
    for (size_t j = 0; j < d; ++j) {
      g[j] = g[j] / n + (j > 0 ? 1e-4 * w[j] / scale : 0.0);
      m[j] = b1 * m[j] + (1 - b1) * g[j];
      v[j] = b2 * v[j] + (1 - b2) * g[j] * g[j];
      const double mh = m[j] / (1 - std::pow(b1, it)), vh = v[j] / (1 - std::pow(b2, it));
      w[j] -= lr * (1.0 - 0.9 * it / 1500.0) * mh / (std::sqrt(vh) + 1e-9);
    }
  }
  return w;
}

}  // namespace

ContentionMap ContentionMap::prior() {
  return {};
}

ContentionMap ContentionMap::fitHeads(const std::vector<Outcome>& outcomes, bool shadowTerms) {
  ContentionMap map;
  map.learned_ = true;
  map.trainedOn_ = outcomes.size();
  map.verdict_.kept = shadowTerms;
  for (int k = 0; k < Outputs; ++k) {
    Head& h = map.heads_[static_cast<size_t>(k)];
    std::vector<std::array<double, MaxFeatures>> x(outcomes.size());
    std::vector<double> y(outcomes.size());
    for (size_t i = 0; i < outcomes.size(); ++i) {
      h.features = featuresOf(k, outcomes[i].inputs, x[i], shadowTerms);
      y[i] = outputOf(outcomes[i].actual, k) * unitOf(k);
    }
    const double n = static_cast<double>(outcomes.size());
    for (int j = 0; j < h.features; ++j) {
      double s = 0, sq = 0;
      for (const auto& r : x) {
        s += r[static_cast<size_t>(j)];
        sq += r[static_cast<size_t>(j)] * r[static_cast<size_t>(j)];
      }
      h.mean[static_cast<size_t>(j)] = s / n;
      const double var = sq / n - (s / n) * (s / n);
      h.sd[static_cast<size_t>(j)] = var > 1e-18 ? std::sqrt(var) : 1.0;  // a constant feature
    }
    h.w50 = fitQuantile(x, y, h, 0.5);
    h.w90 = fitQuantile(x, y, h, 0.9);
  }
  // The model's own error, candidate against candidate: pairs of outcomes decided together, as a
  // share of the predicted level (errors grow with contention: near zero, every node is right).
  struct Point {
    double residual, predicted;
  };
  std::map<int64_t, std::vector<Point>> byDecision;
  double sumSq = 0, levelSq = 0;
  for (const auto& o : outcomes) {
    const double p = map.predict(o.inputs).p50.cpuContention;
    byDecision[o.time].push_back({o.actual.cpuContention - p, p});
    sumSq += (o.actual.cpuContention - p) * (o.actual.cpuContention - p);
    levelSq += p * p;
  }
  double pairSq = 0, pairLevelSq = 0;
  for (const auto& [time, r] : byDecision) {
    for (size_t i = 0; i < r.size(); ++i) {
      for (size_t j = i + 1; j < r.size(); ++j) {
        pairSq += (r[i].residual - r[j].residual) * (r[i].residual - r[j].residual) / 2;
        pairLevelSq += (r[i].predicted * r[i].predicted + r[j].predicted * r[j].predicted) / 2;
      }
    }
  }
  map.cpuDiscrepancy_ = pairLevelSq > 0 ? std::sqrt(pairSq / pairLevelSq)
                                        : std::sqrt(sumSq / std::max(levelSq, 1e-12));
  return map;
}

ContentionQuantiles ContentionMap::predict(const ContentionInputs& in, Reading reading) const {
  ContentionQuantiles out;
  if (!learned_) {
    const double load =
        1.0 + std::clamp(in.nodeUtilP50, 0.0, 1.0) * std::max(1.0, in.targetVcpus) / 8.0;
    // The slowdown: the run queue's delay (scaled up by the load the target adds) and the
    // interference the probe measured, compounded.
    const double delay = std::min(1.0, in.shadowSteal * load);
    const double slowdown = 1.0 - (1.0 - delay) * (1.0 - std::clamp(in.probeLoss, 0.0, 1.0));
    out.p50 = {slowdown, in.memoryPressure, in.ioWait, in.networkLatency};
    out.p90 = {std::min(1.0, slowdown + 1.28 * std::hypot(in.shadowStealSd, in.probeLossSd)),
               std::min(1.0, in.memoryPressure + 1.28 * in.memoryPressureSd),
               std::min(1.0, in.ioWait + 1.28 * in.ioWaitSd),
               in.networkLatency + 1.28 * in.networkLatencySd};
    return out;
  }
  const bool nodeHead = reading == Reading::NodeOnly && nodeCpuHead_.has_value();
  for (int k = 0; k < Outputs; ++k) {
    const Head& h = k == 0 && nodeHead ? *nodeCpuHead_ : heads_[static_cast<size_t>(k)];
    std::array<double, MaxFeatures> f{};
    featuresOf(k, in, f, verdict_.kept && !(k == 0 && nodeHead));
    const double hi = k == 3 ? 1e9 : 1.0;
    const double p50 = std::clamp(apply(h, f, h.w50) / unitOf(k), 0.0, hi);
    const double p90 = std::clamp(apply(h, f, h.w90) / unitOf(k), p50, hi);
    outputOf(out.p50, k) = p50;
    outputOf(out.p90, k) = p90;
  }
  return out;
}

double ContentionMap::loss(const std::vector<Outcome>& outcomes) const {
  if (outcomes.empty())
    return 0;
  double total = 0;
  for (int k = 0; k < Outputs; ++k) {
    double size = 0, l = 0;
    for (const auto& o : outcomes) {
      const double a = outputOf(o.actual, k);
      const ContentionQuantiles q = predict(o.inputs);
      size += std::abs(a);
      l += pinball(a, outputOf(q.p50, k), 0.5) + pinball(a, outputOf(q.p90, k), 0.9);
    }
    total += size > 0 ? l / size : l;
  }
  return total / Outputs;
}

std::string ContentionMap::describe() const {
  return learned_ ? "contention/learned(" + std::to_string(trainedOn_) + " outcomes" +
                        (verdict_.kept ? ")" : ", node terms only)")
                  : "contention/prior";
}

namespace {

json headJson(const ContentionMap::Head& h) {
  json jh;
  jh["features"] = h.features;
  jh["mean"] = std::vector<double>(h.mean.begin(), h.mean.begin() + h.features);
  jh["sd"] = std::vector<double>(h.sd.begin(), h.sd.begin() + h.features);
  jh["w50"] = std::vector<double>(h.w50.begin(), h.w50.begin() + h.features + 1);
  jh["w90"] = std::vector<double>(h.w90.begin(), h.w90.begin() + h.features + 1);
  return jh;
}

}  // namespace

Status ContentionMap::save(const std::string& path) const {
  json heads = json::array();
  for (const Head& h : heads_)
    heads.push_back(headJson(h));
  json doc = {{"format", "umbra-contention/1"},
              {"learned", learned_},
              {"cpuDiscrepancy", cpuDiscrepancy_},
              {"trainedOn", trainedOn_},
              {"shadowTerms", verdict_.kept},
              {"shadowTermsJudged",
               {{"by", verdict_.judgedBy},
                {"with", verdict_.with},
                {"without", verdict_.without},
                {"judged", verdict_.judged}}},
              {"outputs", {"cpuContention", "memoryPressure", "ioWait", "networkLatency"}},
              {"heads", heads}};
  if (nodeCpuHead_)
    doc["nodeCpuHead"] = headJson(*nodeCpuHead_);
  return writeFileAtomically(path, doc.dump(1) + "\n", "the contention model");
}

Result<ContentionMap> ContentionMap::load(const std::string& path) {
  const auto fail = [&](const std::string& what) {
    return Error::make(ErrorKind::Invalid, path + ": " + what);
  };
  std::ifstream in(path);
  if (!in) {
    return fail(std::filesystem::exists(path) ? "cannot read" : "no such contention model file");
  }
  std::stringstream text;
  text << in.rdbuf();
  const json doc = json::parse(text.str(), nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return fail("not JSON");
  }
  // Compared as JSON: a format that is not text (found by tests/fuzz/fuzz_model_files) is a
  // mismatch, not the type_error that value() would throw.
  if (!doc.contains("format") || doc["format"] != "umbra-contention/1") {
    return fail("schema mismatch: format is " +
                (doc.contains("format") ? doc["format"].dump() : "absent") +
                ", expected \"umbra-contention/1\"");
  }
  ContentionMap map;
  try {
    map.learned_ = doc.at("learned").get<bool>();
    map.trainedOn_ = integerAt<size_t>(doc, "trainedOn");
    map.cpuDiscrepancy_ = doc.value("cpuDiscrepancy", 0.0);  // older files: unknown
    if (doc.contains("shadowTerms")) {  // older files weigh them
      if (!doc["shadowTerms"].is_boolean())
        return fail("shadowTerms must be true or false");
      map.verdict_.kept = doc["shadowTerms"].get<bool>();
    }
    if (const auto j = doc.find("shadowTermsJudged"); j != doc.end() && j->is_object()) {
      map.verdict_.judgedBy = j->value("by", std::string("unjudged"));
      map.verdict_.with = j->value("with", 0.0);
      map.verdict_.without = j->value("without", 0.0);
      map.verdict_.judged = j->value("judged", size_t{0});
    }
    if (!(map.cpuDiscrepancy_ >= 0))
      return fail("cpuDiscrepancy must be a number >= 0");
    const json& heads = doc.at("heads");
    if (!heads.is_array() || heads.size() != Outputs)
      return fail("schema mismatch: heads must hold 4 entries");
    // One head of output k, named `where` in errors.
    const auto readHead = [&](const json& jh, int k, const std::string& where,
                              Head& h) -> Result<bool> {
      std::array<double, MaxFeatures> probe{};
      h.features = integerAt<int>(jh, "features");
      const bool older = k == 0 && h.features == OlderCpuFeatures;
      if (h.features != featuresOf(k, {}, probe) && !older)
        return fail("schema mismatch: " + where + ".features is " + std::to_string(h.features) +
                    ", expected " + std::to_string(featuresOf(k, {}, probe)));
      const auto mean = jh.at("mean").get<std::vector<double>>();
      const auto sd = jh.at("sd").get<std::vector<double>>();
      const auto w50 = jh.at("w50").get<std::vector<double>>();
      const auto w90 = jh.at("w90").get<std::vector<double>>();
      const size_t f = static_cast<size_t>(h.features);
      if (mean.size() != f || sd.size() != f || w50.size() != f + 1 || w90.size() != f + 1)
        return fail("schema mismatch: " + where + " has the wrong sizes");
      for (size_t j = 0; j < f; ++j) {
        if (!(sd[j] > 0))
          return fail(where + ".sd must be positive");
        h.mean[j] = mean[j];
        h.sd[j] = sd[j];
      }
      std::copy(w50.begin(), w50.end(), h.w50.begin());
      std::copy(w90.begin(), w90.end(), h.w90.begin());
      if (older) {  // the features added since weigh 0: the file predicts as it did
        for (size_t j = f; j < static_cast<size_t>(CpuFeatures); ++j) {
          h.mean[j] = 0;
          h.sd[j] = 1;
          h.w50[j + 1] = h.w90[j + 1] = 0;
        }
        h.features = CpuFeatures;
      }
      return true;
    };
    for (int k = 0; k < Outputs; ++k) {
      UMBRA_CHECK(readHead(heads[static_cast<size_t>(k)], k, "heads[" + std::to_string(k) + "]",
                           map.heads_[static_cast<size_t>(k)]));
    }
    if (const auto j = doc.find("nodeCpuHead"); j != doc.end()) {
      Head h;
      UMBRA_CHECK(readHead(*j, 0, "nodeCpuHead", h));
      map.nodeCpuHead_ = h;
    }
  } catch (const std::exception& e) {  // json's, and integerAt's for a number not whole
    return fail(std::string("schema mismatch: ") + e.what());
  }
  return map;
}

}  // namespace umbra::model
