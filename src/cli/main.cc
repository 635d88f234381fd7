// umbra: the offline tools. `umbra --help` lists the subcommands; each has its own --help.
//   umbra train --traces DIR | --prometheus URL [--window 7d] | --series FILE --out model.pt
//   umbra train-contention --traces DIR --cluster FILE [--demand-model model.pt] --out FILE.json
//   umbra bench forecast --traces DIR [--horizon-steps 6] [--json out.json] ...
//   umbra bench placement --traces DIR --cluster FILE [--utilisation 15,25] ...
//   umbra bench scaling --traces DIR [--json out.json] [--networks DIR] ...
//   umbra bench pool --traces DIR [--json out.json] [--seed N] [--announced SHARE]
//   umbra bench rebalance --traces DIR [--cluster FILE] [--seeds 1,2,3] [--json out.json]
//   umbra bench instancetypes --traces DIR [--seeds 1,2,3] [--json out.json]
//   umbra probe-script [--cpu-percent 50] [--limit-cores 0.01] [--profile steady] [--format script]
#include <iostream>

#include "cli/commands.h"
#include "cli_flags/cli_flags.h"
#include "model/contention_map.h"
#include "placement/shadow.h"

namespace {

using namespace umbra;

void addTrain(CLI::App& app, cli::TrainFlags& f) {
  auto* s =
      app.add_subcommand("train", "Train the demand LSTM (LibTorch) and write its model file");
  auto* source = s->add_option_group("source", "what to train on (exactly one)");
  source->add_option("--traces", f.traces, "a folder of traces in the common format");
  source->add_option("--prometheus", f.prometheus, "node_cpu_utilization from this Prometheus URL");
  source->add_option("--series", f.series, "a series file written by the operator");
  source->require_option(1);
  s->add_option("--window", f.window, "with --prometheus: how far back (7d, 36h)")
      ->capture_default_str();
  s->add_option("--trace-half", f.traceHalf,
                "with --traces: all, or half a or b of a fixed split of the series")
      ->check(CLI::IsMember({"all", "a", "b"}))
      ->capture_default_str();
  s->add_option("--out", f.out, "the model file to write")->required();
  s->add_option("--horizon-steps", f.horizonSteps)->check(CLI::Range(1, 48))->capture_default_str();
  s->add_option("--epochs", f.epochs)->check(CLI::Range(1, 1000))->capture_default_str();
  s->add_option("--seed", f.seed)->check(CLI::Range(0, 1 << 30))->capture_default_str();
  s->add_option("--batch", f.batch)->check(CLI::Range(1, 1 << 16))->capture_default_str();
  s->add_option("--steps-per-epoch", f.stepsPerEpoch)
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  s->add_option("--hidden", f.hidden)->check(CLI::Range(1, 1024))->capture_default_str();
  s->add_option("--window-steps", f.windowSteps)
      ->check(CLI::Range(model::LstmShape::SkipSteps, 4096))
      ->capture_default_str();
  s->add_option("--period-steps", f.periodSteps)
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  s->add_option("--threads", f.threads)->check(CLI::Range(1, 256))->capture_default_str();
  s->add_option("--training-range", f.trainingRange, "what the model file says it was trained on");
}

void addTrainContention(CLI::App& app, cli::TrainContentionFlags& f) {
  auto* s = app.add_subcommand("train-contention",
                               "Fit the contention mapping on simulated and recorded outcomes");
  s->add_option("--traces", f.traces, "a folder of traces")->required();
  s->add_option("--cluster", f.cluster, "a cluster file")->required();
  s->add_option("--out", f.out, "the contention model to write")->required();
  s->add_option("--demand-model", f.demandModel, "an LSTM model file (default: last value)");
  s->add_option("--outcomes", f.outcomes, "recorded outcomes (JSON lines) to add");
  s->add_option("--save-outcomes", f.saveOutcomes, "write every outcome used (JSON lines)");
  s->add_option("--count", f.count, "simulated placements")
      ->check(CLI::Range(static_cast<int>(model::ContentionMap::MinOutcomes) + 5, 1000000))
      ->capture_default_str();
  s->add_option("--utilisation", f.utilisation,
                "background loads, %: the outcomes split evenly between them, same seed each")
      ->delimiter(',')
      ->check(CLI::Range(1, 95))
      ->capture_default_str();
  s->add_option("--interference-scale", f.interferenceScale,
                "multiples of the cluster's physics.interference: the outcomes split evenly "
                "between every load and multiple")
      ->delimiter(',')
      ->check(CLI::Range(0.0, 10.0))
      ->capture_default_str();
  s->add_option("--seed", f.seed)->check(CLI::Range(0, 1 << 30))->capture_default_str();
  s->add_option("--trace-half", f.traceHalf, "VM traces: all, or half a or b of a fixed split")
      ->check(CLI::IsMember({"all", "a", "b"}))
      ->capture_default_str();
  s->add_option("--observe-seconds", f.observeSeconds,
                "each shadow's observation before the placement (spec.observationDuration)")
      ->check(CLI::Range(15, 86400))
      ->capture_default_str();
  s->add_option("--shadow-cpu-fraction", f.shadowCpuFraction,
                "each shadow's CPU limit as a fraction of the target's (spec.shadow.cpuFraction)")
      ->check(CLI::Range(1e-6, 0.5))
      ->capture_default_str();
  s->add_option("--window-steps", f.windowSteps,
                "each outcome's window after the placement, in 300 s steps (288: a day)")
      ->check(CLI::Range(1, 2016))
      ->capture_default_str();
  s->add_option("--statistic", f.statistic,
                "the CPU outcome over the window: mean, or p95 of its 300 s means")
      ->check(CLI::IsMember({"mean", "p95"}))
      ->capture_default_str();
  s->add_option("--node-history", f.nodeHistory,
                "the node history the inputs are computed from: the node's own, or as the VMs on "
                "it now would have made it (co-runners, what the operator and the placement "
                "benchmark read)")
      ->check(CLI::IsMember({"node", "co-runners"}))
      ->capture_default_str();
  s->add_option("--churn-every", f.churnEverySeconds,
                "passers-by: one trace VM every this many seconds lands on a random node with "
                "room and leaves after --churn-lifetime, as the placement benchmark's arrivals "
                "come and go (0: none)")
      ->check(CLI::Range(0, 86400))
      ->capture_default_str();
  s->add_option("--churn-lifetime", f.churnLifetimeSeconds, "each passer-by's stay, seconds")
      ->check(CLI::Range(300, 7 * 86400))
      ->capture_default_str();
  s->add_option("--worlds", f.worlds,
                "each load's outcomes shared between this many differently drawn clusters, seeded "
                "--seed, --seed + 1, ...")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
}

void addBench(CLI::App& app, cli::BenchForecastFlags& bf, cli::BenchPlacementFlags& bp,
              cli::BenchScalingFlags& bs, cli::BenchPoolFlags& bpl, cli::BenchRebalanceFlags& br,
              cli::BenchInstancetypesFlags& bi) {
  auto* bench = app.add_subcommand("bench", "Benchmarks")->require_subcommand(1);
  auto* f = bench->add_subcommand("forecast", "The LSTM against the baselines on the traces");
  f->add_option("--traces", bf.traces, "a folder of traces")->required();
  f->add_option("--json", bf.json, "write every figure here");
  f->add_option("--target", bf.target)
      ->check(CLI::IsMember({"cpu", "memory", "both"}))
      ->capture_default_str();
  f->add_option("--export-series", bf.exportSeries, "the series as CSV, for peers in Python");
  f->add_option("--forecasts", bf.forecasts, "forecasts of every method as CSV, for plots");
  f->add_option("--networks", bf.networks,
                "a folder: each target's and horizon's LSTM is loaded from it when there (its "
                "recorded training time is reported) and saved to it when trained");
  f->add_option("--horizon-steps", bf.horizonSteps,
                "the longest horizon; the 6-step (30-minute) one is always reported too")
      ->check(CLI::Range(1, 48))
      ->capture_default_str();
  f->add_option("--origin-stride", bf.originStride)
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  f->add_option("--series-limit", bf.seriesLimit, "at most this many series (0: all)")
      ->check(CLI::Range(0, 1000000));
  f->add_option("--epochs", bf.epochs)->check(CLI::Range(1, 1000))->capture_default_str();
  auto* p = bench->add_subcommand("placement", "Umbra against its peers and an oracle");
  p->add_option("--traces", bp.traces, "a folder of traces")->required();
  p->add_option("--cluster", bp.cluster, "a cluster file")->required();
  p->add_option("--json", bp.json, "write every VM's figures here");
  p->add_option("--demand-model", bp.demandModel, "an LSTM model file");
  p->add_option("--contention-model", bp.contentionModel, "a contention model file");
  p->add_option("--utilisation", bp.utilisation, "background load levels, %")
      ->delimiter(',')
      ->check(CLI::Range(1, 95))
      ->capture_default_str();
  p->add_option("--interference", bp.interference)
      ->check(CLI::IsMember({"both", "on", "off"}))
      ->capture_default_str();
  p->add_option("--seeds,--seed", bp.seeds, "one run per seed (a world, arrivals, noise)")
      ->delimiter(',')
      ->check(CLI::Range(0, 1 << 30))
      ->capture_default_str();
  p->add_option("--trace-half", bp.traceHalf, "VM traces: all, or half a or b of a fixed split")
      ->check(CLI::IsMember({"all", "a", "b"}))
      ->capture_default_str();
  p->add_option("--arrivals", bp.arrivals)->check(CLI::Range(1, 10000))->capture_default_str();
  p->add_option("--candidates", bp.candidates,
                "shadows per placement, Umbra's and umbra-static's (spec.candidates.count)")
      ->check(CLI::Range(1, 10))
      ->capture_default_str();
  p->add_option("--shadow-cpu-fraction", bp.shadowCpuFraction,
                "each shadow's CPU limit as a fraction of the target's (spec.shadow.cpuFraction)")
      ->check(CLI::Range(1e-6, 0.5))
      ->capture_default_str();
  p->add_flag("--common-world", bp.commonWorld,
              "every placer decides from one shared state, each choice judged by its "
              "clairvoyant future (instead of one world per placer)");
  p->add_option(
       "--node-history", bp.nodeHistory,
       "the node history forecast-only's and Umbra's forecaster reads: as the VMs on it now "
       "would have made it (co-runners, what the operator reads), or the node's own")
      ->check(CLI::IsMember({"node", "co-runners"}))
      ->capture_default_str();
  p->add_option("--scoring-weights", bp.scoringWeights,
                "spec.scoring.weights forecast-only and Umbra rank by: cpu,memory,disk,network "
                "(the operator's defaults)")
      ->delimiter(',')
      ->expected(4)
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  p->add_option("--oracle-lookahead-hours", bp.oracleLookaheadHours)
      ->check(CLI::Range(1, 240))
      ->capture_default_str();
  auto* s = bench->add_subcommand(
      "scaling", "Proactive scaling against static, reactive, VPA, Autopilot and an oracle");
  s->add_option("--traces", bs.traces, "a folder of traces")->required();
  s->add_option("--json", bs.json, "write every figure here");
  s->add_option("--networks", bs.networks,
                "a folder: each target's 6-step LSTM is loaded from it when there and saved to it "
                "when trained");
  s->add_option("--plot-series", bs.plotSeries,
                "demand and every scaler's allocation of a few targets as CSV, for plots");
  s->add_option("--series-limit", bs.seriesLimit, "at most this many series (0: all)")
      ->check(CLI::Range(0, 1000000));
  s->add_option("--epochs", bs.epochs)->check(CLI::Range(1, 1000))->capture_default_str();
  s->add_option("--seed", bs.seed, "of the injected surges")
      ->check(CLI::Range(0, 1 << 30))
      ->capture_default_str();
  s->add_option("--threads", bs.threads)->check(CLI::Range(1, 64))->capture_default_str();
  auto* pl = bench->add_subcommand(
      "pool", "Paused shadow pools against cold starts, a warm pool, a buffer and an oracle");
  pl->add_option("--traces", bpl.traces, "a folder of traces")->required();
  pl->add_option("--json", bpl.json, "write every figure here");
  pl->add_option("--series-limit", bpl.seriesLimit, "at most this many series (0: all)")
      ->check(CLI::Range(0, 1000000));
  pl->add_option("--seed", bpl.seed, "of the injected surges and the cold starts")
      ->check(CLI::Range(0, 1 << 30))
      ->capture_default_str();
  pl->add_option("--announced", bpl.announcedShare, "share of the surges announced")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  pl->add_option("--threads", bpl.threads)->check(CLI::Range(1, 64))->capture_default_str();
  auto* r = bench->add_subcommand(
      "rebalance",
      "A simulated day of a loaded cluster: Umbra's migrations against descheduler-style "
      "rebalancers and an oracle");
  r->add_option("--traces", br.traces, "a folder of traces")->required();
  r->add_option("--cluster", br.cluster, "a cluster file")->capture_default_str();
  r->add_option("--json", br.json, "write every figure here");
  r->add_option("--seeds,--seed", br.seeds, "one run per seed (VMs, their placement, noise)")
      ->delimiter(',')
      ->check(CLI::Range(0, 1 << 30))
      ->capture_default_str();
  r->add_option("--utilisation", br.utilisation, "mean node CPU the VMs fill the cluster to, %")
      ->check(CLI::Range(5.0, 95.0))
      ->capture_default_str();
  r->add_option("--hours", br.hours, "measured span")
      ->check(CLI::Range(1.0, 240.0))
      ->capture_default_str();
  r->add_option("--warmup-hours", br.warmupHours, "history before it, without rebalancing")
      ->check(CLI::Range(1.0, 240.0))
      ->capture_default_str();
  r->add_option("--trace-half", br.traceHalf, "VM traces: all, or half a or b of a fixed split")
      ->check(CLI::IsMember({"all", "a", "b"}))
      ->capture_default_str();
  auto* it = bench->add_subcommand(
      "instancetypes",
      "KubeVirt instancetypes for trace workloads serving requests: the requested type, a "
      "VPA-style rightsizer, Umbra's trial on mirrored requests, an oracle");
  it->add_option("--traces", bi.traces, "a folder of traces")->required();
  it->add_option("--json", bi.json, "write every figure here");
  it->add_option("--seeds,--seed", bi.seeds, "one run per seed (hidden request costs, hosts)")
      ->delimiter(',')
      ->check(CLI::Range(0, 1 << 30))
      ->capture_default_str();
  it->add_option("--trace-half", bi.traceHalf, "VM traces: all, or half a or b of a fixed split")
      ->check(CLI::IsMember({"all", "a", "b"}))
      ->capture_default_str();
  it->add_option("--dedicated-premium", bi.dedicatedPremium,
                 "price premium of a dedicated vCPU (cx1) over a shared one")
      ->check(CLI::Range(0.0, 2.0))
      ->capture_default_str();
  cli_flags::helpOfSubcommands(*bench);
}

// What a Synthetic shadow's guest runs, to read or to run on a node of one's own (calibrating
// prometheus.probeReference; bench/probe_noise.py).
struct ProbeScriptFlags {
  api::SyntheticLoad load;
  double limitCores = 0.01;
  std::string format = "cloud-config";
};

void addProbeScript(CLI::App& app, ProbeScriptFlags& f) {
  auto* s = app.add_subcommand(
      "probe-script", "Print the cloud-init (or the script in it) a Synthetic shadow runs");
  s->add_option("--cpu-percent", f.load.cpuPercent, "spec.shadow.syntheticLoad.cpuPercent")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  s->add_option("--profile", f.load.profile, "spec.shadow.syntheticLoad.profile")
      ->check(CLI::IsMember({"steady", "diurnal", "spiky", "bursty"}))
      ->capture_default_str();
  s->add_option("--limit-cores", f.limitCores, "the shadow's CPU limit, cores (10m = 0.01)")
      ->check(CLI::Range(0.001, 1024.0))
      ->capture_default_str();
  s->add_option("--format", f.format, "cloud-config (the VMI's userData) or script (the guest's)")
      ->check(CLI::IsMember({"cloud-config", "script"}))
      ->capture_default_str();
}

int probeScript(const ProbeScriptFlags& f) {
  std::cout << (f.format == "script" ? placement::syntheticScript(f.load, f.limitCores)
                                     : placement::syntheticUserData(f.load, f.limitCores));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"umbra: train Umbra's models and benchmark them", "umbra"};
  cli_flags::addVersion(app, "umbra");
  app.require_subcommand(1);
  cli::TrainFlags train;
  cli::TrainContentionFlags contention;
  cli::BenchForecastFlags forecast;
  cli::BenchPlacementFlags placement;
  cli::BenchScalingFlags scaling;
  cli::BenchPoolFlags pool;
  cli::BenchRebalanceFlags rebalance;
  cli::BenchInstancetypesFlags instancetypes;
  addTrain(app, train);
  addTrainContention(app, contention);
  addBench(app, forecast, placement, scaling, pool, rebalance, instancetypes);
  ProbeScriptFlags probe;
  addProbeScript(app, probe);
  cli_flags::helpOfSubcommands(app);
  if (const int code = cli_flags::parse(app, argc, argv); code >= 0)
    return code;
  if (app.got_subcommand("train"))
    return cli::train(train);
  if (app.got_subcommand("train-contention"))
    return cli::trainContention(contention);
  if (app.got_subcommand("probe-script"))
    return probeScript(probe);
  if (app.get_subcommand("bench")->got_subcommand("forecast"))
    return cli::benchForecast(forecast);
  if (app.get_subcommand("bench")->got_subcommand("scaling"))
    return cli::benchScaling(scaling);
  if (app.get_subcommand("bench")->got_subcommand("pool"))
    return cli::benchPool(pool);
  if (app.get_subcommand("bench")->got_subcommand("rebalance"))
    return cli::benchRebalance(rebalance);
  if (app.get_subcommand("bench")->got_subcommand("instancetypes"))
    return cli::benchInstancetypes(instancetypes);
  return cli::benchPlacement(placement);
}
