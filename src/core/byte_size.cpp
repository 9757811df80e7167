#include "nncompress/core/byte_size.hpp"

#include <fmt/format.h>

#include <cctype>
#include <charconv>
#include <cmath>

#include "nncompress/core/error.hpp"

namespace nnc {

int64_t parse_byte_size(std::string_view text) {
  const std::string original(text);
  auto trim = [](std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return s;
  };
  text = trim(text);
  NNC_CHECK_CODE(!text.empty(), kInvalidArgument, "'{}': empty (expected e.g. 12KB or 12288)", original);
  std::size_t end = 0;
  while (end < text.size() && (std::isdigit(static_cast<unsigned char>(text[end])) || text[end] == '.')) ++end;
  NNC_CHECK_CODE(end > 0, kInvalidArgument, "'{}': expected a positive number of bytes, e.g. 12KB or 12288",
                 original);
  double number = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + end, number);
  NNC_CHECK_CODE(ec == std::errc() && ptr == text.data() + end, kInvalidArgument, "'{}': '{}' is not a number",
                 original, text.substr(0, end));
  std::string unit(trim(text.substr(end)));
  for (auto& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  double scale = 0;
  if (unit.empty() || unit == "b") scale = 1;
  else if (unit == "k" || unit == "kb" || unit == "kib") scale = 1024;
  else if (unit == "m" || unit == "mb" || unit == "mib") scale = 1024.0 * 1024;
  else if (unit == "g" || unit == "gb" || unit == "gib") scale = 1024.0 * 1024 * 1024;
  NNC_CHECK_CODE(scale > 0, kInvalidArgument, "'{}': unknown unit '{}' (B, KB, MB or GB; KB = 1,024 bytes)",
                 original, text.substr(end));
  const double bytes = std::floor(number * scale);
  NNC_CHECK_CODE(bytes >= 1 && bytes < 9e18, kInvalidArgument, "'{}': must be at least 1 byte", original);
  return static_cast<int64_t>(bytes);
}

std::string describe_bytes(int64_t bytes) {
  return fmt::format("{} B ({:.1f} KB)", bytes, static_cast<double>(bytes) / 1024.0);
}

int64_t parse_byte_size_option(std::string_view field, std::string_view text) {
  try {
    return parse_byte_size(text);
  } catch (const Error& e) {
    fail_option(field, "{}", e.what());
  }
}

}  // namespace nnc
