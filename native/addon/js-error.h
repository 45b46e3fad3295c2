// Conversion of engine errors to JS Error objects carrying `.code`.
#pragma once

#include <napi.h>

#include <string>

#include "core/error.h"

namespace hipcode::addon {

Napi::Error make_error(Napi::Env env, ErrorCode code, const std::string& message);
Napi::Error make_error(Napi::Env env, const EngineError& error);

// A promise already rejected with a coded error.
Napi::Promise rejected_promise(Napi::Env env, const EngineError& error);

}  // namespace hipcode::addon
