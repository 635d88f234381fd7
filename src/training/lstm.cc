// The LSTM demand forecaster: Umbra's only LibTorch user.
#include "training/lstm.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

namespace umbra::model {
namespace {

using nlohmann::json;

constexpr int Inputs = LstmShape::Inputs;
constexpr int SkipSteps = LstmShape::SkipSteps;
constexpr int Extra = LstmShape::ExtraInputs;
const std::vector<double> Quantiles = {0.5, 0.9};

struct NetImpl : torch::nn::Module {
  NetImpl(int hidden, int layers, int horizon)
      : lstm(register_module(
            "lstm",
            torch::nn::LSTM(
                torch::nn::LSTMOptions(Inputs, hidden).num_layers(layers).batch_first(true)))),
        head(register_module("head",
                             torch::nn::Linear(hidden + Extra + horizon + SkipSteps, 2 * horizon))),
        horizon_(horizon) {}

  // seq: [B, window, Inputs]; extra: [B, Extra + horizon] (level, seasonal changes at the targets,
  // log of the window scale).
  // Returns [B, horizon, 2]: p50 change, p90 change (>= p50).
  torch::Tensor forward(const torch::Tensor& seq, const torch::Tensor& extra) {
    auto out = std::get<0>(lstm->forward(seq));
    auto last = out.select(1, out.size(1) - 1);
    // The newest SkipSteps changes also reach the head directly (a linear autoregressive path
    // beside the recurrent one).
    auto recent = seq.select(2, 0).narrow(1, seq.size(1) - SkipSteps, SkipSteps);
    auto raw = head->forward(torch::cat({last, extra, recent}, 1)).view({-1, horizon_, 2});
    auto p50 = raw.select(2, 0);
    auto p90 = p50 + torch::nn::functional::softplus(raw.select(2, 1));
    return torch::stack({p50, p90}, 2);
  }

  torch::nn::LSTM lstm;
  torch::nn::Linear head;
  int horizon_;
};
TORCH_MODULE(Net);

}  // namespace

struct LstmMethod::Impl {
  LstmOptions o;
  int horizon = 6;
  // Normalisation: each window is divided by the mean absolute one-step change over the period
  // before its origin (so every series weighs the same, whatever its scale), floored at a tenth
  // of the training set's.
  double scale = 0.05;
  Net net{nullptr};
  std::function<void(const EpochReport&)> onEpoch;
  json info = json::object();

  std::shared_ptr<const LstmNet> trained;  // the exported network, after fit()

  LstmShape shape() const {
    LstmShape s;
    s.window = o.window;
    s.period = o.period;
    s.hidden = o.hidden;
    s.layers = o.layers;
    s.horizon = horizon;
    return s;
  }
  double features(std::span<const double> y, float* seq, float* extra) const {
    return LstmNet::features(shape(), scale, y, seq, extra);
  }

  // The trained module's parameters, in PyTorch's layout, as an LstmNet.
  std::shared_ptr<const LstmNet> exportNet() const {
    LstmWeights w;
    const auto copy = [](const torch::Tensor& t) {
      auto c = t.detach().contiguous().to(torch::kFloat);
      const float* p = c.data_ptr<float>();
      return std::vector<float>(p, p + c.numel());
    };
    auto params = net->lstm->named_parameters();
    for (int l = 0; l < o.layers; ++l) {
      const std::string k = std::to_string(l);
      w.layers.push_back({copy(params["weight_ih_l" + k]), copy(params["weight_hh_l" + k]),
                          copy(params["bias_ih_l" + k]), copy(params["bias_hh_l" + k])});
    }
    w.headWeight = copy(net->head->weight);
    w.headBias = copy(net->head->bias);
    return std::make_shared<const LstmNet>(shape(), scale, std::move(w),
                                           LstmNet::describe(shape(), scale, info.dump()));
  }

  static torch::Tensor pinball(const torch::Tensor& pred, const torch::Tensor& target,
                               const torch::Tensor& mask) {
    // pred [B,H,2], target [B,H], mask [B,H]
    torch::Tensor loss = torch::zeros({}, torch::kFloat);
    for (size_t q = 0; q < Quantiles.size(); ++q) {
      auto diff = target - pred.select(2, static_cast<int64_t>(q));
      const double tau = Quantiles[q];
      loss = loss + (torch::max(tau * diff, (tau - 1) * diff) * mask).sum();
    }
    return loss / mask.sum().clamp_min(1.0);
  }
};

LstmMethod::LstmMethod(LstmOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->o = options;
}
LstmMethod::~LstmMethod() = default;

void LstmMethod::onEpoch(std::function<void(const EpochReport&)> callback) {
  impl_->onEpoch = std::move(callback);
}
bool LstmMethod::trained() const {
  return impl_->trained != nullptr;
}
void LstmMethod::setTrainingRange(const std::string& description) {
  impl_->info["trainingData"] = description;
}
std::shared_ptr<const LstmNet> LstmMethod::net() const {
  return impl_->trained;
}

Status LstmMethod::fit(const std::vector<TrainSeries>& train, int horizon) {
  Impl& m = *impl_;
  const LstmOptions& o = m.o;
  m.horizon = horizon;
  if (o.window < SkipSteps || o.period < 1 || o.hidden < 1 || o.layers < 1 || o.batch < 1) {
    return Error::make(ErrorKind::Invalid, "lstm: window must be at least " +
                                               std::to_string(SkipSteps) +
                                               " and period, hidden, layers, batch positive");
  }
  torch::manual_seed(o.seed);
  torch::set_num_threads(o.threads);
  std::mt19937_64 rng(o.seed);

  // Normalisation: the mean absolute one-step change over observed training pairs.
  double sum = 0;
  size_t count = 0;
  for (const auto& s : train) {
    for (size_t t = 1; t < s.values.size(); ++t) {
      if (s.observed.empty() || (s.observed[t] && s.observed[t - 1])) {
        sum += std::abs(s.values[t] - s.values[t - 1]);
        ++count;
      }
    }
  }
  m.scale = count ? std::max(1e-4, sum / static_cast<double>(count)) : 0.05;

  // Origins: (series, t) with the target inside the series; the newest validationFraction of each
  // series validates.
  struct Origin {
    uint32_t series;
    uint32_t t;
  };
  std::vector<Origin> fitOrigins, valOrigins;
  const auto h = static_cast<size_t>(horizon);
  for (size_t i = 0; i < train.size(); ++i) {
    const size_t n = train[i].values.size();
    if (n < h + 2)
      continue;
    const auto valStart =
        static_cast<size_t>((1.0 - o.validationFraction) * static_cast<double>(n));
    const size_t first = std::min(n - h - 1, static_cast<size_t>(o.window));
    for (size_t t = first; t + h < n; ++t) {
      (t + h < valStart ? fitOrigins : valOrigins)
          .push_back({static_cast<uint32_t>(i), static_cast<uint32_t>(t)});
    }
  }
  if (fitOrigins.empty()) {
    return Error::make(ErrorKind::Invalid, "lstm: no training windows (series too short)");
  }
  std::shuffle(valOrigins.begin(), valOrigins.end(), rng);
  valOrigins.resize(std::min<size_t>(valOrigins.size(), 20000));

  const auto batchOf = [&](const std::vector<Origin>& origins, size_t from, size_t count) {
    const auto b = static_cast<int64_t>(count);
    auto seq = torch::empty({b, o.window, Inputs});
    auto extra = torch::empty({b, Extra + horizon});
    auto target = torch::empty({b, horizon});
    auto mask = torch::empty({b, horizon});
    float* sp = seq.data_ptr<float>();
    float* ep = extra.data_ptr<float>();
    float* tp = target.data_ptr<float>();
    float* mp = mask.data_ptr<float>();
    for (size_t k = 0; k < count; ++k) {
      const Origin& org = origins[(from + k) % origins.size()];
      const auto& s = train[org.series];
      const double w =
          m.features(std::span<const double>(s.values.data(), org.t + 1),
                     sp + k * static_cast<size_t>(o.window * Inputs), ep + k * (Extra + h));
      for (size_t j = 0; j < h; ++j) {
        const size_t t = org.t + 1 + j;
        tp[k * h + j] = static_cast<float>((s.values[t] - s.values[org.t]) / w);
        mp[k * h + j] = s.observed.empty() || s.observed[t] ? 1.0F : 0.0F;
      }
    }
    return std::make_tuple(seq, extra, target, mask);
  };

  Net net(o.hidden, o.layers, horizon);
  torch::optim::AdamW opt(net->parameters(),
                          torch::optim::AdamWOptions(o.learningRate).weight_decay(o.weightDecay));
  const auto started = std::chrono::steady_clock::now();
  double best = std::numeric_limits<double>::infinity();
  double bestMase = 0;
  int stale = 0;
  std::stringstream bestState;
  int epoch = 0;
  for (epoch = 1; epoch <= o.maxEpochs; ++epoch) {
    net->train();
    std::shuffle(fitOrigins.begin(), fitOrigins.end(), rng);
    double trainLoss = 0;
    for (int step = 0; step < o.stepsPerEpoch; ++step) {
      auto [seq, extra, target, mask] =
          batchOf(fitOrigins, static_cast<size_t>(step) * static_cast<size_t>(o.batch),
                  static_cast<size_t>(o.batch));
      opt.zero_grad();
      auto loss = Impl::pinball(net->forward(seq, extra), target, mask);
      loss.backward();
      torch::nn::utils::clip_grad_norm_(net->parameters(), o.clipNorm);
      opt.step();
      trainLoss += loss.item<double>();
    }
    trainLoss /= o.stepsPerEpoch;
    // Validation: pinball loss, and the median's MAE relative to a no-change forecast's.
    net->eval();
    torch::NoGradGuard noGrad;
    double valLoss = 0, mae = 0, naive = 0;
    size_t batches = 0;
    for (size_t from = 0; from < valOrigins.size(); from += static_cast<size_t>(o.batch)) {
      const size_t count = std::min(valOrigins.size() - from, static_cast<size_t>(o.batch));
      auto [seq, extra, target, mask] = batchOf(valOrigins, from, count);
      auto pred = net->forward(seq, extra);
      valLoss += Impl::pinball(pred, target, mask).item<double>();
      mae += ((pred.select(2, 0) - target).abs() * mask).sum().item<double>();
      naive += (target.abs() * mask).sum().item<double>();
      ++batches;
    }
    valLoss /= static_cast<double>(std::max<size_t>(1, batches));
    const double valMase = naive > 0 ? mae / naive : 0;
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    if (m.onEpoch) {
      m.onEpoch(
          {epoch, trainLoss, valLoss, valMase, elapsed, elapsed / epoch * (o.maxEpochs - epoch)});
    }
    if (valLoss < best - 1e-5) {
      best = valLoss;
      bestMase = valMase;
      stale = 0;
      bestState.str("");
      torch::serialize::OutputArchive a;
      net->save(a);
      a.save_to(bestState);
    } else if (++stale >= o.patience) {
      break;
    }
  }
  if (bestState.tellp() > 0) {
    torch::serialize::InputArchive a;
    a.load_from(bestState);
    net->load(a);
  }
  net->eval();
  m.net = net;
  m.info["validation"] = {{"pinballLoss", best}, {"maseVsNoChange", bestMase}};
  m.info["epochs"] = std::min(epoch, o.maxEpochs);  // the loop leaves epoch one past the last
  m.info["trainSeconds"] =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  m.info["trainSeries"] = train.size();
  m.info["trainWindows"] = fitOrigins.size();
  // Fixed at training time, so the file and every report name the same version.
  m.info["version"] =
      "lstm-" + std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
  m.trained = m.exportNet();
  return okStatus();
}

QuantileForecast LstmMethod::predict(size_t index, std::span<const double> history,
                                     int horizon) const {
  if (!impl_->trained) {
    QuantileForecast out;
    const double last = history.empty() ? 0 : history.back();
    out.p50.assign(static_cast<size_t>(horizon), last);
    out.p90.assign(static_cast<size_t>(horizon), last);
    return out;
  }
  return impl_->trained->predict(index, history, horizon);
}

ChallengerTrainer inProcessTrainer() {
  return [](const std::vector<TrainSeries>& train, const LstmOptions& options, int horizon,
            const std::string& trainingRange) -> Result<std::shared_ptr<const LstmNet>> {
    LstmMethod challenger(options);
    challenger.setTrainingRange(trainingRange);
    UMBRA_CHECK(challenger.fit(train, horizon));
    return challenger.net();
  };
}

QuantileForecast LstmMethod::predictWithTorch(std::span<const double> history, int horizon) const {
  const Impl& m = *impl_;
  QuantileForecast out;
  const double last = history.empty() ? 0 : history.back();
  out.p50.assign(static_cast<size_t>(horizon), last);
  out.p90.assign(static_cast<size_t>(horizon), last);
  if (m.net.is_empty() || history.empty() || horizon != m.horizon)
    return out;
  torch::NoGradGuard noGrad;
  auto seq = torch::empty({1, m.o.window, Inputs});
  auto extra = torch::empty({1, Extra + m.horizon});
  const double w = m.features(history, seq.data_ptr<float>(), extra.data_ptr<float>());
  Net net = m.net;  // a handle; forward() is not const
  auto pred = net->forward(seq, extra);
  auto acc = pred.accessor<float, 3>();
  for (int h = 0; h < horizon; ++h) {
    out.p50[static_cast<size_t>(h)] = last + acc[0][h][0] * w;
    out.p90[static_cast<size_t>(h)] = last + acc[0][h][1] * w;
  }
  return out;
}

std::string LstmMethod::metadata() const {
  const Impl& m = *impl_;
  return m.trained ? m.trained->metadata() : LstmNet::describe(m.shape(), m.scale, m.info.dump());
}

Status LstmMethod::save(const std::string& path) const {
  if (!trained()) {
    return Error::make(ErrorKind::Invalid, path + ": no trained model to save");
  }
  return impl_->trained->save(path);
}

}  // namespace umbra::model
