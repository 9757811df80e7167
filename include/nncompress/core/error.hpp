#pragma once
// One error type for the whole project: a code and a message that names the file, node,
// tensor or option at fault. Thrown via NNC_CHECK / nnc::fail, caught once in main.
#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace nnc {

enum class ErrorCode {
  kInvalidArgument,  // bad option or parameter value
  kIo,               // missing/unreadable/unwritable file
  kCorrupt,          // truncated or corrupt file contents
  kUnsupported,      // operator/attribute/format we do not handle
  kShape,            // tensor shape mismatch
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

}  // namespace nnc

// NNC_CHECK(cond, "message {}", arg): throws nnc::Error(kInvalidArgument) when cond is false.
#define NNC_CHECK(cond, ...)                                                            \
  do {                                                                                  \
    if (!(cond)) ::nnc::fail(::nnc::ErrorCode::kInvalidArgument, __VA_ARGS__);          \
  } while (0)
// NNC_CHECK_CODE(cond, code, "message {}", arg)
#define NNC_CHECK_CODE(cond, code, ...)                                                 \
  do {                                                                                  \
    if (!(cond)) ::nnc::fail(::nnc::ErrorCode::code, __VA_ARGS__);                      \
  } while (0)
