#include "nncompress/core/interrupt.hpp"

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <unistd.h>

namespace nnc {
namespace {
std::atomic<int> g_interrupts{0};

extern "C" void on_sigint(int) {
  if (g_interrupts.fetch_add(1) >= 1) _exit(130);
  const char msg[] = "\ninterrupt: finishing current step and writing results (Ctrl-C again to abort)\n";
  [[maybe_unused]] auto n = write(2, msg, sizeof(msg) - 1);
}
}  // namespace

void install_interrupt_handler() {
  struct sigaction sa {};
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}
bool interrupted() { return g_interrupts.load(std::memory_order_relaxed) > 0; }
void clear_interrupt() { g_interrupts.store(0); }
void request_interrupt() { g_interrupts.store(1); }

}  // namespace nnc
