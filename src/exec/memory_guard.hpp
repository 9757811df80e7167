#pragma once
// Internal: LibTorch's CPU allocator wrapped so that a tensor larger than the memory still
// available is refused with the figure (nnc::Error kResource) before any page of it is touched,
// instead of the process being killed by the OOM killer. Best effort: each large allocation is
// checked against what is available at that moment (core/memory.hpp), so a model whose
// activations together outgrow the machine fails at the first tensor that does not fit.
namespace nnc::exec {

// Installs the wrapper once per process (later calls do nothing). Allocations below 64 MiB are
// not checked (their total is bounded by the larger ones around them in practice).
void install_memory_guard();

}  // namespace nnc::exec
