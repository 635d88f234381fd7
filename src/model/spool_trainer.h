#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>

#include "model/trainer_process.h"

namespace umbra::model {

// Hands a challenger's training to the trainer sidecar (scripts/trainer-sidecar.sh, in the
// umbra-trainer image) through `spoolDir`, a folder both containers mount:
//   <id>.series.json  the node history (written first)
//   <id>.request      `umbra train`'s arguments, NUL-separated (renamed into place whole)
//   <id>.running      the sidecar claimed it (renamed from .request)
//   <id>.log          the trainer's output, forwarded to the operator's log as it grows
//   <id>.model.json   the challenger, read with the plain-C++ LstmNet
//   <id>.exit         the trainer's exit code (renamed into place whole)
//   <id>.cancel       the operator gave up (shutdown, deadline): the sidecar stops the trainer
// The operator removes an id's files once it has its answer, and at start removes what an earlier
// run left (asking the sidecar to stop a training nobody waits for).
class SpoolTrainer final : public TrainerProcess {
 public:
  struct Options {
    std::chrono::milliseconds poll{500};
    std::chrono::milliseconds deadline{std::chrono::hours(6)};  // for one training
    std::chrono::milliseconds unclaimedWarning{std::chrono::minutes(2)};
  };
  SpoolTrainer(std::string spoolDir, Options options);
  explicit SpoolTrainer(std::string spoolDir) : SpoolTrainer(std::move(spoolDir), Options{}) {}

  ChallengerTrainer trainer() override;
  void cancel() override;
  std::string describe() const override { return "sidecar via " + spool_; }

 private:
  Result<std::shared_ptr<const LstmNet>> train(const std::vector<TrainSeries>& series,
                                               const LstmOptions& options, int horizon,
                                               const std::string& range);
  void cleanStale();

  std::string spool_;
  Options options_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool cancelled_ = false;
  unsigned counter_ = 0;
};

}  // namespace umbra::model
