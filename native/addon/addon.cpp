// Module entry of hipcode.node: loadModel(), createSyntheticModel() and probe(), plus the class constructors.
#include <napi.h>

#include <thread>

#include "addon/js-error.h"
#include "addon/objects.h"
#include "addon/promise-worker.h"
#include "addon/spec-reader.h"
#include "core/backend-factory.h"
#include "cuda/cuda-probe.h"

namespace hipcode::addon {
namespace {

Napi::Value load_model(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    ModelSpec spec = read_model_spec(info[0]);
    return PromiseWorker<std::shared_ptr<Model>>::start(
        env,
        [spec = std::move(spec)] {
          auto model = Model::load(spec.geometry, spec.weights, create_backend(spec.backend));
          model->set_attention(spec.attention);
          return model;
        },
        [](Napi::Env env, std::shared_ptr<Model>& model) -> Napi::Value {
          return ModelObject::wrap(env, model);
        });
  } catch (const EngineError& error) {
    return rejected_promise(env, error);
  }
}

Napi::Value create_synthetic_model(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    SyntheticModelSpec spec = read_synthetic_model_spec(info[0]);
    return PromiseWorker<std::shared_ptr<Model>>::start(
        env,
        [spec = std::move(spec)] {
          auto model = Model::synthetic(spec.geometry, spec.weights, create_backend(spec.backend));
          model->set_attention(spec.attention);
          return model;
        },
        [](Napi::Env env, std::shared_ptr<Model>& model) -> Napi::Value {
          return ModelObject::wrap(env, model);
        });
  } catch (const EngineError& error) {
    return rejected_promise(env, error);
  }
}

Napi::Object device_to_js(Napi::Env env, const cuda::DeviceInfo& device) {
  Napi::Object object = Napi::Object::New(env);
  object.Set("index", device.index);
  object.Set("name", device.name);
  object.Set("computeCapability", device.compute_capability);
  object.Set("totalMemory", double(device.total_memory));
  object.Set("freeMemory", double(device.free_memory));
  return object;
}

Napi::Object cuda_to_js(Napi::Env env, const cuda::Probe& probe) {
  Napi::Object cuda = Napi::Object::New(env);
  cuda.Set("compiled", probe.compiled);
  cuda.Set("available", probe.available);
  if (!probe.reason.empty()) cuda.Set("reason", probe.reason);
  if (!probe.driver_version.empty()) cuda.Set("driverVersion", probe.driver_version);
  if (!probe.runtime_version.empty()) cuda.Set("runtimeVersion", probe.runtime_version);
  if (probe.cublas) {
    Napi::Object cublas = Napi::Object::New(env);
    cublas.Set("found", probe.cublas->found);
    if (!probe.cublas->path.empty()) cublas.Set("path", probe.cublas->path);
    if (!probe.cublas->reason.empty()) cublas.Set("reason", probe.cublas->reason);
    cuda.Set("cublas", cublas);
  }
  Napi::Array devices = Napi::Array::New(env, probe.devices.size());
  for (size_t i = 0; i < probe.devices.size(); ++i)
    devices.Set(uint32_t(i), device_to_js(env, probe.devices[i]));
  cuda.Set("devices", devices);
  return cuda;
}

Napi::Value probe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object result = Napi::Object::New(env);
  Napi::Object cpu = Napi::Object::New(env);
  cpu.Set("threads", std::max(1u, std::thread::hardware_concurrency()));
  result.Set("cpu", cpu);
  result.Set("cuda", cuda_to_js(env, cuda::probe()));
  return result;
}

Napi::Object init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  data->model_constructor = Napi::Persistent(ModelObject::define(env));
  data->session_constructor = Napi::Persistent(SessionObject::define(env));
  env.SetInstanceData(data);
  exports.Set("loadModel", Napi::Function::New(env, load_model, "loadModel"));
  exports.Set("createSyntheticModel",
              Napi::Function::New(env, create_synthetic_model, "createSyntheticModel"));
  exports.Set("probe", Napi::Function::New(env, probe, "probe"));
  return exports;
}

}  // namespace
}  // namespace hipcode::addon

Napi::Object init_hipcode(Napi::Env env, Napi::Object exports) {
  return hipcode::addon::init(env, exports);
}

NODE_API_MODULE(hipcode, init_hipcode)
