#include "sim/live_migration.h"

#include <algorithm>
#include <cmath>

namespace umbra::sim {

MigrationOutcome preCopy(double memoryBytes, double dirtyBytesPerSecond,
                         const MigrationLink& link) {
  constexpr double GiB = 1024.0 * 1024 * 1024;
  MigrationOutcome out;
  const double bandwidth = std::max(1.0, link.bandwidthBytesPerSecond);
  const double memory = std::max(0.0, memoryBytes);
  const double dirty = std::max(0.0, dirtyBytesPerSecond);
  const double completionLimit = link.completionTimeoutPerGiB * std::max(memory / GiB, 1.0 / 1024);
  const double switchOver = bandwidth * link.maxDowntimeSeconds;
  double remaining = memory;  // pages to send in this round
  double best = memory;       // the fewest remaining pages seen so far
  double sinceProgress = 0;   // seconds since `best` last shrank
  while (true) {
    if (remaining <= switchOver) {  // the stop-and-copy round
      out.seconds += remaining / bandwidth;
      out.bytesSent += remaining;
      ++out.rounds;
      out.succeeded = true;
      return out;
    }
    const double roundSeconds = remaining / bandwidth;
    // The monitor checks while a round runs: abort at whichever limit the round crosses first.
    const double toCompletion = completionLimit - out.seconds;
    const double toProgress = link.progressTimeoutSeconds - sinceProgress;
    const double abortIn = std::min(toCompletion, toProgress);
    if (roundSeconds >= abortIn) {
      const double spent = std::max(0.0, abortIn);
      out.seconds += spent;
      out.bytesSent += spent * bandwidth;
      ++out.rounds;
      out.failure = toCompletion <= toProgress
                        ? "Live migration is not completed after " +
                              std::to_string(static_cast<long long>(std::lround(completionLimit))) +
                              " seconds and has been aborted"
                        : "Live migration stuck for " +
                              std::to_string(static_cast<long long>(
                                  std::lround(link.progressTimeoutSeconds))) +
                              " seconds and has been aborted";
      return out;
    }
    out.seconds += roundSeconds;
    out.bytesSent += remaining;
    ++out.rounds;
    const double next = std::min(memory, dirty * roundSeconds);
    if (next < best) {
      best = next;
      sinceProgress = 0;
    } else {
      sinceProgress += roundSeconds;
    }
    remaining = next;
  }
}

}  // namespace umbra::sim
