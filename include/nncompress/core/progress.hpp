#pragma once
// Progress display on stderr for long work (epochs, generations, layers). Quiet mode
// (set_progress_enabled(false)) silences it, e.g. under --quiet.
#include <chrono>
#include <string>
#include <string_view>

namespace nnc {

void set_progress_enabled(bool enabled);
bool progress_enabled();

// Prints "<what> [i/n] message" lines, at most every `min_interval` unless it is the last step.
class Progress {
 public:
  Progress(std::string what, long total);
  void update(long done, std::string_view message = {});
  void finish(std::string_view message = {});

 private:
  std::string what_;
  long total_;
  std::chrono::steady_clock::time_point start_, last_;
  bool finished_ = false;
};

// Prints one informational line on stderr (unless progress is disabled).
void note(std::string_view line);

}  // namespace nnc
