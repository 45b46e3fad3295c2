// Coded JS errors for thrown exceptions and rejected promises.
#include "addon/js-error.h"

namespace hipcode::addon {

Napi::Error make_error(Napi::Env env, ErrorCode code, const std::string& message) {
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, error_code_name(code)));
  return error;
}

Napi::Error make_error(Napi::Env env, const EngineError& error) {
  return make_error(env, error.code(), error.what());
}

Napi::Promise rejected_promise(Napi::Env env, const EngineError& error) {
  auto deferred = Napi::Promise::Deferred::New(env);
  deferred.Reject(make_error(env, error).Value());
  return deferred.Promise();
}

}  // namespace hipcode::addon
