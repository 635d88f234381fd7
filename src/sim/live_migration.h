#pragma once

#include <string>

namespace umbra::sim {

// KubeVirt's live migration (QEMU pre-copy under virt-handler's migration monitor), reduced to
// what decides its length and its outcome: the guest's memory, the rate the guest dirties it, and
// the link. Sources and assumptions: docs/simulation.md, "Live migration".
struct MigrationLink {
  // Bytes per second one migration gets: KubeVirt's bandwidthPerMigration (default 0: no limit,
  // so the pod network between the two nodes).
  double bandwidthBytesPerSecond = 1.0e9;
  // KubeVirt's defaults (MigrationConfiguration): maxDowntimeMs 900, completionTimeoutPerGiB 150,
  // progressTimeout 150.
  double maxDowntimeSeconds = 0.9;
  double completionTimeoutPerGiB = 150;
  double progressTimeoutSeconds = 150;
};

struct MigrationOutcome {
  bool succeeded = false;
  double seconds = 0;    // from the first byte to the switch-over, or to the abort
  double bytesSent = 0;  // every round's pages, the final stop-and-copy included
  int rounds = 0;        // pre-copy rounds, the stop-and-copy included
  // Why it was aborted, in the words virt-handler's monitor uses; empty on success.
  std::string failure;
};

// Pre-copy: round 0 sends the whole guest memory; each later round sends what the guest dirtied
// during the previous one (at most its memory); when a round's pages fit in maxDowntime at the
// link's rate, the guest pauses and they are copied (the switch-over). A migration whose remaining
// pages stop shrinking is aborted after progressTimeout; one that takes longer than
// completionTimeoutPerGiB per GiB of memory is aborted then (neither post-copy nor auto-converge
// is on, KubeVirt's default). Pure and deterministic.
MigrationOutcome preCopy(double memoryBytes, double dirtyBytesPerSecond, const MigrationLink& link);

}  // namespace umbra::sim
