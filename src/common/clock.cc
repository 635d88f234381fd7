#include "common/clock.h"

namespace umbra {

const Clock& RealClock::instance() {
  static const RealClock clock;
  return clock;
}

}  // namespace umbra
