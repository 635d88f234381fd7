#pragma once

#include <string>
#include <vector>

#include "common/result.h"
#include "model/series_forecast.h"

namespace umbra::model {

// Training series as one JSON document (format "umbra-series/1"): how the operator hands node
// history to an `umbra train --series FILE` child. Written through a temporary file and a rename;
// reading names the file and the series that is malformed.
Status writeTrainSeries(const std::string& path, const std::vector<TrainSeries>& series);
Result<std::vector<TrainSeries>> readTrainSeries(const std::string& path);

}  // namespace umbra::model
