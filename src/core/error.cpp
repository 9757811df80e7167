#include "nncompress/core/error.hpp"

namespace nnc {

const char* error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return "invalid argument";
    case ErrorCode::kIo: return "i/o error";
    case ErrorCode::kCorrupt: return "corrupt input";
    case ErrorCode::kUnsupported: return "unsupported";
    case ErrorCode::kShape: return "shape mismatch";
    case ErrorCode::kResource: return "out of resources";
    case ErrorCode::kTargetMissed: return "target missed";
    case ErrorCode::kInternal: return "internal error";
  }
  return "error";
}

}  // namespace nnc
