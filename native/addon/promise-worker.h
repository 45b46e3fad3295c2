// PromiseWorker: runs engine work on the libuv thread pool and settles a promise with the result or a coded
// error, so nothing heavy runs on the JS thread.
#pragma once

#include <napi.h>

#include <functional>
#include <new>
#include <optional>
#include <string>

#include "addon/js-error.h"
#include "core/error.h"

namespace hipcode::addon {

template <typename Result>
class PromiseWorker : public Napi::AsyncWorker {
 public:
  using Work = std::function<Result()>;
  using ToJs = std::function<Napi::Value(Napi::Env, Result&)>;
  using Done = std::function<void()>;

  // Queues `work`; `to_js` converts its result on the JS thread; `done` runs on the JS thread before
  // settling.
  static Napi::Promise start(Napi::Env env, Work work, ToJs to_js, Done done = nullptr) {
    auto* worker = new PromiseWorker(env, std::move(work), std::move(to_js), std::move(done));
    Napi::Promise promise = worker->deferred_.Promise();
    worker->Queue();
    return promise;
  }

 protected:
  void Execute() override {
    try {
      result_.emplace(work_());
    } catch (const EngineError& error) {
      fail(error.code(), error.what());
    } catch (const std::bad_alloc&) {
      fail(ErrorCode::OUT_OF_MEMORY, "out of host memory");
    } catch (const std::exception& error) {
      fail(ErrorCode::INTERNAL, error.what());
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    if (done_) done_();
    if (!result_) {
      deferred_.Reject(make_error(env, error_code_, error_message_).Value());
      return;
    }
    try {
      deferred_.Resolve(to_js_(env, *result_));
    } catch (const Napi::Error& error) {
      deferred_.Reject(error.Value());
    } catch (const EngineError& error) {
      deferred_.Reject(make_error(env, error).Value());
    }
  }

  void OnError(const Napi::Error& error) override {
    if (done_) done_();
    deferred_.Reject(error.Value());
  }

 private:
  PromiseWorker(Napi::Env env, Work work, ToJs to_js, Done done)
      : Napi::AsyncWorker(env, "hipcode"),
        deferred_(Napi::Promise::Deferred::New(env)),
        work_(std::move(work)),
        to_js_(std::move(to_js)),
        done_(std::move(done)) {}

  void fail(ErrorCode code, const std::string& message) {
    error_code_ = code;
    error_message_ = message;
  }

  Napi::Promise::Deferred deferred_;
  Work work_;
  ToJs to_js_;
  Done done_;
  std::optional<Result> result_;
  ErrorCode error_code_ = ErrorCode::INTERNAL;
  std::string error_message_;
};

}  // namespace hipcode::addon
