#pragma once
// Keeps freed activation memory in the process for the next run of the network.
//
// glibc serves blocks above its mmap threshold (at most 32 MB) with fresh mmap()s and returns
// freed heap tops to the kernel; either way every large activation of every run is page-faulted
// in again (ResNet-20 at batch 256: two thirds of its inference time). Disabling mmap for
// malloc and raising the trim threshold lets freed blocks be reused as they are. The process's
// resident memory then stays at its peak instead of falling between runs.
namespace nnc {

// Applies the setting once per process (later calls do nothing); NNC_MALLOC_TUNING=0 in the
// environment leaves glibc's defaults (for comparisons). Returns whether the setting is active.
bool keep_freed_memory();

}  // namespace nnc
