#include "nncompress/compress/options.hpp"

#include <fmt/ranges.h>

#include <algorithm>

namespace nnc::compress {

OptionReader::OptionReader(const nlohmann::json& j, std::string what) : j_(j), what_(std::move(what)) {}

void OptionReader::finish() const {
  for (const auto& [key, value] : j_.items())
    if (std::find(read_.begin(), read_.end(), key) == read_.end())
      fail_option(key, "is not an option of {} (options: {})", what_, fmt::join(known_, ", "));
}

}  // namespace nnc::compress
