// Standalone correctness tests and benchmarks of the CUDA kernels (native/cuda/kernels) and the
// cuBLASLt GEMM (native/cuda/blas). Every kernel runs on random inputs (fixed seed) at awkward sizes
// and at Qwen2.5-7B sizes and is compared with a straightforward CPU reference written here,
// independent of the kernels. `--bench` then times them with CUDA events (median of 25 runs).
// Prints "N passed, M failed" and exits non-zero on any failure.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
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
#include <utility>
#include <vector>

#include "blas/gemm.h"
#include "hip/block-sparse-attention.h"
#include "hip/hip-config.h"
#include "hip/mask-estimation.h"
#include "kernels/attention-decode.cuh"
#include "kernels/attention-generic.cuh"
#include "kernels/attention-prefill-sm90.cuh"
#include "kernels/attention-prefill.cuh"
#include "kernels/convert.cuh"
#include "kernels/embedding.cuh"
#include "kernels/gemv.cuh"
#include "kernels/hip-decode.cuh"
#include "kernels/hip-mask.cuh"
#include "kernels/kv-write.cuh"
#include "kernels/rms-norm.cuh"
#include "kernels/rope.cuh"
#include "kernels/sampling.cuh"
#include "kernels/split-combine.cuh"
#include "kernels/swiglu.cuh"
#include "test-harness.cuh"
#include "test-hip-hot-kv.h"
#include "test-hip-mask-prefill.h"
#include "test-hip-prefill.h"
#include "test-hip-probe-cache.h"
#include "test-kv-fp8.h"
#include "test-kv-tiers.h"

// ---------------------------------------------------------------------------------------------
// Element-wise kernels

static void test_embedding(int vocab, int hidden, int n) {
  run_test("embedding", [&] {
    std::vector<float> tv;
    auto table = rand_bf16((size_t)vocab * hidden, -1, 1, &tv);
    std::vector<int32_t> ids(n);
    std::uniform_int_distribution<int> di(0, vocab - 1);
    for (auto& id : ids) id = di(g_rng);
    ids[0] = 0;
    ids[n - 1] = vocab - 1;
    Dev<bf16> d_table(table), d_out((size_t)n * hidden);
    Dev<int32_t> d_ids(ids);
    embedding(d_table.p, d_ids.p, d_out.p, n, vocab, hidden, 0);
    auto got = to_float(d_out.download());
    std::vector<double> ref((size_t)n * hidden);
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < hidden; ++j) ref[(size_t)i * hidden + j] = tv[(size_t)ids[i] * hidden + j];
    compare("embedding vocab=" + std::to_string(vocab) + " hidden=" + std::to_string(hidden) +
                " n=" + std::to_string(n),
            got, ref, 0, 0, 0);
  });
}

static void test_rms_norm(int n, int hidden) {
  run_test("rms_norm", [&] {
    const float eps = 1e-6f;
    std::vector<float> xv, wv, rv;
    auto x = rand_bf16((size_t)n * hidden, -2, 2, &xv);
    auto w = rand_bf16(hidden, 0.5f, 1.5f, &wv);
    auto resid = rand_floats((size_t)n * hidden, -3, 3);
    Dev<bf16> d_x(x), d_w(w), d_out((size_t)n * hidden);
    Dev<float> d_res(resid);
    rms_norm(d_x.p, d_w.p, d_out.p, n, hidden, eps, 0);
    auto got = to_float(d_out.download());
    std::vector<double> ref((size_t)n * hidden), ref_res((size_t)n * hidden), ref2((size_t)n * hidden);
    for (int i = 0; i < n; ++i) {
      double ss = 0, ss2 = 0;
      for (int j = 0; j < hidden; ++j) {
        const size_t k = (size_t)i * hidden + j;
        ss += (double)xv[k] * xv[k];
        ref_res[k] = (double)resid[k] + xv[k];
        ss2 += ref_res[k] * ref_res[k];
      }
      const double inv = 1.0 / std::sqrt(ss / hidden + eps), inv2 = 1.0 / std::sqrt(ss2 / hidden + eps);
      for (int j = 0; j < hidden; ++j) {
        const size_t k = (size_t)i * hidden + j;
        ref[k] = xv[k] * inv * wv[j];
        ref2[k] = ref_res[k] * inv2 * wv[j];
      }
    }
    const std::string sz = " n=" + std::to_string(n) + " hidden=" + std::to_string(hidden);
    compare("rms_norm" + sz, got, ref, kBfAtol, kBfRtol, kBfL2);
    add_rms_norm(d_res.p, d_x.p, d_w.p, d_out.p, n, hidden, eps, 0);
    auto res = d_res.download();
    compare("add_rms_norm residual" + sz, res, ref_res, 1e-5, 1e-6, 1e-6);
    compare("add_rms_norm out" + sz, to_float(d_out.download()), ref2, kBfAtol, kBfRtol, kBfL2);
    // x == null: normalise the residual only.
    add_rms_norm(d_res.p, nullptr, d_w.p, d_out.p, n, hidden, eps, 0);
    compare("add_rms_norm (x=null) out" + sz, to_float(d_out.download()), ref2, kBfAtol, kBfRtol, kBfL2);
  });
}

static void test_rms_norm_heads(int n, int heads, int head_dim) {
  run_test("rms_norm_heads", [&] {
    const float eps = 1e-6f;
    std::vector<float> xv, wv;
    auto x = rand_bf16((size_t)n * heads * head_dim, -2, 2, &xv);
    auto w = rand_bf16(head_dim, 0.5f, 1.5f, &wv);
    Dev<bf16> d_x(x), d_w(w);
    rms_norm_heads(d_x.p, d_w.p, n, heads, head_dim, eps, 0);
    std::vector<double> ref(xv.size());
    for (int r = 0; r < n * heads; ++r) {
      double ss = 0;
      for (int j = 0; j < head_dim; ++j)
        ss += (double)xv[(size_t)r * head_dim + j] * xv[(size_t)r * head_dim + j];
      const double inv = 1.0 / std::sqrt(ss / head_dim + eps);
      for (int j = 0; j < head_dim; ++j)
        ref[(size_t)r * head_dim + j] = xv[(size_t)r * head_dim + j] * inv * wv[j];
    }
    compare("rms_norm_heads n=" + std::to_string(n) + " heads=" + std::to_string(heads) +
                " head_dim=" + std::to_string(head_dim),
            to_float(d_x.download()), ref, kBfAtol, kBfRtol, kBfL2);
  });
}

static void test_rope(int n, int n_heads, int n_kv, int head_dim, float theta, float attn_scale) {
  run_test("rope", [&] {
    const int half = head_dim / 2;
    std::vector<float> inv_freq(half);
    for (int i = 0; i < half; ++i) inv_freq[i] = (float)(1.0 / std::pow((double)theta, (2.0 * i) / head_dim));
    std::vector<int32_t> pos(n);
    std::uniform_int_distribution<int> dp(0, 200000);
    for (auto& p : pos) p = dp(g_rng);
    pos[0] = 0;
    std::vector<float> qv, kv;
    auto q = rand_bf16((size_t)n * n_heads * head_dim, -2, 2, &qv);
    auto k = rand_bf16((size_t)n * n_kv * head_dim, -2, 2, &kv);
    Dev<bf16> d_q(q), d_k(k);
    Dev<float> d_f(inv_freq);
    Dev<int32_t> d_pos(pos);
    rope(d_q.p, d_k.p, d_pos.p, d_f.p, attn_scale, n, n_heads, n_kv, head_dim, 0);
    auto apply = [&](const std::vector<float>& x, int heads) {
      std::vector<double> r(x.size());
      for (int t = 0; t < n; ++t)
        for (int h = 0; h < heads; ++h)
          for (int i = 0; i < half; ++i) {
            const float ang = (float)pos[t] * inv_freq[i];  // f32 angle, as the model defines it
            const double c = std::cos((double)ang) * attn_scale, s = std::sin((double)ang) * attn_scale;
            const size_t b = ((size_t)t * heads + h) * head_dim;
            r[b + i] = x[b + i] * c - x[b + i + half] * s;
            r[b + i + half] = x[b + i + half] * c + x[b + i] * s;
          }
      return r;
    };
    const std::string sz = " head_dim=" + std::to_string(head_dim) + " heads=" + std::to_string(n_heads) +
                           "/" + std::to_string(n_kv) + " scale=" + std::to_string(attn_scale).substr(0, 4);
    compare("rope q" + sz, to_float(d_q.download()), apply(qv, n_heads), kBfAtol, kBfRtol, kBfL2);
    compare("rope k" + sz, to_float(d_k.download()), apply(kv, n_kv), kBfAtol, kBfRtol, kBfL2);
  });
}

static void test_swiglu(int n, int inter) {
  run_test("swiglu", [&] {
    std::vector<float> gv;
    auto gu = rand_bf16((size_t)n * 2 * inter, -6, 6, &gv);
    Dev<bf16> d_gu(gu), d_out((size_t)n * inter);
    swiglu(d_gu.p, d_gu.p + inter, 2 * inter, d_out.p, n, inter, 0);
    std::vector<double> ref((size_t)n * inter);
    for (int t = 0; t < n; ++t)
      for (int i = 0; i < inter; ++i) {
        const double g = gv[(size_t)t * 2 * inter + i], u = gv[(size_t)t * 2 * inter + inter + i];
        ref[(size_t)t * inter + i] = g / (1.0 + std::exp(-g)) * u;
      }
    compare("swiglu n=" + std::to_string(n) + " inter=" + std::to_string(inter), to_float(d_out.download()),
            ref, kBfAtol, kBfRtol, kBfL2);
  });
}

static void test_gemv(int rows, int in, GemvOutput output, bool bias) {
  const std::string name = "gemv rows=" + std::to_string(rows) + " in=" + std::to_string(in) +
                           (output == GemvOutput::BF16  ? " bf16"
                            : output == GemvOutput::F32 ? " f32"
                                                        : " f32+=") +
                           (bias ? " +bias" : "");
  run_test(name, [&] {
    std::vector<float> xv, wv, bv, yv;
    auto x = rand_bf16((size_t)in, -1, 1, &xv);
    auto w = rand_bf16((size_t)rows * in, -1, 1, &wv);
    std::vector<float> b(rows), y0(rows);
    for (int r = 0; r < rows; ++r) b[r] = 0.01f * float(r % 17) - 0.05f, y0[r] = 0.1f * float(r % 5);
    Dev<bf16> d_x(x), d_w(w), d_ybf(rows);
    Dev<float> d_b(b), d_y(y0);
    void* y = output == GemvOutput::BF16 ? static_cast<void*>(d_ybf.p) : static_cast<void*>(d_y.p);
    gemv(d_x.p, d_w.p, bias ? d_b.p : nullptr, y, rows, in, output, 0);
    std::vector<double> ref(rows);
    for (int r = 0; r < rows; ++r) {
      double sum = bias ? b[r] : 0.0;
      for (int i = 0; i < in; ++i) sum += double(wv[(size_t)r * in + i]) * xv[i];
      ref[r] = sum + (output == GemvOutput::F32_ADD ? y0[r] : 0.0);
    }
    const std::vector<float> got = output == GemvOutput::BF16 ? to_float(d_ybf.download()) : d_y.download();
    compare(name, got, ref, output == GemvOutput::BF16 ? kBfAtol * 8 : 1e-3, kBfRtol, kBfL2);
  });
}

static void test_convert() {
  run_test("convert", [&] {
    const int64_t n = 1000003;
    auto f = rand_floats(n, -1000, 1000);
    f[0] = 0.f;
    f[1] = -0.f;
    f[2] = 1e-40f;  // denormal
    f[3] = INFINITY;
    std::vector<__half> h(n);
    for (int64_t i = 0; i < n; ++i) h[i] = __float2half(f[i] / 100);
    Dev<float> d_f(f), d_f2(n);
    Dev<__half> d_h(h);
    Dev<bf16> d_b(n);
    convert_f32_to_bf16(d_f.p, d_b.p, n, 0);
    auto got = to_float(d_b.download());
    std::vector<double> ref(n);
    for (int64_t i = 0; i < n; ++i) ref[i] = bf(tobf(f[i]));
    ref[3] = 0, got[3] = 0;  // inf checked separately below
    const bool inf_ok = std::isinf(to_float(d_b.download())[3]);
    compare("convert_f32_to_bf16 n=1000003", got, ref, 0, 0, 0);
    record("convert_f32_to_bf16 keeps inf", inf_ok, "");
    convert_f16_to_bf16(d_h.p, d_b.p, n, 0);
    got = to_float(d_b.download());
    for (int64_t i = 0; i < n; ++i) ref[i] = bf(tobf(__half2float(h[i])));
    compare("convert_f16_to_bf16 n=1000003", got, ref, 0, 0, 0);
    convert_bf16_to_f32(d_b.p, d_f2.p, n, 0);
    auto back = d_f2.download();
    compare("convert_bf16_to_f32 n=1000003", back, ref, 0, 0, 0);
  });
}

// ---------------------------------------------------------------------------------------------
// KV cache writes

static void test_kv_write(int n_kv, int head_dim, int page_size) {
  run_test("kv_write", [&] {
    const int n = 37;
    HostCache hc(n_kv, head_dim, page_size, 500);
    DevCache dc(hc);
    std::vector<int32_t> pos(n);
    std::vector<int32_t> all(500);
    std::iota(all.begin(), all.end(), 0);
    std::shuffle(all.begin(), all.end(), g_rng);
    for (int i = 0; i < n; ++i) pos[i] = all[i];
    std::vector<float> kv, vv;
    auto k = rand_bf16((size_t)n * n_kv * head_dim, -1, 1, &kv);
    auto v = rand_bf16((size_t)n * n_kv * head_dim, -1, 1, &vv);
    Dev<bf16> d_k(k), d_v(v);
    Dev<int32_t> d_pos(pos);
    kv_write(dc.kv, d_k.p, d_v.p, d_pos.p, n, 0);
    std::vector<float> rk = hc.kf, rv = hc.vf;
    for (int i = 0; i < n; ++i)
      for (int h = 0; h < n_kv; ++h)
        for (int d = 0; d < head_dim; ++d) {
          rk[hc.offset(pos[i], h) + d] = kv[((size_t)i * n_kv + h) * head_dim + d];
          rv[hc.offset(pos[i], h) + d] = vv[((size_t)i * n_kv + h) * head_dim + d];
        }
    const std::string sz = " n_kv=" + std::to_string(n_kv) + " head_dim=" + std::to_string(head_dim) +
                           " page=" + std::to_string(page_size);
    compare("kv_write k" + sz, to_float(dc.k.download()), std::vector<double>(rk.begin(), rk.end()), 0, 0, 0);
    compare("kv_write v" + sz, to_float(dc.v.download()), std::vector<double>(rv.begin(), rv.end()), 0, 0, 0);
  });
}

// ---------------------------------------------------------------------------------------------
// Attention

// out[t, h, :] for queries at positions pos0 + t (naive softmax in double).
static std::vector<double> attention_ref(const std::vector<float>& q, const HostCache& c, int n_q,
                                         int n_heads, int pos0, int window, float scale) {
  const int D = c.head_dim, group = n_heads / c.n_kv;
  std::vector<double> out((size_t)n_q * n_heads * D, 0.0);
  std::vector<double> s;
  for (int t = 0; t < n_q; ++t)
    for (int h = 0; h < n_heads; ++h) {
      const int qpos = pos0 + t, kvh = h / group;
      const int lo = window > 0 ? std::max(0, qpos - window + 1) : 0;
      const float* qr = &q[((size_t)t * n_heads + h) * D];
      s.assign(qpos - lo + 1, 0.0);
      double mx = -1e300;
      for (int j = lo; j <= qpos; ++j) {
        const float* kr = &c.kf[c.offset(j, kvh)];
        double dot = 0;
        for (int d = 0; d < D; ++d) dot += (double)qr[d] * kr[d];
        s[j - lo] = dot * scale;
        mx = std::max(mx, s[j - lo]);
      }
      double sum = 0;
      for (auto& x : s) sum += (x = std::exp(x - mx));
      double* o = &out[((size_t)t * n_heads + h) * D];
      for (int j = lo; j <= qpos; ++j) {
        const float* vr = &c.vf[c.offset(j, kvh)];
        const double p = s[j - lo] / sum;
        for (int d = 0; d < D; ++d) o[d] += p * vr[d];
      }
    }
  return out;
}

// A prefill case: random K/V in a paged cache, random queries, an output buffer and the reference output.
struct PrefillCase {
  HostCache hc;
  DevCache dc;
  std::vector<float> qv;
  Dev<bf16> d_q, d_out;
  float scale;
  std::vector<double> ref;
  PrefillCase(int n_q, int n_heads, int n_kv, int head_dim, int page_size, int pos0, int window)
      : hc(n_kv, head_dim, page_size, pos0 + n_q),
        dc(hc),
        d_q(rand_bf16((size_t)n_q * n_heads * head_dim, -1, 1, &qv)),
        d_out((size_t)n_q * n_heads * head_dim),
        scale(1.f / std::sqrt((float)head_dim)),
        ref(attention_ref(qv, hc, n_q, n_heads, pos0, window, scale)) {}
  void poison() { CK(cudaMemset(d_out.p, 0xff, d_out.n * sizeof(bf16))); }  // NaNs: every output is written
};

// Runs `run` with attention_prefill's sm90 dispatch switched off.
template <typename Run>
static void without_sm90(const Run& run) {
  attention_prefill_sm90_set_enabled(false);
  try {
    run();
  } catch (...) {
    attention_prefill_sm90_set_enabled(true);
    throw;
  }
  attention_prefill_sm90_set_enabled(true);
}

static void test_prefill(int n_q, int n_heads, int n_kv, int head_dim, int page_size, int pos0, int window) {
  const std::string name = "attention_prefill n_q=" + std::to_string(n_q) +
                           " heads=" + std::to_string(n_heads) + "/" + std::to_string(n_kv) +
                           " d=" + std::to_string(head_dim) + " page=" + std::to_string(page_size) +
                           " pos0=" + std::to_string(pos0) + " win=" + std::to_string(window);
  run_test(name, [&] {
    PrefillCase c(n_q, n_heads, n_kv, head_dim, page_size, pos0, window);
    attention_prefill(c.d_q.p, c.dc.kv, c.d_out.p, n_q, n_heads, pos0, window, c.scale, 0);
    compare(name, to_float(c.d_out.download()), c.ref, kAttnAtol, kAttnRtol, kAttnL2);
  });
}

// Both head_dim-128 prefill paths on one case: the mma.sync kernel (sm90 dispatch switched off) and the
// Hopper wgmma kernel called directly (skipped, with a line, where the device or build lacks it).
static void test_prefill_paths(int n_q, int n_heads, int n_kv, int page_size, int pos0, int window) {
  const int head_dim = 128;
  const std::string sz = " n_q=" + std::to_string(n_q) + " heads=" + std::to_string(n_heads) + "/" +
                         std::to_string(n_kv) + " page=" + std::to_string(page_size) +
                         " pos0=" + std::to_string(pos0) + " win=" + std::to_string(window);
  run_test("attention_prefill paths" + sz, [&] {
    PrefillCase c(n_q, n_heads, n_kv, head_dim, page_size, pos0, window);
    without_sm90(
        [&] { attention_prefill(c.d_q.p, c.dc.kv, c.d_out.p, n_q, n_heads, pos0, window, c.scale, 0); });
    compare("attention_prefill mma.sync" + sz, to_float(c.d_out.download()), c.ref, kAttnAtol, kAttnRtol,
            kAttnL2);
    if (!attention_prefill_sm90_available()) {
      std::printf("SKIP attention_prefill sm90%s (needs compute capability 9.0 and sm_90a code)\n",
                  sz.c_str());
      return;
    }
    c.poison();
    attention_prefill_sm90(c.d_q.p, c.dc.kv, c.d_out.p, n_q, n_heads, pos0, window, c.scale, 0);
    CK(cudaDeviceSynchronize());
    compare("attention_prefill sm90" + sz, to_float(c.d_out.download()), c.ref, kAttnAtol, kAttnRtol,
            kAttnL2);
  });
}

// Split-K prefill (few rows against many keys): the dispatcher with a workspace on every path this device has
// (mma.sync with the sm90 dispatch switched off, then the default), and the sm90 kernel with `sm90_splits`
// splits, more than its key tiles when asked (empty splits). The case must be one the dispatcher splits.
static void test_prefill_split(int n_q, int n_heads, int n_kv, int head_dim, int page_size, int pos0,
                               int window, int sm90_splits) {
  const std::string sz = " n_q=" + std::to_string(n_q) + " heads=" + std::to_string(n_heads) + "/" +
                         std::to_string(n_kv) + " d=" + std::to_string(head_dim) +
                         " page=" + std::to_string(page_size) + " pos0=" + std::to_string(pos0) +
                         " win=" + std::to_string(window);
  run_test("attention_prefill split-K" + sz, [&] {
    PrefillCase c(n_q, n_heads, n_kv, head_dim, page_size, pos0, window);
    auto run = [&](const std::string& path) {
      const size_t bytes = attention_prefill_workspace_bytes(n_q, n_heads, n_kv, head_dim, pos0, window);
      if (bytes == 0) throw std::runtime_error("the " + path + " dispatch does not split" + sz);
      Dev<float> workspace(bytes / sizeof(float));
      c.poison();
      attention_prefill(c.d_q.p, c.dc.kv, c.d_out.p, n_q, n_heads, pos0, window, c.scale, 0, workspace.p,
                        bytes);
      CK(cudaDeviceSynchronize());
      compare("attention_prefill split-K " + path + sz, to_float(c.d_out.download()), c.ref, kAttnAtol,
              kAttnRtol, kAttnL2);
    };
    without_sm90([&] { run("mma.sync"); });
    run("default");
    if (head_dim != 128 || !attention_prefill_sm90_available()) return;
    Dev<float> partials(split_partials_bytes((int64_t)n_q * n_heads, head_dim, sm90_splits) / sizeof(float));
    c.poison();
    attention_prefill_sm90(c.d_q.p, c.dc.kv, c.d_out.p, n_q, n_heads, pos0, window, c.scale, 0, sm90_splits,
                           partials.p);
    CK(cudaDeviceSynchronize());
    compare("attention_prefill_sm90 splits=" + std::to_string(sm90_splits) + sz, to_float(c.d_out.download()),
            c.ref, kAttnAtol, kAttnRtol, kAttnL2);
  });
}

// Split-K prefill and a mask stage's selection refuse what they cannot run, saying what to change.
static void test_split_and_select_errors() {
  run_test("split-K and selection argument checks", [&] {
    const int n_q = 3, n_heads = 28, n_kv = 4, head_dim = 128, pos0 = 9000;
    PrefillCase c(n_q, n_heads, n_kv, head_dim, 64, pos0, 0);
    const size_t bytes = attention_prefill_workspace_bytes(n_q, n_heads, n_kv, head_dim, pos0, 0);
    Dev<float> workspace(bytes / sizeof(float));
    expect_error(
        "attention_prefill rejects a workspace too small for its splits",
        [&] {
          attention_prefill(c.d_q.p, c.dc.kv, c.d_out.p, n_q, n_heads, pos0, 0, c.scale, 0, workspace.p,
                            bytes - sizeof(float));
        },
        "attention_prefill_workspace_bytes()");
    expect_error(
        "split_combine rejects 0 splits",
        [&] { split_combine(workspace.p, workspace.p, c.d_out.p, 1, 0, head_dim, 0, "test"); },
        "n_splits must be >= 1");
    if (attention_prefill_sm90_available()) {
      expect_error(
          "attention_prefill_sm90 rejects splits without partials",
          [&] {
            attention_prefill_sm90(c.d_q.p, c.dc.kv, c.d_out.p, n_q, n_heads, pos0, 0, c.scale, 0, 4,
                                   nullptr);
          },
          "more than 1 needs partials");
    }
    // One stage keeping 40,000 one-key chunks of about 48,700: more than a selection holds.
    HipMaskConfig keeps_too_many;
    keeps_too_many.n_stages = 1;
    keeps_too_many.stages[0] = {1, 40000, 1};
    const int t = 50000;
    HostCache hc(1, 64, 64, t + 1);
    DevCache dc(hc);
    Dev<bf16> q(64);
    Dev<int32_t> blocks(keeps_too_many.max_blocks()), count(1);
    Dev<uint8_t> mask_workspace(hip_mask_decode_workspace_bytes(keeps_too_many, t));
    expect_error(
        "hip_mask_decode rejects a stage keeping more chunks than a selection holds",
        [&] {
          hip_mask_decode(q.p, dc.kv, 1, t, keeps_too_many, blocks.p, count.p, mask_workspace.p,
                          mask_workspace.n, 0);
        },
        "one selection holds");
  });
}

static void test_decode(int n_heads, int n_kv, int head_dim, int page_size, int n_keys, int window,
                        int n_splits, bool device_len) {
  const std::string name = "attention_decode keys=" + std::to_string(n_keys) +
                           " heads=" + std::to_string(n_heads) + "/" + std::to_string(n_kv) +
                           " d=" + std::to_string(head_dim) + " page=" + std::to_string(page_size) +
                           " win=" + std::to_string(window) + " splits=" + std::to_string(n_splits) +
                           (device_len ? " dev-len" : "");
  run_test(name, [&] {
    HostCache hc(n_kv, head_dim, page_size, n_keys + 100);
    DevCache dc(hc);
    std::vector<float> qv;
    auto q = rand_bf16((size_t)n_heads * head_dim, -1, 1, &qv);
    Dev<bf16> d_q(q), d_out((size_t)n_heads * head_dim);
    const int splits = n_splits > 0 ? n_splits : attention_decode_splits(n_heads, n_kv, n_keys);
    Dev<float> ws(attention_decode_workspace_bytes(n_heads, head_dim, splits) / sizeof(float) + 1);
    Dev<int32_t> d_len(std::vector<int32_t>{n_keys});
    const float scale = 1.f / std::sqrt((float)head_dim);
    attention_decode(d_q.p, dc.kv, d_out.p, n_heads, device_len ? 0 : n_keys, device_len ? d_len.p : nullptr,
                     window, scale, splits, ws.p, ws.n * sizeof(float), 0);
    auto ref = attention_ref(qv, hc, 1, n_heads, n_keys - 1, window, scale);
    compare(name, to_float(d_out.download()), ref, kAttnAtol, kAttnRtol, kAttnL2);
  });
}

// ---------------------------------------------------------------------------------------------
// Sampling

struct Cand {
  float v;
  int i;
};

// HF order on the CPU: (penalty applied by the caller) temperature, top-k, top-p, min-p. Returns the
// probability of every token under the final renormalised distribution.
static std::vector<double> sampling_ref(const std::vector<float>& logits, const SamplingParams& p) {
  const int V = (int)logits.size();
  std::vector<Cand> c(V);
  for (int i = 0; i < V; ++i) c[i] = {logits[i], i};
  std::sort(c.begin(), c.end(),
            [](const Cand& a, const Cand& b) { return a.v > b.v || (a.v == b.v && a.i < b.i); });
  const bool top_k_on = p.top_k > 0;
  const int k = std::min(V, top_k_on ? std::min(p.top_k, kSamplingMaxCandidates) : kSamplingMaxCandidates);
  const double T = p.temperature, v0 = c[0].v;
  double z = 0;
  const int z_count = top_k_on ? k : V;
  for (int i = 0; i < z_count; ++i) z += std::exp((c[i].v - v0) / T);
  std::vector<double> w(k);
  std::vector<bool> keep(k, true);
  double excl = 0;
  for (int i = 0; i < k; ++i) {
    w[i] = std::exp((c[i].v - v0) / T);
    if (p.top_p < 1.f && i > 0 && excl >= p.top_p) keep[i] = false;
    excl += w[i] / z;
    if (p.min_p > 0.f && w[i] < p.min_p) keep[i] = false;
  }
  double total = 0;
  for (int i = 0; i < k; ++i) total += keep[i] ? w[i] : 0;
  std::vector<double> prob(V, 0.0);
  for (int i = 0; i < k; ++i) prob[c[i].i] = keep[i] ? w[i] / total : 0;
  return prob;
}

static int cpu_argmax(const std::vector<float>& v) {
  int b = 0;
  for (int i = 1; i < (int)v.size(); ++i)
    if (v[i] > v[b]) b = i;
  return b;
}

static void test_sampling() {
  run_test("argmax", [&] {
    for (int vocab : {152064, 487, 1}) {
      auto logits = rand_floats(vocab, -10, 10);
      if (vocab > 200) logits[150] = logits[77] = 50.f;  // tie -> lowest index 77
      Dev<float> d_l(logits);
      Dev<int32_t> d_t(1);
      argmax(d_l.p, vocab, d_t.p, 0);
      const int got = d_t.download()[0], want = cpu_argmax(logits);
      record("argmax vocab=" + std::to_string(vocab), got == want,
             "got " + std::to_string(got) + " want " + std::to_string(want));
    }
  });
  run_test("sample greedy limits", [&] {
    const int vocab = 152064;
    auto logits = rand_floats(vocab, -10, 10);
    Dev<float> d_l(logits);
    Dev<int32_t> d_t(1);
    Dev<uint8_t> ws(sampling_workspace_bytes(vocab));
    const int want = cpu_argmax(logits);
    SamplingParams p;
    p.temperature = 0.7f;
    p.top_k = 1;
    sample(d_l.p, vocab, nullptr, 0, p, 0.99f, nullptr, d_t.p, ws.p, ws.n, 0);
    record("sample top_k=1 == argmax", d_t.download()[0] == want, "");
    p.top_k = 0;
    p.top_p = 1e-6f;
    sample(d_l.p, vocab, nullptr, 0, p, 0.99f, nullptr, d_t.p, ws.p, ws.n, 0);
    record("sample top_p=1e-6 == argmax", d_t.download()[0] == want, "");
    p.top_p = 1.f;
    p.temperature = 0.f;
    sample(d_l.p, vocab, nullptr, 0, p, 0.5f, nullptr, d_t.p, ws.p, ws.n, 0);
    record("sample temperature=0 == argmax", d_t.download()[0] == want, "");
  });
  run_test("repetition penalty", [&] {
    const int vocab = 487;
    auto logits = rand_floats(vocab, -5, 5);
    std::vector<int32_t> prev = {3, 3, 10, 486, 3, 10, 200, 200, 0};
    Dev<float> d_l(logits);
    Dev<int32_t> d_prev(prev), d_t(1);
    Dev<uint8_t> ws(sampling_workspace_bytes(vocab));
    SamplingParams p;
    p.temperature = 0.f;
    p.repetition_penalty = 1.3f;
    sample(d_l.p, vocab, d_prev.p, (int)prev.size(), p, 0.f, nullptr, d_t.p, ws.p, ws.n, 0);
    std::vector<double> ref(logits.begin(), logits.end());
    std::vector<bool> seen(vocab, false);
    for (int id : prev) {
      if (seen[id]) continue;
      seen[id] = true;
      ref[id] = ref[id] < 0 ? ref[id] * 1.3 : ref[id] / 1.3;
    }
    compare("repetition penalty (each distinct id once)", d_l.download(), ref, 1e-6, 1e-6, 1e-6);
  });
  // Distribution: stratified u values must reproduce the reference probabilities.
  auto distribution = [&](int vocab, SamplingParams p, const std::string& label) {
    run_test("sample distribution " + label, [&] {
      std::normal_distribution<float> nd(0.f, 2.f);
      std::vector<float> logits(vocab);
      for (auto& x : logits) x = nd(g_rng);
      logits[vocab / 2] = logits[vocab / 3];  // a tie
      const auto prob = sampling_ref(logits, p);
      const int draws = 4000;
      Dev<float> d_l(logits);
      Dev<int32_t> d_t(draws);
      Dev<uint8_t> ws(sampling_workspace_bytes(vocab));
      for (int i = 0; i < draws; ++i) {
        sample(d_l.p, vocab, nullptr, 0, p, (i + 0.5f) / draws, nullptr, d_t.p + i, ws.p, ws.n, 0);
      }
      auto toks = d_t.download();
      std::vector<double> freq(vocab, 0.0);
      bool in_set = true;
      for (int t : toks) {
        if (t < 0 || t >= vocab || prob[t] == 0) {
          in_set = false;
          continue;
        }
        freq[t] += 1.0 / draws;
      }
      double max_dev = 0;
      for (int i = 0; i < vocab; ++i) max_dev = std::max(max_dev, std::fabs(freq[i] - prob[i]));
      char buf[128];
      std::snprintf(buf, sizeof buf, "max |freq - p| = %.4g", max_dev);
      record("sample distribution " + label, in_set && max_dev <= 2.0 / draws + 1e-3, buf);
    });
  };
  SamplingParams p;
  p.temperature = 0.8f;
  p.top_k = 20;
  p.top_p = 0.9f;
  p.min_p = 0.05f;
  distribution(50, p, "vocab=50 T=0.8 k=20 p=0.9 min_p=0.05");
  p = SamplingParams();
  p.temperature = 1.f;
  p.top_p = 0.8f;
  distribution(487, p, "vocab=487 T=1 top_k=off p=0.8");
  p = SamplingParams();
  p.temperature = 1.5f;
  distribution(2000, p, "vocab=2000 T=1.5 plain (1024-candidate cap)");
}

// ---------------------------------------------------------------------------------------------
// GEMM

static blas::GemmContext* g_gemm = nullptr;
static std::string g_gemm_reason;

static void test_gemm(int n, int in, int out, bool bias, bool f32_out) {
  const std::string name = std::string("gemm") + (f32_out ? "_f32out" : "") + " n=" + std::to_string(n) +
                           " in=" + std::to_string(in) + " out=" + std::to_string(out) +
                           (bias ? " +bias" : "");
  if (!g_gemm) {
    std::printf("SKIP %s: %s\n", name.c_str(), g_gemm_reason.c_str());
    return;
  }
  run_test(name, [&] {
    std::vector<float> xv, wv, bv;
    auto x = rand_bf16((size_t)n * in, -1, 1, &xv);
    auto w = rand_bf16((size_t)out * in, -1, 1, &wv);
    auto b = rand_bf16(out, -1, 1, &bv);
    Dev<bf16> d_x(x), d_w(w), d_b(b), d_y((size_t)n * out);
    Dev<float> d_bf(bv), d_yf((size_t)n * out);
    std::vector<double> ref((size_t)n * out);
    for (int t = 0; t < n; ++t)
      for (int o = 0; o < out; ++o) {
        double acc = bias ? bv[o] : 0.0;
        for (int i = 0; i < in; ++i) acc += (double)xv[(size_t)t * in + i] * wv[(size_t)o * in + i];
        ref[(size_t)t * out + o] = acc;
      }
    const double scale = std::sqrt((double)in) / 3;  // typical |y|
    if (f32_out) {
      blas::gemm_bf16_f32out(g_gemm, d_x.p, d_w.p, bias ? d_bf.p : nullptr, d_yf.p, n, in, out, 0);
      compare(name, d_yf.download(), ref, 1e-3 * scale, 1e-3, 1e-3);
    } else {
      blas::gemm_bf16(g_gemm, d_x.p, d_w.p, bias ? d_b.p : nullptr, d_y.p, n, in, out, 0);
      compare(name, to_float(d_y.download()), ref, 1e-2 * scale, 1e-2, kBfL2);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// HiP: decode mask estimation (hip_mask_decode) and block-sparse decode (hip_decode) against the CPU
// reference of native/hip (hip::select_key_blocks, hip::block_sparse_attention).

// One decode step at position n_keys - 1: GPU mask vs hip::select_key_blocks. Exact-input flavours must match
// exactly; random inputs report identity and must reach Jaccard >= 0.95.
static void test_hip_mask(const std::string& label, const hh::HipConfig& config, int n_heads, int n_kv,
                          int head_dim, int page_size, int n_keys, HipInputs inputs) {
  const std::string name = "hip_mask_decode " + label + " keys=" + std::to_string(n_keys) +
                           " heads=" + std::to_string(n_heads) + "/" + std::to_string(n_kv) +
                           " d=" + std::to_string(head_dim) + " page=" + std::to_string(page_size) +
                           (inputs == HipInputs::Random ? " random" : " eighths") +
                           (inputs == HipInputs::EighthsPlanted ? "+planted" : "");
  run_test(name, [&] {
    HostCache hc(n_kv, head_dim, page_size, n_keys);
    std::vector<float> qv;
    auto q = rand_bf16((size_t)n_heads * head_dim, -1, 1, &qv);
    const int t = n_keys - 1;
    if (inputs != HipInputs::Random) {
      fill_eighths(hc.k, hc.kf, 3);
      fill_eighths(q, qv, 3);
    }
    if (inputs == HipInputs::EighthsPlanted) {
      const int group = n_heads / n_kv;
      const int64_t cand_end = t - config.window_tokens + 1;
      std::vector<int> spots;
      for (int i = 1; i <= 3; ++i) spots.push_back((int)cand_end - i);
      std::uniform_int_distribution<int> dp((int)config.sink_tokens, std::max<int>((int)cand_end - 1, 0));
      for (int i = 0; i < 5; ++i) spots.push_back(dp(g_rng));
      for (int p : spots) {
        if (p < config.sink_tokens || p >= cand_end) continue;
        for (int h = 0; h < n_kv; ++h) {
          const float* qh = &qv[(size_t)(h * group) * head_dim];  // aligned with the group's first head
          for (int d = 0; d < head_dim; ++d) {
            const size_t o = hc.offset(p, h) + d;
            hc.k[o] = tobf(qh[d] >= 0 ? 0.375f : -0.375f);
            hc.kf[o] = bf(hc.k[o]);
          }
        }
      }
    }
    DevCache dc(hc);
    // CPU reference.
    const std::vector<float> keys = hip_contiguous(hc, hc.kf, n_keys);
    const hh::HipQueries queries{qv.data(), 1, n_heads, head_dim, t};
    const hh::HipKv kv{keys.data(), nullptr, n_keys, n_kv, head_dim};
    const std::vector<int64_t> want = hh::select_key_blocks(config, queries, kv, 0);
    // GPU.
    const HipMaskConfig mc = to_mask_config(config);
    Dev<bf16> d_q(q);
    Dev<int32_t> d_blocks(mc.max_blocks()), d_count(1);
    Dev<uint8_t> ws(hip_mask_decode_workspace_bytes(mc, t));
    CK(cudaMemset(d_count.p, 0xff, sizeof(int32_t)));
    hip_mask_decode(d_q.p, dc.kv, n_heads, t, mc, d_blocks.p, d_count.p, ws.p, ws.n, 0);
    const int count = d_count.download()[0];
    if (count < 0 || count > mc.max_blocks()) {
      record(name, false, "bad count " + std::to_string(count));
      return;
    }
    const auto blocks = d_blocks.download();
    std::vector<int64_t> got(blocks.begin(), blocks.begin() + count);
    const bool identical = got == want;
    const double jac = jaccard(got, want);
    char buf[200];
    std::snprintf(buf, sizeof buf, "%zu blocks (want %zu), %s, jaccard=%.4f", got.size(), want.size(),
                  identical ? "identical" : "DIFFERENT", jac);
    std::string detail = buf;
    if (!identical) {
      size_t i = 0;
      while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
      detail += " first diff at " + std::to_string(i) + ": got " +
                (i < got.size() ? std::to_string(got[i]) : std::string("end")) + " want " +
                (i < want.size() ? std::to_string(want[i]) : std::string("end"));
    }
    const bool ok = inputs == HipInputs::Random ? jac >= 0.95 : identical;
    record(name, ok, detail);
  });
}

// hip_decode with a given mask vs hip::block_sparse_attention (same mask), and, when the window covers every
// key, vs attention_decode and the double reference. custom_mask: a hand-made mask with blocks that straddle
// the sink and the window begin and one entirely inside the window (all clipped); otherwise the CPU estimate.
static void test_hip_decode(const hh::HipConfig& config, int n_heads, int n_kv, int head_dim, int page_size,
                            int n_keys, bool custom_mask, int n_splits) {
  const std::string name =
      "hip_decode keys=" + std::to_string(n_keys) + " heads=" + std::to_string(n_heads) + "/" +
      std::to_string(n_kv) + " d=" + std::to_string(head_dim) + " page=" + std::to_string(page_size) +
      " sink=" + std::to_string(config.sink_tokens) + " win=" + std::to_string(config.window_tokens) +
      " bk=" + std::to_string(config.block_k()) + (custom_mask ? " custom-mask" : "") +
      " splits=" + std::to_string(n_splits);
  run_test(name, [&] {
    HostCache hc(n_kv, head_dim, page_size, n_keys);
    DevCache dc(hc);
    std::vector<float> qv;
    auto q = rand_bf16((size_t)n_heads * head_dim, -1, 1, &qv);
    const int t = n_keys - 1;
    const std::vector<float> keys = hip_contiguous(hc, hc.kf, n_keys),
                             values = hip_contiguous(hc, hc.vf, n_keys);
    const hh::HipQueries queries{qv.data(), 1, n_heads, head_dim, t};
    const hh::HipKv kv{keys.data(), values.data(), n_keys, n_kv, head_dim};
    hh::HipMask mask{config.block_q, config.block_k(), {}};
    const int64_t bk = config.block_k();
    const int64_t w = std::max<int64_t>(0, t - config.window_tokens + 1);
    if (custom_mask) {
      std::vector<int64_t> b;
      if (config.sink_tokens >= 3) b.push_back(config.sink_tokens - 3);  // straddles the sink end
      for (int64_t s = config.sink_tokens + 5 * bk; s + 2 * bk < w; s += 7 * bk) b.push_back(s);
      if (w > 1 && w - 1 >= (b.empty() ? 0 : b.back() + bk)) b.push_back(w - 1);           // straddles w
      if (w + 2 * bk <= t && (b.empty() || b.back() + bk <= w + bk)) b.push_back(w + bk);  // in the window
      mask.blocks.push_back(b);
    } else {
      mask.blocks.push_back(hh::select_key_blocks(config, queries, kv, 0));
    }
    std::vector<float> ref_out((size_t)n_heads * head_dim);
    hh::block_sparse_attention(config, mask, queries, kv, ref_out.data());
    const std::vector<int32_t> blocks(mask.blocks[0].begin(), mask.blocks[0].end());
    const int max_blocks = std::max<int>((int)blocks.size(), 1);
    Dev<int32_t> d_blocks(std::vector<int32_t>(max_blocks, 0)),
        d_count(std::vector<int32_t>{(int)blocks.size()});
    if (!blocks.empty()) d_blocks.upload(blocks);
    Dev<bf16> d_q(q), d_out((size_t)n_heads * head_dim);
    const int max_att =
        hip_decode_max_attended(t, (int)config.sink_tokens, (int)config.window_tokens, max_blocks, (int)bk);
    const int splits = n_splits > 0 ? n_splits : hip_decode_splits(n_heads, n_kv, max_att);
    Dev<float> ws(hip_decode_workspace_bytes(n_heads, head_dim, splits) / sizeof(float) + 1);
    const float scale = 1.f / std::sqrt((float)head_dim);
    CK(cudaMemset(d_out.p, 0xff, d_out.n * sizeof(bf16)));  // NaNs: every output must be written
    hip_decode(d_q.p, dc.kv, d_out.p, n_heads, t, (int)config.sink_tokens, (int)config.window_tokens,
               d_blocks.p, d_count.p, max_blocks, (int)bk, scale, splits, ws.p, ws.n * sizeof(float), 0);
    const auto got = to_float(d_out.download());
    char info[64];
    std::snprintf(info, sizeof info, " (%zu blocks)", blocks.size());
    compare(name + " vs block_sparse_attention" + info, got,
            std::vector<double>(ref_out.begin(), ref_out.end()), kAttnAtol, kAttnRtol, kAttnL2);
    if (w == 0) {  // dense: the window covers every key
      compare(name + " vs dense reference", got, attention_ref(qv, hc, 1, n_heads, t, 0, scale), kAttnAtol,
              kAttnRtol, kAttnL2);
      const int dsplits = attention_decode_splits(n_heads, n_kv, n_keys);
      Dev<float> dws(attention_decode_workspace_bytes(n_heads, head_dim, dsplits) / sizeof(float) + 1);
      Dev<bf16> d_dense((size_t)n_heads * head_dim);
      attention_decode(d_q.p, dc.kv, d_dense.p, n_heads, n_keys, nullptr, 0, scale, dsplits, dws.p,
                       dws.n * sizeof(float), 0);
      const auto dense = to_float(d_dense.download());
      compare(name + " vs attention_decode", got, std::vector<double>(dense.begin(), dense.end()), kAttnAtol,
              kAttnRtol, kAttnL2);
    }
  });
}

// The full decode pipeline on the GPU (mask then attention) vs the CPU (select_key_blocks then
// block_sparse_attention) at one position.
static void test_hip_pipeline(const hh::HipConfig& config, int n_heads, int n_kv, int head_dim, int page_size,
                              int n_keys) {
  const std::string name = "hip pipeline (mask + decode) keys=" + std::to_string(n_keys) +
                           " heads=" + std::to_string(n_heads) + "/" + std::to_string(n_kv) +
                           " d=" + std::to_string(head_dim) + " sink=" + std::to_string(config.sink_tokens) +
                           " win=" + std::to_string(config.window_tokens);
  run_test(name, [&] {
    HostCache hc(n_kv, head_dim, page_size, n_keys);
    DevCache dc(hc);
    std::vector<float> qv;
    auto q = rand_bf16((size_t)n_heads * head_dim, -1, 1, &qv);
    const int t = n_keys - 1;
    const std::vector<float> keys = hip_contiguous(hc, hc.kf, n_keys),
                             values = hip_contiguous(hc, hc.vf, n_keys);
    const hh::HipQueries queries{qv.data(), 1, n_heads, head_dim, t};
    const hh::HipKv kv{keys.data(), values.data(), n_keys, n_kv, head_dim};
    const hh::HipMask mask = hh::estimate_hip_mask(config, queries, kv);
    std::vector<float> ref_out((size_t)n_heads * head_dim);
    hh::block_sparse_attention(config, mask, queries, kv, ref_out.data());
    const HipMaskConfig mc = to_mask_config(config);
    Dev<bf16> d_q(q), d_out((size_t)n_heads * head_dim);
    Dev<int32_t> d_blocks(mc.max_blocks()), d_count(1);
    Dev<uint8_t> mws(hip_mask_decode_workspace_bytes(mc, t));
    const int splits = hip_decode_splits(
        n_heads, n_kv,
        hip_decode_max_attended(t, mc.sink_tokens, mc.window_tokens, mc.max_blocks(), mc.block_k()));
    Dev<float> ws(hip_decode_workspace_bytes(n_heads, head_dim, splits) / sizeof(float) + 1);
    const float scale = 1.f / std::sqrt((float)head_dim);
    hip_mask_decode(d_q.p, dc.kv, n_heads, t, mc, d_blocks.p, d_count.p, mws.p, mws.n, 0);
    hip_decode(d_q.p, dc.kv, d_out.p, n_heads, t, mc.sink_tokens, mc.window_tokens, d_blocks.p, d_count.p,
               mc.max_blocks(), mc.block_k(), scale, splits, ws.p, ws.n * sizeof(float), 0);
    compare(name, to_float(d_out.download()), std::vector<double>(ref_out.begin(), ref_out.end()), kAttnAtol,
            kAttnRtol, kAttnL2);
  });
}

static void test_hip() {
  const hh::HipConfig small = hip_small_config();
  const hh::HipConfig dflt;  // sink 256, window 1024, 256/32K, 32/8K, 8/2K
  // (a) masks. Exact inputs: bit-identical; awkward lengths so the last chunk of every stage is clipped.
  test_hip_mask("small", small, 28, 4, 128, 64, 8192 + 37, HipInputs::Eighths);
  test_hip_mask("small", small, 28, 4, 128, 64, 8192 + 37, HipInputs::EighthsPlanted);
  test_hip_mask("small", small, 28, 4, 128, 64, 65536 - 11, HipInputs::Eighths);
  test_hip_mask("small", small, 28, 4, 128, 16, 65536 - 11, HipInputs::EighthsPlanted);
  test_hip_mask("default", dflt, 28, 4, 128, 64, 65536 - 11, HipInputs::Eighths);
  test_hip_mask("default", dflt, 28, 4, 128, 64, 65536 - 11, HipInputs::EighthsPlanted);
  test_hip_mask("default", dflt, 28, 4, 128, 64, 65536 - 11, HipInputs::Random);
  // 4-key pages: a 256-key chunk spans 64 pages, more than a warp holds, so each key's page is looked up.
  test_hip_mask("default page 4", dflt, 28, 4, 128, 4, 20000 + 5, HipInputs::EighthsPlanted);
  test_hip_mask("small", small, 28, 4, 128, 64, 8192 + 37, HipInputs::Random);
  // Keep-all shortcuts (stage 0 not scored), no candidates at all, one-key chunks, other geometries.
  test_hip_mask("small", small, 28, 4, 128, 64, 1500, HipInputs::Eighths);
  test_hip_mask("small", small, 28, 4, 128, 64, 700, HipInputs::EighthsPlanted);
  test_hip_mask("small", small, 28, 4, 128, 64, 300, HipInputs::Eighths);
  test_hip_mask("small", small, 28, 4, 128, 64, 200, HipInputs::Eighths);
  {
    hh::HipConfig c = small;
    c.stages = {{64, 1024, 1}, {8, 256, 1}, {1, 64, 1}};  // one-key chunks in the last stage
    test_hip_mask("1-key-chunks", c, 28, 4, 128, 64, 5000 + 3, HipInputs::Eighths);
    c.bf16_scoring = false;
    test_hip_mask("1-key-chunks f32-scores", c, 28, 4, 128, 64, 5000 + 3, HipInputs::Eighths);
    c = small;
    c.stages = {{32, 512, 1}};  // a single stage
    test_hip_mask("1-stage", c, 8, 8, 64, 32, 4000 + 9, HipInputs::Eighths);
    c = small;
    c.sink_tokens = 0;
    test_hip_mask("sink0", c, 32, 2, 64, 16, 9000 + 1, HipInputs::EighthsPlanted);  // group of 16
    test_hip_mask("sink0", c, 32, 2, 64, 16, 9000 + 1, HipInputs::Random);
  }
  // (b) decode with the same mask as the CPU; custom masks with clipped blocks; dense equivalence.
  test_hip_decode(small, 28, 4, 128, 64, 8192 + 37, false, 0);
  test_hip_decode(small, 28, 4, 128, 16, 8192 + 37, true, 0);
  test_hip_decode(small, 28, 4, 128, 64, 8192 + 37, true, 3);
  test_hip_decode(dflt, 28, 4, 128, 64, 65536 - 11, false, 0);
  test_hip_decode(small, 8, 8, 64, 32, 3000 + 5, true, 0);
  test_hip_decode(small, 40, 2, 128, 64, 3000 + 5, true, 0);  // 20 heads per group -> 2 head chunks
  {
    hh::HipConfig c = small;
    c.window_tokens = 1 << 20;  // the window covers everything: dense attention
    test_hip_decode(c, 28, 4, 128, 64, 5000, false, 0);
    test_hip_decode(c, 28, 4, 128, 64, 1, false, 0);
    test_hip_decode(c, 8, 8, 64, 16, 777, false, 0);
    c.window_tokens = 1;  // only the query itself (+ sink + blocks)
    test_hip_decode(c, 28, 4, 128, 64, 3000, true, 0);
  }
  // (c) the whole pipeline; pages are permuted in every HostCache.
  test_hip_pipeline(small, 28, 4, 128, 64, 20000 + 3);
  test_hip_pipeline(dflt, 28, 4, 128, 64, 65536 + 100);
}

// Median time of one replayed hip_decode (the query at t with the mask blocks / count): 16 calls recorded in
// a CUDA graph through a HipDecodeReplay, as the engine's decode steps replay them, timed per call.
template <typename Decode>
static double time_hip_decode_graph(Decode decode, int t, const HipMaskConfig& mc, const int32_t* blocks,
                                    const int32_t* count) {
  constexpr int kCalls = 16;
  Dev<int32_t> key_count(std::vector<int32_t>{t + 1});
  Dev<HipDecodeLayer> layer(std::vector<HipDecodeLayer>{
      hip_decode_layer(t, mc.sink_tokens, mc.window_tokens, blocks, count, nullptr)});
  const HipDecodeReplay replay{key_count.p, layer.p};
  cudaStream_t stream = nullptr;
  CK(cudaStreamCreate(&stream));  // ordered with the legacy stream's events
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  CK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeRelaxed));
  for (int i = 0; i < kCalls; ++i) decode(stream, &replay);
  CK(cudaStreamEndCapture(stream, &graph));
  CK(cudaGraphInstantiate(&exec, graph, 0));
  const double us = time_us([&] { CK(cudaGraphLaunch(exec, stream)); });
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(stream);
  return us / kCalls;
}

static void bench_hip() {
  const int NH = 28, NKV = 4, D = 128;
  std::printf(
      "-- HiP decode (heads %d/%d, d=%d, page 64, default config sink 256 / window 1024 / "
      "256:32K, 32:8K, 8:2K)\n",
      NH, NKV, D);
  for (int n_keys : {131072, 1048576}) {
    const int page = 64, pages = n_keys / page + 1, t = n_keys - 1;
    Dev<bf16> kp((size_t)pages * page * NKV * D), vp((size_t)pages * page * NKV * D), q((size_t)NH * D),
        out((size_t)NH * D);
    fill_random_device(kp);
    fill_random_device(vp);
    fill_random_device(q);
    std::vector<int32_t> table(pages);
    std::iota(table.begin(), table.end(), 0);
    std::shuffle(table.begin(), table.end(), g_rng);
    Dev<int32_t> d_table(table);
    PagedKv kv{kp.p, vp.p, d_table.p, pages, page, pages, NKV, D};
    const HipMaskConfig mc;
    Dev<int32_t> blocks(mc.max_blocks()), count(1);
    Dev<uint8_t> mws(hip_mask_decode_workspace_bytes(mc, t));
    const double us_mask =
        time_us([&] { hip_mask_decode(q.p, kv, NH, t, mc, blocks.p, count.p, mws.p, mws.n, 0); });
    const int n_blocks = count.download()[0];
    const int max_att =
        hip_decode_max_attended(t, mc.sink_tokens, mc.window_tokens, mc.max_blocks(), mc.block_k());
    const int splits = hip_decode_splits(NH, NKV, max_att);
    Dev<float> ws(hip_decode_workspace_bytes(NH, D, splits) / sizeof(float));
    const float scale = 1.f / std::sqrt((float)D);
    const double us_bsa = time_us([&] {
      hip_decode(q.p, kv, out.p, NH, t, mc.sink_tokens, mc.window_tokens, blocks.p, count.p, mc.max_blocks(),
                 mc.block_k(), scale, splits, ws.p, ws.n * sizeof(float), 0);
    });
    const double us_bsa_graph = time_hip_decode_graph(
        [&](cudaStream_t stream, const HipDecodeReplay* replay) {
          hip_decode(q.p, kv, out.p, NH, t, mc.sink_tokens, mc.window_tokens, blocks.p, count.p,
                     mc.max_blocks(), mc.block_k(), scale, splits, ws.p, ws.n * sizeof(float), stream,
                     nullptr, replay);
        },
        t, mc, blocks.p, count.p);
    const int dsplits = attention_decode_splits(NH, NKV, n_keys);
    Dev<float> dws(attention_decode_workspace_bytes(NH, D, dsplits) / sizeof(float));
    const double us_dense = time_us([&] {
      attention_decode(q.p, kv, out.p, NH, n_keys, nullptr, 0, scale, dsplits, dws.p, dws.n * sizeof(float),
                       0);
    });
    const double attended = (double)mc.sink_tokens + (double)n_blocks * mc.block_k() + mc.window_tokens;
    std::printf(
        "hip keys=%-8d mask (3 stages) %9.1f us | hip_decode %4d blocks, splits=%-3d %7.1f us %6.0f GB/s "
        "| dense attention_decode %9.1f us | mask+decode %.2fx dense\n",
        n_keys, us_mask, n_blocks, splits, us_bsa, 2.0 * attended * NKV * D * 2 / us_bsa * 1e-3, us_dense,
        (us_mask + us_bsa) / us_dense);
    // The refreshes of the default schedule (16 / 8 / 4 steps): of 16 steps, 1 re-runs stages 0-2, 1 stages
    // 1-2, 2 stage 2 and all 16 run hip_decode.
    Dev<int32_t> lists(hip_mask_stage_lists_ints(mc));
    auto staged = [&](int first) {
      hip_mask_decode_staged(q.p, kv, NH, t, mc, first, lists.p, blocks.p, count.p, mws.p, mws.n, 0);
    };
    staged(0);
    const double us_from1 = time_us([&] { staged(1); }), us_from2 = time_us([&] { staged(2); });
    const double us_schedule = (us_mask + us_from1 + 2 * us_from2) / 16 + us_bsa;
    // The engine runs the 4 refresh steps eagerly and replays the 12 others as a CUDA graph.
    const double us_engine = (us_mask + us_from1 + 2 * us_from2 + 4 * us_bsa + 12 * us_bsa_graph) / 16;
    std::printf(
        "hip keys=%-8d refresh stages 1-2 %7.1f us, stage 2 %7.1f us | decode averaged over the (16, 8, 4) "
        "schedule %7.1f us (%.1fx faster than dense)\n",
        n_keys, us_from1, us_from2, us_schedule, us_dense / us_schedule);
    std::printf(
        "hip keys=%-8d hip_decode in a CUDA graph %7.1f us | averaged with the 12 steps between refreshes "
        "recorded %7.1f us (%.1fx faster than dense)\n",
        n_keys, us_bsa_graph, us_engine, us_dense / us_engine);
  }
}

// One decode step's per-layer kernels of the Qwen2.5-7B geometry (28 layers, context `keys`) captured in a
// CUDA graph, as the engine records them: the in-graph time of everything but the embedding and the LM head.
// With gemv_only, only the four GEMVs per layer (the weight-read floor's share).
static double time_decode_layers(int keys, bool gemv_only) {
  const int H = 3584, NH = 28, NKV = 4, D = 128, I = 18944, L = 28, page = 64, pages = keys / page + 1;
  const int QKV = (NH + 2 * NKV) * D;
  Dev<bf16> w_qkv((size_t)L * QKV * H), w_o((size_t)L * H * H), w_gu((size_t)L * 2 * I * H),
      w_down((size_t)L * H * I), norm((size_t)H);
  for (Dev<bf16>* w : {&w_qkv, &w_o, &w_gu, &w_down, &norm}) fill_random_device(*w);
  Dev<float> residual((size_t)H), inv_freq((size_t)D / 2);
  fill_random_device(residual);
  fill_random_device(inv_freq);
  Dev<bf16> normed((size_t)H), qkv((size_t)QKV), att((size_t)NH * D), gu((size_t)2 * I), act((size_t)I);
  Dev<bf16> kp((size_t)pages * page * NKV * D), vp((size_t)pages * page * NKV * D);
  fill_random_device(kp);
  fill_random_device(vp);
  std::vector<int32_t> table(pages);
  std::iota(table.begin(), table.end(), 0);
  Dev<int32_t> d_table(table), position(std::vector<int32_t>{keys - 1}), n_keys(std::vector<int32_t>{keys});
  const PagedKv kv{kp.p, vp.p, d_table.p, pages, page, pages, NKV, D};
  const int splits = attention_decode_splits(NH, NKV, pages * page);
  Dev<float> ws(attention_decode_workspace_bytes(NH, D, splits) / sizeof(float));
  cudaStream_t stream;
  CK(cudaStreamCreate(&stream));  // ordered with the legacy stream's events
  auto layer = [&](int l) {
    bf16 *q = qkv.p, *k = qkv.p + NH * D, *v = k + NKV * D;
    if (!gemv_only) add_rms_norm(residual.p, nullptr, norm.p, normed.p, 1, H, 1e-6f, stream);
    const GemvSegment qkv_segments[] = {
        {w_qkv.p + (size_t)l * QKV * H, nullptr, q, NH * D},
        {w_qkv.p + ((size_t)l * QKV + NH * D) * H, nullptr, k, NKV * D},
        {w_qkv.p + ((size_t)l * QKV + (NH + NKV) * D) * H, nullptr, v, NKV * D}};
    gemv(normed.p, qkv_segments, 3, H, GemvOutput::BF16, stream);
    if (!gemv_only) {
      rope(q, k, position.p, inv_freq.p, 1.f, 1, NH, NKV, D, stream);
      kv_write(kv, k, v, position.p, 1, stream);
      attention_decode(q, kv, att.p, NH, keys, n_keys.p, 0, 0.088f, splits, ws.p, ws.n * sizeof(float),
                       stream);
    }
    gemv(att.p, w_o.p + (size_t)l * H * H, nullptr, residual.p, H, H, GemvOutput::F32_ADD, stream);
    if (!gemv_only) add_rms_norm(residual.p, nullptr, norm.p, normed.p, 1, H, 1e-6f, stream);
    const GemvSegment gu_segments[] = {{w_gu.p + (size_t)l * 2 * I * H, nullptr, gu.p, I},
                                       {w_gu.p + ((size_t)l * 2 * I + I) * H, nullptr, gu.p + I, I}};
    gemv(normed.p, gu_segments, 2, H, GemvOutput::BF16, stream);
    if (!gemv_only) swiglu(gu.p, gu.p + I, I, act.p, 1, I, stream);
    gemv(act.p, w_down.p + (size_t)l * H * I, nullptr, residual.p, H, I, GemvOutput::F32_ADD, stream);
  };
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  CK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeRelaxed));
  for (int l = 0; l < L; ++l) layer(l);
  CK(cudaStreamEndCapture(stream, &graph));
  CK(cudaGraphInstantiate(&exec, graph, 0));
  const double us = time_us([&] { CK(cudaGraphLaunch(exec, 0)); }, 30);
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(stream);
  return us;
}

static void bench_decode_layers() {
  const double weight_bytes = 28.0 * 2 * 3584 * ((28 + 8) * 128 + 3584 + 3 * 18944);
  std::printf("-- decode step layers in a CUDA graph (qwen2.5-7b, 28 layers, %.2f GB of weights; PDL %s)\n",
              weight_bytes * 1e-9, std::getenv("HIPCODE_PDL") ? std::getenv("HIPCODE_PDL") : "default");
  const double gemv_us = time_decode_layers(8192, true);
  const double all_us = time_decode_layers(8192, false);
  std::printf("4 GEMVs x 28 %8.1f us (%5.0f GB/s) | all layer kernels at 8K keys %8.1f us\n", gemv_us,
              weight_bytes / gemv_us * 1e-3, all_us);
}

static void bench() {
  cudaDeviceProp prop{};
  CK(cudaGetDeviceProperties(&prop, 0));
  std::printf("\n== bench on %s (%d SMs) ==\n", prop.name, prop.multiProcessorCount);
  const int H = 3584, NH = 28, NKV = 4, D = 128, I = 18944, VOCAB = 152064;

  if (g_gemm) {
    std::printf("-- gemm (%s)\n", blas::gemm_describe(g_gemm).c_str());
    struct Shape {
      const char* name;
      int in, out;
      bool f32;
    };
    const Shape shapes[] = {{"qkv", H, H + 2 * NKV * D, false},
                            {"o_proj", H, H, false},
                            {"gate_up", H, 2 * I, false},
                            {"down", I, H, false},
                            {"lm_head", H, VOCAB, true}};
    for (int n : {1, 4096}) {
      for (const auto& s : shapes) {
        Dev<bf16> x((size_t)n * s.in), w((size_t)s.out * s.in), y((size_t)n * s.out);
        Dev<float> yf(s.f32 ? (size_t)n * s.out : 1);
        fill_random_device(x);
        fill_random_device(w);
        const double us = time_us([&] {
          if (s.f32) {
            blas::gemm_bf16_f32out(g_gemm, x.p, w.p, nullptr, yf.p, n, s.in, s.out, 0);
          } else {
            blas::gemm_bf16(g_gemm, x.p, w.p, nullptr, y.p, n, s.in, s.out, 0);
          }
        });
        const double flops = 2.0 * n * s.in * s.out;
        const double bytes =
            2.0 * ((double)s.out * s.in + (double)n * s.in) + (s.f32 ? 4.0 : 2.0) * n * s.out;
        std::printf("gemm %-8s n=%-5d in=%-6d out=%-6d %9.1f us %7.1f TFLOP/s %7.0f GB/s\n", s.name, n, s.in,
                    s.out, us, flops / us * 1e-6, bytes / us * 1e-3);
      }
    }
  } else {
    std::printf("SKIP gemm bench: %s\n", g_gemm_reason.c_str());
  }

  bench_decode_layers();
  std::printf("-- gemv (decode, n=1)\n");
  {
    struct Shape {
      const char* name;
      int in, out;
    };
    const Shape shapes[] = {{"q/o_proj", H, H},
                            {"k/v_proj", H, NKV * D},
                            {"gate/up", H, I},
                            {"down", I, H},
                            {"lm_head", H, VOCAB}};
    for (const auto& s : shapes) {
      Dev<bf16> x((size_t)s.in), w((size_t)s.out * s.in);
      Dev<float> y((size_t)s.out);
      fill_random_device(x);
      fill_random_device(w);
      const double us = time_us([&] { gemv(x.p, w.p, nullptr, y.p, s.out, s.in, GemvOutput::F32, 0); });
      std::printf("gemv %-9s in=%-6d out=%-7d %8.1f us %7.0f GB/s\n", s.name, s.in, s.out, us,
                  2.0 * s.in * s.out / us * 1e-3);
    }
  }

  std::printf("-- attention prefill (heads %d/%d, d=%d, page 64)\n", NH, NKV, D);
  for (int total : {4096, 32768}) {
    const int n_q = 4096, pos0 = total - n_q, page = 64;
    PagedKv kv{};
    const int pages = total / page + 1;
    Dev<bf16> kp((size_t)pages * page * NKV * D), vp((size_t)pages * page * NKV * D), q((size_t)n_q * NH * D),
        out((size_t)n_q * NH * D);
    fill_random_device(kp);
    fill_random_device(vp);
    fill_random_device(q);
    std::vector<int32_t> table(pages);
    std::iota(table.begin(), table.end(), 0);
    Dev<int32_t> d_table(table);
    kv = PagedKv{kp.p, vp.p, d_table.p, pages, page, pages, NKV, D};
    double pairs = 0;  // exact causal (query, key) pairs
    for (int t = 0; t < n_q; ++t) pairs += pos0 + t + 1;
    const double flops = 4.0 * pairs * D * NH;
    const float scale = 1.f / std::sqrt((float)D);
    attention_prefill_sm90_set_enabled(false);
    const double us = time_us([&] { attention_prefill(q.p, kv, out.p, n_q, NH, pos0, 0, scale, 0); }, 20);
    attention_prefill_sm90_set_enabled(true);
    std::printf("prefill mma.sync n_q=%d keys=%-6d %10.1f us %7.1f TFLOP/s (causal pairs counted exactly)\n",
                n_q, total, us, flops / us * 1e-6);
    if (attention_prefill_sm90_available()) {
      const double us90 =
          time_us([&] { attention_prefill_sm90(q.p, kv, out.p, n_q, NH, pos0, 0, scale, 0); }, 20);
      std::printf(
          "prefill sm90     n_q=%d keys=%-6d %10.1f us %7.1f TFLOP/s (causal pairs counted exactly)\n", n_q,
          total, us90, flops / us90 * 1e-6);
    } else {
      std::printf("SKIP prefill sm90 bench: needs compute capability 9.0 and sm_90a code\n");
    }
  }

  std::printf("-- attention decode (heads %d/%d, d=%d, page 64)\n", NH, NKV, D);
  for (int n_keys : {8192, 131072, 1048576}) {
    const int page = 64, pages = n_keys / page + 1;
    Dev<bf16> kp((size_t)pages * page * NKV * D), vp((size_t)pages * page * NKV * D), q((size_t)NH * D),
        out((size_t)NH * D);
    fill_random_device(kp);
    fill_random_device(vp);
    fill_random_device(q);
    std::vector<int32_t> table(pages);
    std::iota(table.begin(), table.end(), 0);
    Dev<int32_t> d_table(table);
    PagedKv kv{kp.p, vp.p, d_table.p, pages, page, pages, NKV, D};
    const int splits = attention_decode_splits(NH, NKV, n_keys);
    Dev<float> ws(attention_decode_workspace_bytes(NH, D, splits) / sizeof(float));
    const double us = time_us([&] {
      attention_decode(q.p, kv, out.p, NH, n_keys, nullptr, 0, 1.f / std::sqrt((float)D), splits, ws.p,
                       ws.n * sizeof(float), 0);
    });
    const double bytes = 2.0 * n_keys * NKV * D * 2;
    std::printf("decode keys=%-8d splits=%-4d %9.1f us %7.0f GB/s of KV\n", n_keys, splits, us,
                bytes / us * 1e-3);
  }

  bench_hip();
  bench_hip_prefill();

  std::printf("-- element-wise (n=4096 tokens unless noted)\n");
  {
    const int n = 4096;
    Dev<bf16> x((size_t)n * H), w(H), y((size_t)n * H);
    Dev<float> res((size_t)n * H);
    fill_random_device(x);
    fill_random_device(w);
    fill_random_device(res);
    double us = time_us([&] { rms_norm(x.p, w.p, y.p, n, H, 1e-6f, 0); });
    std::printf("rms_norm      n=%d hidden=%d %8.1f us %7.0f GB/s\n", n, H, us, 4.0 * n * H / us * 1e-3);
    us = time_us([&] { add_rms_norm(res.p, x.p, w.p, y.p, n, H, 1e-6f, 0); });
    std::printf("add_rms_norm  n=%d hidden=%d %8.1f us %7.0f GB/s\n", n, H, us, 12.0 * n * H / us * 1e-3);
    us = time_us([&] { add_rms_norm(res.p, x.p, w.p, y.p, 1, H, 1e-6f, 0); });
    std::printf("add_rms_norm  n=1 hidden=%d %8.1f us\n", H, us);

    Dev<bf16> qk((size_t)n * (NH + NKV) * D);
    fill_random_device(qk);
    std::vector<int32_t> pos(n);
    std::iota(pos.begin(), pos.end(), 0);
    Dev<int32_t> d_pos(pos);
    std::vector<float> inv_freq(D / 2);
    for (int i = 0; i < D / 2; ++i) inv_freq[i] = (float)std::pow(1e6, -2.0 * i / D);
    Dev<float> d_f(inv_freq);
    us = time_us([&] { rope(qk.p, qk.p + (size_t)n * NH * D, d_pos.p, d_f.p, 1.f, n, NH, NKV, D, 0); });
    std::printf("rope          n=%d           %8.1f us %7.0f GB/s\n", n, us,
                4.0 * n * (NH + NKV) * D / us * 1e-3);

    Dev<bf16> gu((size_t)n * 2 * I), act((size_t)n * I);
    fill_random_device(gu);
    us = time_us([&] { swiglu(gu.p, gu.p + I, 2 * I, act.p, n, I, 0); });
    std::printf("swiglu        n=%d inter=%d %8.1f us %7.0f GB/s\n", n, I, us, 6.0 * n * I / us * 1e-3);

    Dev<float> logits(VOCAB);
    fill_random_device(logits);
    Dev<int32_t> tok(1);
    Dev<uint8_t> ws(sampling_workspace_bytes(VOCAB));
    us = time_us([&] { argmax(logits.p, VOCAB, tok.p, 0); });
    std::printf("argmax        vocab=%d    %8.1f us\n", VOCAB, us);
    SamplingParams p;
    p.temperature = 0.7f;
    p.top_k = 50;
    p.top_p = 0.9f;
    us = time_us([&] { sample(logits.p, VOCAB, nullptr, 0, p, 0.3f, nullptr, tok.p, ws.p, ws.n, 0); });
    std::printf("sample k=50   vocab=%d    %8.1f us\n", VOCAB, us);
    p.top_k = 0;
    us = time_us([&] { sample(logits.p, VOCAB, nullptr, 0, p, 0.3f, nullptr, tok.p, ws.p, ws.n, 0); });
    std::printf("sample k=off  vocab=%d    %8.1f us\n", VOCAB, us);
  }
}

// ---------------------------------------------------------------------------------------------

// The element-wise, GEMV, KV-write, dense attention, sampling and GEMM kernels.
static void test_kernels() {
  test_embedding(487, 64, 5);
  test_embedding(487, 70, 3);
  test_embedding(2000, 3584, 9);
  test_rms_norm(3, 64);
  test_rms_norm(2, 100);
  test_rms_norm(5, 3584);
  test_rms_norm_heads(3, 4, 128);
  test_rms_norm_heads(2, 3, 24);
  test_rope(5, 28, 4, 128, 1e6f, 1.f);
  test_rope(3, 4, 2, 16, 1e4f, 1.2f);
  test_rope(3, 3, 1, 24, 1e4f, 1.f);
  test_swiglu(3, 100);
  test_swiglu(2, 18944);
  test_swiglu(1, 64);
  test_convert();
  test_gemv(131, 72, GemvOutput::BF16, true);
  test_gemv(37, 3584, GemvOutput::F32, false);
  test_gemv(45, 18944, GemvOutput::F32_ADD, true);
  test_gemv(513, 8192, GemvOutput::BF16, false);
  test_gemv(7, 32768, GemvOutput::F32_ADD, false);
  test_kv_write(4, 128, 64);
  test_kv_write(2, 24, 16);
  test_kv_write(3, 20, 8);

  // Tensor-core prefill (d=128 / 64) and the generic fallback (other d).
  test_prefill(77, 28, 4, 128, 64, 0, 0);
  test_prefill(50, 8, 2, 128, 16, 100, 0);
  test_prefill(130, 28, 4, 128, 32, 200, 37);
  test_prefill(1, 28, 4, 128, 64, 500, 0);
  test_prefill(1, 4, 4, 64, 32, 0, 0);
  test_prefill(65, 4, 1, 64, 16, 30, 0);
  test_prefill(640, 28, 4, 128, 64, 0, 0);  // 8-warp CTAs on a 132-SM GPU
  test_prefill(300, 28, 4, 128, 64, 64, 100);
  test_prefill(20, 40, 2, 128, 64, 5, 0);  // group of 20 heads
  test_prefill(33, 6, 2, 24, 16, 17, 0);
  test_prefill(9, 4, 2, 16, 8, 3, 5);
  test_prefill(17, 4, 4, 32, 64, 0, 0);
  test_prefill(12, 4, 2, 80, 16, 40, 0);

  // head_dim 128 through both paths (mma.sync and, on Hopper with sm_90a code, wgmma); pages permuted.
  test_prefill_paths(1, 28, 4, 64, 0, 0);
  test_prefill_paths(1, 28, 4, 64, 1000, 0);
  test_prefill_paths(7, 32, 8, 64, 33, 0);
  test_prefill_paths(7, 28, 4, 64, 1000, 1);  // window 1: each query sees only itself
  test_prefill_paths(64, 28, 4, 64, 0, 0);
  test_prefill_paths(65, 32, 8, 64, 33, 0);
  test_prefill_paths(65, 28, 4, 64, 1000, 300);
  test_prefill_paths(64, 32, 8, 16, 1000, 129);  // 16-key pages
  test_prefill_paths(200, 28, 4, 64, 0, 0);
  test_prefill_paths(200, 28, 4, 64, 33, 77);
  test_prefill_paths(200, 32, 8, 32, 1000, 0);
  test_prefill_paths(30, 40, 2, 64, 33, 0);  // group of 20 heads
  test_prefill_paths(4096, 4, 1, 64, 33, 0);
  test_prefill_paths(4096, 14, 2, 64, 1000, 300);
  test_prefill_split(40, 28, 4, 128, 64, 16000, 0, 9);
  test_prefill_split(7, 8, 2, 64, 16, 9000, 0, 1);
  test_prefill_split(40, 28, 4, 128, 32, 16000, 5000, 5);
  test_prefill_split(3, 28, 4, 128, 64, 9000, 0, 100);  // 71 key tiles: most of the 100 splits are empty
  test_split_and_select_errors();

  test_decode(28, 4, 128, 64, 1, 0, 0, false);
  test_decode(28, 4, 128, 64, 63, 0, 0, false);
  test_decode(28, 4, 128, 64, 1000, 0, 0, false);
  test_decode(28, 4, 128, 16, 5000, 0, 0, false);  // 313 pages
  test_decode(28, 4, 128, 64, 5000, 300, 0, false);
  test_decode(28, 4, 128, 64, 3000, 0, 7, false);
  test_decode(28, 4, 128, 64, 777, 0, 40, true);  // length from device memory, fixed splits
  test_decode(8, 8, 64, 32, 2049, 0, 0, false);
  test_decode(40, 2, 128, 64, 1500, 0, 0, false);  // 20 heads per group -> 2 head chunks
  test_decode(6, 2, 24, 16, 300, 0, 0, false);     // fallback
  test_decode(6, 2, 24, 16, 300, 50, 0, true);     // fallback, device length

  test_sampling();

  test_gemm(5, 64, 48, false, false);
  test_gemm(5, 64, 48, true, false);
  test_gemm(3, 3584, 512, true, false);
  test_gemm(7, 3584, 1000, false, true);
  test_gemm(1, 3584, 4608, true, false);
}

int main(int argc, char** argv) {
  bool do_bench = false, do_bench_decode = false, do_bench_hip_prefill = false, do_bench_kv_tiers = false,
       do_bench_kv_fp8 = false;
  const char* only = nullptr;  // --only GROUP: that group's tests alone
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--only") == 0 && i + 1 < argc) only = argv[++i];
    if (std::strcmp(argv[i], "--bench") == 0) do_bench = true;
    if (std::strcmp(argv[i], "--bench-decode") == 0) do_bench_decode = true;
    if (std::strcmp(argv[i], "--bench-hip-prefill") == 0) do_bench_hip_prefill = true;
    if (std::strcmp(argv[i], "--bench-kv-tiers") == 0) do_bench_kv_tiers = true;
    if (std::strcmp(argv[i], "--bench-kv-fp8") == 0) do_bench_kv_fp8 = true;
  }
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("no CUDA device\n0 passed, 1 failed\n");
    return 1;
  }
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, 0);
  std::printf("device: %s (sm_%d%d, %d SMs)\n", prop.name, prop.major, prop.minor, prop.multiProcessorCount);
  g_gemm = blas::gemm_init(&g_gemm_reason);
  std::printf("cuBLASLt: %s\n", g_gemm ? blas::gemm_describe(g_gemm).c_str() : g_gemm_reason.c_str());

  const std::pair<const char*, void (*)()> groups[] = {
      {"kernels", test_kernels},
      {"hip", test_hip},
      {"hip-prefill", test_hip_prefill},
      {"hip-mask-prefill", test_hip_mask_prefill},
      {"kv-tiers", test_kv_tiers},
      {"hip-hot-kv", test_hip_hot_kv},
      {"hip-probe-cache", test_hip_probe_cache},
      {"kv-fp8", test_kv_fp8},
  };
  bool known = only == nullptr;
  for (const auto& [name, run] : groups) {
    if (only && std::strcmp(only, name) != 0) continue;
    known = true;
    run();
  }
  if (!known) {
    std::string names;
    for (const auto& group : groups) names += std::string(names.empty() ? "" : ", ") + group.first;
    std::printf("--only: expected one of %s, got '%s'\n0 passed, 1 failed\n", names.c_str(), only);
    return 2;
  }

  if (do_bench_decode) bench_decode_layers();
  if (do_bench_kv_tiers) bench_kv_tiers();
  if (do_bench_kv_fp8) bench_kv_fp8_tiers();
  if (do_bench_hip_prefill) {
    bench_hip_prefill();
    bench_hip_mask_prefill();
  }
  if (do_bench) {
    try {
      bench();
    } catch (const std::exception& e) {
      record("bench", false, std::string("exception: ") + e.what());
    }
    try {
      bench_hip_mask_prefill();
    } catch (const std::exception& e) {
      record("bench hip_mask_prefill", false, std::string("exception: ") + e.what());
    }
  }
  if (g_gemm) blas::gemm_free(g_gemm);
  std::printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
