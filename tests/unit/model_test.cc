// The demand forecasters: baselines against hand-computed values, the evaluation's scoring, and a
// tiny LSTM (shapes, quantile order, learning, save/load, refusal of bad files).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "cli/inputs.h"
#include "fakes/tiny_lstm.h"
#include "model/evaluation.h"
#include "model/guarded_ensemble.h"
#include "offline/paired_intervals.h"
#include "training/lstm.h"

namespace umbra::model {
namespace {

// Uniform noise in [-0.5, 0.5) from a fixed seed (a linear congruential generator): the same
// series on every run.
struct Noise {
  uint64_t state;
  double operator()() {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<double>(state >> 40) / static_cast<double>(1ULL << 24) - 0.5;
  }
};

TrainSeries series(std::vector<double> v) {
  return {std::move(v), {}};
}

TEST(Baselines, HandComputedForecasts) {
  const std::vector<double> y = {1, 2, 3, 4, 5, 6, 7, 8};
  auto last = lastValue();
  ASSERT_TRUE(last->fit({series(y)}, 3).ok());
  EXPECT_EQ(last->predict(0, y, 3).p50, (std::vector<double>{8, 8, 8}));

  auto snaive = seasonalNaive(4);
  ASSERT_TRUE(snaive->fit({series(y)}, 6).ok());
  // One season back from each target: y[8+h-1-4] for h = 1..4, then the season repeats.
  EXPECT_EQ(snaive->predict(0, y, 6).p50, (std::vector<double>{5, 6, 7, 8, 5, 6}));

  // The median of the newest values, which a spike does not move: {2, 9, 1} -> 2; an even count
  // takes the mean of the middle two ({5, 6, 7, 8} -> 6.5).
  auto median = recentMedian(3);
  ASSERT_TRUE(median->fit({series(y)}, 2).ok());
  EXPECT_EQ(median->predict(0, std::vector<double>{7, 2, 9, 1}, 2).p50,
            (std::vector<double>{2, 2}));
  EXPECT_EQ(recentMedian(4)->predict(0, y, 1).p50, (std::vector<double>{6.5}));

  // y = 0.5 y[t-1] + 0.2 from 1: a linear AR recovers it exactly (direct, per step).
  std::vector<double> ar(400);
  ar[0] = 1;
  for (size_t t = 1; t < ar.size(); ++t)
    ar[t] = 0.5 * ar[t - 1] + 0.2 + 0.01 * std::sin(static_cast<double>(t));
  auto lin = linearAutoregressive(3, 24);
  ASSERT_TRUE(lin->fit({series(ar)}, 2).ok());
  const std::span<const double> upTo(ar.data(), 300);
  const auto f = lin->predict(0, upTo, 2);
  EXPECT_NEAR(f.p50[0], ar[300], 0.01);
  EXPECT_NEAR(f.p50[1], ar[301], 0.01);

  // Trend + season of 24: Holt-Winters continues both.
  std::vector<double> hw(size_t{24} * 20);
  for (size_t t = 0; t < hw.size(); ++t)
    hw[t] = 0.2 + 0.0002 * static_cast<double>(t) +
            0.1 * std::sin(2 * M_PI * static_cast<double>(t) / 24);
  auto holt = holtWinters(24);
  ASSERT_TRUE(holt->fit({series(std::vector<double>(hw.begin(), hw.end() - 24))}, 6).ok());
  const auto g = holt->predict(0, std::span<const double>(hw.data(), hw.size() - 24), 6);
  for (size_t h = 0; h < 6; ++h)
    EXPECT_NEAR(g.p50[h], hw[hw.size() - 24 + h], 0.01) << h;
}

TEST(Baselines, P90IsAboveP50ByTheInSampleErrorQuantile) {
  std::vector<double> y(500);
  for (size_t t = 0; t < y.size(); ++t)
    y[t] = 0.5 + (t % 2 == 0 ? 0.1 : -0.1);  // alternates: last value is off by 0.2 or 0
  auto last = lastValue();
  ASSERT_TRUE(last->fit({series(y)}, 1).ok());
  const auto f = last->predict(0, y, 1);
  EXPECT_NEAR(f.p90[0] - f.p50[0], 0.2, 1e-9);
}

TEST(Evaluation, MaseAndCoverageByHand) {
  // Period 2, alternating: seasonal naive is exact in sample, so the scale falls back to lag 1
  // (|0.6 - 0.4| = 0.2) and last value's MAE on alternating targets is 0.2 at horizon 1: MASE 1.
  EvalSeries s{"alt", std::vector<double>(100), {}};
  for (size_t t = 0; t < s.values.size(); ++t)
    s.values[t] = t % 2 == 0 ? 0.6 : 0.4;
  EXPECT_NEAR(maseScale({s.values, {}}, 2), 0.2, 1e-12);
  EvalOptions o;
  o.horizon = 1;
  o.period = 2;
  o.originStride = 1;
  auto last = lastValue();
  auto snaive = seasonalNaive(2);
  const auto r = evaluate({s}, {last.get(), snaive.get()}, o);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_NEAR(r[0].mase, 1.0, 1e-9);
  EXPECT_NEAR(r[0].mae, 0.2, 1e-9);
  EXPECT_NEAR(r[0].coverage, 1.0, 1e-9) << "p90 = last + 0.2 covers every target";
  EXPECT_NEAR(r[1].mase, 0.0, 1e-9);
  EXPECT_EQ(r[0].series, 1u);
  // Unobserved targets are not scored.
  s.observed.assign(s.values.size(), 1);
  for (size_t t = 80; t < 100; ++t)
    s.observed[t] = 0;
  EXPECT_LT(evaluate({s}, {last.get()}, o)[0].points, r[0].points);
}

// The guard tests' scoring: 3 steps ahead, a 24-step season, an origin at every step.
EvalOptions threeStepsOfADay() {
  EvalOptions o;
  o.horizon = 3;
  o.period = 24;
  o.originStride = 1;
  return o;
}

TEST(GuardedEnsemble, WeightGridCoversTheSimplex) {
  const auto grid = weightGrid(3, 0.5);
  ASSERT_EQ(grid.size(), 6u);  // (1,0,0) (.5,.5,0) (.5,0,.5) (0,1,0) (0,.5,.5) (0,0,1)
  for (const auto& w : grid)
    EXPECT_NEAR(w[0] + w[1] + w[2], 1.0, 1e-12);
  EXPECT_EQ(weightGrid(4, 0.1).size(), 286u);
}

// Two series that each defeat one member: a clean daily pattern (seasonal naive is exact, the last
// value is not) and a random walk (the last value is right, last period's value is far off). The
// guard must give each series the member that is right there, so its mean MASE beats both, no
// series is worse than its best member by much, and its conformal p90 covers about 90 %.
TEST(GuardedEnsemble, EachSeriesGetsTheMemberThatIsRightThere) {
  EvalSeries periodic{"periodic", std::vector<double>(24 * 40), {}};
  EvalSeries walk{"walk", std::vector<double>(24 * 40), {}};
  Noise noise{11};
  double level = 0.5;
  for (size_t t = 0; t < periodic.values.size(); ++t) {
    periodic.values[t] = 0.4 + 0.2 * std::sin(2 * M_PI * static_cast<double>(t) / 24);
    level = std::clamp(level + 0.04 * noise(), 0.1, 0.9);
    walk.values[t] = level;
  }
  const std::vector<EvalSeries> all = {periodic, walk};
  const EvalOptions o = threeStepsOfADay();
  auto last = lastValue();
  auto snaive = seasonalNaive(24);
  GuardOptions g;
  g.originStride = 1;
  GuardedEnsemble guard({snaive.get(), last.get()}, true, g);
  const auto r = evaluate(all, {snaive.get(), last.get(), &guard}, o);
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(guard.weights()[0], (std::vector<double>{1.0, 0.0})) << "periodic: seasonal naive";
  EXPECT_GE(guard.weights()[1][1], 0.8) << "random walk: mostly the last value";
  for (size_t i = 0; i < 2; ++i)
    EXPECT_LE(r[2].perSeriesMase[i],
              1.05 * std::min(r[0].perSeriesMase[i], r[1].perSeriesMase[i]) + 1e-9)
        << all[i].id;
  EXPECT_LT(r[2].mase, std::min(r[0].mase, r[1].mase));
  EXPECT_GT(r[2].coverage, 0.8);
  EXPECT_LT(r[2].coverage, 0.98);
  // A series fit() did not see takes the weights best over all, and stays a valid forecast.
  const auto unseen = guard.predict(7, std::span<const double>(walk.values.data(), 500), 3);
  ASSERT_EQ(unseen.p50.size(), 3u);
  for (size_t h = 0; h < 3; ++h) {
    EXPECT_GE(unseen.p90[h], unseen.p50[h]);
    EXPECT_GE(unseen.p50[h], 0.0);
    EXPECT_LE(unseen.p90[h], 1.0);
  }
}

// The nested validation behind shrinkToGlobal, on hand-made losses for two members (grid (1,0),
// (.5,.5), (0,1)): when one series' older half picks the member its newer half disowns, and the
// other series agree on the other member, shrinking all the way to the all-series choice wins; when
// every series' own choice holds on its newer half, no shrinking does (the smaller λ on a tie).
TEST(GuardedEnsemble, NestedValidationShrinksOnlyWhenOwnChoicesDoNotHold) {
  const auto grid = weightGrid(2, 0.5);
  ASSERT_EQ(grid.size(), 3u);
  // A series' loss for blend w: a·w0 + b·w1 (first member costs a, second b).
  const auto lossesOf = [&](double a, double b) {
    std::vector<double> l;
    for (const auto& w : grid)
      l.push_back(a * w[0] + b * w[1]);
    return l;
  };
  const std::vector<double> lambdas = {0.0, 0.25, 0.5, 0.75, 1.0};
  // The first two series favour the second member on both halves; the third the first member on
  // its older half and, on its newer half, the member its costs (a, b) there favour.
  const auto shrinkageWhenTheThirdTurns = [&](double a, double b) {
    const std::vector<std::pair<double, double>> newerAB = {{2, 1}, {2, 1}, {a, b}};
    const std::vector<std::vector<double>> older = {lossesOf(2, 1), lossesOf(2, 1),
                                                    lossesOf(1, 1.5)};
    std::vector<std::vector<double>> newer;
    for (const auto& [x, y] : newerAB)
      newer.push_back(lossesOf(x, y));
    const auto newerLoss = [&](size_t i, const std::vector<double>& w) {
      return newerAB[i].first * w[0] + newerAB[i].second * w[1];
    };
    return nestedShrinkage(grid, older, newer, newerLoss, lambdas);
  };
  EXPECT_EQ(shrinkageWhenTheThirdTurns(3, 1), 1.0) << "its own choice fails: lean on the others";
  EXPECT_EQ(shrinkageWhenTheThirdTurns(1, 3), 0.0) << "its own choice holds: keep it";
  // No series with a newer half that is not exact: nothing to choose on.
  EXPECT_EQ(nestedShrinkage(grid, {{}, {}}, {{}, {}}, nullptr, lambdas), 0.0);
}

// Through fit(): eight random walks (the last value is right); two series that are a daily
// pattern until the middle of their validation part and a random walk after (their own choice on
// the older half fails on the newer half: the evidence); and one that is the daily pattern through
// all of its training part and a random walk in its evaluation part. Its validation part alone
// picks seasonal naive; having seen own choices fail, the nested validation shrinks every series
// toward the all-series blend (mostly the last value), which is what that series' evaluation part
// rewards. Without shrinkToGlobal nothing changes.
TEST(GuardedEnsemble, ShrinkingRescuesASeriesWhoseValidationPartMisleadsIt) {
  const size_t length = 24 * 40;
  // Training part 672 steps; its validation part 572..672, halves at 622.
  const std::vector<size_t> shiftAt = {0, 0, 0, 0, 0, 0, 0, 0, 622, 622, 672};
  const size_t misled = shiftAt.size() - 1;
  std::vector<EvalSeries> all;
  Noise noise{5};
  for (size_t k = 0; k < shiftAt.size(); ++k) {
    EvalSeries s{"s" + std::to_string(k), std::vector<double>(length), {}};
    double level = 0.5;
    for (size_t t = 0; t < length; ++t) {
      level = std::clamp(level + 0.04 * noise(), 0.1, 0.9);
      const double daily = 0.4 + 0.2 * std::sin(2 * M_PI * static_cast<double>(t) / 24);
      s.values[t] = t < shiftAt[k] ? daily + 0.1 * noise() : level;
    }
    all.push_back(std::move(s));
  }
  const EvalOptions o = threeStepsOfADay();
  auto last = lastValue();
  auto snaive = seasonalNaive(24);
  GuardOptions plain;
  plain.originStride = 1;
  GuardOptions shrink = plain;
  shrink.shrinkToGlobal = true;
  GuardedEnsemble own({snaive.get(), last.get()}, true, plain);
  GuardedEnsemble shrunk({snaive.get(), last.get()}, true, shrink);
  const auto r = evaluate(all, {&own, &shrunk}, o);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(own.shrinkage(), 0.0);
  EXPECT_GT(shrunk.shrinkage(), 0.0);
  EXPECT_GT(own.weights()[misled][0], 0.5) << "alone, the validation part picks seasonal naive";
  EXPECT_GT(shrunk.weights()[misled][1], own.weights()[misled][1]);
  EXPECT_LT(r[1].perSeriesMase[misled], 0.8 * r[0].perSeriesMase[misled]);
  EXPECT_LT(r[1].mase, r[0].mase);
}

// Forecasting's series selection (umbra bench forecast, umbra train --traces): a series shorter
// than three days, one without data and a constant one are skipped and counted, never an error; a
// series with gaps is kept with its gaps marked.
TEST(SeriesSelection, ShortEmptyAndConstantSeriesAreSkippedAndCounted) {
  sim::TraceSet set;
  const auto trace = [](const std::string& id, size_t slots, auto value) {
    sim::Trace t;
    t.id = id;
    for (size_t i = 0; i < slots; ++i) {
      t.cpu.push_back(static_cast<float>(value(i)));
      t.memory.push_back(0.5F);
      t.observed.push_back(1);
    }
    return t;
  };
  const size_t day = 288;
  set.series["short"] = trace("short", 2 * day, [](size_t i) { return 0.1 * (i % 3); });
  set.series["empty"] = trace("empty", 4 * day, [](size_t) { return 0.0; });
  set.series["constant"] = trace("constant", 4 * day, [](size_t) { return 0.3; });
  auto gappy = trace("gappy", 4 * day, [](size_t i) { return 0.2 + 0.1 * std::sin(0.1 * i); });
  for (size_t i = 100; i < 160; ++i)
    gappy.observed[i] = 0;
  set.series["gappy"] = gappy;
  cli::SkippedSeries skipped;
  const auto cpu = cli::seriesOf(set, "cpu", 0, &skipped);
  ASSERT_EQ(cpu.size(), 1u);
  EXPECT_EQ(cpu[0].id, "gappy");
  EXPECT_EQ(cpu[0].observed[120], 0);
  EXPECT_EQ(cpu[0].observed[99], 1);
  EXPECT_EQ(skipped.describe(), "3 (fewer than three days: 1, no data: 1, constant: 1)");
  // Memory is constant everywhere: every long series is skipped as constant.
  cli::SkippedSeries memory;
  EXPECT_TRUE(cli::seriesOf(set, "memory", 0, &memory).empty());
  EXPECT_EQ(memory.constant, 3);
}

// train-contention at several background loads: the outcomes are shared out between them, and
// each load's newest fifth is judged, not only the last load's.
TEST(CliInputs, OutcomesAreSharedBetweenLoadsAndEachLoadIsJudged) {
  EXPECT_EQ(cli::outcomesPerLevel(61, 2), (std::vector<size_t>{31, 30}));
  EXPECT_EQ(cli::outcomesPerLevel(3000, 1), (std::vector<size_t>{3000}));
  const auto block = [](const std::string& load, int n) {
    std::vector<model::Outcome> b;
    for (int i = 0; i < n; ++i) {
      model::Outcome o;
      o.time = i;
      o.target = load;
      b.push_back(o);
    }
    return b;
  };
  const auto split = cli::splitForJudging({block("15", 10), block("25", 5)});
  ASSERT_EQ(split.judge.size(), 3u);  // 2 of 10, 1 of 5
  EXPECT_EQ(split.judge[0].target, "15");
  EXPECT_EQ(split.judge[0].time, 8);
  EXPECT_EQ(split.judge[2].target, "25");
  EXPECT_EQ(split.judge[2].time, 4);
  ASSERT_EQ(split.fit.size(), 12u);
  EXPECT_EQ(split.fit.back().target, "25");
  EXPECT_EQ(split.fit.back().time, 3);
  EXPECT_EQ(split.all.size(), 15u);
}

// train-contention over several interference strengths (--interference-scale): every load with
// every multiple, each block simulated on the cluster with its interference scaled.
TEST(CliInputs, EveryLoadIsSimulatedWithEveryInterferenceMultiple) {
  sim::ClusterSpec cluster;
  cluster.physics.interference = 0.2;
  const auto levels = cli::contentionLevels(cluster, {15, 25}, {0, 1.5}, 101);
  ASSERT_EQ(levels.size(), 4u);
  EXPECT_EQ(levels[0].load, 15);
  EXPECT_EQ(levels[1].load, 15);
  EXPECT_EQ(levels[3].load, 25);
  EXPECT_DOUBLE_EQ(levels[0].cluster.physics.interference, 0.0);
  EXPECT_DOUBLE_EQ(levels[1].cluster.physics.interference, 0.3);
  EXPECT_DOUBLE_EQ(levels[2].cluster.physics.interference, 0.0);
  EXPECT_DOUBLE_EQ(levels[3].cluster.physics.interference, 0.3);
  EXPECT_EQ(levels[0].outcomes, 26u);
  EXPECT_EQ(levels[3].outcomes, 25u);
  EXPECT_DOUBLE_EQ(cluster.physics.interference, 0.2) << "the file's cluster is left as it is";
  const auto one = cli::contentionLevels(cluster, {50}, {1}, 600);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_DOUBLE_EQ(one[0].cluster.physics.interference, 0.2);
  EXPECT_EQ(one[0].outcomes, 600u);
  EXPECT_EQ(one[0].world, 0);
  EXPECT_EQ(one[0].seed, 1u);
}

// train-contention --worlds: every load in every world (seeded --seed + world), the outcomes
// shared out between them.
TEST(CliInputs, EveryLoadIsSimulatedInEveryWorld) {
  sim::ClusterSpec cluster;
  const auto levels = cli::contentionLevels(cluster, {15, 25}, {1}, 100, 3, 7);
  ASSERT_EQ(levels.size(), 6u);
  size_t total = 0;
  for (size_t k = 0; k < levels.size(); ++k) {
    EXPECT_EQ(levels[k].load, k < 3 ? 15 : 25) << k;
    EXPECT_EQ(levels[k].world, static_cast<int>(k % 3)) << k;
    EXPECT_EQ(levels[k].seed, 7 + k % 3) << k;
    total += levels[k].outcomes;
  }
  EXPECT_EQ(total, 100u);
  EXPECT_EQ(levels[0].outcomes, 20u);  // the first takes the rest
  EXPECT_EQ(levels[5].outcomes, 16u);
}

// The placement benchmark's headline interval: runs (seeds) whose ratios disagree must widen the
// interval that resamples them, and only that one; runs that agree must not.
TEST(PairedIntervals, TheSeedToSeedSpreadWidensTheIntervalThatResamplesRuns) {
  const auto runsWith = [](const std::vector<double>& ratios) {
    std::vector<PairedVm> pairs;
    for (size_t r = 0; r < ratios.size(); ++r) {
      for (int i = 0; i < 200; ++i) {
        const double peer = 0.05 + 0.05 * (i % 7) / 7.0;
        const double wobble = 1.0 + 0.05 * ((i * 13) % 5 - 2) / 2.0;
        pairs.push_back({r, ratios[r] * peer * wobble, peer, 0.5 * peer});
      }
    }
    return pairs;
  };
  const auto disagree = runsWith({0.8, 1.7, 1.1});
  const auto byRun = perRun(disagree, 3, placerOverPeer);
  ASSERT_EQ(byRun.size(), 3u);
  EXPECT_NEAR(byRun[0], 0.8, 0.01);
  EXPECT_NEAR(byRun[1], 1.7, 0.02);
  EXPECT_NEAR(byRun[2], 1.1, 0.01);
  const Interval within = bootstrapWithinRuns(disagree, 3, placerOverPeer);
  const Interval seeds = bootstrapRunsAndVms(disagree, 3, placerOverPeer);
  EXPECT_NEAR(within.mean, 1.2, 0.02);
  EXPECT_DOUBLE_EQ(seeds.mean, within.mean);
  EXPECT_GT(within.lo, 1.1);  // the worlds taken as given: "surely worse than the peer"
  EXPECT_LT(within.hi, 1.3);
  EXPECT_LT(seeds.lo, 1.0);  // one seed in three favoured the placer: 1.0 is not excluded
  EXPECT_GT(seeds.hi, 1.45);
  const auto agree = runsWith({1.2, 1.2, 1.2});
  const Interval w = bootstrapWithinRuns(agree, 3, placerOverPeer);
  const Interval s = bootstrapRunsAndVms(agree, 3, placerOverPeer);
  EXPECT_LT(s.hi - s.lo, 2 * (w.hi - w.lo) + 1e-3);
  EXPECT_NEAR(gapClosed(agree), (1.0 - 1.2) / (1.0 - 0.5), 0.01);
  // A run without pairs (a placer that placed nothing there) is skipped, not drawn as empty.
  auto sparse = disagree;
  for (auto& p : sparse)
    p.run = p.run == 1 ? 3 : p.run;  // runs 0, 2, 3 of 4
  EXPECT_TRUE(std::isnan(perRun(sparse, 4, placerOverPeer)[1]));
  const Interval sp = bootstrapRunsAndVms(sparse, 4, placerOverPeer);
  EXPECT_LT(sp.lo, 1.0);
  EXPECT_GT(sp.hi, 1.45);
}

// A noisy daily-like pattern (period 24) for the LSTM.
std::vector<EvalSeries> seasonalSeries(size_t count) {
  std::vector<EvalSeries> out;
  Noise noise{7};
  for (size_t i = 0; i < count; ++i) {
    EvalSeries s{"s" + std::to_string(i), std::vector<double>(size_t{24} * 40), {}};
    const double amp = 0.1 + 0.05 * static_cast<double>(i);
    for (size_t t = 0; t < s.values.size(); ++t)
      s.values[t] = 0.4 + amp * std::sin(2 * M_PI * static_cast<double>(t) / 24) + 0.02 * noise();
    out.push_back(std::move(s));
  }
  return out;
}

LstmOptions tiny() {
  return testing::tinyLstm();
}

std::string tempPath(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("umbra-model-test-" + std::to_string(::getpid()) + "-" + name))
      .string();
}

TEST(Lstm, LearnsASeasonalSeriesAndBeatsLastValue) {
  const auto all = seasonalSeries(3);
  EvalOptions o;
  o.horizon = 4;
  o.period = 24;
  o.originStride = 3;
  LstmMethod lstm(tiny());
  std::vector<double> losses;
  lstm.onEpoch([&](const EpochReport& e) { losses.push_back(e.trainLoss); });
  auto last = lastValue();
  const auto r = evaluate(all, {&lstm, last.get()}, o);
  ASSERT_TRUE(lstm.trained());
  ASSERT_GE(losses.size(), 2u);
  EXPECT_LT(losses.back(), 0.7 * losses.front()) << "the training loss falls";
  EXPECT_LT(r[0].mae, 0.8 * r[1].mae) << "lstm MAE " << r[0].mae << " vs last value " << r[1].mae;
  // Shapes and quantile order.
  const auto& y = all[0].values;
  const auto f = lstm.predict(0, std::span<const double>(y.data(), 500), 4);
  ASSERT_EQ(f.p50.size(), 4u);
  ASSERT_EQ(f.p90.size(), 4u);
  for (size_t h = 0; h < 4; ++h)
    EXPECT_GE(f.p90[h], f.p50[h]);
}

TEST(Lstm, SaveLoadGivesIdenticalPredictionsAndBadFilesAreRefused) {
  const auto all = seasonalSeries(2);
  EvalOptions o;
  o.horizon = 3;
  o.period = 24;
  auto opts = tiny();
  opts.maxEpochs = 2;
  LstmMethod lstm(opts);
  ASSERT_TRUE(lstm.fit(trainingParts(all, o), 3).ok());
  const std::string path = tempPath("m.pt");
  ASSERT_TRUE(lstm.save(path).ok());
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp." + std::to_string(::getpid())))
      << "no temporary file left";
  auto loaded = LstmNet::load(path, 3);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  const std::span<const double> h(all[1].values.data(), 400);
  EXPECT_EQ((*loaded)->predict(0, h, 3).p50, lstm.predict(0, h, 3).p50);
  EXPECT_EQ((*loaded)->predict(0, h, 3).p90, lstm.predict(0, h, 3).p90);

  {
    // A version that is not text: the model loads and is named unversioned, where value()
    // threw (the operator would have died naming its model).
    std::ifstream in(path, std::ios::binary);
    auto doc = nlohmann::json::parse(in);
    doc["version"] = 5;
    const std::string odd = tempPath("odd-version.pt");
    std::ofstream(odd, std::ios::binary) << doc.dump();
    auto named = LstmNet::load(odd, 3);
    std::filesystem::remove(odd);
    ASSERT_TRUE(named.ok()) << named.error().message;
    EXPECT_EQ((*named)->displayName(), "lstm/unversioned");
  }

  auto mismatch = LstmNet::load(path, 6);
  ASSERT_FALSE(mismatch.ok());
  EXPECT_EQ(mismatch.error().message, path + ": schema mismatch: horizon is 3, expected 6");

  const std::string corrupt = tempPath("corrupt.pt");
  {
    std::ifstream in(path, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), {});
    bytes.resize(bytes.size() / 2);  // a half-written file
    std::ofstream(corrupt, std::ios::binary) << bytes;
  }
  auto bad = LstmNet::load(corrupt, 3);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message.rfind(corrupt + ": not a readable model file", 0), 0u)
      << bad.error().message;
  EXPECT_EQ(bad.error().message.find('\n'), std::string::npos);
  auto missing = LstmNet::load(tempPath("absent.pt"), 3);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().message, tempPath("absent.pt") + ": no such model file");
  std::filesystem::remove(path);
  std::filesystem::remove(corrupt);
}

// The operator runs the network in plain C++ (LstmNet): its forecasts must be LibTorch's, for one
// and for two layers, at every origin tried.
TEST(Lstm, PlainInferenceMatchesLibTorch) {
  const auto all = seasonalSeries(2);
  EvalOptions o;
  o.horizon = 3;
  o.period = 24;
  for (const int layers : {1, 2}) {
    auto opts = tiny();
    opts.maxEpochs = 2;
    opts.layers = layers;
    LstmMethod lstm(opts);
    ASSERT_TRUE(lstm.fit(trainingParts(all, o), 3).ok());
    ASSERT_NE(lstm.net(), nullptr);
    double worst = 0;
    for (const size_t end : {5, 30, 200, 401, 599}) {
      const std::span<const double> h(all[1].values.data(), end);
      const auto plain = lstm.net()->predict(0, h, 3);
      const auto torch = lstm.predictWithTorch(h, 3);
      for (size_t k = 0; k < 3; ++k) {
        worst = std::max(worst, std::abs(plain.p50[k] - torch.p50[k]));
        worst = std::max(worst, std::abs(plain.p90[k] - torch.p90[k]));
      }
    }
    EXPECT_LT(worst, 1e-5) << layers << " layer(s)";
    // And a saved and reloaded network is the same network.
    const std::string path = tempPath("layers.json");
    ASSERT_TRUE(lstm.save(path).ok());
    auto loaded = LstmNet::load(path, 3);
    ASSERT_TRUE(loaded.ok()) << loaded.error().message;
    const std::span<const double> h(all[0].values.data(), 333);
    EXPECT_EQ((*loaded)->predict(0, h, 3).p90, lstm.predict(0, h, 3).p90);
    std::filesystem::remove(path);
  }
}

TEST(Lstm, WeightsThatDoNotMatchTheShapeAreRefused) {
  const auto all = seasonalSeries(1);
  EvalOptions o;
  o.horizon = 3;
  o.period = 24;
  auto opts = tiny();
  opts.maxEpochs = 1;
  LstmMethod lstm(opts);
  ASSERT_TRUE(lstm.fit(trainingParts(all, o), 3).ok());
  const std::string path = tempPath("shape.json");
  ASSERT_TRUE(lstm.save(path).ok());
  std::string text;
  {
    std::ifstream in(path);
    text.assign(std::istreambuf_iterator<char>(in), {});
  }
  // Claim 9 hidden units for weights of 8.
  const auto at = text.find("\"hidden\":8");
  ASSERT_NE(at, std::string::npos);
  text.replace(at, 10, "\"hidden\":9");
  std::ofstream(path) << text;
  auto bad = LstmNet::load(path, 3);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message,
            path +
                ": weights do not match the metadata: weights.lstm[0].weightIh has 64 values, "
                "expected 72");
  std::filesystem::remove(path);
}

TEST(Lstm, TrainingIsReproducibleWithAFixedSeed) {
  const auto all = seasonalSeries(2);
  EvalOptions o;
  o.horizon = 2;
  o.period = 24;
  auto opts = tiny();
  opts.maxEpochs = 1;
  LstmMethod a(opts), b(opts);
  ASSERT_TRUE(a.fit(trainingParts(all, o), 2).ok());
  ASSERT_TRUE(b.fit(trainingParts(all, o), 2).ok());
  const std::span<const double> h(all[0].values.data(), 300);
  EXPECT_EQ(a.predict(0, h, 2).p50, b.predict(0, h, 2).p50);
}

}  // namespace
}  // namespace umbra::model
