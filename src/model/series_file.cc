#include "model/series_file.h"

#include <fstream>
#include <nlohmann/json.hpp>

#include "common/atomic_file.h"

namespace umbra::model {

using nlohmann::json;

namespace {
constexpr const char* Format = "umbra-series/1";
}

Status writeTrainSeries(const std::string& path, const std::vector<TrainSeries>& series) {
  json doc = {{"format", Format}, {"series", json::array()}};
  for (const auto& s : series)
    doc["series"].push_back({{"values", s.values}, {"observed", s.observed}});
  return writeFileAtomically(path, doc.dump(), "the series");
}

Result<std::vector<TrainSeries>> readTrainSeries(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return Error::config(path + ": cannot be read");
  const json doc = json::parse(in, nullptr, false);
  if (doc.is_discarded() || !doc.is_object())
    return Error::config(path + ": not a JSON document");
  if (doc.value("format", std::string()) != Format)
    return Error::config(path + ": format is not \"" + std::string(Format) + "\"");
  if (!doc.contains("series") || !doc["series"].is_array())
    return Error::config(path + ": series: expected an array");
  std::vector<TrainSeries> out;
  for (size_t i = 0; i < doc["series"].size(); ++i) {
    const json& s = doc["series"][i];
    TrainSeries t;
    try {
      t.values = s.at("values").get<std::vector<double>>();
      t.observed = s.value("observed", std::vector<uint8_t>{});
    } catch (const std::exception&) {
      return Error::config(path + ": series[" + std::to_string(i) +
                           "]: values must be numbers and observed 0 or 1");
    }
    if (!t.observed.empty() && t.observed.size() != t.values.size())
      return Error::config(path + ": series[" + std::to_string(i) +
                           "]: observed has a different length from values");
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace umbra::model
