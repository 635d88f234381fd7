#pragma once

#include <sys/types.h>

#include <mutex>
#include <string>

#include "model/lstm_net.h"
#include "model/trainer_process.h"

namespace umbra::model {

// Trains retraining's challenger in a short-lived `umbra train --series FILE` child process, so
// that the operator never loads LibTorch (about 150 MB of resident memory of its own): the
// operator writes the node history to a file in `workDir`, runs the trainer with one thread, reads
// the model it wrote with the plain-C++ LstmNet, and removes both files. The child's stderr (its
// epoch lines) goes to the log. The child dies with the operator (PR_SET_PDEATHSIG), and cancel()
// ends a training in progress at shutdown.
class ChildTrainer final : public TrainerProcess {
 public:
  // `binary`: the `umbra` executable; empty = `umbra` beside this executable, else on PATH.
  ChildTrainer(std::string binary, std::string workDir);

  model::ChallengerTrainer trainer() override;
  void cancel() override;
  std::string describe() const override { return "child " + binary_; }

  // The binary that will be run (after resolving the default).
  const std::string& binary() const { return binary_; }

 private:
  Result<std::shared_ptr<const model::LstmNet>> train(const std::vector<model::TrainSeries>& train,
                                                      const model::LstmOptions& options,
                                                      int horizon, const std::string& range);

  std::string binary_, workDir_;
  std::mutex mutex_;
  pid_t child_ = 0;
  bool cancelled_ = false;
};

}  // namespace umbra::model
