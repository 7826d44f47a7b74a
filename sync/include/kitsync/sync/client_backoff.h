// How long the tablet waits before retrying a failed sync. A pure function of the attempt number
// and a random draw, so the policy is tested without a clock; an Asio timer only waits out the
// delay it returns.
#pragma once

#include <chrono>

namespace kitsync::sync {

enum class Jitter {
  kNone,  // exactly the exponential ceiling: for tests and for reading logs
  // Uniform between the initial delay and the ceiling. Spreads tablets that lost the link at the
  // same moment (a post's shared Wi-Fi) over the whole window, but never retries sooner than
  // `initial`, so a failing server is not hammered.
  kFull,
  // Uniform between `initial` and three times the previous attempt's ceiling, capped at `max`:
  // the stateless form of "decorrelated" jitter.
  kDecorrelated,
};

struct BackoffPolicy {
  std::chrono::milliseconds initial{1000};
  double multiplier = 2.0;  // values below 1 are taken as 1
  std::chrono::milliseconds max{5 * 60 * 1000};
  Jitter jitter = Jitter::kFull;
};

// The delay before retry number `attempt` (0 for the first retry after the first failure).
// `jitter_unit` is a uniform draw in [0, 1); values outside are clamped. Never negative, never
// above max(policy.initial, policy.max), and defined for any attempt (no overflow).
std::chrono::milliseconds BackoffDelay(const BackoffPolicy& policy, int attempt,
                                       double jitter_unit);

// The ceiling the jitter is drawn under: min(max, initial * multiplier^attempt).
std::chrono::milliseconds BackoffCeiling(const BackoffPolicy& policy, int attempt);

}  // namespace kitsync::sync
