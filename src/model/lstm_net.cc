// The demand LSTM's inference in plain C++ (no LibTorch), and its file format.
#include "model/lstm_net.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/atomic_file.h"
#include "model/json_integer.h"

namespace umbra::model {
namespace {

using nlohmann::json;

constexpr const char* Format = "umbra-forecaster/2";
constexpr const char* Target = "cpu_util";
const std::vector<std::string> InputNames = {"change_from_newest", "change_one_period_earlier"};
const std::vector<std::string> HeadInputs = {"level", "log_scale", "period_mean", "history_mean"};
const std::vector<double> Quantiles = {0.5, 0.9};

double sigmoid(double x) {
  return 1.0 / (1.0 + std::exp(-x));
}
// PyTorch's softplus (beta 1, threshold 20).
double softplus(double x) {
  return x > 20 ? x : std::log1p(std::exp(x));
}

size_t layerInputs(const LstmShape& s, size_t layer) {
  return layer == 0 ? LstmShape::Inputs : static_cast<size_t>(s.hidden);
}

// The sizes the weights must have for `s`; an empty string when they do.
std::string checkSizes(const LstmShape& s, const LstmWeights& w) {
  const size_t h4 = 4 * static_cast<size_t>(s.hidden);
  const auto hidden = static_cast<size_t>(s.hidden);
  if (w.layers.size() != static_cast<size_t>(s.layers))
    return "weights.lstm has " + std::to_string(w.layers.size()) + " layers, expected " +
           std::to_string(s.layers);
  for (size_t l = 0; l < w.layers.size(); ++l) {
    const auto& L = w.layers[l];
    const std::string at = "weights.lstm[" + std::to_string(l) + "].";
    if (L.weightIh.size() != h4 * layerInputs(s, l))
      return at + "weightIh has " + std::to_string(L.weightIh.size()) + " values, expected " +
             std::to_string(h4 * layerInputs(s, l));
    if (L.weightHh.size() != h4 * hidden)
      return at + "weightHh has " + std::to_string(L.weightHh.size()) + " values, expected " +
             std::to_string(h4 * hidden);
    if (L.biasIh.size() != h4 || L.biasHh.size() != h4)
      return at + "biasIh and biasHh must have " + std::to_string(h4) + " values";
  }
  const size_t outputs = 2 * static_cast<size_t>(s.horizon);
  if (w.headWeight.size() != outputs * static_cast<size_t>(s.headInputs()))
    return "weights.head.weight has " + std::to_string(w.headWeight.size()) + " values, expected " +
           std::to_string(outputs * static_cast<size_t>(s.headInputs()));
  if (w.headBias.size() != outputs)
    return "weights.head.bias has " + std::to_string(w.headBias.size()) + " values, expected " +
           std::to_string(outputs);
  return "";
}

}  // namespace

LstmNet::LstmNet(LstmShape shape, double changeScale, LstmWeights weights, std::string metadataJson)
    : shape_(shape),
      scale_(changeScale),
      weights_(std::move(weights)),
      metadata_(std::move(metadataJson)) {}

Status LstmNet::fit(const std::vector<TrainSeries>&, int) {
  return Error::make(ErrorKind::Invalid,
                     "lstm: a trained network is not refitted; train a new one (umbra train)");
}

double LstmNet::features(const LstmShape& s, double changeScale, std::span<const double> y,
                         float* seq, float* extra) {
  const auto n = static_cast<std::ptrdiff_t>(y.size());
  const auto at = [&](std::ptrdiff_t t) {
    return y[static_cast<size_t>(std::clamp<std::ptrdiff_t>(t, 0, n - 1))];
  };
  const double last = y.back();
  // The scale looks back a whole period: a flat hour before a spike must not make the spike a
  // hundred "units" tall.
  const std::ptrdiff_t span = std::min<std::ptrdiff_t>(n - 1, std::max(s.window, s.period));
  double change = 0;
  for (std::ptrdiff_t k = n - span; k < n; ++k)
    change += std::abs(at(k) - at(k - 1));
  const double scale =
      std::max(0.1 * changeScale, span > 0 ? change / static_cast<double>(span) : 0.0);
  for (int k = 0; k < s.window; ++k) {
    const std::ptrdiff_t t = n - s.window + k;
    seq[k * LstmShape::Inputs + 0] = static_cast<float>((at(t) - last) / scale);
    seq[k * LstmShape::Inputs + 1] = static_cast<float>((at(t - s.period) - last) / scale);
  }
  extra[0] = static_cast<float>(last);
  for (int h = 1; h <= s.horizon; ++h)
    extra[h] = static_cast<float>((at(n - 1 + h - s.period) - last) / scale);
  extra[s.horizon + 1] = static_cast<float>(std::log(scale / changeScale));
  // Where the series usually is: the means of the last period and of the whole history, as
  // changes from the newest value (what a per-series autoregression learns as its intercept).
  double dayMean = 0, allMean = 0;
  for (std::ptrdiff_t k = n - span; k < n; ++k)
    dayMean += at(k);
  for (std::ptrdiff_t k = 0; k < n; ++k)
    allMean += at(k);
  dayMean = span > 0 ? dayMean / static_cast<double>(span) : last;
  allMean /= static_cast<double>(n);
  extra[s.horizon + 2] = static_cast<float>((dayMean - last) / scale);
  extra[s.horizon + 3] = static_cast<float>((allMean - last) / scale);
  return scale;
}

std::vector<float> LstmNet::forward(std::span<const float> seq,
                                    std::span<const float> extra) const {
  const auto H = static_cast<size_t>(shape_.hidden);
  const auto window = static_cast<size_t>(shape_.window);
  // Layer by layer over the whole window (as torch::nn::LSTM does), in double precision.
  std::vector<double> input(seq.begin(), seq.end());
  size_t inputs = LstmShape::Inputs;
  std::vector<double> h(H), c(H), gates(4 * H), outputs(window * H);
  for (const auto& L : weights_.layers) {
    std::fill(h.begin(), h.end(), 0.0);
    std::fill(c.begin(), c.end(), 0.0);
    for (size_t t = 0; t < window; ++t) {
      const double* x = input.data() + t * inputs;
      for (size_t r = 0; r < 4 * H; ++r) {
        double g = static_cast<double>(L.biasIh[r]) + static_cast<double>(L.biasHh[r]);
        const float* wi = L.weightIh.data() + r * inputs;
        for (size_t k = 0; k < inputs; ++k)
          g += static_cast<double>(wi[k]) * x[k];
        const float* wh = L.weightHh.data() + r * H;
        for (size_t k = 0; k < H; ++k)
          g += static_cast<double>(wh[k]) * h[k];
        gates[r] = g;
      }
      for (size_t k = 0; k < H; ++k) {
        const double i = sigmoid(gates[k]);
        const double f = sigmoid(gates[H + k]);
        const double g = std::tanh(gates[2 * H + k]);
        const double o = sigmoid(gates[3 * H + k]);
        c[k] = f * c[k] + i * g;
        h[k] = o * std::tanh(c[k]);
        outputs[t * H + k] = h[k];
      }
    }
    input = outputs;
    inputs = H;
  }
  // The head reads [last hidden state, extra, the newest SkipSteps changes].
  std::vector<double> head;
  head.reserve(static_cast<size_t>(shape_.headInputs()));
  head.insert(head.end(), h.begin(), h.end());
  head.insert(head.end(), extra.begin(), extra.end());
  for (size_t k = window - LstmShape::SkipSteps; k < window; ++k)
    head.push_back(seq[k * LstmShape::Inputs]);
  const auto horizon = static_cast<size_t>(shape_.horizon);
  std::vector<float> out(2 * horizon);
  for (size_t step = 0; step < horizon; ++step) {
    double raw[2];
    for (size_t q = 0; q < 2; ++q) {
      const size_t row = 2 * step + q;
      double v = weights_.headBias[row];
      const float* w = weights_.headWeight.data() + row * head.size();
      for (size_t k = 0; k < head.size(); ++k)
        v += static_cast<double>(w[k]) * head[k];
      raw[q] = v;
    }
    out[2 * step] = static_cast<float>(raw[0]);
    out[2 * step + 1] = static_cast<float>(raw[0] + softplus(raw[1]));
  }
  return out;
}

QuantileForecast LstmNet::predict(size_t, std::span<const double> history, int horizon) const {
  QuantileForecast out;
  const double last = history.empty() ? 0 : history.back();
  out.p50.assign(static_cast<size_t>(horizon), last);
  out.p90.assign(static_cast<size_t>(horizon), last);
  if (history.empty() || horizon != shape_.horizon)
    return out;
  std::vector<float> seq(static_cast<size_t>(shape_.window * LstmShape::Inputs));
  std::vector<float> extra(static_cast<size_t>(LstmShape::ExtraInputs + shape_.horizon));
  const double w = features(shape_, scale_, history, seq.data(), extra.data());
  const auto raw = forward(seq, extra);
  for (size_t h = 0; h < static_cast<size_t>(horizon); ++h) {
    out.p50[h] = last + raw[2 * h] * w;
    out.p90[h] = last + raw[2 * h + 1] * w;
  }
  return out;
}

std::string LstmNet::displayName() const {
  const auto meta = json::parse(metadata_, nullptr, false);
  const bool named = meta.is_object() && meta.contains("version") && meta["version"].is_string();
  return "lstm/" + (named ? meta["version"].get<std::string>() : std::string("unversioned"));
}

std::string LstmNet::describe(const LstmShape& s, double changeScale, const std::string& infoJson) {
  json meta = json::parse(infoJson, nullptr, false);
  if (!meta.is_object())
    meta = json::object();
  meta.erase("weights");
  meta["format"] = Format;
  meta["kind"] = "lstm";
  meta["target"] = Target;
  meta["inputs"] = InputNames;
  meta["window"] = s.window;
  meta["skipSteps"] = LstmShape::SkipSteps;
  meta["headInputs"] = HeadInputs;
  meta["period"] = s.period;
  meta["stepSeconds"] = 300;
  meta["horizon"] = s.horizon;
  meta["quantiles"] = Quantiles;
  meta["hidden"] = s.hidden;
  meta["layers"] = s.layers;
  meta["normalisation"] = {{"per", "mean absolute change over the period before the origin"},
                           {"changeScale", changeScale}};
  return meta.dump();
}

Status LstmNet::save(const std::string& path) const {
  json doc = json::parse(metadata_, nullptr, false);
  if (!doc.is_object())
    doc = json::object();
  json layers = json::array();
  for (const auto& L : weights_.layers) {
    layers.push_back({{"weightIh", L.weightIh},
                      {"weightHh", L.weightHh},
                      {"biasIh", L.biasIh},
                      {"biasHh", L.biasHh}});
  }
  doc["weights"] = {{"lstm", layers},
                    {"head", {{"weight", weights_.headWeight}, {"bias", weights_.headBias}}}};
  return writeFileAtomically(path, doc.dump() + "\n", "the model");
}

Result<std::unique_ptr<LstmNet>> LstmNet::load(const std::string& path, int expectedHorizon) {
  const auto fail = [&](const std::string& what) {
    return Error::make(ErrorKind::Invalid, path + ": " + what);
  };
  if (!std::filesystem::exists(path))
    return fail("no such model file");
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return fail("cannot be read");
  json doc = json::parse(in, nullptr, false);
  if (doc.is_discarded() || !doc.is_object())
    return fail("not a readable model file (not a JSON document; truncated?)");
  const auto expect = [&](const char* field, const json& want) -> Status {
    if (!doc.contains(field) || doc[field] != want) {
      return Error::make(ErrorKind::Invalid,
                         path + ": schema mismatch: " + field + " is " +
                             (doc.contains(field) ? doc[field].dump() : "absent") + ", expected " +
                             want.dump());
    }
    return okStatus();
  };
  UMBRA_CHECK(expect("format", Format));
  UMBRA_CHECK(expect("target", Target));
  UMBRA_CHECK(expect("inputs", InputNames));
  UMBRA_CHECK(expect("quantiles", Quantiles));
  UMBRA_CHECK(expect("stepSeconds", 300));
  UMBRA_CHECK(expect("horizon", expectedHorizon));
  UMBRA_CHECK(expect("skipSteps", LstmShape::SkipSteps));
  UMBRA_CHECK(expect("headInputs", HeadInputs));
  LstmShape s;
  s.horizon = expectedHorizon;
  double scale = 0;
  LstmWeights w;
  try {
    s.window = integerAt<int>(doc, "window");
    s.period = integerAt<int>(doc, "period");
    s.hidden = integerAt<int>(doc, "hidden");
    s.layers = integerAt<int>(doc, "layers");
    scale = doc.at("normalisation").at("changeScale").get<double>();
  } catch (const std::exception&) {
    return fail(
        "schema mismatch: window, period, hidden, layers and normalisation.changeScale "
        "must be numbers");
  }
  if (s.window < LstmShape::SkipSteps || s.period < 1 || s.hidden < 1 || s.hidden > 4096 ||
      s.layers < 1 || s.layers > 16)
    return fail("schema mismatch: window, period, hidden or layers out of range");
  if (!(scale > 0))
    return fail("schema mismatch: normalisation.changeScale must be positive");
  try {
    const json& weights = doc.at("weights");
    for (const auto& L : weights.at("lstm")) {
      w.layers.push_back(
          {L.at("weightIh").get<std::vector<float>>(), L.at("weightHh").get<std::vector<float>>(),
           L.at("biasIh").get<std::vector<float>>(), L.at("biasHh").get<std::vector<float>>()});
    }
    w.headWeight = weights.at("head").at("weight").get<std::vector<float>>();
    w.headBias = weights.at("head").at("bias").get<std::vector<float>>();
  } catch (const std::exception&) {
    return fail("weights are missing or not arrays of numbers");
  }
  if (const std::string bad = checkSizes(s, w); !bad.empty())
    return fail("weights do not match the metadata: " + bad);
  doc.erase("weights");
  return std::make_unique<LstmNet>(s, scale, std::move(w), doc.dump());
}

}  // namespace umbra::model
