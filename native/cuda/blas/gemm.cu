// cuBLASLt GEMM for row-major activations and weights. Row-major y[n, out] is column-major
// y^T[out, n], and y^T = W . x^T where row-major W[out, in] is column-major [in, out] (op A = T) and
// row-major x[n, in] is column-major [in, n] (op B = N). So: m = out, n = n, k = in, lda = ldb = in,
// ldd = out; the epilogue bias (length m = out) is broadcast over the n tokens.
// Descriptors and the heuristic's first algorithm are cached per (n, in, out, output type, bias,
// pointer alignment).
#include <cstdint>
#include <map>
#include <mutex>
#include <stdexcept>
#include <tuple>

#include "blas/cublas-loader.h"
#include "blas/gemm.h"

namespace hipcode::cuda::blas {

namespace {

constexpr size_t kWorkspaceBytes = 32u << 20;

struct Plan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
  cublasLtMatmulAlgo_t algo{};
};

using PlanKey = std::tuple<int, int, int, bool, bool, uint32_t>;

uint32_t alignment_of(const void* p) {
  const uintptr_t v = reinterpret_cast<uintptr_t>(p);
  uint32_t a = 256;
  while (a > 2 && (v % a) != 0) a >>= 1;
  return a;
}

}  // namespace

struct GemmContext {
  const CublasLtApi* api = nullptr;
  cublasLtHandle_t handle = nullptr;
  void* workspace = nullptr;
  std::mutex mutex;
  std::map<PlanKey, Plan> plans;
};

GemmContext* gemm_init(std::string* reason) {
  const CublasLtApi* api = cublaslt_load(reason);
  if (!api) return nullptr;
  auto* ctx = new GemmContext();
  ctx->api = api;
  const cublasStatus_t st = api->create(&ctx->handle);
  if (st != kCublasStatusSuccess) {
    if (reason) *reason = "cublasLtCreate failed: " + api->status_string(st);
    delete ctx;
    return nullptr;
  }
  const cudaError_t err = cudaMalloc(&ctx->workspace, kWorkspaceBytes);
  if (err != cudaSuccess) {
    if (reason)
      *reason = std::string("cannot allocate the 32 MiB cuBLASLt workspace: ") + cudaGetErrorString(err);
    api->destroy(ctx->handle);
    delete ctx;
    return nullptr;
  }
  return ctx;
}

void gemm_free(GemmContext* ctx) {
  if (!ctx) return;
  for (auto& [key, plan] : ctx->plans) {
    ctx->api->matrix_layout_destroy(plan.a);
    ctx->api->matrix_layout_destroy(plan.b);
    ctx->api->matrix_layout_destroy(plan.d);
    ctx->api->matmul_desc_destroy(plan.desc);
  }
  cudaFree(ctx->workspace);
  ctx->api->destroy(ctx->handle);
  delete ctx;
}

std::string gemm_describe(const GemmContext* ctx) {
  if (!ctx) return "cuBLASLt not loaded";
  return "libcublasLt " + ctx->api->path + " version " + std::to_string(ctx->api->version);
}

static void check(const CublasLtApi* api, cublasStatus_t st, const char* what) {
  if (st != kCublasStatusSuccess)
    throw std::runtime_error(std::string("gemm: ") + what + " failed: " + api->status_string(st));
}

// y = x . W^T (+ bias) + beta * y; beta is 0 or 1 (accumulation into an f32 y).
static void run_gemm(GemmContext* ctx, const void* x, const void* w, const void* bias, void* y, int n, int in,
                     int out, bool f32_out, float beta, cudaStream_t stream) {
  if (!ctx) throw std::runtime_error("gemm: ctx is null (cuBLASLt not loaded)");
  if (n < 0) throw std::runtime_error("gemm: n must be >= 0, got " + std::to_string(n));
  if (in <= 0) throw std::runtime_error("gemm: in must be > 0, got " + std::to_string(in));
  if (out <= 0) throw std::runtime_error("gemm: out must be > 0, got " + std::to_string(out));
  if (n == 0) return;
  const CublasLtApi* api = ctx->api;
  uint32_t align = alignment_of(x);
  for (const void* p : {w, static_cast<const void*>(y), bias}) {
    if (p && alignment_of(p) < align) align = alignment_of(p);
  }
  const PlanKey key{n, in, out, f32_out, bias != nullptr, align};
  std::lock_guard<std::mutex> lock(ctx->mutex);
  auto it = ctx->plans.find(key);
  if (it == ctx->plans.end()) {
    Plan plan;
    const cudaDataType_t out_type = f32_out ? CUDA_R_32F : CUDA_R_16BF;
    check(api, api->matmul_desc_create(&plan.desc, kCublasCompute32F, CUDA_R_32F),
          "cublasLtMatmulDescCreate");
    const int32_t op_t = kCublasOpT, op_n = kCublasOpN;
    check(api, api->matmul_desc_set_attribute(plan.desc, kMatmulDescTransA, &op_t, sizeof(op_t)),
          "set TRANSA");
    check(api, api->matmul_desc_set_attribute(plan.desc, kMatmulDescTransB, &op_n, sizeof(op_n)),
          "set TRANSB");
    const uint32_t epilogue = bias ? kEpilogueBias : kEpilogueDefault;
    check(api, api->matmul_desc_set_attribute(plan.desc, kMatmulDescEpilogue, &epilogue, sizeof(epilogue)),
          "set EPILOGUE");
    if (bias) {
      check(api, api->matmul_desc_set_attribute(plan.desc, kMatmulDescBiasPointer, &bias, sizeof(bias)),
            "set BIAS_POINTER");
    }
    check(api, api->matrix_layout_create(&plan.a, CUDA_R_16BF, (uint64_t)in, (uint64_t)out, in), "layout A");
    check(api, api->matrix_layout_create(&plan.b, CUDA_R_16BF, (uint64_t)in, (uint64_t)n, in), "layout B");
    check(api, api->matrix_layout_create(&plan.d, out_type, (uint64_t)out, (uint64_t)n, out), "layout D");
    cublasLtMatmulPreference_t pref = nullptr;
    check(api, api->preference_create(&pref), "cublasLtMatmulPreferenceCreate");
    const uint64_t ws = kWorkspaceBytes;
    api->preference_set_attribute(pref, kPrefMaxWorkspaceBytes, &ws, sizeof(ws));
    for (int attr : {kPrefMinAlignmentABytes, kPrefMinAlignmentBBytes, kPrefMinAlignmentCBytes,
                     kPrefMinAlignmentDBytes}) {
      api->preference_set_attribute(pref, attr, &align, sizeof(align));
    }
    // Room for 4 results although we ask for 1: tolerates a larger result struct in newer releases.
    cublasLtMatmulHeuristicResult_t results[4] = {};
    int returned = 0;
    const cublasStatus_t st = api->algo_get_heuristic(ctx->handle, plan.desc, plan.a, plan.b, plan.d, plan.d,
                                                      pref, 1, results, &returned);
    api->preference_destroy(pref);
    if (st != kCublasStatusSuccess || returned < 1) {
      api->matrix_layout_destroy(plan.a);
      api->matrix_layout_destroy(plan.b);
      api->matrix_layout_destroy(plan.d);
      api->matmul_desc_destroy(plan.desc);
      throw std::runtime_error("gemm: no cuBLASLt algorithm for n=" + std::to_string(n) +
                               " in=" + std::to_string(in) + " out=" + std::to_string(out) +
                               (f32_out ? " (f32 out)" : "") + ": " + api->status_string(st));
    }
    plan.algo = results[0].algo;
    it = ctx->plans.emplace(key, plan).first;
  }
  Plan& plan = it->second;
  if (bias) {
    check(api, api->matmul_desc_set_attribute(plan.desc, kMatmulDescBiasPointer, &bias, sizeof(bias)),
          "set BIAS_POINTER");
  }
  const float alpha = 1.f;
  check(api,
        api->matmul(ctx->handle, plan.desc, &alpha, w, plan.a, x, plan.b, &beta, y, plan.d, y, plan.d,
                    &plan.algo, ctx->workspace, kWorkspaceBytes, stream),
        "cublasLtMatmul");
}

void gemm_bf16(GemmContext* ctx, const __nv_bfloat16* x, const __nv_bfloat16* w, const __nv_bfloat16* bias,
               __nv_bfloat16* y, int n, int in, int out, cudaStream_t stream) {
  run_gemm(ctx, x, w, bias, y, n, in, out, false, 0.f, stream);
}

void gemm_bf16_f32out(GemmContext* ctx, const __nv_bfloat16* x, const __nv_bfloat16* w, const float* bias,
                      float* y, int n, int in, int out, cudaStream_t stream) {
  run_gemm(ctx, x, w, bias, y, n, in, out, true, 0.f, stream);
}

void gemm_bf16_f32acc(GemmContext* ctx, const __nv_bfloat16* x, const __nv_bfloat16* w, const float* bias,
                      float* y, int n, int in, int out, cudaStream_t stream) {
  run_gemm(ctx, x, w, bias, y, n, in, out, true, 1.f, stream);
}

}  // namespace hipcode::cuda::blas
