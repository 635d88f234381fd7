// A deliberate data race, built only with UMBRA_TSAN: the TSan run must report it (ctest expects
// this test to fail), which shows that the suppressions and options leave Umbra's code checked.
#include <thread>

namespace {
int shared = 0;  // written by two threads without synchronisation
}

int main() {
  std::thread a([] {
    for (int i = 0; i < 1000; ++i)
      shared = shared + 1;
  });
  std::thread b([] {
    for (int i = 0; i < 1000; ++i)
      shared = shared + 1;
  });
  a.join();
  b.join();
  return shared > 0 ? 0 : 1;
}
