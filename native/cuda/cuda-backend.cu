// CudaBackend: the Backend interface on one NVIDIA GPU. bf16 activations and weights with an f32 residual
// stream and f32 logits, cuBLASLt GEMMs, a paged KV cache reserved in device memory, one CUDA stream.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "blas/gemm.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/host-memory.h"
#include "core/kv-tiers.h"
#include "cuda/cuda-backend.h"
#include "cuda/device-memory.h"
#include "cuda/kv-host-copy.h"
#include "cuda/op-profiler.h"
#include "cuda/step-graph.h"
#include "cuda/tiered-region.h"
#include "kernels/attention-decode.cuh"
#include "kernels/attention-prefill.cuh"
#include "kernels/convert.cuh"
#include "kernels/embedding.cuh"
#include "kernels/gemv.cuh"
#include "kernels/hip-decode.cuh"
#include "kernels/hip-mask-prefill.cuh"
#include "kernels/hip-mask.cuh"
#include "kernels/hip-prefill.cuh"
#include "kernels/kv-write.cuh"
#include "kernels/random.cuh"
#include "kernels/rms-norm.cuh"
#include "kernels/rope.cuh"
#include "kernels/sampling.cuh"
#include "kernels/swiglu.cuh"

namespace hipcode::cuda {
namespace {

using bf16 = __nv_bfloat16;

// Kept free for activations, GEMM and attention workspaces when the KV budget is derived from free memory.
constexpr uint64_t kActivationReserveBytes = 3ull << 30;
// Prefill chunk: large enough to keep the GEMMs at tensor-core speed, small enough for [chunk, intermediate].
constexpr int64_t kChunkTokens = 4096;
// With a host KV tier every prefill chunk copies each layer's pages to the GPU once (prefill_view), so chunks
// are longer: the copies then cost a fraction of the chunk's compute.
constexpr int64_t kTieredChunkTokens = 32768;
// A prefill chunk of at least this many rows reads a GPU copy of each layer once host pages are in use; a
// shorter one (a question, a chat turn) reads the host pages in place. In place, the HiP prefill at 1M keys
// with 72% of them in host memory took about 70 ms per 64-row query block (H100, 4096-row chunks); a copy of
// each layer's pages in use, about 1 s per chunk: the break-even is near 14 blocks.
constexpr int64_t kLayerCopyMinRows = 1024;
// What the longer chunks' activations take beyond kActivationReserveBytes, kept free when the GPU budget is
// automatic and the cache has a host tier.
constexpr uint64_t kTieredActivationExtraBytes = 5ull << 30;

// Stage-0 bisection steps whose probe keys a KV cache with host pages keeps in GPU memory (HipProbeCache):
// steps 1-4 are 28 of the about 84 rows a 256-key chunk's bisection reads per kv head with 7 heads a group,
// for 30 of its 256 rows held.
constexpr int kProbeCacheLevels = 4;
// The stage-0 chunk the probe cache is sized for when the KV memory is planned (the default HiP config's).
constexpr int64_t kProbeCacheChunkTokens = 256;

// kProbeCacheLevels, or HIPCODE_PROBE_CACHE_LEVELS (0 to 8; 0 turns the cache off).
int probe_cache_levels() {
  const char* value = std::getenv("HIPCODE_PROBE_CACHE_LEVELS");
  if (!value || !*value) return kProbeCacheLevels;
  char* end = nullptr;
  const long levels = std::strtol(value, &end, 10);
  if (*end != '\0' || levels < 0 || levels > 8) {
    throw EngineError(ErrorCode::INVALID_ARGUMENT,
                      "HIPCODE_PROBE_CACHE_LEVELS must be an integer from 0 to 8, got '" +
                          std::string(value) + "'; unset it for the default " +
                          std::to_string(kProbeCacheLevels));
  }
  return int(levels);
}

// Chunks a probe cache holds when it must hold `chunks`: room to grow by an eighth, and at least 16.
int64_t probe_cache_capacity(int64_t chunks) {
  return chunks + chunks / 8 + 16;
}

std::string shape_of(int64_t rows, int64_t cols) {
  return "[" + std::to_string(rows) + ", " + std::to_string(cols) + "]";
}

class CudaActivation : public Activation {
 public:
  CudaActivation(DevicePool& pool, int64_t rows, int64_t cols, Precision precision)
      : Activation(rows, cols),
        f32(precision == Precision::F32),
        buffer(pool, size_t(rows * cols) * (f32 ? sizeof(float) : sizeof(bf16))) {}
  const bool f32;  // f32 storage, else bf16
  PooledBuffer buffer;
};

// A weight converted to bf16 in device memory; vectors (norms, biases) also keep an f32 copy for epilogues
// that add them to f32 outputs.
class CudaWeight : public Weight {
 public:
  explicit CudaWeight(std::vector<int64_t> shape) : Weight(std::move(shape)) {}
  CudaWeight(const CudaWeight&) = delete;
  CudaWeight& operator=(const CudaWeight&) = delete;
  ~CudaWeight() override {
    cudaFree(data);
    cudaFree(data_f32);
  }
  bf16* data = nullptr;       // [shape], row-major
  float* data_f32 = nullptr;  // [shape] for 1-D weights, else null
};

// Bytes of one position's keys (or values) of one layer: [kv_heads, head_dim] bf16, or an fp8 row (PagedKv).
size_t kv_token_bytes(const KvLayout& layout, DType dtype) {
  if (dtype == DType::FP8_E4M3)
    return size_t(kv_fp8_row_bytes(int(layout.num_kv_heads), int(layout.head_dim)));
  return size_t(layout.num_kv_heads * layout.head_dim) * sizeof(bf16);
}

// All pages reserved up front: per layer, keys then values, each [pages, page_tokens] rows of
// kv_token_bytes(); within each, the GPU pages come first (tiers.gpu_key_pages() of keys,
// tiers.gpu_value_pages() of values) and the host pages after them.
class CudaKvStore : public KvPageStore {
 public:
  CudaKvStore(const KvLayout& layout, KvTiers tiers, int device, DType dtype)
      : layout_(layout), tiers_(tiers), max_pages_(tiers.pages()), dtype_(dtype) {
    if (tiers.host_pages == 0) {
      reserve_in_gpu_memory();
      return;
    }
    std::vector<TieredRegion::Piece> pieces;
    for (int64_t half = 0; half < 2 * layout.num_layers; ++half) {
      const int64_t in_gpu = half % 2 == 0 ? tiers.gpu_key_pages() : tiers.gpu_value_pages();
      if (in_gpu > 0) pieces.push_back({pages_bytes(in_gpu), false});
      if (in_gpu < max_pages_) pieces.push_back({pages_bytes(max_pages_ - in_gpu), true});
    }
    region_ = std::make_unique<TieredRegion>(device, pieces, "--gpu-kv-budget or --host-kv-budget");
    pages_ = reinterpret_cast<uint8_t*>(region_->data());
  }
  CudaKvStore(const CudaKvStore&) = delete;
  CudaKvStore& operator=(const CudaKvStore&) = delete;
  ~CudaKvStore() override {
    if (!region_) cudaFree(pages_);
  }

  int32_t add_page() override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (next_page_ >= max_pages_) {
      throw EngineError(ErrorCode::OUT_OF_MEMORY,
                        "the KV cache is full: its " + std::to_string(max_pages_) + " pages (" +
                            std::to_string(tiers_.gpu_pages) + " in GPU memory, " +
                            std::to_string(tiers_.host_pages) + " in host memory) hold " +
                            std::to_string(max_pages_ * layout_.page_tokens) +
                            " tokens; raise --gpu-kv-budget (hipcode.gpuKvBudget) or --host-kv-budget "
                            "(hipcode.hostKvBudget), use a shorter context, or free GPU memory");
    }
    return int32_t(next_page_++);
  }

  KvStoreMemory memory() const override {
    const uint64_t bytes_per_page = 2 * uint64_t(layout_.num_layers) * page_bytes();
    return {uint64_t(tiers_.gpu_pages) * bytes_per_page, uint64_t(tiers_.host_pages) * bytes_per_page};
  }

  // Keys (values = true: values) of one layer: [max_pages, page_tokens] rows of row_bytes().
  uint8_t* layer_pages(int64_t layer, bool values) const {
    return pages_ + size_t(layer) * layer_stride() + (values ? pages_bytes(max_pages_) : 0);
  }
  bool fp8() const { return dtype_ == DType::FP8_E4M3; }
  const KvLayout& layout() const { return layout_; }
  int64_t max_pages() const { return max_pages_; }
  bool has_host_tier() const { return tiers_.host_pages > 0; }
  // Pages whose keys and values are both in GPU memory: ids [0, gpu_pages()).
  int64_t gpu_pages() const { return tiers_.gpu_value_pages(); }
  // Pages whose keys are in GPU memory: ids [0, gpu_key_pages()).
  int64_t gpu_key_pages() const { return tiers_.gpu_key_pages(); }
  // Pages handed out so far: ids [0, used_pages()).
  int64_t used_pages() {
    std::lock_guard<std::mutex> lock(mutex_);
    return next_page_;
  }
  // Bytes of `pages` pages of one layer's keys (or values).
  size_t pages_bytes(int64_t pages) const { return page_bytes() * size_t(pages); }
  // Bytes of one position's keys (or values) in one layer.
  size_t row_bytes() const { return kv_token_bytes(layout_, dtype_); }
  // Bytes of `pages` pages of one layer's keys (or values) in bf16 (a bf16 copy of fp8 pages).
  size_t bf16_pages_bytes(int64_t pages) const {
    return kv_token_bytes(layout_, DType::BF16) * size_t(layout_.page_tokens * pages);
  }

 private:
  void reserve_in_gpu_memory() {
    const size_t bytes = layer_stride() * size_t(layout_.num_layers);
    cudaError_t error = cudaMalloc(&pages_, bytes);
    if (error != cudaSuccess) {
      cudaGetLastError();
      fail(error, "reserving the KV cache (" + std::to_string(max_pages_) + " pages of " +
                      std::to_string(layout_.page_tokens) + " tokens, " + std::to_string(bytes >> 20) +
                      " MiB)");
    }
  }
  // One page of one layer's keys (or values).
  size_t page_bytes() const { return row_bytes() * size_t(layout_.page_tokens); }
  size_t layer_stride() const { return 2 * pages_bytes(max_pages_); }

  KvLayout layout_;
  KvTiers tiers_;
  int64_t max_pages_;
  std::mutex mutex_;
  int64_t next_page_ = 0;
  DType dtype_;                           // BF16 or FP8_E4M3
  std::unique_ptr<TieredRegion> region_;  // set when the cache has host pages
  uint8_t* pages_ = nullptr;
};

// One layer's decode mask in device memory: the selected key-block starts and their count; with a KV cache
// that has host pages, also two hot copies of the attended K/V (HipHotKv): the one decode reads and the one
// the next mask update gathers into (from the first where it can), and the keys stage 0 probes in its first
// steps (HipProbeCache).
class CudaHipMask : public HipMaskState {
 public:
  CudaHipMask(int max_blocks, size_t stage_list_ints) : max_blocks(max_blocks) {
    check(cudaMalloc(&blocks, (size_t(max_blocks) + 1 + stage_list_ints) * sizeof(int32_t)),
          "allocating a HiP mask");
    count = blocks + max_blocks;
    stage_lists = count + 1;
  }
  CudaHipMask(const CudaHipMask&) = delete;
  CudaHipMask& operator=(const CudaHipMask&) = delete;
  ~CudaHipMask() override {
    cudaFree(blocks);
    cudaFree(hot_memory_);
    cudaFree(probe_.rows);
  }

  // The hot copy decode reads, or null before the first gather / without hot copies.
  const HipHotKv* hot_in_use() const { return hot_memory_ ? &hot_[in_use_] : nullptr; }

  // Lays the next hot copy out for this mask (rows of row_elems elements) and makes it the one in use.
  void gather_hot(const PagedKv& cache, int position, const HipMaskConfig& config, int window,
                  cudaStream_t stream) {
    if (!hot_memory_) {
      allocate_hot(
          hip_hot_kv_capacity(config.sink_tokens, config.window_tokens, max_blocks, config.block_k()),
          int64_t(cache.n_kv_heads) * cache.head_dim);
    }
    HipHotKv& next = hot_[1 - in_use_];
    hip_hot_kv_gather(cache, position, config.sink_tokens, window, blocks, count, max_blocks,
                      config.block_k(), hot_[in_use_], next, stream);
    in_use_ = 1 - in_use_;
  }

  // The probe cache of `levels` steps, grown to the full chunks of `position` and filled up to them; when GPU
  // memory cannot hold the growth, the chunks filled before stay cached and the rest are probed in the pages.
  const HipProbeCache* update_probes(const PagedKv& cache, const HipMaskConfig& config, int position,
                                     int levels, cudaStream_t stream) {
    const int needed = hip_probe_cache_full_chunks(config, position);
    const int64_t row_elems = int64_t(cache.n_kv_heads) * cache.head_dim;
    const bool room = needed <= probe_.capacity ||
                      grow_probes(int(probe_cache_capacity(needed)), levels, row_elems, stream);
    if (!probe_.rows) return nullptr;  // no full chunk yet, or no memory for any
    if (room) hip_probe_cache_fill(cache, config, position, probe_, stream);
    return &probe_;
  }

  const int max_blocks;
  HipDecodeLayer decode_layer;     // what a recorded decode step reads: set at each mask update
  int32_t* blocks = nullptr;       // [max_blocks] ascending key-block starts
  int32_t* count = nullptr;        // [1] blocks in use
  int32_t* stage_lists = nullptr;  // [hip_mask_stage_lists_ints] every stage's input, for refreshes

 private:
  void allocate_hot(int rows, int64_t row_elems) {
    const size_t rows_bytes = size_t(rows) * size_t(row_elems) * sizeof(bf16);
    const size_t list_bytes = (size_t(max_blocks + 1) * sizeof(int32_t) + 15) / 16 * 16;
    check(cudaMalloc(&hot_memory_, 2 * (2 * rows_bytes + list_bytes)), "allocating the HiP hot K/V copies");
    unsigned char* at = hot_memory_;
    for (HipHotKv& hot : hot_) {
      hot.k = reinterpret_cast<bf16*>(at);
      hot.v = reinterpret_cast<bf16*>(at + rows_bytes);
      hot.blocks = reinterpret_cast<int32_t*>(at + 2 * rows_bytes);
      hot.capacity = rows;
      at += 2 * rows_bytes + list_bytes;
    }
  }

  // Moves the filled probe rows into a cache of `capacity` chunks; false (the cache unchanged) when GPU
  // memory has no room for it.
  bool grow_probes(int capacity, int levels, int64_t row_elems, cudaStream_t stream) {
    const size_t chunk_bytes = size_t(hip_probe_cache_slots(levels)) * size_t(row_elems) * sizeof(bf16);
    bf16* rows = nullptr;
    const cudaError_t allocated = cudaMalloc(&rows, chunk_bytes * size_t(capacity));
    if (allocated != cudaSuccess) {
      cudaGetLastError();
      if (allocated == cudaErrorMemoryAllocation) return false;
      fail(allocated, "allocating the HiP probe cache");
    }
    if (probe_.chunks > 0) {
      const cudaError_t copied = cudaMemcpyAsync(rows, probe_.rows, chunk_bytes * size_t(probe_.chunks),
                                                 cudaMemcpyDeviceToDevice, stream);
      if (copied != cudaSuccess) {
        cudaFree(rows);
        fail(copied, "growing the HiP probe cache");
      }
    }
    cudaFree(probe_.rows);  // waits for the copy
    probe_.rows = rows;
    probe_.levels = levels;
    probe_.capacity = capacity;
    return true;
  }

  unsigned char* hot_memory_ = nullptr;
  HipHotKv hot_[2];
  int in_use_ = 0;
  HipProbeCache probe_;
};

// The mask kernels' mirror of a HiP config (block_q and query_stride matter only to prefill masks).
HipMaskConfig mask_config_of(const hip::HipConfig& config) {
  if (config.stages.size() > size_t(kHipMaskMaxStages)) {
    throw EngineError(ErrorCode::INVALID_ARGUMENT, "HiP on CUDA: at most " +
                                                       std::to_string(kHipMaskMaxStages) + " stages, got " +
                                                       std::to_string(config.stages.size()));
  }
  HipMaskConfig mirror;
  mirror.sink_tokens = int(config.sink_tokens);
  mirror.window_tokens = int(config.window_tokens);
  mirror.n_stages = int(config.stages.size());
  mirror.block_q = int(config.block_q);
  for (size_t i = 0; i < config.stages.size(); ++i) {
    mirror.stages[i].chunk_size = int(config.stages[i].chunk_size);
    mirror.stages[i].keep_tokens = int(config.stages[i].keep_tokens);
    mirror.stages[i].query_stride = int(config.stages[i].query_stride);
  }
  mirror.bf16_scoring = config.bf16_scoring;
  return mirror;
}

const CudaActivation& cuda_of(const Activation& a) {
  return static_cast<const CudaActivation&>(a);
}
bf16* bf16_of(const Activation& a, const char* op) {
  const CudaActivation& c = cuda_of(a);
  if (c.f32)
    throw EngineError(ErrorCode::INTERNAL, std::string(op) + ": expected a bf16 activation, got f32");
  return static_cast<bf16*>(c.buffer.data());
}
float* f32_of(const Activation& a, const char* op) {
  const CudaActivation& c = cuda_of(a);
  if (!c.f32)
    throw EngineError(ErrorCode::INTERNAL, std::string(op) + ": expected an f32 activation, got bf16");
  return static_cast<float*>(c.buffer.data());
}
const bf16* data_of(const Weight& w) {
  return static_cast<const CudaWeight&>(w).data;
}
const float* f32_data_of(const Weight& w) {
  return static_cast<const CudaWeight&>(w).data_f32;
}

void check_shape(const char* op, const Activation& a, int64_t rows, int64_t cols) {
  if (a.rows() == rows && a.cols() == cols) return;
  throw EngineError(ErrorCode::INTERNAL, std::string(op) + ": expected a " + shape_of(rows, cols) +
                                             " activation, got " + shape_of(a.rows(), a.cols()));
}

class CudaBackend : public Backend {
 public:
  explicit CudaBackend(const CudaBackendOptions& options) : options_(options) {
    check(cudaSetDevice(options.device), "selecting the CUDA device");
    check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "creating a CUDA stream");
    check(cudaStreamCreateWithFlags(&copy_stream_, cudaStreamNonBlocking), "creating a CUDA copy stream");
    check(cudaEventCreateWithFlags(&copy_start_, cudaEventDisableTiming), "creating a CUDA event");
    check(cudaEventCreateWithFlags(&copy_done_, cudaEventDisableTiming), "creating a CUDA event");
    steps_ = std::make_unique<StepGraph>(stream_);
    std::string reason;
    gemm_ = blas::gemm_init(&reason);
    if (!gemm_)
      throw EngineError(ErrorCode::BACKEND_UNAVAILABLE, "the CUDA backend is unavailable: " + reason);
  }
  CudaBackend(const CudaBackend&) = delete;
  CudaBackend& operator=(const CudaBackend&) = delete;
  ~CudaBackend() override {
    cudaSetDevice(options_.device);
    cudaStreamSynchronize(stream_);
    cudaStreamSynchronize(copy_stream_);
    prefetch_.copy.reset();
    prefetch_.staging.reset();
    steps_.reset();
    blas::gemm_free(gemm_);
    cudaEventDestroy(copy_start_);
    cudaEventDestroy(copy_done_);
    cudaStreamDestroy(copy_stream_);
    cudaStreamDestroy(stream_);
  }

  const char* name() const override { return "cuda"; }

  void begin_step(int variant) override {
    auto lock = bind();
    steps_->begin(variant);
    pool_.set_pinning(graphing());
  }

  void end_step(bool ok) override {
    auto lock = bind();
    SampleRequest* request = pending_sample_;
    pending_sample_ = nullptr;
    pool_.set_pinning(false);
    steps_->end(ok);
    if (ok && request) sample_on_device(steps_->device_output(), *request);
  }

  bool replay_step(int variant, const StepInputs& inputs, float* logits, SampleRequest* request) override {
    auto lock = bind();
    std::vector<HipDecodeLayer> hip_layers;
    for (const std::unique_ptr<HipMaskState>& state : *inputs.hip_masks) {
      hip_layers.push_back(state ? static_cast<const CudaHipMask&>(*state).decode_layer : HipDecodeLayer{});
    }
    if (!steps_->replay(variant, inputs, hip_layers, logits)) return false;
    if (request) sample_on_device(steps_->device_output(), *request);
    return true;
  }

  int64_t replayed_steps() const override { return steps_->replays(); }

  void sample(const Activation& logits, SampleRequest& request) override {
    auto lock = bind();
    if (logits.rows() != 1) throw EngineError(ErrorCode::INTERNAL, "sample: expected one row of logits");
    vocab_size_ = logits.cols();
    const float* values = f32_of(logits, "sample");
    if (graphing()) {
      // Sampled once the recorded step has run (end_step).
      steps_->keep(values);
      pending_sample_ = &request;
      return;
    }
    sample_on_device(values, request);
  }

  std::unique_ptr<Activation> allocate(int64_t rows, int64_t cols, Precision precision) override {
    auto lock = bind();
    return std::make_unique<CudaActivation>(pool_, rows, cols, precision);
  }

  int64_t max_chunk_tokens() const override { return tiered_kv_ ? kTieredChunkTokens : kChunkTokens; }

  std::unique_ptr<Weight> upload_weight(const Tensor& host) override {
    auto lock = bind();
    auto weight = std::make_unique<CudaWeight>(host.shape);
    const int64_t count = host.elements();
    check(cudaMalloc(&weight->data, size_t(count) * sizeof(bf16)), "uploading the weights");
    if (host.dtype == DType::BF16) {
      check(cudaMemcpy(weight->data, host.data, size_t(count) * sizeof(bf16), cudaMemcpyHostToDevice),
            "uploading the weights");
    } else {
      convert_upload(host, weight->data);
    }
    widen_vector(*weight, count);
    return weight;
  }

  std::unique_ptr<Weight> random_weight(const std::vector<int64_t>& shape, uint64_t seed, float scale,
                                        float offset) override {
    auto lock = bind();
    auto weight = std::make_unique<CudaWeight>(shape);
    const int64_t count = Tensor{nullptr, DType::BF16, shape}.elements();
    check(cudaMalloc(&weight->data, size_t(count) * sizeof(bf16)), "making random weights");
    guard("random_weight", [&] { random_uniform(weight->data, count, seed, scale, offset, stream_); });
    widen_vector(*weight, count);
    check(cudaStreamSynchronize(stream_), "making random weights");
    return weight;
  }

  std::unique_ptr<KvPageStore> create_kv_store(const KvLayout& layout) override {
    auto lock = bind();
    if (options_.kv_dtype == DType::FP8_E4M3 && layout.head_dim % 8 != 0) {
      throw EngineError(
          ErrorCode::INVALID_ARGUMENT,
          "spec.kvDtype: fp8-e4m3 rows on the CUDA backend need a head_dim that is a multiple of "
          "8, this model's is " +
              std::to_string(layout.head_dim) +
              "; keep the KV cache as 'bf16' (--kv-dtype, "
              "hipcode.kvDtype)");
    }
    auto store = make_kv_store(layout);
    if (store->has_host_tier()) tiered_kv_ = true;
    return store;
  }

  // With an automatic host budget (up to half the available host memory), a host tier this driver or host
  // cannot give (no virtual memory management, no pinned memory left) leaves the cache in GPU memory, as
  // without a host tier; a budget the user set fails.
  std::unique_ptr<CudaKvStore> make_kv_store(const KvLayout& layout) {
    if (options_.host_kv_budget_bytes >= 0) return kv_store_of(layout, options_.host_kv_budget_bytes);
    try {
      return kv_store_of(layout, int64_t(available_host_memory() / 2));
    } catch (const EngineError&) {
      return kv_store_of(layout, 0);
    }
  }

  std::unique_ptr<CudaKvStore> kv_store_of(const KvLayout& layout, int64_t host_budget_bytes) {
    const KvTiers tiers = plan_tiers(layout, host_budget_bytes);
    if (tiers.pages() < 1) {
      throw EngineError(
          ErrorCode::OUT_OF_MEMORY,
          "no GPU memory is left for the KV cache after the weights (--gpu-kv-budget " +
              std::to_string(options_.kv_budget_bytes) +
              " bytes, 0 = automatic); free GPU memory, use a smaller model, or use --backend cpu");
    }
    return std::make_unique<CudaKvStore>(layout, tiers, options_.device, options_.kv_dtype);
  }

  DType kv_dtype() const override { return options_.kv_dtype; }

  void read_kv_block(const KvBlock& block, void* host) override { copy_kv_block(block, host, true); }

  void write_kv_block(const KvBlock& block, const void* host) override {
    copy_kv_block(block, const_cast<void*>(host), false);
  }

  // Pinned, so the block copies go at the bus's speed; plain memory when pinning fails (copies still work).
  HostBuffer host_buffer(size_t bytes) override {
    auto lock = bind();
    void* data = nullptr;
    if (bytes == 0 || cudaHostAlloc(&data, bytes, cudaHostAllocPortable) != cudaSuccess) {
      cudaGetLastError();
      return plain_host_buffer(bytes);
    }
    return HostBuffer(static_cast<uint8_t*>(data), bytes, [](uint8_t* memory) { cudaFreeHost(memory); });
  }

  void embed(const Weight& table, const std::vector<int32_t>& ids, Activation& out) override {
    auto lock = bind();
    const auto count = int64_t(ids.size());
    const int64_t hidden = table.shape()[1];
    check_shape("embed", out, count, hidden);
    const int32_t* device_ids = graphing() ? steps_->ids(ids) : ids_.upload(ids, stream_);
    const int vocab = int(table.shape()[0]);
    if (!cuda_of(out).f32) {
      guard("embed", [&] {
        embedding(data_of(table), device_ids, bf16_of(out, "embed"), int(count), vocab, int(hidden), stream_);
      });
      return;
    }
    PooledBuffer rows(pool_, size_t(count * hidden) * sizeof(bf16));
    guard("embed", [&] {
      embedding(data_of(table), device_ids, static_cast<bf16*>(rows.data()), int(count), vocab, int(hidden),
                stream_);
      convert_bf16_to_f32(static_cast<const bf16*>(rows.data()), f32_of(out, "embed"), count * hidden,
                          stream_);
    });
  }

  void rms_norm(const Activation& x, const Weight& gamma, float eps, Activation& out) override {
    auto lock = bind();
    check_shape("rms_norm", out, x.rows(), x.cols());
    bf16* result = bf16_of(out, "rms_norm output");
    guard("rms_norm", [&] {
      if (cuda_of(x).f32) {
        // Normalise the residual stream without adding anything to it.
        add_rms_norm(f32_of(x, "rms_norm"), nullptr, data_of(gamma), result, int(x.rows()), int(x.cols()),
                     eps, stream_);
      } else {
        cuda::rms_norm(bf16_of(x, "rms_norm"), data_of(gamma), result, int(x.rows()), int(x.cols()), eps,
                       stream_);
      }
    });
  }

  void rms_norm_heads(Activation& x, int64_t head_dim, const Weight& gamma, float eps) override {
    auto lock = bind();
    guard("rms_norm_heads", [&] {
      cuda::rms_norm_heads(bf16_of(x, "rms_norm_heads"), data_of(gamma), int(x.rows()),
                           int(x.cols() / head_dim), int(head_dim), eps, stream_);
    });
  }

  void linear(const Activation& x, const Weight& weight, const Weight* bias, Activation& y) override {
    auto lock = bind();
    const int64_t out = weight.shape()[0];
    const int64_t in = weight.shape()[1];
    check_shape("linear input", x, x.rows(), in);
    check_shape("linear output", y, x.rows(), out);
    const bf16* input = bf16_of(x, "linear input");
    if (x.rows() == 1 && gemv_supported(input, data_of(weight), int(in))) {
      const GemvOutput output = cuda_of(y).f32 ? GemvOutput::F32 : GemvOutput::BF16;
      guard("linear gemv", [&] {
        gemv(input, data_of(weight), bias ? f32_data_of(*bias) : nullptr, cuda_of(y).buffer.data(), int(out),
             int(in), output, stream_);
      });
      return;
    }
    guard("linear", [&] {
      if (!cuda_of(y).f32) {
        blas::gemm_bf16(gemm_, input, data_of(weight), bias ? data_of(*bias) : nullptr, bf16_of(y, "linear"),
                        int(x.rows()), int(in), int(out), stream_);
        return;
      }
      if (bias) throw EngineError(ErrorCode::INTERNAL, "linear: a bias with f32 output is not supported");
      blas::gemm_bf16_f32out(gemm_, input, data_of(weight), nullptr, f32_of(y, "linear"), int(x.rows()),
                             int(in), int(out), stream_);
    });
  }

  void linear_group(const Activation& x, const std::vector<LinearTarget>& targets) override {
    if (!one_gemv(x, targets)) {
      for (const LinearTarget& target : targets) linear(x, *target.weight, target.bias, *target.y);
    }
  }

  void linear_add(const Activation& x, const Weight& weight, const Weight* bias, Activation& y) override {
    auto lock = bind();
    const int64_t out = weight.shape()[0];
    const int64_t in = weight.shape()[1];
    check_shape("linear_add input", x, x.rows(), in);
    check_shape("linear_add output", y, x.rows(), out);
    const bf16* input = bf16_of(x, "linear_add input");
    const float* bias_f32 = bias ? f32_data_of(*bias) : nullptr;
    if (x.rows() == 1 && gemv_supported(input, data_of(weight), int(in))) {
      guard("linear_add gemv", [&] {
        gemv(input, data_of(weight), bias_f32, f32_of(y, "linear_add output"), int(out), int(in),
             GemvOutput::F32_ADD, stream_);
      });
      return;
    }
    guard("linear_add", [&] {
      blas::gemm_bf16_f32acc(gemm_, input, data_of(weight), bias_f32, f32_of(y, "linear_add output"),
                             int(x.rows()), int(in), int(out), stream_);
    });
  }

  void rope(Activation& q, Activation& k, int64_t head_dim, const RopeFrequencies& freqs,
            int64_t first_position) override {
    auto lock = bind();
    check_shape("rope keys", k, q.rows(), k.cols());
    const int32_t* positions = positions_for(first_position, q.rows());
    const float* inv_freq =
        graphing() ? steps_->inv_freq(freqs.inv_freq) : inv_freq_.upload(freqs.inv_freq, stream_);
    guard("rope", [&] {
      cuda::rope(bf16_of(q, "rope"), bf16_of(k, "rope"), positions, inv_freq, freqs.attention_factor,
                 int(q.rows()), int(q.cols() / head_dim), int(k.cols() / head_dim), int(head_dim), stream_);
    });
  }

  void write_kv(const KvPages& pages, int64_t first_position, const Activation& k,
                const Activation& v) override {
    auto lock = bind();
    if (k.rows() == 0) return;
    if (!prefetch_.covers(pages, first_position)) drop_prefetch();
    const PagedKv cache = paged(pages);
    check_shape("write_kv keys", k, k.rows(), cache.n_kv_heads * cache.head_dim);
    check_shape("write_kv values", v, k.rows(), cache.n_kv_heads * cache.head_dim);
    if (k.rows() >= kLayerCopyMinRows && static_cast<CudaKvStore&>(*pages.store).has_host_tier() &&
        pages_hold(pages, first_position, k.rows())) {
      copy_rows_to_pages(pages, first_position, k, v);
      return;
    }
    const int32_t* positions = positions_for(first_position, k.rows());
    guard("write_kv", [&] {
      kv_write(cache, bf16_of(k, "write_kv"), bf16_of(v, "write_kv"), positions, int(k.rows()), stream_);
    });
  }

  void attention(const KvPages& pages, const AttentionShape& shape, int64_t first_position,
                 const Activation& q, Activation& out) override {
    auto lock = bind();
    const LayerView view = prefill_view(pages, first_position, q.rows());
    const PagedKv& cache = view.cache;
    check_shape("attention query", q, q.rows(), shape.num_heads * shape.head_dim);
    check_shape("attention output", out, q.rows(), shape.num_heads * shape.head_dim);
    const float scale = 1.0f / std::sqrt(float(shape.head_dim));
    const int window = int(shape.sliding_window);
    const bf16* query = bf16_of(q, "attention");
    bf16* result = bf16_of(out, "attention");
    if (q.rows() > 1) {
      dense_prefill(query, cache, result, int(q.rows()), int(shape.num_heads), int(first_position), window,
                    scale);
      return;
    }
    const int keys = int(first_position + 1);
    // A recorded step reads the key count on the device and keeps its split count for any length a sequence
    // reaches: what the pages hold, at most the tokens the cache was laid out for (which the tiers' granules
    // may round up, so that the same model splits alike with and without a host tier).
    const int32_t* device_keys = graphing() ? steps_->key_count(keys) : nullptr;
    const int64_t longest = std::min<int64_t>(int64_t(cache.max_pages_per_seq) * cache.page_size,
                                              std::max<int64_t>(pages.layout->expected_tokens, keys));
    const int max_keys = graphing() ? int(longest) : keys;
    const int splits = attention_decode_splits(int(shape.num_heads), int(shape.num_kv_heads), max_keys);
    const size_t workspace_bytes =
        attention_decode_workspace_bytes(int(shape.num_heads), int(shape.head_dim), splits);
    PooledBuffer workspace(pool_, workspace_bytes);
    guard("attention decode", [&] {
      attention_decode(query, cache, result, int(shape.num_heads), keys, device_keys, window, scale, splits,
                       static_cast<float*>(workspace.data()), workspace.bytes(), stream_);
    });
  }

  std::string hip_unsupported(const AttentionShape& shape) const override {
    if (shape.head_dim == 64 || shape.head_dim == 128) return "";
    return "its HiP kernels need head_dim 64 or 128, got " + std::to_string(shape.head_dim);
  }

  // Throws E_INVALID_ARGUMENT "<op>: <why>" when the HiP kernels cannot run layers of `shape`.
  void require_hip(const AttentionShape& shape, const char* op) const {
    const std::string unsupported = hip_unsupported(shape);
    if (!unsupported.empty())
      throw EngineError(ErrorCode::INVALID_ARGUMENT, std::string(op) + ": " + unsupported);
  }

  std::string hip_config_unsupported(const hip::HipConfig& config) const override {
    try {
      hip_mask_prefill_validate_config(mask_config_of(config));
    } catch (const std::exception& error) {
      return error.what();
    }
    return "";
  }

  std::unique_ptr<HipMaskState> create_hip_mask_state(const hip::HipConfig& config) override {
    auto lock = bind();
    const HipMaskConfig mirror = mask_config_of(config);
    return std::make_unique<CudaHipMask>(mirror.max_blocks(), hip_mask_stage_lists_ints(mirror));
  }

  void hip_attention(const KvPages& pages, const AttentionShape& shape, int64_t position,
                     const HipDecodeCall& call, HipMaskState& state, const Activation& q,
                     Activation& out) override {
    auto lock = bind();
    const PagedKv cache = paged(pages);
    check_shape("hip_attention query", q, 1, shape.num_heads * shape.head_dim);
    check_shape("hip_attention output", out, 1, shape.num_heads * shape.head_dim);
    require_hip(shape, "hip_attention");
    auto& mask = static_cast<CudaHipMask&>(state);
    const HipMaskConfig config = mask_config_of(*call.config);
    const bf16* query = bf16_of(q, "hip_attention");
    const int window = int(call.window_tokens);
    if (call.first_stage >= 0) {
      if (graphing()) {
        throw EngineError(ErrorCode::INTERNAL,
                          "hip_attention: a mask update cannot be recorded in a step graph");
      }
      PooledBuffer workspace(pool_, hip_mask_decode_workspace_bytes(config, int(position)));
      guard("hip mask", [&] {
        // Stage 0 reads its first probes of keys in host pages from GPU memory.
        const HipProbeCache* probe =
            probe_levels_ > 0 && call.first_stage == 0 && hip_probe_cache_supports(config) &&
                    keys_in_host(pages)
                ? mask.update_probes(cache, config, int(position), probe_levels_, stream_)
                : nullptr;
        hip_mask_decode_staged(query, cache, int(shape.num_heads), int(position), config,
                               int(call.first_stage), mask.stage_lists, mask.blocks, mask.count,
                               workspace.data(), workspace.bytes(), stream_, probe);
      });
      // Host pages are read over the bus: decode reads the attended rows from a GPU copy made here instead.
      if (tiered_kv_) {
        guard("hip hot kv", [&] { mask.gather_hot(cache, int(position), config, window, stream_); });
      }
      mask.decode_layer = hip_decode_layer(int(position), config.sink_tokens, window, mask.blocks, mask.count,
                                           mask.hot_in_use());
    }
    // Split for the whole budget, so that recorded steps and eager ones (at any position) split alike.
    const int budget = config.sink_tokens + mask.max_blocks * config.block_k() + config.window_tokens;
    const int splits = hip_decode_splits(int(shape.num_heads), int(shape.num_kv_heads), budget);
    PooledBuffer workspace(pool_,
                           hip_decode_workspace_bytes(int(shape.num_heads), int(shape.head_dim), splits));
    HipDecodeReplay replay;
    if (graphing()) {
      replay.key_count = steps_->key_count(int32_t(position + 1));
      replay.layer = steps_->hip_layer(pages.layer, mask.decode_layer, size_t(pages.layout->num_layers));
    }
    guard("hip decode", [&] {
      hip_decode(query, cache, bf16_of(out, "hip_attention"), int(shape.num_heads), int(position),
                 config.sink_tokens, window, mask.blocks, mask.count, mask.max_blocks, config.block_k(),
                 1.0f / std::sqrt(float(shape.head_dim)), splits, static_cast<float*>(workspace.data()),
                 workspace.bytes(), stream_, mask.hot_in_use(), graphing() ? &replay : nullptr);
    });
  }

  void hip_prefill_attention(const KvPages& pages, const AttentionShape& shape, int64_t first_position,
                             const hip::HipConfig& config, bool seeds_generation, const Activation& q,
                             Activation& out) override {
    auto lock = bind();
    const LayerView view = prefill_view(pages, first_position, q.rows());
    const PagedKv& cache = view.cache;
    const int64_t n = q.rows();
    const int64_t width = shape.num_heads * shape.head_dim;
    check_shape("hip_prefill_attention query", q, n, width);
    check_shape("hip_prefill_attention output", out, n, width);
    require_hip(shape, "hip_prefill_attention");
    const HipMaskConfig mirror = mask_config_of(config);
    const bf16* query = bf16_of(q, "hip_prefill_attention");
    bf16* result = bf16_of(out, "hip_prefill_attention");
    for (const hip::HipPrefillSegment& segment :
         config.prefill_segments(first_position, n, seeds_generation)) {
      hip_prefill_segment(cache, mirror, int(shape.num_heads), int(shape.head_dim),
                          int(first_position + segment.first_row), segment, query + segment.first_row * width,
                          result + segment.first_row * width);
    }
  }

  // One segment of a HiP prefill (rows of query, result): mask and block-sparse attention for its sparse
  // rows, dense attention for the rest.
  void hip_prefill_segment(const PagedKv& cache, const HipMaskConfig& mirror, int heads, int head_dim,
                           int first_position, const hip::HipPrefillSegment& segment, const bf16* query,
                           bf16* result) {
    const float scale = 1.0f / std::sqrt(float(head_dim));
    const int64_t width = int64_t(heads) * head_dim;
    const int64_t sparse_rows = segment.sparse_rows;
    if (sparse_rows > 0) {
      const int64_t query_blocks =
          (sparse_rows + mirror.block_q - 1) / mirror.block_q;  // the last may be partial
      PooledBuffer blocks(pool_, size_t(query_blocks * mirror.max_blocks()) * sizeof(int32_t));
      PooledBuffer counts(pool_, size_t(query_blocks) * sizeof(int32_t));
      PooledBuffer workspace(pool_, hip_mask_prefill_workspace_bytes(mirror, int(sparse_rows), heads,
                                                                     int(first_position + sparse_rows - 1)));
      auto* block_starts = static_cast<int32_t*>(blocks.data());
      auto* block_counts = static_cast<int32_t*>(counts.data());
      guard("hip prefill mask", [&] {
        hip_mask_prefill(query, cache, int(sparse_rows), heads, first_position, mirror, block_starts,
                         block_counts, workspace.data(), workspace.bytes(), stream_);
      });
      guard("hip prefill attention", [&] {
        cuda::hip_prefill_attention(query, cache, result, int(sparse_rows), heads, first_position,
                                    mirror.sink_tokens, mirror.window_tokens, block_starts, block_counts,
                                    mirror.max_blocks(), mirror.block_q, mirror.block_k(), scale, stream_);
      });
    }
    if (sparse_rows == segment.rows) return;
    dense_prefill(query + sparse_rows * width, cache, result + sparse_rows * width,
                  int(segment.rows - sparse_rows), heads, int(first_position + sparse_rows), 0, scale);
  }

  // Causal attention of n_q query rows at positions pos0.. with a workspace for splitting long key ranges.
  void dense_prefill(const bf16* query, const PagedKv& cache, bf16* result, int n_q, int heads, int pos0,
                     int window, float scale) {
    PooledBuffer workspace(
        pool_, attention_prefill_workspace_bytes(n_q, heads, cache.n_kv_heads, cache.head_dim, pos0, window));
    guard("attention", [&] {
      attention_prefill(query, cache, result, n_q, heads, pos0, window, scale, stream_, workspace.data(),
                        workspace.bytes());
    });
  }

  void swiglu(const Activation& gate, const Activation& up, Activation& out) override {
    auto lock = bind();
    check_shape("swiglu up", up, gate.rows(), gate.cols());
    check_shape("swiglu output", out, gate.rows(), gate.cols());
    guard("swiglu", [&] {
      cuda::swiglu(bf16_of(gate, "swiglu"), bf16_of(up, "swiglu"), gate.cols(), bf16_of(out, "swiglu"),
                   int(gate.rows()), int(gate.cols()), stream_);
    });
  }

  void copy_rows(const Activation& src, int64_t first_row, Activation& dst) override {
    auto lock = bind();
    if (first_row < 0 || first_row + dst.rows() > src.rows() || dst.cols() != src.cols() ||
        cuda_of(src).f32 != cuda_of(dst).f32) {
      throw EngineError(ErrorCode::INTERNAL, "copy_rows: rows out of range or precisions differ");
    }
    const size_t element = cuda_of(src).f32 ? sizeof(float) : sizeof(bf16);
    const auto* from =
        static_cast<const char*>(cuda_of(src).buffer.data()) + size_t(first_row * src.cols()) * element;
    check(cudaMemcpyAsync(cuda_of(dst).buffer.data(), from, size_t(dst.rows() * dst.cols()) * element,
                          cudaMemcpyDeviceToDevice, stream_),
          "copying rows");
  }

  void write(Activation& x, const float* host) override {
    auto lock = bind();
    const size_t count = size_t(x.rows() * x.cols());
    if (cuda_of(x).f32) {
      check(cudaMemcpyAsync(f32_of(x, "write"), host, count * sizeof(float), cudaMemcpyHostToDevice, stream_),
            "writing an activation");
      check(cudaStreamSynchronize(stream_), "writing an activation");
      return;
    }
    PooledBuffer staging(pool_, count * sizeof(float));
    check(cudaMemcpyAsync(staging.data(), host, count * sizeof(float), cudaMemcpyHostToDevice, stream_),
          "writing an activation");
    guard("write", [&] {
      convert_f32_to_bf16(static_cast<const float*>(staging.data()), bf16_of(x, "write"), int64_t(count),
                          stream_);
    });
    check(cudaStreamSynchronize(stream_), "writing an activation");
  }

  void read(const Activation& x, float* host) override {
    auto lock = bind();
    const size_t count = size_t(x.rows() * x.cols());
    if (graphing()) {
      steps_->read(f32_of(x, "read (recorded step)"), count, host);
      return;
    }
    if (cuda_of(x).f32) {
      check(cudaMemcpyAsync(host, f32_of(x, "read"), count * sizeof(float), cudaMemcpyDeviceToHost, stream_),
            "reading an activation");
      check(cudaStreamSynchronize(stream_), "reading an activation");
      return;
    }
    PooledBuffer staging(pool_, count * sizeof(float));
    guard("read", [&] {
      convert_bf16_to_f32(bf16_of(x, "read"), static_cast<float*>(staging.data()), int64_t(count), stream_);
    });
    check(cudaMemcpyAsync(host, staging.data(), count * sizeof(float), cudaMemcpyDeviceToHost, stream_),
          "reading an activation");
    check(cudaStreamSynchronize(stream_), "reading an activation");
  }

 private:
  // Gives a 1-D weight its f32 copy (for epilogues adding it to f32 outputs) once its bf16 data is written.
  void widen_vector(CudaWeight& weight, int64_t count) {
    if (weight.shape().size() != 1) return;
    check(cudaMalloc(&weight.data_f32, size_t(count) * sizeof(float)), "widening a vector weight");
    guard("widening a vector weight",
          [&] { convert_bf16_to_f32(weight.data, weight.data_f32, count, stream_); });
    check(cudaStreamSynchronize(stream_), "widening a vector weight");
  }

  // Copies an f16 or f32 host tensor to the device and converts it to bf16 into `out`.
  void convert_upload(const Tensor& host, bf16* out) {
    const int64_t count = host.elements();
    const size_t bytes = size_t(count) * dtype_size(host.dtype);
    PooledBuffer staging(pool_, bytes);
    check(cudaMemcpy(staging.data(), host.data, bytes, cudaMemcpyHostToDevice), "uploading the weights");
    guard("converting weights to bf16", [&] {
      if (host.dtype == DType::F16) {
        convert_f16_to_bf16(static_cast<const __half*>(staging.data()), out, count, stream_);
      } else {
        convert_f32_to_bf16(static_cast<const float*>(staging.data()), out, count, stream_);
      }
    });
    check(cudaStreamSynchronize(stream_), "converting weights to bf16");
  }

  // Serialises ops of concurrent sessions (they share the stream, the pool and the mirrors) and makes the
  // backend's device current on the calling worker thread.
  std::unique_lock<std::mutex> bind() {
    std::unique_lock<std::mutex> lock(mutex_);
    check(cudaSetDevice(options_.device), "selecting the CUDA device");
    return lock;
  }

  // Runs kernel launches, turning the launchers' std::runtime_error into an engine error.
  template <typename Launch>
  void guard(const char* op, Launch&& launch) {
    try {
      if (!profiler_.enabled() || graphing()) return launch();
      profiler_.begin(op, stream_);
      launch();
      profiler_.end(stream_);
    } catch (const EngineError&) {
      throw;
    } catch (const std::exception& error) {
      throw EngineError(ErrorCode::INTERNAL, std::string(op) + ": " + error.what());
    }
  }

  KvTiers plan_tiers(const KvLayout& layout, int64_t host_budget_bytes) const {
    KvTierRequest request;
    request.plane_bytes = layout.page_tokens * int64_t(kv_token_bytes(layout, options_.kv_dtype));
    request.copy_plane_bytes = layout.page_tokens * int64_t(kv_token_bytes(layout, DType::BF16));
    request.copies_without_tier = options_.kv_dtype == DType::FP8_E4M3;
    request.page_bytes = 2 * layout.num_layers * request.plane_bytes;
    request.wanted_pages =
        (std::max<int64_t>(layout.expected_tokens, 1) + layout.page_tokens - 1) / layout.page_tokens;
    request.gpu_budget_bytes = kv_budget_bytes();
    request.gpu_budget_automatic = options_.kv_budget_bytes == 0;
    request.tier_reserve_bytes = kTieredActivationExtraBytes + probe_cache_bytes(layout);
    request.host_budget_bytes = host_budget_bytes;
    request.granule = [this](bool host) { return TieredRegion::granularity(options_.device, host); };
    return plan_kv_tiers(request);
  }

  // GPU memory the probe caches of decoding sessions take over the expected tokens, with their growth room.
  uint64_t probe_cache_bytes(const KvLayout& layout) const {
    if (probe_levels_ == 0) return 0;
    const uint64_t chunks = uint64_t(std::max<int64_t>(layout.expected_tokens, 0) / kProbeCacheChunkTokens);
    return uint64_t(layout.num_layers) * uint64_t(probe_cache_capacity(int64_t(chunks))) *
           uint64_t(hip_probe_cache_slots(probe_levels_)) * kv_token_bytes(layout, DType::BF16);
  }

  uint64_t kv_budget_bytes() const {
    if (options_.kv_budget_bytes > 0) return options_.kv_budget_bytes;
    size_t free_bytes = 0;
    size_t total_bytes = 0;
    check(cudaMemGetInfo(&free_bytes, &total_bytes), "reading free GPU memory");
    return free_bytes > kActivationReserveBytes ? free_bytes - kActivationReserveBytes : 0;
  }

  // A one-token linear_group as a single GEMV launch over its bf16 outputs; false when the shapes don't allow
  // it.
  bool one_gemv(const Activation& x, const std::vector<LinearTarget>& targets) {
    if (x.rows() != 1 || targets.size() > size_t(kGemvMaxSegments) || cuda_of(x).f32) return false;
    auto lock = bind();
    const bf16* input = bf16_of(x, "linear_group input");
    std::vector<GemvSegment> segments;
    for (const LinearTarget& target : targets) {
      const Weight& weight = *target.weight;
      if (weight.shape()[1] != x.cols() || cuda_of(*target.y).f32 ||
          !gemv_supported(input, data_of(weight), int(x.cols()))) {
        return false;
      }
      check_shape("linear_group output", *target.y, 1, weight.shape()[0]);
      segments.push_back({data_of(weight), target.bias ? f32_data_of(*target.bias) : nullptr,
                          cuda_of(*target.y).buffer.data(), int(weight.shape()[0])});
    }
    guard("linear_group gemv", [&] {
      gemv(input, segments.data(), int(segments.size()), int(x.cols()), GemvOutput::BF16, stream_);
    });
    return true;
  }

  // Picks the token on the GPU: argmax, or the full HF filter chain with the request's draw; only the token
  // comes back to the host. Modifies the logits in place (the repetition penalty).
  void sample_on_device(const float* logits, SampleRequest& request) {
    const int vocab = int(vocab_size_);
    const hipcode::SamplingParams& p = request.params;
    const bool penalty = p.repetition_penalty != 1.0;
    const int32_t* history = penalty ? history_.upload(*request.history, stream_) : nullptr;
    guard("sample", [&] {
      if (p.temperature == 0.0 && !penalty) {
        argmax(logits, vocab, token_.device(), stream_);
        return;
      }
      cuda::SamplingParams params;
      params.temperature = float(p.temperature);
      params.top_k = int(p.top_k);
      params.top_p = float(p.top_p);
      params.min_p = float(p.min_p);
      params.repetition_penalty = float(p.repetition_penalty);
      PooledBuffer workspace(pool_, sampling_workspace_bytes(vocab));
      cuda::sample(const_cast<float*>(logits), vocab, history, penalty ? int(request.history->size()) : 0,
                   params, float(request.uniform), nullptr, token_.device(), workspace.data(),
                   workspace.bytes(), stream_);
    });
    request.token = token_.fetch(stream_);
  }

  // Capturing a decode step: inputs come from staging buffers, nothing may synchronise.
  bool graphing() const { return steps_->mode() == StepMode::CAPTURING; }

  const int32_t* positions_for(int64_t first_position, int64_t count) {
    std::vector<int32_t> positions(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) positions[size_t(i)] = int32_t(first_position + i);
    return graphing() ? steps_->positions(positions) : positions_.upload(positions, stream_);
  }

  // The block's K and V <-> host [layers, 2, count, kv_heads, kv_row_bytes(kv_dtype(), head_dim)] (to_host
  // gives the direction; the host side is only read when it is false). fp8 rows pass through GPU memory,
  // where kv_fp8_rows_between_forms turns the host form into the pages' and back.
  void copy_kv_block(const KvBlock& block, void* host, bool to_host) {
    auto lock = bind();
    drop_prefetch();
    const auto& store = static_cast<const CudaKvStore&>(*block.store);
    const KvLayout& layout = *block.layout;
    const std::vector<KvRun> runs = kv_runs(*block.page_table, layout.page_tokens, block.first, block.count);
    const size_t row_bytes = store.row_bytes();
    const size_t host_row_bytes =
        size_t(layout.num_kv_heads) * kv_row_bytes(options_.kv_dtype, layout.head_dim);
    const size_t plane_bytes = size_t(block.count) * host_row_bytes;
    // fp8: [count rows in the host form, count rows in the pages' form]
    std::unique_ptr<PooledBuffer> staging =
        store.fp8() ? std::make_unique<PooledBuffer>(pool_, plane_bytes + size_t(block.count) * row_bytes)
                    : nullptr;
    for (int64_t layer = 0; layer < layout.num_layers; ++layer) {
      for (int kind_index = 0; kind_index < 2; ++kind_index) {
        auto* plane = static_cast<uint8_t*>(host) + size_t(2 * layer + kind_index) * plane_bytes;
        uint8_t* pages = store.layer_pages(layer, kind_index == 1);
        if (!staging) {
          kv_copy_runs(pages, runs, block.first, row_bytes, plane, to_host, stream_);
          continue;
        }
        auto* host_form = static_cast<uint8_t*>(staging->data());
        uint8_t* page_form = host_form + plane_bytes;
        guard("kv fp8 block", [&] {
          if (to_host) {
            kv_copy_runs(pages, runs, block.first, row_bytes, page_form, true, stream_);
            kv_fp8_rows_between_forms(page_form, host_form, block.count, int(layout.num_kv_heads),
                                      int(layout.head_dim), false, stream_);
            check(cudaMemcpyAsync(plane, host_form, plane_bytes, cudaMemcpyDefault, stream_),
                  "saving KV rows");
            return;
          }
          check(cudaMemcpyAsync(host_form, plane, plane_bytes, cudaMemcpyDefault, stream_),
                "loading KV rows");
          kv_fp8_rows_between_forms(host_form, page_form, block.count, int(layout.num_kv_heads),
                                    int(layout.head_dim), true, stream_);
          kv_copy_runs(pages, runs, block.first, row_bytes, page_form, false, stream_);
        });
      }
    }
    check(cudaStreamSynchronize(stream_), "copying KV pages between the GPU and the host");
  }

  // A long prefill's K and V rows into a cache with a host tier: copied run by run (consecutive pages) by the
  // copy engine, which writes host pages at the bus's speed, where kv_write's stores reached about 2.8 GB/s
  // (H100, 32K rows of the 7B geometry: 23 ms a layer against 3.3 ms for the same rows in GPU memory).
  void copy_rows_to_pages(const KvPages& pages, int64_t first_position, const Activation& k,
                          const Activation& v) {
    const auto& store = static_cast<const CudaKvStore&>(*pages.store);
    const KvLayout& layout = *pages.layout;
    const size_t row_bytes = store.row_bytes();
    const std::vector<KvRun> runs = kv_runs(*pages.page_table, layout.page_tokens, first_position, k.rows());
    void* k_rows = bf16_of(k, "write_kv");
    void* v_rows = bf16_of(v, "write_kv");
    std::unique_ptr<PooledBuffer> encoded;  // fp8: the rows encoded in GPU memory first, [2, rows, row_bytes]
    if (store.fp8()) {
      const size_t plane = size_t(k.rows()) * row_bytes;
      encoded = std::make_unique<PooledBuffer>(pool_, 2 * plane);
      k_rows = encoded->data();
      v_rows = static_cast<uint8_t*>(encoded->data()) + plane;
      guard("write_kv", [&] {
        kv_write_fp8_rows(bf16_of(k, "write_kv"), bf16_of(v, "write_kv"), int(k.rows()),
                          int(layout.num_kv_heads), int(layout.head_dim), static_cast<uint8_t*>(k_rows),
                          static_cast<uint8_t*>(v_rows), stream_);
      });
    }
    kv_copy_runs(store.layer_pages(pages.layer, false), runs, first_position, row_bytes, k_rows, false,
                 stream_);
    kv_copy_runs(store.layer_pages(pages.layer, true), runs, first_position, row_bytes, v_rows, false,
                 stream_);
  }

  // Whether some of the keys of `pages` lie in host memory.
  static bool keys_in_host(const KvPages& pages) {
    const int64_t in_gpu = static_cast<const CudaKvStore&>(*pages.store).gpu_key_pages();
    return std::any_of(pages.page_table->begin(), pages.page_table->end(),
                       [&](int32_t page) { return page >= in_gpu; });
  }

  // Whether every position of [first_position, first_position + rows) has a page (kv_write skips those that
  // do not; copies by runs need them all).
  static bool pages_hold(const KvPages& pages, int64_t first_position, int64_t rows) {
    const std::vector<int32_t>& table = *pages.page_table;
    const int64_t first_page = first_position / pages.layout->page_tokens;
    const int64_t end_page = (first_position + rows - 1) / pages.layout->page_tokens + 1;
    if (first_position < 0 || end_page > int64_t(table.size())) return false;
    const int64_t max_pages = static_cast<const CudaKvStore&>(*pages.store).max_pages();
    return std::all_of(table.begin() + first_page, table.begin() + end_page,
                       [&](int32_t page) { return page >= 0 && page < max_pages; });
  }

  // One layer's cache as `rows` query rows from `first_position` on read it. Once host-tier pages are in use,
  // a prefill of at least kLayerCopyMinRows reads a GPU copy of the layer's pages in use (keys and values,
  // both tiers), so the kernels' many reads of each key (mask estimation, then attention, per query block)
  // stay on the GPU. The copy of layer l + 1 is made on copy_stream_ while layer l computes (all its pages
  // but those of these rows, which write_kv has not written yet when the copy starts: those are copied again
  // once written); layer 0 (and any layer without such a copy) copies its pages in two bulk copies. The copy
  // lives until the view is dropped. A cache of fp8 rows gives every prefill (more than one row) a bf16 copy
  // (exact: the prefill kernels read bf16 only): the copy engine brings the fp8 rows into a staging buffer,
  // a kernel converts them there.
  struct LayerView {
    PagedKv cache;
    std::unique_ptr<PooledBuffer> copy;
  };

  LayerView prefill_view(const KvPages& pages, int64_t first_position, int64_t rows) {
    LayerView view{paged(pages), nullptr};
    auto& store = static_cast<CudaKvStore&>(*pages.store);
    const int64_t used_pages = store.used_pages();
    const bool copied = store.fp8() ? rows > 1 : rows >= kLayerCopyMinRows && used_pages > store.gpu_pages();
    if (!copied) {
      drop_prefetch();
      return view;
    }
    const size_t plane_bytes = store.bf16_pages_bytes(store.max_pages());
    if (prefetch_.matches(pages, first_position, rows, used_pages)) {
      view.copy = std::move(prefetch_.copy);
      check(cudaStreamWaitEvent(stream_, copy_done_), "waiting for a layer's KV copy");
      prefetch_.staging.reset();
      copy_written_rows(pages, first_position, rows, *view.copy, plane_bytes);
    } else {
      drop_prefetch();
      view.copy = std::make_unique<PooledBuffer>(pool_, 2 * plane_bytes);
      // The staging goes back to the pool at once: its next user is ordered after this copy on stream_ (or,
      // on copy_stream_, after copy_start_, recorded later).
      copy_layer(store, pages.layer, used_pages, *view.copy, plane_bytes, stream_);
    }
    if (pages.layer + 1 < pages.layout->num_layers && rows >= kLayerCopyMinRows) {
      prefetch_layer(pages, first_position, rows, used_pages, plane_bytes);
    }
    view.cache.k_pages = static_cast<bf16*>(view.copy->data());
    view.cache.v_pages = reinterpret_cast<bf16*>(static_cast<char*>(view.copy->data()) + plane_bytes);
    view.cache.k_fp8 = view.cache.v_fp8 = nullptr;
    view.cache.fp8_row_bytes = 0;
    return view;
  }

  // Rows [row_begin, row_end) of layer `layer`'s keys and values into `copy` ([keys plane, values plane] of
  // bf16 rows). fp8 rows come over by the copy engine into `staging` (the pages may lie in host memory, which
  // the copy engine reads at the bus's speed) and are converted there, keys then values in turn.
  void copy_kv_rows(const CudaKvStore& store, int64_t layer, int64_t row_begin, int64_t row_end,
                    PooledBuffer& copy, size_t plane_bytes, cudaStream_t stream, PooledBuffer* staging) {
    const KvLayout& layout = store.layout();
    const size_t row_bytes = store.row_bytes();
    const size_t bytes = size_t(row_end - row_begin) * row_bytes;
    for (int values = 0; values < 2; ++values) {
      auto* to = static_cast<uint8_t*>(copy.data()) + values * plane_bytes;
      const uint8_t* from = store.layer_pages(layer, values == 1) + size_t(row_begin) * row_bytes;
      if (!store.fp8()) {
        check(cudaMemcpyAsync(to + size_t(row_begin) * row_bytes, from, bytes, cudaMemcpyDeviceToDevice,
                              stream),
              "copying a layer's KV rows");
        continue;
      }
      check(cudaMemcpyAsync(staging->data(), from, bytes, cudaMemcpyDeviceToDevice, stream),
            "copying a layer's fp8 KV rows");
      bf16* first = reinterpret_cast<bf16*>(to) + row_begin * layout.num_kv_heads * layout.head_dim;
      guard("kv fp8 to bf16", [&] {
        kv_fp8_to_bf16_rows(static_cast<const uint8_t*>(staging->data()), 0, row_end - row_begin,
                            int(layout.num_kv_heads), int(layout.head_dim), first, stream);
      });
    }
  }

  // Staging for copy_kv_rows: null for bf16 rows; for fp8 rows one plane of every page, so that the pool
  // (which reuses blocks of one size) keeps one or two of them, whatever the rows copied.
  std::unique_ptr<PooledBuffer> kv_staging(const CudaKvStore& store) {
    return store.fp8() ? std::make_unique<PooledBuffer>(pool_, store.pages_bytes(store.max_pages()))
                       : nullptr;
  }

  // Layer `layer`'s first `used_pages` pages of keys and values into `copy` ([keys plane, values plane]);
  // returns the staging, which must outlive the work queued on `stream`.
  std::unique_ptr<PooledBuffer> copy_layer(const CudaKvStore& store, int64_t layer, int64_t used_pages,
                                           PooledBuffer& copy, size_t plane_bytes, cudaStream_t stream) {
    const int64_t rows = used_pages * store.layout().page_tokens;
    std::unique_ptr<PooledBuffer> staging = kv_staging(store);
    copy_kv_rows(store, layer, 0, rows, copy, plane_bytes, stream, staging.get());
    return staging;
  }

  // The rows of positions [first_position, first_position + rows) from the layer's pages into its copy.
  void copy_written_rows(const KvPages& pages, int64_t first_position, int64_t rows, PooledBuffer& copy,
                         size_t plane_bytes) {
    const auto& store = static_cast<const CudaKvStore&>(*pages.store);
    const std::unique_ptr<PooledBuffer> staging = kv_staging(store);  // the runs take turns on stream_
    for (const KvRun& run : kv_runs(*pages.page_table, pages.layout->page_tokens, first_position, rows)) {
      copy_kv_rows(store, pages.layer, run.slot, run.slot + run.tokens, copy, plane_bytes, stream_,
                   staging.get());
    }
  }

  // Starts the copy of the next layer's pages on copy_stream_, after the work enqueued so far (the buffer may
  // come back from the pool while kernels on stream_ still read it).
  void prefetch_layer(const KvPages& pages, int64_t first_position, int64_t rows, int64_t used_pages,
                      size_t plane_bytes) {
    const auto& store = static_cast<const CudaKvStore&>(*pages.store);
    auto copy = std::make_unique<PooledBuffer>(pool_, 2 * plane_bytes);
    std::unique_ptr<PooledBuffer> staging;
    try {
      check(cudaEventRecord(copy_start_, stream_), "ordering a layer's KV copy");
      check(cudaStreamWaitEvent(copy_stream_, copy_start_), "ordering a layer's KV copy");
      staging = copy_layer(store, pages.layer + 1, used_pages, *copy, plane_bytes, copy_stream_);
      check(cudaEventRecord(copy_done_, copy_stream_), "ordering a layer's KV copy");
    } catch (...) {
      cudaStreamSynchronize(copy_stream_);  // before the buffers go back to the pool
      throw;
    }
    prefetch_.copy = std::move(copy);
    prefetch_.staging = std::move(staging);
    prefetch_.store = pages.store;
    prefetch_.page_table = pages.page_table;
    prefetch_.layer = pages.layer + 1;
    prefetch_.used_pages = used_pages;
    prefetch_.first_position = first_position;
    prefetch_.rows = rows;
  }

  // Gives a copy nobody will read back to the pool, once stream_ is past its copy.
  void drop_prefetch() {
    if (!prefetch_.copy) return;
    check(cudaStreamWaitEvent(stream_, copy_done_), "waiting for a layer's KV copy");
    prefetch_.copy.reset();
    prefetch_.staging.reset();
  }

  PagedKv paged(const KvPages& pages) {
    const auto& store = static_cast<const CudaKvStore&>(*pages.store);
    const KvLayout& layout = *pages.layout;
    PagedKv cache{};
    if (store.fp8()) {
      cache.k_fp8 = store.layer_pages(pages.layer, false);
      cache.v_fp8 = store.layer_pages(pages.layer, true);
      cache.fp8_row_bytes = int(store.row_bytes());
    } else {
      cache.k_pages = reinterpret_cast<bf16*>(store.layer_pages(pages.layer, false));
      cache.v_pages = reinterpret_cast<bf16*>(store.layer_pages(pages.layer, true));
    }
    const bool staged = graphing();
    cache.page_table = staged ? steps_->page_table(*pages.page_table, size_t(store.max_pages()))
                              : page_table_.upload(*pages.page_table, stream_);
    cache.num_pages = int(store.max_pages());
    cache.page_size = int(layout.page_tokens);
    cache.max_pages_per_seq = int(staged ? store.max_pages() : int64_t(pages.page_table->size()));
    cache.n_kv_heads = int(layout.num_kv_heads);
    cache.head_dim = int(layout.head_dim);
    return cache;
  }

  CudaBackendOptions options_;
  std::mutex mutex_;
  cudaStream_t stream_ = nullptr;
  blas::GemmContext* gemm_ = nullptr;
  OpProfiler profiler_;
  std::unique_ptr<StepGraph> steps_;
  DevicePool pool_;
  DeviceMirror<int32_t> ids_;
  DeviceMirror<int32_t> positions_;
  DeviceMirror<int32_t> page_table_;
  std::atomic<bool> tiered_kv_{false};  // a KV store with a host tier was made: prefill in longer chunks
  int probe_levels_ =
      probe_cache_levels();  // stage-0 bisection steps whose probe keys (in host pages) are kept
  // The copy of one layer's pages that prefill_view started for the next layer of a prefill chunk.
  struct LayerPrefetch {
    const KvPageStore* store = nullptr;
    const std::vector<int32_t>* page_table = nullptr;
    int64_t layer = -1;
    int64_t used_pages = 0;
    int64_t first_position = 0;
    int64_t rows = 0;
    std::unique_ptr<PooledBuffer> copy;
    std::unique_ptr<PooledBuffer> staging;  // fp8 rows on their way into `copy`
    // write_kv of these rows into the prefetched layer keeps the copy valid (prefill_view copies them again).
    bool covers(const KvPages& pages, int64_t position) const {
      return !copy || (pages.store == store && pages.page_table == page_table && pages.layer == layer &&
                       position == first_position);
    }
    bool matches(const KvPages& pages, int64_t position, int64_t count, int64_t used) const {
      return copy && covers(pages, position) && count == rows && used == used_pages;
    }
  };
  LayerPrefetch prefetch_;
  cudaStream_t copy_stream_ = nullptr;
  cudaEvent_t copy_start_ = nullptr;  // on stream_: the prefetch may start
  cudaEvent_t copy_done_ = nullptr;   // on copy_stream_: the prefetch is done
  DeviceMirror<float> inv_freq_;
  DeviceMirror<int32_t> history_;
  DeviceToken token_;
  int64_t vocab_size_ = 0;  // of the logits sampled (recorded steps replay with it)
  SampleRequest* pending_sample_ = nullptr;
};

}  // namespace

std::unique_ptr<Backend> create_cuda_backend(const CudaBackendOptions& options) {
  return std::make_unique<CudaBackend>(options);
}

}  // namespace hipcode::cuda
