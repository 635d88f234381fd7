#pragma once

#include "common/clock.h"
#include "common/error.h"

namespace umbra::runtime {

// What the queue does with a key whose reconcile returned an error (kube-rs `error_policy`).
struct Retry {
  enum class How {
    Backoff,  // per-key exponential backoff under the global rate cap (client-go)
    After,    // the server said when (Retry-After)
    Never,    // retrying cannot help: a change to a watched object, or the resync, brings it back
  };
  How how = How::Backoff;
  Duration delay{};
  friend bool operator==(const Retry&, const Retry&) = default;
};

// The one error policy of every controller:
//  - Terminal (controller-runtime's TerminalError): the reconciler put it in status; never retried;
//  - an error with Retry-After: after that long;
//  - Error::retryable() (Conflict, 429, timeouts, 5xx, network, 410): backoff;
//  - everything else (Forbidden, Invalid, BadRequest, Config, NotFound, a bug): never retried with
//    backoff, since the same request gets the same answer. Reconcilers report these on the
//    object's status; a spec change, an RBAC fix followed by the periodic resync, or any watched
//    change runs the key again.
Retry errorPolicy(const Error& error);

}  // namespace umbra::runtime
