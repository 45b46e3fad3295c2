// Reads JS arguments (NativeModelSpec, SessionOptions, SamplingParams) into engine structs; every problem
// throws E_INVALID_ARGUMENT naming the argument path, e.g. "spec.weights.layers[3].q.weight.shape".
#pragma once

#include <napi.h>

#include "core/attention-options.h"
#include "core/backend-factory.h"
#include "core/model-config.h"
#include "core/model.h"
#include "core/session.h"

namespace hipcode::addon {

struct ModelSpec {
  BackendChoice backend;
  ModelGeometry geometry;
  ModelWeightRefs weights;
  AttentionOptions attention;
};

ModelSpec read_model_spec(const Napi::Value& value);

struct SyntheticModelSpec {
  BackendChoice backend;
  ModelGeometry geometry;
  SyntheticWeights weights;
  AttentionOptions attention;
};

// NativeSyntheticModelSpec: backend, geometry and the optional tensors of a random-weight model.
SyntheticModelSpec read_synthetic_model_spec(const Napi::Value& value);
SessionOptions read_session_options(const Napi::Value& value);
SamplingParams read_sampling(const Napi::Value& value);
LogitsMode read_logits_mode(const Napi::Value& value);
// A non-empty string argument `name`.
std::string read_argument_string(const Napi::Value& value, const char* name);
// Copies an Int32Array of token ids (range checks happen in the session).
std::vector<int32_t> read_ids(const Napi::Value& value);

}  // namespace hipcode::addon
