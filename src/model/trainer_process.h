#pragma once

// Where retraining's challenger is trained: always `umbra train` in another process, so that the
// operator never loads LibTorch. ChildTrainer runs it as a child of the operator (local runs, the
// demo, an image that carries LibTorch); SpoolTrainer hands it to the trainer sidecar of the
// operator's pod through a folder both mount (the operator image then carries no LibTorch).
#include <string>
#include <vector>

#include "model/lstm_net.h"

namespace umbra::model {

class TrainerProcess {
 public:
  virtual ~TrainerProcess() = default;
  virtual ChallengerTrainer trainer() = 0;
  // Ends a training in progress (shutdown); later ones fail as Cancelled.
  virtual void cancel() = 0;
  // For the log: "child /usr/local/bin/umbra" or "sidecar via /var/lib/umbra/train-spool".
  virtual std::string describe() const = 0;
};

// The trainer's output as it arrives: each complete line goes to the log (but the metadata JSON
// it prints on stdout, read from its file instead); the last line explains a failure.
class TrainerOutput {
 public:
  void feed(const std::string& chunk);
  const std::string& lastLine() const { return last_; }

 private:
  std::string pending_, last_;
};

// `umbra train`'s arguments (without the program) for one challenger.
std::vector<std::string> trainArguments(const std::string& seriesPath, const std::string& modelPath,
                                        const LstmOptions& options, int horizon,
                                        const std::string& range);

// The error for a trainer that did not exit 0: exit 3 is "too little data" (Invalid: the round is
// skipped, not failed); `how` is "exited with N" or "was killed by signal N".
Error trainerFailed(const std::string& who, int exitCode, const std::string& how,
                    const std::string& lastLine);

}  // namespace umbra::model
