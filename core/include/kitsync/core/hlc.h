// Hybrid logical clock. Tablet clocks are wrong, sometimes by days; an HLC keeps causality under
// skew: it never goes backwards when the wall clock does, and it absorbs a remote timestamp so
// that whatever this device writes next orders after what it has seen.
//
// Packed in 64 bits: the top 48 are milliseconds since the Unix epoch, the low 16 a logical
// counter. Packed values compare as the pair (physical, logical).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace kitsync::core {

class Status;

struct Hlc {
  int64_t physical_ms = 0;
  uint32_t logical = 0;

  static constexpr int kLogicalBits = 16;
  static constexpr uint32_t kMaxLogical = (1u << kLogicalBits) - 1;

  uint64_t Pack() const {
    return (static_cast<uint64_t>(physical_ms) << kLogicalBits) | logical;
  }
  static Hlc Unpack(uint64_t packed) {
    return {static_cast<int64_t>(packed >> kLogicalBits), static_cast<uint32_t>(packed & kMaxLogical)};
  }
  std::string ToString() const;  // "2026-11-27T18:42:15.123Z+3"

  friend auto operator<=>(const Hlc&, const Hlc&) = default;
};

// Milliseconds since the Unix epoch. Injected, so tests can make time jump.
using WallClock = std::function<int64_t()>;
WallClock SystemWallClock();

// Not thread-safe: one clock per store, used under the store's write lock.
class HlcClock {
 public:
  explicit HlcClock(WallClock wall, Hlc last = {});

  // A timestamp for a local event, strictly greater than every timestamp issued or observed.
  Hlc Now();

  // Absorbs a timestamp received from elsewhere. A remote clock more than `max_ahead_ms` beyond
  // this wall clock is refused (OUT_OF_RANGE) and not absorbed, so one wild tablet cannot drag
  // every other clock into the future.
  Status Observe(Hlc remote, int64_t max_ahead_ms);

  // Makes every later timestamp exceed `floor`: one written by another process on this device.
  void RaiseTo(Hlc floor) {
    if (floor > last_) last_ = floor;
  }

  Hlc last() const { return last_; }
  int64_t WallMs() const { return wall_(); }

 private:
  WallClock wall_;
  Hlc last_;
};

}  // namespace kitsync::core
