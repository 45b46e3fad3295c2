// Names of the engine's error codes, shared with the TypeScript NativeErrorCode type.
#include "core/error.h"

namespace hipcode {

const char* error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::INVALID_ARGUMENT:
      return "E_INVALID_ARGUMENT";
    case ErrorCode::MODEL_FILE:
      return "E_MODEL_FILE";
    case ErrorCode::OUT_OF_MEMORY:
      return "E_OUT_OF_MEMORY";
    case ErrorCode::BACKEND_UNAVAILABLE:
      return "E_BACKEND_UNAVAILABLE";
    case ErrorCode::BUSY:
      return "E_BUSY";
    case ErrorCode::CONTEXT_FULL:
      return "E_CONTEXT_FULL";
    case ErrorCode::DISPOSED:
      return "E_DISPOSED";
    case ErrorCode::SNAPSHOT:
      return "E_SNAPSHOT";
    case ErrorCode::CANCELLED:
      return "E_CANCELLED";
    case ErrorCode::INTERNAL:
      return "E_INTERNAL";
  }
  return "E_INTERNAL";
}

}  // namespace hipcode
