#pragma once

// Internal to the simulation core: the hashes its randomness is drawn from, so that a run is
// deterministic for a seed and independent of the order things were added in.
#include <cstdint>

namespace umbra::sim::detail {

inline constexpr double NoiseSlotSeconds = 15;  // noise is drawn per 15 s slot

inline uint64_t mix(uint64_t x) {  // splitmix64
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

inline double uniform(uint64_t h) {
  return static_cast<double>(h >> 11) * 0x1.0p-53;
}

}  // namespace umbra::sim::detail
