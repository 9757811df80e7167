#pragma once
// Sizes as users write them: "12KB", "12 KB", "12k", "1.5MB", "12288", "12288B" (KB = 1,024 B,
// MB = 1,024 KB, case-insensitive, KiB/MiB accepted). Throws kInvalidArgument naming the text.
#include <cstdint>
#include <string>
#include <string_view>

namespace nnc {

int64_t parse_byte_size(std::string_view text);
// parse_byte_size for the option `field` (a step's or command's size): a malformed text fails as
// that option (OptionError), so the message names the flag or the recipe's line.
int64_t parse_byte_size_option(std::string_view field, std::string_view text);
// "12288 B (12.0 KB)" for messages.
std::string describe_bytes(int64_t bytes);

}  // namespace nnc
