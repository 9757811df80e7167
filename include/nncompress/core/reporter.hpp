#pragma once
// Where library code says what it is doing: one-line notes and progress of long work
// (epochs, generations, layers). The library never prints; the CLI passes a reporter that writes
// to stderr, the Python module one that calls back, tests one that records. A null reporter is
// silent.
#include <chrono>
#include <string>
#include <string_view>

namespace nnc {

struct ProgressEvent {
  std::string_view what;     // "epoch 2/10", "nsga2 generation", "rd curves"
  long done = 0, total = 0;  // steps done of total
  double seconds = 0;        // since the work started
  std::string_view message;  // the latest figures ("loss 0.31 lr 0.001")
  bool finished = false;     // the last event of this work
};

class Reporter {
 public:
  virtual ~Reporter() = default;
  virtual void note(std::string_view line) = 0;
  virtual void progress(const ProgressEvent& event) = 0;
};

// Progress of one piece of work, forwarded to a reporter at most every `min_interval` (the first
// and last steps always).
class Progress {
 public:
  Progress(Reporter* reporter, std::string what, long total,
           std::chrono::milliseconds min_interval = std::chrono::milliseconds(500));
  void update(long done, std::string_view message = {});
  void finish(std::string_view message = {});

 private:
  Reporter* reporter_;
  std::string what_;
  long total_;
  std::chrono::milliseconds min_interval_;
  std::chrono::steady_clock::time_point start_, last_;
  bool finished_ = false;
};

}  // namespace nnc
