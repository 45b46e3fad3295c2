// The harness shared by the CUDA kernel tests (kernel-tests.cu and the test-*.cu files next to it): device
// buffers, result recording, random inputs, the paged KV cache mirrored to the device, CUDA-event timing, and
// the HiP helpers (config mirror, contiguous key copies, exact-input fills).
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <iterator>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "hip/hip-config.h"
#include "kernels/hip-mask.cuh"
#include "kernels/paged-kv.cuh"

using namespace hipcode::cuda;
using bf16 = __nv_bfloat16;

// ---------------------------------------------------------------------------------------------
// Harness

#define CK(call)                                                                           \
  do {                                                                                     \
    cudaError_t e_ = (call);                                                               \
    if (e_ != cudaSuccess) {                                                               \
      throw std::runtime_error(std::string(#call) + " failed: " + cudaGetErrorString(e_)); \
    }                                                                                      \
  } while (0)

inline int g_passed = 0, g_failed = 0;
inline std::mt19937 g_rng(1234567);  // fixed seed

template <typename T>
struct Dev {
  T* p = nullptr;
  size_t n = 0;
  Dev() = default;
  explicit Dev(size_t count) : n(count) { CK(cudaMalloc(&p, std::max<size_t>(count, 1) * sizeof(T))); }
  explicit Dev(const std::vector<T>& h) : Dev(h.size()) { upload(h); }
  Dev(const Dev&) = delete;
  Dev& operator=(const Dev&) = delete;
  ~Dev() {
    if (p) cudaFree(p);
  }
  void upload(const std::vector<T>& h) {
    CK(cudaMemcpy(p, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice));
  }
  std::vector<T> download() const {
    std::vector<T> h(n);
    CK(cudaMemcpy(h.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost));
    return h;
  }
};

inline float bf(bf16 v) {
  return __bfloat162float(v);
}
inline bf16 tobf(float v) {
  return __float2bfloat16(v);
}

inline std::vector<float> rand_floats(size_t n, float lo, float hi) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g_rng);
  return v;
}

// Random bf16 values; `vals` receives the exactly representable floats the GPU will see.
inline std::vector<bf16> rand_bf16(size_t n, float lo, float hi, std::vector<float>* vals = nullptr) {
  std::vector<bf16> v(n);
  std::uniform_real_distribution<float> d(lo, hi);
  if (vals) vals->resize(n);
  for (size_t i = 0; i < n; ++i) {
    v[i] = tobf(d(g_rng));
    if (vals) (*vals)[i] = bf(v[i]);
  }
  return v;
}

inline std::vector<float> to_float(const std::vector<bf16>& v) {
  std::vector<float> r(v.size());
  for (size_t i = 0; i < v.size(); ++i) r[i] = bf(v[i]);
  return r;
}

inline void record(const std::string& name, bool ok, const std::string& detail) {
  std::printf("%s %-58s %s\n", ok ? "PASS" : "FAIL", name.c_str(), detail.c_str());
  (ok ? g_passed : g_failed)++;
}

// Element-wise |got - ref| <= atol + rtol * |ref| and relative L2 error <= l2_tol.
inline void compare(const std::string& name, const std::vector<float>& got, const std::vector<double>& ref,
                    double atol, double rtol, double l2_tol) {
  if (got.size() != ref.size()) {
    record(name, false, "size mismatch");
    return;
  }
  double max_abs = 0, num = 0, den = 0;
  size_t bad = 0, first_bad = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    // Equal values (infinities included) are exact; only finite differences count.
    const double e = (double)got[i] == ref[i] ? 0.0 : std::fabs((double)got[i] - ref[i]);
    if (e != 0.0 && !(e <= atol + rtol * std::fabs(ref[i]))) {
      if (bad++ == 0) first_bad = i;
    }
    if (!(e <= max_abs)) max_abs = e;  // NaN-propagating
    num += e * e;
    if (std::isfinite(ref[i])) den += ref[i] * ref[i];
  }
  const double l2 = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
  const bool ok = bad == 0 && l2 <= l2_tol && std::isfinite(l2);
  char buf[256];
  std::snprintf(buf, sizeof buf, "max_abs=%.3g rel_l2=%.3g", max_abs, l2);
  std::string detail = buf;
  if (bad) {
    std::snprintf(buf, sizeof buf, " (%zu bad, first at %zu: got %.6g want %.6g)", bad, first_bad,
                  (double)got[first_bad], ref[first_bad]);
    detail += buf;
  }
  record(name, ok, detail);
}

// The message `fn` throws, or "no error".
inline std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "no error";
}

// Records `name` as passed when `fn` throws a message that contains `needle`.
inline void expect_error(const std::string& name, const std::function<void()>& fn,
                         const std::string& needle) {
  const std::string message = error_of(fn);
  record(name, message.find(needle) != std::string::npos, message);
}

inline void run_test(const std::string& name, const std::function<void()>& fn) {
  try {
    fn();
    CK(cudaGetLastError());
  } catch (const std::exception& e) {
    record(name, false, std::string("exception: ") + e.what());
    cudaGetLastError();
  }
}

// bf16 output tolerances: one rounding of a value of magnitude |ref| is <= 2^-9 |ref|.
constexpr double kBfAtol = 1e-2, kBfRtol = 1e-2, kBfL2 = 8e-3;
// Attention: bf16 P in the PV product and bf16 output, ~1e-2 relative on individual outputs.
constexpr double kAttnAtol = 2e-2, kAttnRtol = 3e-2, kAttnL2 = 1.5e-2;

// ---------------------------------------------------------------------------------------------
// Paged KV cache on the host, mirrored to the device

struct HostCache {
  int n_kv, head_dim, page_size, max_pages, num_pages;
  std::vector<int32_t> page_table;
  std::vector<bf16> k, v;  // [num_pages, page_size, n_kv, head_dim]
  std::vector<float> kf, vf;

  HostCache(int n_kv_, int head_dim_, int page_size_, int n_keys)
      : n_kv(n_kv_), head_dim(head_dim_), page_size(page_size_) {
    max_pages = (n_keys + page_size - 1) / page_size + 1;
    num_pages = max_pages + 3;
    std::vector<int32_t> perm(num_pages);
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), g_rng);
    page_table.assign(perm.begin(), perm.begin() + max_pages);
    k = rand_bf16((size_t)num_pages * page_size * n_kv * head_dim, -1, 1, &kf);
    v = rand_bf16((size_t)num_pages * page_size * n_kv * head_dim, -1, 1, &vf);
  }
  size_t offset(int key, int h) const {
    const int page = page_table[key / page_size];
    return (((size_t)page * page_size + key % page_size) * n_kv + h) * head_dim;
  }
};

struct DevCache {
  Dev<bf16> k, v;
  Dev<int32_t> table;
  PagedKv kv{};
  explicit DevCache(const HostCache& h) : k(h.k), v(h.v), table(h.page_table) {
    kv.k_pages = k.p;
    kv.v_pages = v.p;
    kv.page_table = table.p;
    kv.num_pages = h.num_pages;
    kv.page_size = h.page_size;
    kv.max_pages_per_seq = h.max_pages;
    kv.n_kv_heads = h.n_kv;
    kv.head_dim = h.head_dim;
  }
};

// ---------------------------------------------------------------------------------------------
// Benchmarks

inline double time_us(const std::function<void()>& fn, int runs = 25) {
  for (int i = 0; i < 3; ++i) fn();
  CK(cudaDeviceSynchronize());
  cudaEvent_t a, b;
  CK(cudaEventCreate(&a));
  CK(cudaEventCreate(&b));
  std::vector<float> ms(runs);
  for (int i = 0; i < runs; ++i) {
    CK(cudaEventRecord(a));
    fn();
    CK(cudaEventRecord(b));
    CK(cudaEventSynchronize(b));
    CK(cudaEventElapsedTime(&ms[i], a, b));
  }
  CK(cudaGetLastError());
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(ms.begin(), ms.end());
  return ms[runs / 2] * 1000.0;
}

template <typename T>
inline void fill_random_device(Dev<T>& d) {
  // Cheap random fill: a random host block repeated.
  std::vector<T> block(1 << 16);
  std::uniform_real_distribution<float> u(-1, 1);
  for (auto& x : block) x = (T)u(g_rng);
  for (size_t off = 0; off < d.n; off += block.size()) {
    const size_t cnt = std::min(block.size(), d.n - off);
    CK(cudaMemcpy(d.p + off, block.data(), cnt * sizeof(T), cudaMemcpyHostToDevice));
  }
}

// ---------------------------------------------------------------------------------------------
// HiP

namespace hh = hipcode::hip;

inline HipMaskConfig to_mask_config(const hh::HipConfig& c) {
  HipMaskConfig m;
  m.block_q = (int)c.block_q;
  m.sink_tokens = (int)c.sink_tokens;
  m.window_tokens = (int)c.window_tokens;
  m.n_stages = (int)c.stages.size();
  for (size_t i = 0; i < c.stages.size(); ++i)
    m.stages[i] = {(int)c.stages[i].chunk_size, (int)c.stages[i].keep_tokens, (int)c.stages[i].query_stride};
  m.bf16_scoring = c.bf16_scoring;
  return m;
}

// Scaled-down config: sink 64, window 256, stages {64 -> 2048}, {16 -> 512}, {4 -> 128}.
inline hh::HipConfig hip_small_config() {
  hh::HipConfig c;
  c.sink_tokens = 64;
  c.window_tokens = 256;
  c.stages = {{64, 2048, 4}, {16, 512, 4}, {4, 128, 1}};
  return c;
}

// Contiguous f32 copy [n_tokens, n_kv, head_dim] of a paged host cache (keys or values).
inline std::vector<float> hip_contiguous(const HostCache& hc, const std::vector<float>& paged, int n_tokens) {
  std::vector<float> out((size_t)n_tokens * hc.n_kv * hc.head_dim);
  for (int p = 0; p < n_tokens; ++p)
    for (int h = 0; h < hc.n_kv; ++h)
      std::memcpy(&out[((size_t)p * hc.n_kv + h) * hc.head_dim], &paged[hc.offset(p, h)],
                  sizeof(float) * hc.head_dim);
  return out;
}

// Input flavours of the mask tests: random bf16 in [-1, 1]; small multiples of 1/8 (every dot product exact,
// many ties); the latter with planted high-scoring keys (the 3 keys before the candidate end, so the clipped
// last chunk often survives, and a few random places).
enum class HipInputs { Random, Eighths, EighthsPlanted };

inline void fill_eighths(std::vector<bf16>& v, std::vector<float>& f, int max_int) {
  std::uniform_int_distribution<int> di(-max_int, max_int);
  for (size_t i = 0; i < v.size(); ++i) {
    v[i] = tobf((float)di(g_rng) / 8.f);
    f[i] = bf(v[i]);
  }
}

inline double jaccard(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  std::vector<int64_t> inter, uni;
  std::set_intersection(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(inter));
  std::set_union(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(uni));
  return uni.empty() ? 1.0 : (double)inter.size() / (double)uni.size();
}
