// EngineError: the one exception type of the engine; a stable code plus a message naming what was wrong.
#pragma once

#include <stdexcept>
#include <string>

namespace hipcode {

enum class ErrorCode {
  INVALID_ARGUMENT,
  MODEL_FILE,
  OUT_OF_MEMORY,
  BACKEND_UNAVAILABLE,
  BUSY,
  CONTEXT_FULL,
  DISPOSED,
  SNAPSHOT,
  CANCELLED,
  INTERNAL,
};

// The code as the JS side spells it, e.g. "E_CONTEXT_FULL".
const char* error_code_name(ErrorCode code);

class EngineError : public std::runtime_error {
 public:
  EngineError(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

}  // namespace hipcode
