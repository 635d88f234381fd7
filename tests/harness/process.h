#pragma once

#include <string>
#include <vector>

namespace umbra::testing {

// A child process in its own process group, output to a log file; killed (SIGKILL) and reaped by
// the destructor if still running.
class ChildProcess {
 public:
  ChildProcess(const std::vector<std::string>& argv, const std::string& logPath);
  ~ChildProcess();
  int pid() const { return pid_; }
  bool running();
  void signal(int sig);
  // Waits up to `seconds` for exit; returns the exit code, or -1 on timeout / signal death.
  int wait(int seconds);

 private:
  int pid_ = -1;
  int status_ = -1;
  bool reaped_ = false;
};

// In a forked child: SIGKILL when `parent` (the process that forked it) dies, even by SIGKILL.
void dieWithParent(int parent);

// A free TCP port on 127.0.0.1 (bind to 0, read, close).
int freePort();

}  // namespace umbra::testing
