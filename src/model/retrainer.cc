#include "model/retrainer.h"

#include <cstdio>

namespace umbra::model {

Retrainer::Retrainer(RetrainOptions options, HistoryReader history, ModelForecaster& forecaster,
                     std::function<void(const RetrainReport&)> onReport)
    : o_(std::move(options)),
      history_(std::move(history)),
      forecaster_(forecaster),
      onReport_(std::move(onReport)) {}

Retrainer::~Retrainer() {
  stop();
}

void Retrainer::demandRound(RetrainReport& r, ForecastModels& next) {
  auto series = history_();
  if (!series.ok()) {
    r.demand = "failed";
    r.message = "demand: " + series.error().message;
    return;
  }
  EvalOptions eo;
  eo.horizon = o_.horizon;
  eo.period = o_.lstm.period;
  eo.trainFraction = 1.0 - o_.holdBackFraction;
  eo.originStride = 1;
  const std::vector<TrainSeries> train = trainingParts(*series, eo);
  if (!o_.train) {
    r.demand = "skipped";
    r.message = "demand: no trainer configured";
    return;
  }
  auto trainedNet = o_.train(
      train, o_.lstm, o_.horizon,
      "operator retraining: " + std::to_string(series->size()) + " nodes' node_cpu_utilization");
  if (!trainedNet.ok()) {
    const ErrorKind kind = trainedNet.error().kind;
    r.demand = kind == ErrorKind::Invalid || kind == ErrorKind::Cancelled ? "skipped" : "failed";
    r.message = "demand: " + trainedNet.error().message;
    return;
  }
  const std::shared_ptr<const LstmNet> challenger = *trainedNet;
  FrozenMethod champion(next.demand), trained(challenger);
  const auto reports = evaluate(*series, {&champion, &trained}, eo);
  r.championMase = reports[0].mase;
  r.challengerMase = reports[1].mase;
  char line[160];
  std::snprintf(line, sizeof(line), "demand: challenger MASE %.4f vs champion (%s) %.4f",
                r.challengerMase, next.demandName.c_str(), r.championMase);
  r.message = line;
  if (reports[1].series == 0 || !(r.challengerMase < r.championMase)) {
    r.demand = "kept";
    return;
  }
  if (auto st = challenger->save(o_.modelPath); !st.ok()) {
    r.demand = "failed";
    r.message += "; " + st.error().message;
    return;
  }
  next.demand = challenger;
  next.demandName = challenger->displayName();
  next.validationMase = r.challengerMase;
  std::erase_if(next.fallbacks, [](const std::string& f) { return f.rfind("demand:", 0) == 0; });
  r.demand = "promoted";
}

void Retrainer::contentionRound(RetrainReport& r, ForecastModels& next) {
  auto outcomes = readOutcomes(o_.outcomesPath);
  if (!outcomes.ok()) {
    r.contention = "failed";
    r.message += "; contention: " + outcomes.error().message;
    return;
  }
  const size_t judge = outcomes->size() / 5;
  std::vector<Outcome> fitPart(outcomes->begin(),
                               outcomes->end() - static_cast<std::ptrdiff_t>(judge));
  const std::vector<Outcome> judgePart(outcomes->end() - static_cast<std::ptrdiff_t>(judge),
                                       outcomes->end());
  if (judge < 5 || fitPart.size() < ContentionMap::MinOutcomes) {
    r.contention = "skipped";
    r.message += "; contention: " + std::to_string(outcomes->size()) + " outcomes recorded, need " +
                 std::to_string(ContentionMap::MinOutcomes + 5);
    return;
  }
  auto challenger = ContentionMap::fit(fitPart);
  if (!challenger.ok()) {
    r.contention = "failed";
    r.message += "; contention: " + challenger.error().message;
    return;
  }
  r.championLoss = next.contention.loss(judgePart);
  r.challengerLoss = challenger->loss(judgePart);
  char line[160];
  std::snprintf(line, sizeof(line), "; contention: challenger loss %.4f vs champion (%s) %.4f",
                r.challengerLoss, next.contention.describe().c_str(), r.championLoss);
  r.message += line;
  if (!(r.challengerLoss < r.championLoss)) {
    r.contention = "kept";
    return;
  }
  if (auto st = challenger->save(o_.contentionPath); !st.ok()) {
    r.contention = "failed";
    r.message += "; " + st.error().message;
    return;
  }
  next.contention = *challenger;
  std::erase_if(next.fallbacks,
                [](const std::string& f) { return f.rfind("contention:", 0) == 0; });
  r.contention = "promoted";
}

RetrainReport Retrainer::runOnce() {
  const auto t0 = std::chrono::steady_clock::now();
  RetrainReport r;
  ForecastModels next = *forecaster_.models();
  demandRound(r, next);
  contentionRound(r, next);
  if (r.demand == "promoted" || r.contention == "promoted")
    forecaster_.setModels(std::make_shared<const ForecastModels>(std::move(next)));
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (onReport_)
    onReport_(r);
  return r;
}

void Retrainer::start() {
  thread_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!cv_.wait_for(lock, o_.interval, [this] { return stopping_; })) {
      lock.unlock();
      runOnce();
      lock.lock();
    }
  });
}

void Retrainer::stop() {
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable())
    thread_.join();
}

}  // namespace umbra::model
