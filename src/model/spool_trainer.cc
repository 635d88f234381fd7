#include "model/spool_trainer.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "common/atomic_file.h"
#include "common/log.h"
#include "model/series_file.h"

namespace umbra::model {
namespace {

namespace fs = std::filesystem;

void removeQuietly(const std::string& path) {
  std::error_code ignored;
  fs::remove(path, ignored);
}

bool exists(const std::string& path) {
  std::error_code ec;
  return fs::exists(path, ec);
}

void touch(const std::string& path) {
  std::ofstream(path, std::ios::app).close();
}

// Every file of one request (`base` is the spool folder and the request's id).
void removeRequest(const std::string& base) {
  for (const char* ext : {".request", ".running", ".series.json", ".model.json", ".log", ".exit",
                          ".exit.tmp", ".cancel"})
    removeQuietly(base + ext);
}

// The ids in the spool (the part of a file name before its first dot).
std::set<std::string> idsIn(const std::string& dir) {
  std::set<std::string> ids;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("t-", 0) == 0)
      ids.insert(name.substr(0, name.find('.')));
  }
  return ids;
}

}  // namespace

SpoolTrainer::SpoolTrainer(std::string spoolDir, Options options)
    : spool_(std::move(spoolDir)), options_(options) {
  cleanStale();
}

void SpoolTrainer::cleanStale() {
  std::error_code ec;
  fs::create_directories(spool_, ec);
  for (const std::string& id : idsIn(spool_)) {
    const std::string base = spool_ + "/" + id;
    if (exists(base + ".running") && !exists(base + ".exit")) {
      touch(base + ".cancel");  // the sidecar stops it and answers; removed at the next start
      continue;
    }
    removeRequest(base);
  }
}

ChallengerTrainer SpoolTrainer::trainer() {
  return [this](const std::vector<TrainSeries>& series, const LstmOptions& options, int horizon,
                const std::string& range) { return train(series, options, horizon, range); };
}

void SpoolTrainer::cancel() {
  const std::lock_guard<std::mutex> lock(mutex_);
  cancelled_ = true;
  wake_.notify_all();
}

Result<std::shared_ptr<const LstmNet>> SpoolTrainer::train(const std::vector<TrainSeries>& series,
                                                           const LstmOptions& o, int horizon,
                                                           const std::string& range) {
  std::string id;
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    if (cancelled_)
      return Error::make(ErrorKind::Cancelled, "trainer: shutting down");
    const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    id = "t-" + std::to_string(::getpid()) + "-" + std::to_string(now) + "-" +
         std::to_string(++counter_);
  }
  const std::string base = spool_ + "/" + id;
  const auto cleanup = [&] { removeRequest(base); };
  std::error_code ec;
  fs::create_directories(spool_, ec);
  if (Status s = writeTrainSeries(base + ".series.json", series); !s.ok()) {
    cleanup();
    return s.error();
  }
  std::string request;
  for (const auto& a :
       trainArguments(base + ".series.json", base + ".model.json", o, horizon, range)) {
    request += a;
    request.push_back('\0');
  }
  if (Status s =
          writeFileAtomically(base + ".request", request, "cannot write the training request");
      !s.ok()) {
    cleanup();
    return s.error();
  }

  // Wait for the answer, forwarding the trainer's output as it comes.
  const auto start = std::chrono::steady_clock::now();
  size_t logged = 0;
  TrainerOutput output;
  bool warned = false;
  const auto forward = [&] {
    std::ifstream in(base + ".log", std::ios::binary);
    if (!in)
      return;
    in.seekg(static_cast<std::streamoff>(logged));
    std::ostringstream more;
    more << in.rdbuf();
    logged += more.str().size();
    output.feed(more.str());
  };
  std::string failure;
  ErrorKind failureKind = ErrorKind::Internal;
  while (!exists(base + ".exit")) {
    forward();
    const auto waited = std::chrono::steady_clock::now() - start;
    if (!warned && waited > options_.unclaimedWarning && exists(base + ".request")) {
      warned = true;
      log::warn("retraining: no trainer sidecar has claimed the request",
                {{"spool", spool_}, {"request", id}});
    }
    std::unique_lock<std::mutex> lock(mutex_);
    if (cancelled_) {
      failure = "trainer: stopped at shutdown";
      failureKind = ErrorKind::Cancelled;
      break;
    }
    if (waited > options_.deadline) {
      failure = "trainer sidecar: no answer within the deadline (" +
                std::string(exists(base + ".request") ? "the request was never claimed: is the "
                                                        "trainer container running?"
                                                      : "the training was still running") +
                ", spool " + spool_ + ")";
      failureKind = ErrorKind::Timeout;
      break;
    }
    wake_.wait_for(lock, options_.poll);
  }
  if (!failure.empty()) {
    // Unclaimed: withdrawn. Running: the sidecar stops it; its files go at the next start.
    if (fs::rename(base + ".request", base + ".withdrawn", ec); !ec) {
      removeQuietly(base + ".withdrawn");
      cleanup();
    } else {
      touch(base + ".cancel");
      removeQuietly(base + ".series.json");
    }
    return Error::make(failureKind, failure);
  }
  forward();
  int code = -1;
  std::ifstream(base + ".exit") >> code;
  if (code != 0) {
    cleanup();
    return trainerFailed("trainer sidecar", code, "exited with " + std::to_string(code),
                         output.lastLine());
  }
  auto net = LstmNet::load(base + ".model.json", horizon);
  cleanup();
  if (!net.ok())
    return Error::make(ErrorKind::Internal, "trainer: " + net.error().message);
  return std::shared_ptr<const LstmNet>(std::move(*net));
}

}  // namespace umbra::model
