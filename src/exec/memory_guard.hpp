#pragma once
// Internal: LibTorch's CPU allocator wrapped so that a tensor larger than the memory still
// available is refused with the figure (nnc::Error kResource) before any page of it is touched,
// instead of the process being killed by the OOM killer. Best effort: allocations are checked
// against what is available at that moment (core/memory.hpp), so a model whose activations
// together outgrow the machine fails at the first tensor that does not fit.
namespace nnc::exec {

// Installs the wrapper once per process (later calls do nothing). An allocation of 64 MiB or more
// is checked, and so is the next one whenever 64 MiB have been allocated since the last check, so
// many small tensors cannot outgrow the memory by more than that either.
void install_memory_guard();

}  // namespace nnc::exec
