// Model and Session wrappers: argument checks on the JS thread, engine calls on worker threads.
#include "addon/objects.h"

#include <cstring>

#include "addon/js-error.h"
#include "addon/promise-worker.h"
#include "addon/spec-reader.h"
#include "core/error.h"

namespace hipcode::addon {
namespace {

EngineError disposed(const std::string& what) {
  return EngineError(ErrorCode::DISPOSED, what + ": the object was disposed");
}

// Runs a synchronous method body and turns engine errors into thrown coded JS errors.
template <typename Body>
auto guard(Napi::Env env, Body body) -> decltype(body()) {
  try {
    return body();
  } catch (const EngineError& error) {
    throw make_error(env, error);
  }
}

}  // namespace

// ---- ModelObject

Napi::Function ModelObject::define(Napi::Env env) {
  return DefineClass(env, "NativeModel",
                     {
                         InstanceAccessor<&ModelObject::backend>("backend"),
                         InstanceAccessor<&ModelObject::kv_dtype>("kvDtype"),
                         InstanceAccessor<&ModelObject::kv_memory>("kvMemory"),
                         InstanceMethod<&ModelObject::create_session>("createSession"),
                         InstanceMethod<&ModelObject::dispose>("dispose"),
                     });
}

Napi::Object ModelObject::wrap(Napi::Env env, std::shared_ptr<Model> model) {
  auto* data = env.GetInstanceData<AddonData>();
  return data->model_constructor.New({Napi::External<std::shared_ptr<Model>>::New(env, &model)});
}

ModelObject::ModelObject(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ModelObject>(info) {
  if (info.Length() != 1 || !info[0].IsExternal()) {
    throw make_error(info.Env(), ErrorCode::INVALID_ARGUMENT, "NativeModel is created by loadModel()");
  }
  model_ = *info[0].As<Napi::External<std::shared_ptr<Model>>>().Data();
  backend_name_ = model_->backend().name();
  kv_dtype_ = dtype_name(model_->backend().kv_dtype());
}

Napi::Value ModelObject::backend(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), backend_name_);
}

Napi::Value ModelObject::kv_dtype(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), kv_dtype_);
}

Napi::Value ModelObject::kv_memory(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    if (!model_) throw disposed("model.kvMemory");
    const KvStoreMemory memory = model_->kv_pool()->store().memory();
    Napi::Object out = Napi::Object::New(info.Env());
    out.Set("gpuBytes", double(memory.gpu_bytes));
    out.Set("hostBytes", double(memory.host_bytes));
    return out;
  });
}

Napi::Value ModelObject::create_session(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    if (!model_) throw disposed("model.createSession");
    const SessionOptions options = read_session_options(info[0]);
    return SessionObject::wrap(info.Env(), std::make_shared<Session>(model_, options));
  });
}

void ModelObject::dispose(const Napi::CallbackInfo&) {
  model_.reset();
}

// ---- SessionObject

Napi::Function SessionObject::define(Napi::Env env) {
  return DefineClass(env, "NativeSession",
                     {
                         InstanceAccessor<&SessionObject::length>("length"),
                         InstanceAccessor<&SessionObject::snapshot_tokens>("snapshotTokens"),
                         InstanceMethod<&SessionObject::forward>("forward"),
                         InstanceMethod<&SessionObject::step>("step"),
                         InstanceMethod<&SessionObject::truncate>("truncate"),
                         InstanceMethod<&SessionObject::fork>("fork"),
                         InstanceMethod<&SessionObject::save_snapshot>("saveSnapshot"),
                         InstanceMethod<&SessionObject::load_snapshot>("loadSnapshot"),
                         InstanceMethod<&SessionObject::cancel_snapshot>("cancelSnapshot"),
                         InstanceMethod<&SessionObject::dispose>("dispose"),
                     });
}

Napi::Object SessionObject::wrap(Napi::Env env, std::shared_ptr<Session> session) {
  auto* data = env.GetInstanceData<AddonData>();
  return data->session_constructor.New({Napi::External<std::shared_ptr<Session>>::New(env, &session)});
}

SessionObject::SessionObject(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SessionObject>(info) {
  if (info.Length() != 1 || !info[0].IsExternal()) {
    throw make_error(info.Env(), ErrorCode::INVALID_ARGUMENT,
                     "NativeSession is created by model.createSession()");
  }
  session_ = *info[0].As<Napi::External<std::shared_ptr<Session>>>().Data();
}

std::shared_ptr<Session> SessionObject::live(const char* method) const {
  if (!session_) throw disposed(std::string("session.") + method);
  return session_;
}

std::shared_ptr<Session> SessionObject::claim(const char* method) const {
  std::shared_ptr<Session> session = live(method);
  if (!session->try_begin()) {
    throw EngineError(ErrorCode::BUSY,
                      std::string("session.") + method + ": another call on this session is still running");
  }
  return session;
}

void SessionObject::run_claimed(const char* method, const std::function<void(Session&)>& body) const {
  std::shared_ptr<Session> session = claim(method);
  try {
    body(*session);
  } catch (...) {
    session->end();
    throw;
  }
  session->end();
}

Napi::Value SessionObject::snapshot_tokens(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&] {
    return Napi::Number::New(info.Env(), double(live("snapshotTokens")->snapshot_tokens()));
  });
}

Napi::Value SessionObject::length(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&] { return Napi::Number::New(info.Env(), double(live("length")->length())); });
}

Napi::Value SessionObject::forward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    std::vector<int32_t> ids = read_ids(info[0]);
    const LogitsMode mode = read_logits_mode(info[1]);
    std::shared_ptr<Session> session = claim("forward");
    return PromiseWorker<std::vector<float>>::start(
        env, [session, ids = std::move(ids), mode] { return session->forward(ids, mode); },
        [](Napi::Env env, std::vector<float>& logits) -> Napi::Value {
          auto array = Napi::Float32Array::New(env, logits.size());
          if (!logits.empty()) std::memcpy(array.Data(), logits.data(), logits.size() * sizeof(float));
          return array;
        },
        [session] { session->end(); });
  } catch (const EngineError& error) {
    return rejected_promise(env, error);
  }
}

Napi::Value SessionObject::step(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    std::vector<int32_t> ids = read_ids(info[0]);
    const SamplingParams params = read_sampling(info[1]);
    std::shared_ptr<Session> session = claim("step");
    return PromiseWorker<int32_t>::start(
        env, [session, ids = std::move(ids), params] { return session->step(ids, params); },
        [](Napi::Env env, int32_t& token) -> Napi::Value { return Napi::Number::New(env, token); },
        [session] { session->end(); });
  } catch (const EngineError& error) {
    return rejected_promise(env, error);
  }
}

void SessionObject::truncate(const Napi::CallbackInfo& info) {
  guard(info.Env(), [&] {
    run_claimed("truncate", [&](Session& session) {
      const Napi::Value value = info[0];
      const double length = value.IsNumber() ? value.As<Napi::Number>().DoubleValue() : -1;
      if (!(length >= 0 && length <= double(session.length())) || double(int64_t(length)) != length) {
        throw EngineError(ErrorCode::INVALID_ARGUMENT, "truncate(length): expected an integer in [0, " +
                                                           std::to_string(session.length()) + "]");
      }
      session.truncate(int64_t(length));
    });
  });
}

Napi::Value SessionObject::fork(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    const SessionOptions options = read_session_options(info[0]);
    std::shared_ptr<Session> forked;
    run_claimed("fork", [&](Session& session) { forked = std::make_shared<Session>(session, options); });
    return SessionObject::wrap(info.Env(), forked);
  });
}

Napi::Value SessionObject::save_snapshot(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    std::string path = read_argument_string(info[0], "path");
    std::string fingerprint = read_argument_string(info[1], "fingerprint");
    std::shared_ptr<Session> session = live("saveSnapshot");
    const double tokens = info[2].IsNumber() ? info[2].As<Napi::Number>().DoubleValue() : -1;
    if (!(tokens >= 0 && tokens <= double(session->length())) || double(int64_t(tokens)) != tokens) {
      throw EngineError(ErrorCode::INVALID_ARGUMENT, "saveSnapshot(tokens): expected an integer in [0, " +
                                                         std::to_string(session->length()) + "]");
    }
    claim("saveSnapshot");
    session->reset_cancel();
    return PromiseWorker<bool>::start(
        env,
        [session, path = std::move(path), fingerprint = std::move(fingerprint), tokens] {
          session->save_snapshot(path, fingerprint, int64_t(tokens));
          return true;
        },
        [](Napi::Env env, bool&) -> Napi::Value { return env.Undefined(); }, [session] { session->end(); });
  } catch (const EngineError& error) {
    return rejected_promise(env, error);
  }
}

Napi::Value SessionObject::load_snapshot(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    std::string path = read_argument_string(info[0], "path");
    std::string fingerprint = read_argument_string(info[1], "fingerprint");
    int64_t max_tokens = -1;  // all of it
    if (!info[2].IsUndefined()) {
      const double tokens = info[2].IsNumber() ? info[2].As<Napi::Number>().DoubleValue() : -1;
      if (!(tokens >= 0) || double(int64_t(tokens)) != tokens) {
        throw EngineError(ErrorCode::INVALID_ARGUMENT,
                          "loadSnapshot(tokens): expected a non-negative integer, or nothing for all of it");
      }
      max_tokens = int64_t(tokens);
    }
    std::shared_ptr<Session> session = claim("loadSnapshot");
    session->reset_cancel();
    return PromiseWorker<std::vector<int32_t>>::start(
        env,
        [session, path = std::move(path), fingerprint = std::move(fingerprint), max_tokens] {
          return session->load_snapshot(path, fingerprint, max_tokens);
        },
        [](Napi::Env env, std::vector<int32_t>& ids) -> Napi::Value {
          auto array = Napi::Int32Array::New(env, ids.size());
          if (!ids.empty()) std::memcpy(array.Data(), ids.data(), ids.size() * sizeof(int32_t));
          return array;
        },
        [session] { session->end(); });
  } catch (const EngineError& error) {
    return rejected_promise(env, error);
  }
}

void SessionObject::cancel_snapshot(const Napi::CallbackInfo& info) {
  guard(info.Env(), [&] { live("cancelSnapshot")->cancel(); });
}

void SessionObject::dispose(const Napi::CallbackInfo&) {
  session_.reset();
}

}  // namespace hipcode::addon
