#include "kitsync/sync/client_backoff.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

namespace kitsync::sync {
namespace {

using std::chrono::milliseconds;

// Arithmetic in double: initial * multiplier^attempt overflows any integer type long before the
// attempt count does, and a double saturates at infinity, which the cap then removes.
double CeilingMs(const BackoffPolicy& policy, int attempt) {
  const double initial = std::max<double>(0, static_cast<double>(policy.initial.count()));
  const double cap = std::max<double>(initial, static_cast<double>(policy.max.count()));
  const double multiplier = std::isnan(policy.multiplier) ? 1.0 : std::max(1.0, policy.multiplier);
  const double growth = std::pow(multiplier, std::max(0, attempt));
  const double ceiling = initial * growth;
  if (std::isnan(ceiling) || ceiling > cap) return cap;
  return ceiling;
}

double ClampUnit(double unit) {
  if (std::isnan(unit) || unit < 0) return 0;
  // The largest double below 1 keeps the draw inside [low, high).
  return std::min(unit, std::nextafter(1.0, 0.0));
}

milliseconds Uniform(double low, double high, double unit) {
  if (high < low) high = low;
  return milliseconds(static_cast<int64_t>(std::floor(low + ClampUnit(unit) * (high - low))));
}

}  // namespace

milliseconds BackoffCeiling(const BackoffPolicy& policy, int attempt) {
  return milliseconds(static_cast<int64_t>(CeilingMs(policy, attempt)));
}

milliseconds BackoffDelay(const BackoffPolicy& policy, int attempt, double jitter_unit) {
  const double ceiling = CeilingMs(policy, attempt);
  const double initial = std::min(ceiling, std::max<double>(0, policy.initial.count()));
  switch (policy.jitter) {
    case Jitter::kNone:
      return milliseconds(static_cast<int64_t>(ceiling));
    case Jitter::kFull:
      return Uniform(initial, ceiling, jitter_unit);
    case Jitter::kDecorrelated: {
      const double cap = CeilingMs(policy, std::numeric_limits<int>::max());
      const double previous = attempt <= 0 ? initial : CeilingMs(policy, attempt - 1);
      return Uniform(initial, std::min(cap, 3 * previous), jitter_unit);
    }
  }
  return milliseconds(static_cast<int64_t>(ceiling));
}

}  // namespace kitsync::sync
