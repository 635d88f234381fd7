// The CPU prediction as the node's forecast (the prior) updated by the shadow's evidence (issue
// 18, section 2). See CpuPosterior in contention_map.h for the model.
#include <algorithm>
#include <cmath>

#include "model/contention_fit.h"

namespace umbra::model {

using contention_fit::Features;
using nlohmann::json;

namespace {

constexpr int PriorFeatures = 7;
constexpr double VarianceFloor = 1e-6;  // an error of at least 0.001
// The gain only shrinks: a reading noisier than the outcomes' typical one moves the prediction
// less than the head would, a steadier one as much as the head. Kalman's form would give a steady
// reading more than the head's weight (up to (S + N) / S); with gains up to 4 the benchmark's Umbra
// placed worse (15 % load, interference on: mean p95 slowdown 0.0654 against the head's 0.0500),
// the amplified difference carrying model error the noise estimate does not see.
constexpr double MaxGain = 1;

// The node's forecast alone: how loaded the node will be once the target adds its share (the
// CPU head's load terms), no shadow reading.
void priorFeatures(const ContentionInputs& in, Features& f) {
  const double rho50 = in.nodeUtilP50 + in.cpuShare, rho90 = in.nodeUtilP90 + in.cpuShare;
  f = {in.nodeUtilNow,
       in.nodeUtilP50,
       in.nodeUtilP90,
       in.cpuShare,
       std::max(0.0, rho50 - 0.6),
       std::max(0.0, rho50 - 0.8),
       std::max(0.0, rho90 - 0.9)};
}

// This observation's noise in the CPU head's output: the standard errors of the shadow's steal
// and probe loss through the head's slopes (features 0 and 9: steal, steal x load; 10: probe).
double noiseVariance(const ContentionMap::Head& h, const ContentionInputs& in) {
  const auto raw = [&](size_t j) { return h.w50[j + 1] / h.sd[j]; };
  const double dSteal = raw(0) + raw(9) * (in.nodeUtilP50 + in.cpuShare);
  const double dProbe = raw(10);
  return dSteal * dSteal * in.shadowStealSe * in.shadowStealSe +
         dProbe * dProbe * in.probeLossSe * in.probeLossSe;
}

double varianceAt(const std::array<double, 2>& v, double mean) {
  return std::max(VarianceFloor, v[0] + v[1] * mean * mean);
}

// E[t] = a + b x m^2 by least squares, a >= VarianceFloor and b >= 0.
std::array<double, 2> fitVariance(const std::vector<double>& m, const std::vector<double>& t) {
  double n = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (size_t i = 0; i < m.size(); ++i) {
    const double x = m[i] * m[i];
    n += 1, sx += x, sy += t[i], sxx += x * x, sxy += x * t[i];
  }
  const double det = n * sxx - sx * sx;
  double b = det > 1e-18 ? (n * sxy - sx * sy) / det : 0;
  double a = n > 0 ? (sy - b * sx) / n : VarianceFloor;
  if (b < 0) {
    b = 0;
    a = n > 0 ? sy / n : VarianceFloor;
  }
  if (a < VarianceFloor) {
    a = VarianceFloor;
    b = sxx > 0 ? std::max(0.0, (sxy - a * sx) / sxx) : 0;
  }
  return {a, b};
}

std::vector<double> numbers(const json& j, const char* key, size_t n) {
  const auto v = j.at(key).get<std::vector<double>>();
  if (v.size() != n)
    throw std::runtime_error(std::string(key) + " must hold " + std::to_string(n) + " numbers");
  return v;
}

}  // namespace

void PosteriorAccess::fit(ContentionMap& map, const std::vector<Outcome>& outcomes) {
  ContentionMap::Posterior& p = map.posterior_;
  const size_t n = outcomes.size();
  std::vector<Features> x(n);
  std::vector<double> y(n);
  for (size_t i = 0; i < n; ++i) {
    priorFeatures(outcomes[i].inputs, x[i]);
    y[i] = outcomes[i].actual.cpuContention;
  }
  p.prior.features = PriorFeatures;
  contention_fit::standardise(p.prior, x);
  p.prior.w50 = contention_fit::fitQuantile(x, y, p.prior, 0.5);
  std::vector<double> m0(n), mh(n), t0(n), th(n), z(n);
  double noise = 0;
  for (size_t i = 0; i < n; ++i) {
    m0[i] = std::clamp(contention_fit::apply(p.prior, x[i], p.prior.w50), 0.0, 1.0);
    mh[i] = map.cpuHeadMedian(outcomes[i].inputs);
    t0[i] = (y[i] - m0[i]) * (y[i] - m0[i]);
    th[i] = (y[i] - mh[i]) * (y[i] - mh[i]);
    z[i] = mh[i] - m0[i];
    noise += noiseVariance(map.heads_[0], outcomes[i].inputs);
  }
  p.priorVariance = fitVariance(m0, t0);
  p.headVariance = fitVariance(mh, th);
  // The shadow's contribution spreads over the outcomes by its signal and by the observations'
  // noise (recorded with each outcome); what is left after the noise is signal.
  double mean = 0, sq = 0;
  for (const double v : z)
    mean += v;
  mean /= static_cast<double>(std::max<size_t>(1, n));
  for (const double v : z)
    sq += (v - mean) * (v - mean);
  p.typicalNoiseVariance = noise / static_cast<double>(std::max<size_t>(1, n));
  p.signalVariance = std::max(
      VarianceFloor, sq / static_cast<double>(std::max<size_t>(1, n)) - p.typicalNoiseVariance);
  map.hasPosterior_ = true;
}

std::optional<CpuPosterior> PosteriorAccess::posterior(const ContentionMap& map,
                                                       const ContentionInputs& in) {
  if (!map.hasPosterior_)
    return std::nullopt;
  const ContentionMap::Posterior& p = map.posterior_;
  Features f{};
  priorFeatures(in, f);
  CpuPosterior out;
  out.priorMean = std::clamp(contention_fit::apply(p.prior, f, p.prior.w50), 0.0, 1.0);
  out.evidenceMean = map.cpuHeadMedian(in);
  const double v0 = varianceAt(p.priorVariance, out.priorMean);
  const double vh = varianceAt(p.headVariance, out.evidenceMean);
  const double noise = noiseVariance(map.heads_[0], in);
  out.priorSd = std::sqrt(v0);
  out.evidenceSd = std::sqrt(vh);
  out.observationSd = std::sqrt(noise);
  // Kalman's gain against the head's: (signal + typical noise) / (signal + this noise).
  const auto gain = [&](double v) {
    return std::clamp((p.signalVariance + p.typicalNoiseVariance) / (p.signalVariance + v), 0.0,
                      MaxGain);
  };
  out.gain = gain(noise);
  out.mean = std::clamp(out.priorMean + out.gain * (out.evidenceMean - out.priorMean), 0.0, 1.0);
  // What the shadow explains at the typical noise, v0 - vh, scales with the gain.
  const double explained = std::max(0.0, v0 - vh);
  out.sd = std::sqrt(std::max(VarianceFloor, v0 - explained * out.gain));
  out.sdWithExactObservation = std::sqrt(std::max(VarianceFloor, v0 - explained * gain(0)));
  return out;
}

json PosteriorAccess::toJson(const ContentionMap& map) {
  if (!map.hasPosterior_)
    return nullptr;
  const ContentionMap::Posterior& p = map.posterior_;
  const ContentionMap::Head& h = p.prior;
  return {{"prior",
           {{"features", h.features},
            {"mean", std::vector<double>(h.mean.begin(), h.mean.begin() + h.features)},
            {"sd", std::vector<double>(h.sd.begin(), h.sd.begin() + h.features)},
            {"w50", std::vector<double>(h.w50.begin(), h.w50.begin() + h.features + 1)}}},
          {"priorVariance", p.priorVariance},
          {"headVariance", p.headVariance},
          {"signalVariance", p.signalVariance},
          {"typicalNoiseVariance", p.typicalNoiseVariance}};
}

Status PosteriorAccess::fromJson(ContentionMap& map, const json& doc) {
  if (!doc.contains("cpuPosterior") || doc["cpuPosterior"].is_null())
    return okStatus();  // written before it: the CPU head alone decides
  const auto bad = [](const std::string& what) {
    return Error::make(ErrorKind::Invalid, "schema mismatch: cpuPosterior." + what);
  };
  const json& j = doc["cpuPosterior"];
  if (!j.is_object() || !j.contains("prior") || !j["prior"].is_object() ||
      j["prior"].value("features", json()) != PriorFeatures)
    return bad("prior must have " + std::to_string(PriorFeatures) + " features");
  ContentionMap::Posterior p;
  try {
    const json& h = j["prior"];
    const auto mean = numbers(h, "mean", PriorFeatures);
    const auto sd = numbers(h, "sd", PriorFeatures);
    const auto w50 = numbers(h, "w50", PriorFeatures + 1);
    p.prior.features = PriorFeatures;
    for (size_t k = 0; k < PriorFeatures; ++k) {
      if (!(sd[k] > 0))
        return bad("prior.sd must be positive");
      p.prior.mean[k] = mean[k];
      p.prior.sd[k] = sd[k];
    }
    std::copy(w50.begin(), w50.end(), p.prior.w50.begin());
    const auto v0 = numbers(j, "priorVariance", 2), vh = numbers(j, "headVariance", 2);
    p.priorVariance = {v0[0], v0[1]};
    p.headVariance = {vh[0], vh[1]};
    p.signalVariance = j.at("signalVariance").get<double>();
    p.typicalNoiseVariance = j.at("typicalNoiseVariance").get<double>();
  } catch (const std::exception& e) {
    return bad(e.what());
  }
  for (const double v : {p.priorVariance[0], p.priorVariance[1], p.headVariance[0],
                         p.headVariance[1], p.typicalNoiseVariance})
    if (!(v >= 0) || !std::isfinite(v))
      return bad("variances must be finite and >= 0");
  if (!(p.signalVariance > 0) || !std::isfinite(p.signalVariance))
    return bad("signalVariance must be positive");
  map.posterior_ = p;
  map.hasPosterior_ = true;
  return okStatus();
}

}  // namespace umbra::model
