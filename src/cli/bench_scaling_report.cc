// umbra bench scaling, the comparisons: at equal slack, against the targets, and the
// surge detector alone at several settings.
#include <algorithm>
#include <cmath>

#include "cli/bench_scaling.h"
#include "scaling/anomaly.h"

namespace umbra::cli {

using nlohmann::json;

void compareAtEqualSlack(
    json& section, const std::map<std::string, std::vector<std::pair<double, double>>>& curves) {
  // At equal slack: every scaler's under-provisioned minutes on its own frontier, at the slack
  // of each scaler's default setting and at a few round levels.
  const auto defaultOf = [&](const std::string& scaler) -> json {
    for (const auto& r : section["settings"])
      if (r["scaler"] == scaler && r["default"].get<bool>())
        return r;
    return json::object();
  };
  std::vector<double> levels = {20, 25, 30};
  for (const std::string n : {"reactive", "vpa", "autopilot", "umbra"})
    levels.push_back(defaultOf(n)["slackPercent"].get<double>());
  std::sort(levels.begin(), levels.end());
  levels.erase(std::unique(levels.begin(), levels.end(),
                           [](double a, double b) { return std::abs(a - b) < 0.05; }),
               levels.end());
  json equal = json::array();
  std::printf(
      "  at equal slack (under min/day on each scaler's frontier, linear between its "
      "settings; - where its settings do not reach):\n"
      "  %8s %10s %10s %10s %10s %12s\n",
      "slack %", "umbra", "reactive", "vpa", "autopilot", "umbra/best");
  for (const double slack : levels) {
    json row = {{"slackPercent", slack}};
    double best = std::nan("");
    for (const std::string n : {"umbra", "reactive", "vpa", "autopilot"}) {
      const double u = offline::underAtSlack(curves.at(n), slack);
      row[n] = std::isnan(u) ? json(nullptr) : json(u);
      if (n != "umbra" && !std::isnan(u) && !(u >= best))
        best = u;
    }
    const double um = offline::underAtSlack(curves.at("umbra"), slack);
    row["umbraToBestPeer"] =
        std::isnan(um) || std::isnan(best) || best <= 0 ? json(nullptr) : json(um / best);
    equal.push_back(row);
    const auto cell = [&](const char* n, const char* format = "%.1f") {
      if (row[n].is_null())
        return std::string("-");
      char b[32];
      std::snprintf(b, sizeof b, format, std::max(row[n].get<double>(), 0.0));
      return std::string(b);
    };
    std::printf("  %8.1f %10s %10s %10s %10s %12s\n", slack, cell("umbra").c_str(),
                cell("reactive").c_str(), cell("vpa").c_str(), cell("autopilot").c_str(),
                cell("umbraToBestPeer", "%.3f").c_str());
  }
  // The targets, from the default settings and Umbra's frontier.
  {
    const json um = defaultOf("umbra"), re = defaultOf("reactive"), vpa = defaultOf("vpa");
    const double atReactive =
        offline::underAtSlack(curves.at("umbra"), re["slackPercent"].get<double>());
    // Umbra's frontier below the reactive scaler's slack counts too ("equal or lower slack").
    double bestBelow = std::nan("");
    for (const auto& [sl, un] : curves.at("umbra"))
      if (sl <= re["slackPercent"].get<double>() && !(un >= bestBelow))
        bestBelow = un;
    const double vsReactive =
        std::isnan(atReactive)
            ? bestBelow
            : std::min(atReactive, std::isnan(bestBelow) ? atReactive : bestBelow);
    const double reactiveUnder = re["underMinutesPerDay"].get<double>();
    json t = {{"underVsReactiveAtEqualOrLowerSlack", std::isnan(vsReactive) || reactiveUnder <= 0
                                                         ? json(nullptr)
                                                         : json(vsReactive / reactiveUnder)},
              {"umbraSlackPercent", um["slackPercent"]},
              {"umbraUnderMinutesPerDay", um["underMinutesPerDay"]},
              {"vpaUnderMinutesPerDay", vpa["underMinutesPerDay"]},
              {"umbraActionsPerHour", um["actionsPerHour"]}};
    section["issueTargets"] = t;
    std::printf(
        "  targets: under vs reactive at equal or lower slack %s (<= 0.5); slack %.1f %% "
        "(<= 25) with under %.1f vs VPA's %.1f min/day; %.3f actions/h (<= 1)\n",
        t["underVsReactiveAtEqualOrLowerSlack"].is_null()
            ? "n/a (no Umbra setting reaches that slack)"
            : fmt(std::round(t["underVsReactiveAtEqualOrLowerSlack"].get<double>() * 1000) / 1000)
                  .c_str(),
        um["slackPercent"].get<double>(), um["underMinutesPerDay"].get<double>(),
        vpa["underMinutesPerDay"].get<double>(), um["actionsPerHour"].get<double>());
  }
  section["atEqualSlack"] = equal;
}

// The surge detector alone, replayed on the forecasts of the series with surges, at several
// settings: the share of labelled surges it finds, its false alarms, its delay. Fractions of the
// series' capacity (the vCPU view; a pool is a scaled copy of the same series).
json detectionSweep(const std::vector<model::EvalSeries>& s, const Forecasts& fc,
                    const std::vector<size_t>& splits,
                    const std::vector<std::vector<offline::Surge>>& labels,
                    const scaling::AnomalyOptions& base) {
  json rows = json::array();
  std::printf(
      "\nsurge detection alone (fractions of capacity; * default):\n  %-28s %9s %7s %7s "
      "%10s %12s %12s\n",
      "setting", "surges", "found", "false", "precision", "recall", "delay steps");
  for (const double quantile : {0.99, 0.995, 0.999})
    for (const int steps : {1, 2, 3})
      for (const double minExcess : {0.1, 0.2}) {
        auto o = base;
        o.bandQuantile = quantile;
        o.consecutiveSteps = steps;
        o.minExcess = minExcess;
        offline::DetectionScore total;
        double days = 0;
        for (size_t i = 0; i < s.size(); ++i) {
          scaling::SurgeDetector detector(o);
          std::vector<uint8_t> started;
          for (size_t t = splits[i]; t < s[i].values.size(); ++t) {
            const auto& f = fc[i][t - splits[i]];  // made at the end of step t - 1
            started.push_back(detector.observe(s[i].values[t], f.p50, f.p90).started ? 1 : 0);
          }
          days += static_cast<double>(started.size()) * StepSeconds / 86400;
          const auto d = offline::scoreDetection(labels[i], started, splits[i]);
          total.surges += d.surges;
          total.detected += d.detected;
          total.falseAlarms += d.falseAlarms;
          total.delaySum += d.delaySum;
        }
        const int alarms = total.detected + total.falseAlarms;
        const double precision = alarms > 0 ? static_cast<double>(total.detected) / alarms : 0;
        const double recall =
            total.surges > 0 ? static_cast<double>(total.detected) / total.surges : 0;
        const double delay = total.detected > 0 ? total.delaySum / total.detected : 0;
        const bool isDefault =
            steps == base.consecutiveSteps && minExcess == 0.1 && quantile == base.bandQuantile;
        const std::string label = "q=" + fmt(quantile) + " steps=" + std::to_string(steps) +
                                  " min-excess=" + fmt(minExcess);
        rows.push_back({{"bandQuantile", quantile},
                        {"consecutiveSteps", steps},
                        {"minExcess", minExcess},
                        {"default", isDefault},
                        {"surges", total.surges},
                        {"detected", total.detected},
                        {"falseAlarms", total.falseAlarms},
                        {"falseAlarmsPerDay", days > 0 ? total.falseAlarms / days : 0},
                        {"precision", precision},
                        {"recall", recall},
                        {"meanDelaySteps", delay}});
        std::printf("  %-28s %9d %7d %7d %10.3f %12.3f %12.2f\n",
                    (label + (isDefault ? " *" : "")).c_str(), total.surges, total.detected,
                    total.falseAlarms, precision, recall, delay);
      }
  return rows;
}

}  // namespace umbra::cli
