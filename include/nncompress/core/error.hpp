#pragma once
// One error type for the whole project: a code and a message that names the file, node,
// tensor or option at fault. Thrown via NNC_CHECK / nnc::fail, caught once in main.
#include <stdexcept>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace nnc {

enum class ErrorCode {
  kInvalidArgument,  // bad option or parameter value
  kIo,               // missing/unreadable/unwritable file
  kCorrupt,          // truncated or corrupt file contents
  kUnsupported,      // operator/attribute/format we do not handle
  kShape,            // tensor shape mismatch
  kResource,         // needs more memory than this machine has available
  kTargetMissed,     // an accuracy or size target the user set cannot be met
  kInternal,
};

const char* error_code_name(ErrorCode code);

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

template <typename... Args>
[[noreturn]] void fail(ErrorCode code, fmt::format_string<Args...> f, Args&&... args) {
  throw Error(code, fmt::format(f, std::forward<Args>(args)...));
}

// A bad option value, naming the option's field ("max_drop", "finetune.lr"): the library says
// "max_drop 150: must be in [0, 100) percentage points"; the CLI prints the field as its flag
// (--max-drop), the Python module raises ValueError.
class OptionError : public Error {
 public:
  OptionError(std::string field, std::string detail, ErrorCode code = ErrorCode::kInvalidArgument)
      : Error(code, fmt::format("{} {}", field, detail)), field_(std::move(field)), detail_(std::move(detail)) {}
  const std::string& field() const { return field_; }
  const std::string& detail() const { return detail_; }

 private:
  std::string field_, detail_;
};

template <typename... Args>
[[noreturn]] void fail_option(std::string_view field, fmt::format_string<Args...> f, Args&&... args) {
  throw OptionError(std::string(field), fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace nnc

// NNC_CHECK(cond, "message {}", arg): throws nnc::Error(kInvalidArgument) when cond is false.
#define NNC_CHECK(cond, ...)                                                            \
  do {                                                                                  \
    if (!(cond)) ::nnc::fail(::nnc::ErrorCode::kInvalidArgument, __VA_ARGS__);          \
  } while (0)
// NNC_CHECK_OPTION(cond, "field", "{}: must be positive", value): throws nnc::OptionError.
#define NNC_CHECK_OPTION(cond, field, ...)                                              \
  do {                                                                                  \
    if (!(cond)) ::nnc::fail_option(field, __VA_ARGS__);                                \
  } while (0)
// NNC_CHECK_OPTION_CODE(cond, "field", code, "{}: no such directory", value)
#define NNC_CHECK_OPTION_CODE(cond, field, code, ...)                                   \
  do {                                                                                  \
    if (!(cond)) throw ::nnc::OptionError(field, fmt::format(__VA_ARGS__), ::nnc::ErrorCode::code); \
  } while (0)
// NNC_CHECK_CODE(cond, code, "message {}", arg)
#define NNC_CHECK_CODE(cond, code, ...)                                                 \
  do {                                                                                  \
    if (!(cond)) ::nnc::fail(::nnc::ErrorCode::code, __VA_ARGS__);                      \
  } while (0)
