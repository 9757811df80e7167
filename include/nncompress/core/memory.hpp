#pragma once
// How much memory this process may still use, and refusing work that needs more with the figure
// (one error line) instead of being killed by the OOM killer half-way through.
#include <cstdint>
#include <string>
#include <string_view>

namespace nnc {

// Best effort, recomputed on every call (a few /proc reads): the smallest of
//  - the system's MemAvailable plus what malloc holds free in this process (freed activations
//    are kept for reuse: core/allocator.hpp),
//  - the address-space limit (ulimit -v) minus what the process has mapped,
//  - the memory cgroup's limit minus its usage (v1 or v2; reclaimable page cache counts as free),
//  - NNC_MEMORY_LIMIT (bytes) from the environment, if set, minus the process's resident memory.
std::uint64_t available_memory_bytes();

// "512 B", "3.4 MB", "1.25 GB", "2.10 TB" (decimal units).
std::string format_bytes(std::uint64_t bytes);

// Throws nnc::Error(kResource) "<what> needs 40.0 GB but 12.3 GB of memory is available" when
// `bytes` exceed available_memory_bytes().
void check_fits_in_memory(std::uint64_t bytes, std::string_view what);

// Element count times element size, refused (kResource, naming `what`) beyond 2^63 bytes.
std::uint64_t checked_bytes(std::uint64_t elements, std::uint64_t element_size, std::string_view what);

}  // namespace nnc
