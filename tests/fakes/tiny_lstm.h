#pragma once

#include "training/lstm.h"

namespace umbra::testing {

// An LSTM small enough for a test to train in a second or two: a 12-step window over a 24-step
// season (the synthetic series' period), 8 hidden units, batches of 64.
inline model::LstmOptions tinyLstm() {
  model::LstmOptions o;
  o.window = 12;
  o.period = 24;
  o.hidden = 8;
  o.batch = 64;
  o.stepsPerEpoch = 25;
  o.maxEpochs = 8;
  o.patience = 8;
  o.learningRate = 1e-2;
  o.threads = 1;
  return o;
}

}  // namespace umbra::testing
