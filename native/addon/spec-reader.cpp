// Argument conversion with path-named errors: plain JS values in, engine structs out.
#include "addon/spec-reader.h"

#include <cmath>
#include <string>

#include "core/error.h"

namespace hipcode::addon {
namespace {

constexpr double kMaxSafeInteger = 9007199254740991.0;

EngineError invalid(const std::string& path, const std::string& expected, const Napi::Value& got) {
  std::string description;
  if (got.IsUndefined())
    description = "undefined";
  else if (got.IsNull())
    description = "null";
  else if (got.IsNumber())
    description = got.ToString().Utf8Value();
  else if (got.IsString())
    description = "'" + got.As<Napi::String>().Utf8Value() + "'";
  else if (got.IsArray())
    description = "an array";
  else if (got.IsBoolean())
    description = got.As<Napi::Boolean>().Value() ? "true" : "false";
  else
    description = "an object";
  return EngineError(ErrorCode::INVALID_ARGUMENT, path + ": expected " + expected + ", got " + description);
}

Napi::Object as_object(const Napi::Value& value, const std::string& path) {
  if (!value.IsObject() || value.IsArray()) throw invalid(path, "an object", value);
  return value.As<Napi::Object>();
}

double read_number(const Napi::Object& object, const char* key, const std::string& path) {
  const Napi::Value value = object.Get(key);
  if (!value.IsNumber() || !std::isfinite(value.As<Napi::Number>().DoubleValue())) {
    throw invalid(path + "." + key, "a finite number", value);
  }
  return value.As<Napi::Number>().DoubleValue();
}

int64_t to_integer(const Napi::Value& value, const std::string& path, double min) {
  const std::string expected = "an integer >= " + std::to_string(int64_t(min));
  if (!value.IsNumber()) throw invalid(path, expected, value);
  const double number = value.As<Napi::Number>().DoubleValue();
  if (!(number >= min && number <= kMaxSafeInteger) || std::floor(number) != number) {
    throw invalid(path, expected, value);
  }
  return int64_t(number);
}

int64_t read_integer(const Napi::Object& object, const char* key, const std::string& path, double min) {
  return to_integer(object.Get(key), path + "." + key, min);
}

std::string read_string(const Napi::Object& object, const char* key, const std::string& path) {
  const Napi::Value value = object.Get(key);
  if (!value.IsString()) throw invalid(path + "." + key, "a string", value);
  return value.As<Napi::String>().Utf8Value();
}

TensorRef read_tensor(const Napi::Value& value, const std::string& path) {
  const Napi::Object object = as_object(value, path);
  TensorRef ref;
  ref.name = path;
  ref.file = read_string(object, "file", path);
  ref.offset = uint64_t(read_integer(object, "offset", path, 0));
  const std::string dtype = read_string(object, "dtype", path);
  if (!parse_dtype(dtype, &ref.dtype))
    throw invalid(path + ".dtype", "'bf16', 'f16' or 'f32'", object.Get("dtype"));
  const Napi::Value shape = object.Get("shape");
  if (!shape.IsArray()) throw invalid(path + ".shape", "an array of integers", shape);
  const auto dims = shape.As<Napi::Array>();
  for (uint32_t i = 0; i < dims.Length(); ++i) {
    ref.shape.push_back(to_integer(dims.Get(i), path + ".shape[" + std::to_string(i) + "]", 1));
  }
  return ref;
}

std::optional<TensorRef> read_optional_tensor(const Napi::Object& object, const char* key,
                                              const std::string& path) {
  const Napi::Value value = object.Get(key);
  if (value.IsUndefined() || value.IsNull()) return std::nullopt;
  return read_tensor(value, path + "." + key);
}

LinearRef read_linear(const Napi::Object& parent, const char* key, const std::string& parent_path) {
  const std::string path = parent_path + "." + key;
  const Napi::Object object = as_object(parent.Get(key), path);
  LinearRef ref;
  ref.weight = read_tensor(object.Get("weight"), path + ".weight");
  ref.bias = read_optional_tensor(object, "bias", path);
  return ref;
}

LayerWeightRefs read_layer(const Napi::Value& value, const std::string& path) {
  const Napi::Object object = as_object(value, path);
  LayerWeightRefs layer;
  layer.attn_norm = read_tensor(object.Get("attnNorm"), path + ".attnNorm");
  layer.q = read_linear(object, "q", path);
  layer.k = read_linear(object, "k", path);
  layer.v = read_linear(object, "v", path);
  layer.o = read_linear(object, "o", path);
  layer.q_norm = read_optional_tensor(object, "qNorm", path);
  layer.k_norm = read_optional_tensor(object, "kNorm", path);
  layer.mlp_norm = read_tensor(object.Get("mlpNorm"), path + ".mlpNorm");
  layer.gate = read_linear(object, "gate", path);
  layer.up = read_linear(object, "up", path);
  layer.down = read_linear(object, "down", path);
  return layer;
}

ModelWeightRefs read_weights(const Napi::Value& value, const std::string& path) {
  const Napi::Object object = as_object(value, path);
  ModelWeightRefs weights;
  weights.embed = read_tensor(object.Get("embed"), path + ".embed");
  const Napi::Value layers = object.Get("layers");
  if (!layers.IsArray()) throw invalid(path + ".layers", "an array", layers);
  const auto list = layers.As<Napi::Array>();
  for (uint32_t i = 0; i < list.Length(); ++i) {
    weights.layers.push_back(read_layer(list.Get(i), path + ".layers[" + std::to_string(i) + "]"));
  }
  weights.final_norm = read_tensor(object.Get("finalNorm"), path + ".finalNorm");
  weights.lm_head = read_tensor(object.Get("lmHead"), path + ".lmHead");
  return weights;
}

RopeType read_rope_type(const Napi::Object& object, const std::string& path) {
  const std::string type = read_string(object, "type", path);
  if (type == "default") return RopeType::DEFAULT;
  if (type == "linear") return RopeType::LINEAR;
  if (type == "dynamic") return RopeType::DYNAMIC;
  if (type == "llama3") return RopeType::LLAMA3;
  if (type == "yarn") return RopeType::YARN;
  throw invalid(path + ".type", "'default', 'linear', 'dynamic', 'llama3' or 'yarn'", object.Get("type"));
}

RopeSpec read_rope(const Napi::Value& value, const std::string& path) {
  const Napi::Object object = as_object(value, path);
  RopeSpec rope;
  rope.type = read_rope_type(object, path);
  rope.theta = read_number(object, "theta", path);
  if (rope.type == RopeType::DEFAULT) return rope;
  rope.factor = read_number(object, "factor", path);
  if (rope.type == RopeType::LINEAR) return rope;
  rope.original_max_position_embeddings = read_integer(object, "originalMaxPositionEmbeddings", path, 1);
  if (rope.type == RopeType::LLAMA3) {
    rope.low_freq_factor = read_number(object, "lowFreqFactor", path);
    rope.high_freq_factor = read_number(object, "highFreqFactor", path);
  }
  if (rope.type == RopeType::YARN) {
    rope.beta_fast = read_number(object, "betaFast", path);
    rope.beta_slow = read_number(object, "betaSlow", path);
    rope.attention_factor = read_number(object, "attentionFactor", path);
    const Napi::Value truncate = object.Get("truncate");
    if (!truncate.IsBoolean()) throw invalid(path + ".truncate", "a boolean", truncate);
    rope.truncate = truncate.As<Napi::Boolean>().Value();
  }
  return rope;
}

ModelGeometry read_geometry(const Napi::Value& value, const std::string& path) {
  const Napi::Object object = as_object(value, path);
  ModelGeometry g;
  g.hidden_size = read_integer(object, "hiddenSize", path, 1);
  g.intermediate_size = read_integer(object, "intermediateSize", path, 1);
  g.num_layers = read_integer(object, "numLayers", path, 1);
  g.num_heads = read_integer(object, "numHeads", path, 1);
  g.num_kv_heads = read_integer(object, "numKvHeads", path, 1);
  g.head_dim = read_integer(object, "headDim", path, 2);
  g.vocab_size = read_integer(object, "vocabSize", path, 1);
  g.rms_norm_eps = read_number(object, "rmsNormEps", path);
  g.sliding_window = read_integer(object, "slidingWindow", path, 0);
  g.max_position_embeddings = read_integer(object, "maxPositionEmbeddings", path, 1);
  g.rope = read_rope(object.Get("rope"), path + ".rope");
  return g;
}

BackendChoice read_backend_choice(const Napi::Object& object) {
  BackendChoice choice;
  choice.name = read_string(object, "backend", "spec");
  if (choice.name != "cpu" && choice.name != "cuda") {
    throw invalid("spec.backend", "'cpu' or 'cuda'", object.Get("backend"));
  }
  if (!object.Get("device").IsUndefined()) choice.device = int(read_integer(object, "device", "spec", 0));
  if (!object.Get("threads").IsUndefined())
    choice.threads = size_t(read_integer(object, "threads", "spec", 0));
  if (choice.threads > 1024) throw invalid("spec.threads", "at most 1024", object.Get("threads"));
  if (!object.Get("gpuKvBudget").IsUndefined()) {
    choice.gpu_kv_budget_bytes = uint64_t(read_integer(object, "gpuKvBudget", "spec", 0));
  }
  if (!object.Get("hostKvBudget").IsUndefined()) {
    choice.host_kv_budget_bytes = read_integer(object, "hostKvBudget", "spec", 0);
  }
  if (!object.Get("kvDtype").IsUndefined()) choice.kv_dtype = read_string(object, "kvDtype", "spec");
  return choice;
}

bool read_flag(const Napi::Object& object, const char* key, const std::string& path) {
  const Napi::Value value = object.Get(key);
  if (!value.IsBoolean()) throw invalid(path + "." + key, "a boolean", value);
  return value.As<Napi::Boolean>().Value();
}

int64_t read_optional_integer(const Napi::Object& object, const char* key, const std::string& path,
                              double min, int64_t fallback) {
  return object.Get(key).IsUndefined() ? fallback : read_integer(object, key, path, min);
}

std::vector<int64_t> read_integers(const Napi::Value& value, const std::string& path, double min) {
  if (!value.IsArray()) throw invalid(path, "an array of integers", value);
  const auto list = value.As<Napi::Array>();
  std::vector<int64_t> integers;
  for (uint32_t i = 0; i < list.Length(); ++i)
    integers.push_back(to_integer(list.Get(i), path + "[" + std::to_string(i) + "]", min));
  return integers;
}

std::vector<hip::HipStage> read_hip_stages(const Napi::Value& value, const std::string& path) {
  if (!value.IsArray()) throw invalid(path, "an array of stages", value);
  const auto list = value.As<Napi::Array>();
  std::vector<hip::HipStage> stages;
  for (uint32_t i = 0; i < list.Length(); ++i) {
    const std::string stage_path = path + "[" + std::to_string(i) + "]";
    const Napi::Object object = as_object(list.Get(i), stage_path);
    stages.push_back({read_integer(object, "chunkSize", stage_path, 1),
                      read_integer(object, "keepTokens", stage_path, 1),
                      read_optional_integer(object, "queryStride", stage_path, 1, 1)});
  }
  return stages;
}

// spec.hip: the HiP knobs, each optional (defaults: AttentionOptions and hip::HipConfig).
void read_hip_spec(const Napi::Value& value, AttentionOptions& options) {
  if (value.IsUndefined()) return;
  const std::string path = "spec.hip";
  const Napi::Object object = as_object(value, path);
  hip::HipConfig& base = options.hip.base;
  options.auto_threshold_tokens =
      read_optional_integer(object, "thresholdTokens", path, 0, options.auto_threshold_tokens);
  if (!object.Get("refreshIntervals").IsUndefined())
    options.refresh_intervals = read_integers(object.Get("refreshIntervals"), path + ".refreshIntervals", 1);
  options.hip.dense_layers = read_optional_integer(object, "denseLayers", path, 0, options.hip.dense_layers);
  base.sink_tokens = read_optional_integer(object, "sinkTokens", path, 0, base.sink_tokens);
  base.window_tokens = read_optional_integer(object, "windowTokens", path, 1, base.window_tokens);
  base.prefill_chunk_tokens =
      read_optional_integer(object, "prefillChunkTokens", path, 1, base.prefill_chunk_tokens);
  if (!object.Get("stages").IsUndefined())
    base.stages = read_hip_stages(object.Get("stages"), path + ".stages");
}

// spec.attention and spec.hip, validated against the geometry's layer count.
AttentionOptions read_attention_options(const Napi::Object& object, const ModelGeometry& geometry) {
  AttentionOptions options;
  const Napi::Value mode = object.Get("attention");
  if (!mode.IsUndefined() &&
      !(mode.IsString() &&
        parse_attention_mode(mode.As<Napi::String>().Utf8Value().c_str(), &options.mode))) {
    throw invalid("spec.attention", "'dense', 'hip' or 'auto'", mode);
  }
  read_hip_spec(object.Get("hip"), options);
  try {
    validate_attention_options(options, geometry.num_layers);
  } catch (const EngineError& error) {
    throw EngineError(ErrorCode::INVALID_ARGUMENT, std::string("spec.hip: ") + error.what());
  }
  return options;
}

}  // namespace

ModelSpec read_model_spec(const Napi::Value& value) {
  const Napi::Object object = as_object(value, "spec");
  ModelSpec spec;
  spec.backend = read_backend_choice(object);
  spec.geometry = read_geometry(object.Get("geometry"), "spec.geometry");
  spec.weights = read_weights(object.Get("weights"), "spec.weights");
  spec.attention = read_attention_options(object, spec.geometry);
  return spec;
}

SyntheticModelSpec read_synthetic_model_spec(const Napi::Value& value) {
  const Napi::Object object = as_object(value, "spec");
  SyntheticModelSpec spec;
  spec.backend = read_backend_choice(object);
  spec.geometry = read_geometry(object.Get("geometry"), "spec.geometry");
  spec.weights.seed = uint64_t(read_integer(object, "seed", "spec", 0));
  spec.weights.attention_bias = read_flag(object, "attentionBias", "spec");
  spec.weights.qk_norm = read_flag(object, "qkNorm", "spec");
  spec.weights.tied_embeddings = read_flag(object, "tiedEmbeddings", "spec");
  spec.attention = read_attention_options(object, spec.geometry);
  return spec;
}

SessionOptions read_session_options(const Napi::Value& value) {
  const Napi::Object object = as_object(value, "options");
  SessionOptions options;
  options.max_tokens = read_integer(object, "maxTokens", "options", 1);
  if (options.max_tokens > INT32_MAX)
    throw invalid("options.maxTokens", "at most 2^31 - 1", object.Get("maxTokens"));
  options.seed = uint64_t(read_integer(object, "seed", "options", 0));
  return options;
}

SamplingParams read_sampling(const Napi::Value& value) {
  const Napi::Object object = as_object(value, "sampling");
  SamplingParams params;
  params.temperature = read_number(object, "temperature", "sampling");
  params.top_k = read_integer(object, "topK", "sampling", 0);
  params.top_p = read_number(object, "topP", "sampling");
  params.min_p = read_number(object, "minP", "sampling");
  params.repetition_penalty = read_number(object, "repetitionPenalty", "sampling");
  validate_sampling(params);
  return params;
}

LogitsMode read_logits_mode(const Napi::Value& value) {
  const std::string mode = value.IsString() ? value.As<Napi::String>().Utf8Value() : "";
  if (mode == "all") return LogitsMode::ALL;
  if (mode == "last") return LogitsMode::LAST;
  if (mode == "none") return LogitsMode::NONE;
  throw invalid("logits", "'all', 'last' or 'none'", value);
}

std::vector<int32_t> read_ids(const Napi::Value& value) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    throw invalid("ids", "an Int32Array", value);
  }
  const auto ids = value.As<Napi::Int32Array>();
  return std::vector<int32_t>(ids.Data(), ids.Data() + ids.ElementLength());
}

std::string read_argument_string(const Napi::Value& value, const char* name) {
  if (!value.IsString() || value.As<Napi::String>().Utf8Value().empty()) {
    throw invalid(name, "a non-empty string", value);
  }
  return value.As<Napi::String>().Utf8Value();
}

}  // namespace hipcode::addon
