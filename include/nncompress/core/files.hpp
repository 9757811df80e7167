#pragma once
// File helpers: whole-file reads with clear errors, and atomic writes (temp file in the same
// directory, fsync, rename) so an interrupted run never leaves a half-written output.
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace nnc {

std::vector<std::uint8_t> read_file_bytes(const std::filesystem::path& path);
std::string read_file_text(const std::filesystem::path& path);

// Writes bytes to `path` atomically. Refuses to write onto `protect` (the input file), if given.
void write_file_atomic(const std::filesystem::path& path, std::span<const std::uint8_t> bytes,
                       const std::filesystem::path& protect = {});
void write_file_atomic(const std::filesystem::path& path, std::string_view text,
                       const std::filesystem::path& protect = {});

// Throws a clear error if `output` resolves to the same file as `input`.
void check_not_same_file(const std::filesystem::path& output, const std::filesystem::path& input);

}  // namespace nnc
