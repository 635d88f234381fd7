// The test harness itself: what a test starts does not outlive it.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include "harness/process.h"

namespace umbra::testing {
namespace {

// Gone, or a zombie that only init has left to reap.
bool exited(int pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  return line.empty() || line.find(") Z ") != std::string::npos;
}

// A server a test started dies with the test even when the test is killed before its destructors
// run (ctest's timeout, a SIGTERM): nothing is left holding ports, files or a control plane.
TEST(ChildProcess, DiesWithTheTestThatStartedItWhenThatIsKilled) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t test = ::fork();
  ASSERT_GE(test, 0);
  if (test == 0) {
    auto* server = new ChildProcess({"/bin/sleep", "60"}, "/dev/null");
    const int pid = server->pid();
    if (::write(fds[1], &pid, sizeof pid) != sizeof pid)
      ::_exit(1);
    ::pause();  // until killed, destructors never run
    ::_exit(0);
  }
  ::close(fds[1]);
  int server = -1;
  ASSERT_EQ(::read(fds[0], &server, sizeof server), static_cast<ssize_t>(sizeof server));
  ::close(fds[0]);
  ASSERT_FALSE(exited(server));
  ::kill(test, SIGKILL);
  ::waitpid(test, nullptr, 0);
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    gone = exited(server);
    if (!gone)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(gone) << "the server outlived the test that started it";
  if (!gone)
    ::kill(-server, SIGKILL);
}

}  // namespace
}  // namespace umbra::testing
