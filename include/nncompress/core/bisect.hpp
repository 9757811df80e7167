#pragma once
// Bisection, the one implementation every search uses (budget fitting in pruning and low-rank
// allocation, ranks for an error level, the hold-out confirmation of weight sharing).
#include <cmath>
#include <cstdint>

namespace nnc {

// Halves the interval between `inside` and `outside` around the point where the monotone
// predicate `is_inside(t)` changes, `iterations` times or until it is no wider than `tolerance`;
// returns the last point on the inside. The predicate may record what it computed at t.
template <typename IsInside>
double bisect(double inside, double outside, IsInside is_inside, int iterations = 60, double tolerance = 0.0) {
  for (int it = 0; it < iterations && std::abs(outside - inside) > tolerance; ++it) {
    const double mid = 0.5 * (inside + outside);
    if (is_inside(mid))
      inside = mid;
    else
      outside = mid;
  }
  return inside;
}

// The first integer in [lo, hi) where the monotone predicate (false ... false true ... true) is
// true, or hi when there is none; about log2(hi - lo) calls.
template <typename Integer, typename Pred>
Integer first_true(Integer lo, Integer hi, Pred pred) {
  while (lo < hi) {
    const Integer mid = lo + (hi - lo) / 2;
    if (pred(mid))
      hi = mid;
    else
      lo = mid + 1;
  }
  return lo;
}

}  // namespace nnc
