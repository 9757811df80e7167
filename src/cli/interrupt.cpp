// Ctrl-C for the CLI: the only place a signal reaches; the library sees a StopToken.
#include <csignal>
#include <cstdlib>
#include <unistd.h>

#include "cli/command.hpp"

namespace nnc::cli {
namespace {

StopSource& stop_source() {
  static StopSource source;
  return source;
}
std::atomic<bool>* g_flag = nullptr;
std::atomic<int> g_interrupts{0};

extern "C" void on_sigint(int) {
  if (g_interrupts.fetch_add(1) >= 1) _exit(130);
  if (g_flag) g_flag->store(true, std::memory_order_relaxed);
  const char msg[] = "\ninterrupt: finishing current step and writing results (Ctrl-C again to abort)\n";
  [[maybe_unused]] auto n = write(2, msg, sizeof(msg) - 1);
}

}  // namespace

void install_interrupt_handler() {
  g_flag = stop_source().flag();
  struct sigaction sa {};
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

bool interrupted() { return stop_source().stop_requested(); }
StopToken interrupt_token() { return stop_source().token(); }

}  // namespace nnc::cli
