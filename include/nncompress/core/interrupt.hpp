#pragma once
// Cooperative Ctrl-C: the first SIGINT sets a flag that long loops poll so they can stop
// cleanly and still write their best-so-far results; a second SIGINT exits at once.

namespace nnc {

void install_interrupt_handler();
bool interrupted();
void clear_interrupt();
void request_interrupt();  // for tests

}  // namespace nnc
