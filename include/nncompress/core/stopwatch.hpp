#pragma once
// Elapsed wall time for the figures steps report.
#include <chrono>

namespace nnc {

// Seconds from `t0` to now (steady clock).
inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace nnc
