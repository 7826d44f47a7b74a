#include "kitsync/core/hlc.h"

#include <chrono>
#include <ctime>
#include <cstdio>

#include "kitsync/core/status.h"

namespace kitsync::core {

std::string Hlc::ToString() const {
  std::time_t secs = static_cast<std::time_t>(physical_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ+%u", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(physical_ms % 1000), logical);
  return buf;
}

WallClock SystemWallClock() {
  return [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
}

HlcClock::HlcClock(WallClock wall, Hlc last) : wall_(std::move(wall)), last_(last) {
  if (!wall_) wall_ = SystemWallClock();
}

Hlc HlcClock::Now() {
  const int64_t wall = wall_();
  if (wall > last_.physical_ms) {
    last_ = {wall, 0};
  } else if (last_.logical < Hlc::kMaxLogical) {
    // The wall clock stood still or went back: keep the physical part, count logically.
    ++last_.logical;
  } else {
    // 65,536 events in one millisecond (or a wall clock stuck in the past): borrow a millisecond
    // rather than wrap the counter, which would break monotonicity.
    last_ = {last_.physical_ms + 1, 0};
  }
  return last_;
}

Status HlcClock::Observe(Hlc remote, int64_t max_ahead_ms) {
  const int64_t wall = wall_();
  if (remote.physical_ms > wall + max_ahead_ms) {
    return Status::OutOfRange("clock " + remote.ToString() + " is " +
                              std::to_string(remote.physical_ms - wall) +
                              " ms ahead of this clock; at most " + std::to_string(max_ahead_ms) +
                              " ms is accepted");
  }
  if (remote > last_) last_ = remote;
  return Status::Ok();
}

}  // namespace kitsync::core
