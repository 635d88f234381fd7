#include "model/child_trainer.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "common/log.h"
#include "common/tls_trust.h"
#include "model/series_file.h"

namespace umbra::model {
namespace {

std::string besideSelf() {
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec)
    return "umbra";
  const auto beside = self.parent_path() / "umbra";
  return std::filesystem::exists(beside, ec) ? beside.string() : "umbra";
}

void removeQuietly(const std::string& path) {
  std::error_code ignored;
  std::filesystem::remove(path, ignored);
}

}  // namespace

void TrainerOutput::feed(const std::string& chunk) {
  pending_ += chunk;
  for (size_t nl; (nl = pending_.find('\n')) != std::string::npos;) {
    std::string line = pending_.substr(0, nl);
    pending_.erase(0, nl + 1);
    if (line.empty())
      continue;
    if (line.front() != '{')
      log::info("retraining: trainer", {{"output", line}});
    last_ = std::move(line);
  }
}

std::vector<std::string> trainArguments(const std::string& seriesPath, const std::string& modelPath,
                                        const LstmOptions& o, int horizon,
                                        const std::string& range) {
  return {"train",
          "--series",
          seriesPath,
          "--out",
          modelPath,
          "--horizon-steps",
          std::to_string(horizon),
          "--epochs",
          std::to_string(o.maxEpochs),
          "--steps-per-epoch",
          std::to_string(o.stepsPerEpoch),
          "--batch",
          std::to_string(o.batch),
          "--hidden",
          std::to_string(o.hidden),
          "--window-steps",
          std::to_string(o.window),
          "--period-steps",
          std::to_string(o.period),
          "--threads",
          std::to_string(o.threads),
          "--seed",
          std::to_string(o.seed),
          "--training-range",
          range};
}

Error trainerFailed(const std::string& who, int exitCode, const std::string& how,
                    const std::string& lastLine) {
  // 3: `umbra train` found too little data (the round is skipped, not failed).
  const ErrorKind kind = exitCode == 3 ? ErrorKind::Invalid : ErrorKind::Internal;
  return Error::make(kind, who + " " + how + (lastLine.empty() ? "" : ": " + lastLine));
}

ChildTrainer::ChildTrainer(std::string binary, std::string workDir)
    : binary_(binary.empty() ? besideSelf() : std::move(binary)), workDir_(std::move(workDir)) {}

model::ChallengerTrainer ChildTrainer::trainer() {
  return [this](const std::vector<model::TrainSeries>& series, const model::LstmOptions& options,
                int horizon,
                const std::string& range) { return train(series, options, horizon, range); };
}

void ChildTrainer::cancel() {
  const std::lock_guard<std::mutex> lock(mutex_);
  cancelled_ = true;
  if (child_ > 0)
    ::kill(child_, SIGTERM);
}

Result<std::shared_ptr<const model::LstmNet>> ChildTrainer::train(
    const std::vector<model::TrainSeries>& series, const model::LstmOptions& o, int horizon,
    const std::string& range) {
  const std::string tag = std::to_string(::getpid());
  const std::string seriesPath = workDir_ + "/.retrain-series." + tag + ".json";
  const std::string modelPath = workDir_ + "/.retrain-challenger." + tag + ".json";
  UMBRA_CHECK(model::writeTrainSeries(seriesPath, series));
  std::vector<std::string> args = {binary_};
  for (auto& a : trainArguments(seriesPath, modelPath, o, horizon, range))
    args.push_back(std::move(a));
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  // The environment as the operator was given it (common/tls_trust.h changes one variable).
  std::vector<std::string> env = tls::originalEnvironment();
  std::vector<char*> envp;
  envp.reserve(env.size() + 1);
  for (auto& e : env)
    envp.push_back(e.data());
  envp.push_back(nullptr);

  int pipeFds[2];
  if (::pipe2(pipeFds, O_CLOEXEC) != 0) {
    removeQuietly(seriesPath);
    return Error::make(ErrorKind::Internal, std::string("trainer: pipe: ") + std::strerror(errno));
  }
  const pid_t parent = ::getpid();
  pid_t pid = 0;
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    if (cancelled_) {
      ::close(pipeFds[0]);
      ::close(pipeFds[1]);
      removeQuietly(seriesPath);
      return Error::make(ErrorKind::Cancelled, "trainer: shutting down");
    }
    pid = ::fork();
    if (pid == 0) {
      // The child: only async-signal-safe calls until exec.
      sigset_t none;
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent)
        ::_exit(127);
      ::dup2(pipeFds[1], STDOUT_FILENO);
      ::dup2(pipeFds[1], STDERR_FILENO);
      ::execvpe(argv[0], argv.data(), envp.data());
      const char msg[] = "umbra: cannot execute the trainer binary\n";
      [[maybe_unused]] auto n = ::write(STDERR_FILENO, msg, sizeof(msg) - 1);
      ::_exit(127);
    }
    child_ = pid;
  }
  ::close(pipeFds[1]);
  if (pid < 0) {
    ::close(pipeFds[0]);
    removeQuietly(seriesPath);
    return Error::make(ErrorKind::Internal, std::string("trainer: fork: ") + std::strerror(errno));
  }
  // The child's output, line by line, into the log; the last line explains a failure.
  TrainerOutput output;
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::read(pipeFds[0], buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    output.feed(std::string(buffer, static_cast<size_t>(n)));
  }
  ::close(pipeFds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  bool cancelled = false;
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    child_ = 0;
    cancelled = cancelled_;
  }
  removeQuietly(seriesPath);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    removeQuietly(modelPath);
    if (cancelled)
      return Error::make(ErrorKind::Cancelled, "trainer: stopped at shutdown");
    const std::string how = WIFEXITED(status)
                                ? "exited with " + std::to_string(WEXITSTATUS(status))
                                : "was killed by signal " + std::to_string(WTERMSIG(status));
    return trainerFailed("trainer " + binary_, WIFEXITED(status) ? WEXITSTATUS(status) : -1, how,
                         output.lastLine());
  }
  auto net = model::LstmNet::load(modelPath, horizon);
  removeQuietly(modelPath);
  if (!net.ok())
    return Error::make(ErrorKind::Internal, "trainer: " + net.error().message);
  return std::shared_ptr<const model::LstmNet>(std::move(*net));
}

}  // namespace umbra::model
