#pragma once
// Cooperative stopping. Whoever may ask long work to stop (the CLI's Ctrl-C handler, a Python
// callback, a test) owns a StopSource; library code is handed a StopToken and polls it at its
// natural stopping points (after a batch, an evaluation, a generation) and then returns what it
// has. Library code never reads a global flag.
#include <atomic>
#include <memory>

namespace nnc {

class StopToken {
 public:
  StopToken() = default;  // a token that never asks to stop
  explicit StopToken(std::shared_ptr<const std::atomic<bool>> flag) : flag_(std::move(flag)) {}
  bool stop_requested() const { return flag_ && flag_->load(std::memory_order_relaxed); }

 private:
  std::shared_ptr<const std::atomic<bool>> flag_;
};

class StopSource {
 public:
  StopSource() : flag_(std::make_shared<std::atomic<bool>>(false)) {}
  StopToken token() const { return StopToken(flag_); }
  // Lock-free: safe to call from a signal handler through flag().
  void request_stop() { flag_->store(true, std::memory_order_relaxed); }
  void reset() { flag_->store(false, std::memory_order_relaxed); }
  bool stop_requested() const { return flag_->load(std::memory_order_relaxed); }
  std::atomic<bool>* flag() { return flag_.get(); }

 private:
  std::shared_ptr<std::atomic<bool>> flag_;
};

}  // namespace nnc
