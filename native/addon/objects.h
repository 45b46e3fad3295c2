// JS wrappers of Model and Session (Napi::ObjectWrap) and the constructors the addon keeps per instance.
#pragma once

#include <napi.h>

#include <functional>
#include <memory>
#include <string>

#include "core/model.h"
#include "core/session.h"

namespace hipcode::addon {

// NativeModel: holds the model; sessions hold it too, so it lives until the last of them is gone.
class ModelObject : public Napi::ObjectWrap<ModelObject> {
 public:
  static Napi::Function define(Napi::Env env);
  static Napi::Object wrap(Napi::Env env, std::shared_ptr<Model> model);
  explicit ModelObject(const Napi::CallbackInfo& info);

 private:
  Napi::Value backend(const Napi::CallbackInfo& info);
  Napi::Value kv_dtype(const Napi::CallbackInfo& info);
  Napi::Value kv_memory(const Napi::CallbackInfo& info);
  Napi::Value create_session(const Napi::CallbackInfo& info);
  void dispose(const Napi::CallbackInfo& info);

  std::shared_ptr<Model> model_;
  std::string backend_name_;
  std::string kv_dtype_;
};

// NativeSession: forward/step and snapshot saves/loads run on the libuv pool; one call at a time.
class SessionObject : public Napi::ObjectWrap<SessionObject> {
 public:
  static Napi::Function define(Napi::Env env);
  static Napi::Object wrap(Napi::Env env, std::shared_ptr<Session> session);
  explicit SessionObject(const Napi::CallbackInfo& info);

 private:
  Napi::Value length(const Napi::CallbackInfo& info);
  Napi::Value snapshot_tokens(const Napi::CallbackInfo& info);
  Napi::Value forward(const Napi::CallbackInfo& info);
  Napi::Value step(const Napi::CallbackInfo& info);
  void truncate(const Napi::CallbackInfo& info);
  Napi::Value fork(const Napi::CallbackInfo& info);
  Napi::Value save_snapshot(const Napi::CallbackInfo& info);
  Napi::Value load_snapshot(const Napi::CallbackInfo& info);
  void cancel_snapshot(const Napi::CallbackInfo& info);
  void dispose(const Napi::CallbackInfo& info);
  // The live session; throws E_DISPOSED after dispose().
  std::shared_ptr<Session> live(const char* method) const;
  // Claims the session for an async call; throws E_BUSY when one is in flight.
  std::shared_ptr<Session> claim(const char* method) const;
  // Runs a synchronous call on the claimed session, then releases it.
  void run_claimed(const char* method, const std::function<void(Session&)>& body) const;

  std::shared_ptr<Session> session_;
};

struct AddonData {
  Napi::FunctionReference model_constructor;
  Napi::FunctionReference session_constructor;
};

}  // namespace hipcode::addon
