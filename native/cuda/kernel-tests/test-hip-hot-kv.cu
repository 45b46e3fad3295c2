// HiP decode through a hot copy (HipHotKv): every gathered row holds the K and V of its slot's key, taken
// from the previous copy when that held the key (checked with the pages zeroed after the first gather) and
// from the pages otherwise; hip_decode reading the copy gives hip_decode reading the pages bit for bit, at
// the update (a refresh that keeps the window begin, one that moves it) and at a later step whose window
// outgrew the copy; a copy laid out for another window begin is refused. A hip_decode recorded in a CUDA
// graph and replayed with another position, mask, hot copy and window staged on the device (HipDecodeReplay)
// gives the eager decode of that layout bit for bit.
#include <cstring>

#include "kernels/hip-decode.cuh"
#include "test-harness.cuh"
#include "test-hip-hot-kv.h"

namespace {

using namespace hipcode::cuda;

constexpr int kHeads = 28, kKvHeads = 4, kHeadDim = 128, kPageSize = 16, kKeys = 3000;
constexpr int kSink = 16, kWindow = 64, kBlockK = 8, kMaxBlocks = 12;

// The keys of a layout's slots (hand-written from the slot list's definition in hip-decode.cuh): the sink
// [0, min(sink, w)), block_k slots per block (-1 outside [sink, w)), then window_slots keys from w.
std::vector<int> slot_keys(int position, int window, int window_slots, const std::vector<int32_t>& blocks) {
  const int w = std::max(0, position - window + 1);
  std::vector<int> keys;
  for (int k = 0; k < std::min(kSink, w); ++k) keys.push_back(k);
  for (int32_t start : blocks) {
    for (int i = 0; i < kBlockK; ++i) keys.push_back(start + i >= kSink && start + i < w ? start + i : -1);
  }
  for (int i = 0; i < window_slots; ++i) keys.push_back(w + i);
  return keys;
}

struct HotCopy {
  Dev<bf16> k, v;
  Dev<int32_t> blocks;
  HipHotKv view;
  HotCopy()
      : k(size_t(capacity()) * kKvHeads * kHeadDim),
        v(size_t(capacity()) * kKvHeads * kHeadDim),
        blocks(kMaxBlocks + 1) {
    view.k = k.p;
    view.v = v.p;
    view.blocks = blocks.p;
    view.capacity = capacity();
  }
  static int capacity() { return hip_hot_kv_capacity(kSink, kWindow, kMaxBlocks, kBlockK); }
};

struct Mask {
  Dev<int32_t> blocks, count;
  explicit Mask(std::vector<int32_t> starts) : blocks(size_t(kMaxBlocks)), count(std::vector<int32_t>{0}) {
    const int n = int(starts.size());
    starts.resize(kMaxBlocks, 0);
    blocks.upload(starts);
    count.upload(std::vector<int32_t>{n});
  }
};

constexpr float kScale = 0.08838834764831845f;  // 1 / sqrt(kHeadDim)
constexpr int kReplaySplits = 24;

std::vector<bf16> decode(const DevCache& dc, const Dev<bf16>& q, int position, int window, const Mask& mask,
                         const HipHotKv* hot, int splits = 0) {
  if (splits == 0) {
    splits = hip_decode_splits(kHeads, kKvHeads,
                               hip_decode_max_attended(position, kSink, window, kMaxBlocks, kBlockK));
  }
  Dev<float> ws(hip_decode_workspace_bytes(kHeads, kHeadDim, splits) / sizeof(float) + 1);
  Dev<bf16> out(size_t(kHeads) * kHeadDim);
  hip_decode(q.p, dc.kv, out.p, kHeads, position, kSink, window, mask.blocks.p, mask.count.p, kMaxBlocks,
             kBlockK, kScale, splits, ws.p, ws.n * sizeof(float), 0, hot);
  return out.download();
}

// A hip_decode captured in a CUDA graph (kReplaySplits splits) for one layout, replayed for others.
class RecordedDecode {
 public:
  RecordedDecode(const DevCache& dc, const Dev<bf16>& q, int position, int window, const Mask& mask,
                 const HipHotKv* hot)
      : ws_(hip_decode_workspace_bytes(kHeads, kHeadDim, kReplaySplits) / sizeof(float) + 1),
        out_(size_t(kHeads) * kHeadDim),
        key_count_(1),
        layer_(1) {
    stage(position, window, mask, hot);
    const HipDecodeReplay replay{key_count_.p, layer_.p};
    CK(cudaStreamCreate(&stream_));  // ordered with the legacy stream's copies
    cudaGraph_t graph = nullptr;
    CK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeRelaxed));
    hip_decode(q.p, dc.kv, out_.p, kHeads, position, kSink, window, mask.blocks.p, mask.count.p, kMaxBlocks,
               kBlockK, kScale, kReplaySplits, ws_.p, ws_.n * sizeof(float), stream_, hot, &replay);
    CK(cudaStreamEndCapture(stream_, &graph));
    CK(cudaGraphInstantiate(&exec_, graph, 0));
    CK(cudaGraphDestroy(graph));
  }
  RecordedDecode(const RecordedDecode&) = delete;
  RecordedDecode& operator=(const RecordedDecode&) = delete;
  ~RecordedDecode() {
    cudaGraphExecDestroy(exec_);
    cudaStreamDestroy(stream_);
  }

  std::vector<bf16> replay(int position, int window, const Mask& mask, const HipHotKv* hot) {
    stage(position, window, mask, hot);
    CK(cudaMemset(out_.p, 0xff, out_.n * sizeof(bf16)));
    CK(cudaGraphLaunch(exec_, stream_));
    CK(cudaStreamSynchronize(stream_));
    return out_.download();
  }

 private:
  void stage(int position, int window, const Mask& mask, const HipHotKv* hot) {
    key_count_.upload({position + 1});
    layer_.upload({hip_decode_layer(position, kSink, window, mask.blocks.p, mask.count.p, hot)});
  }

  Dev<float> ws_;
  Dev<bf16> out_;
  Dev<int32_t> key_count_;
  Dev<HipDecodeLayer> layer_;
  cudaStream_t stream_ = nullptr;
  cudaGraphExec_t exec_ = nullptr;
};

bool same_bits(const std::vector<bf16>& a, const std::vector<bf16>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(bf16)) == 0;
}

// Rows of `copy` against the pages' rows of their keys; `held(key)` false: the row must be zeros instead.
template <typename Held>
size_t wrong_rows(const HostCache& hc, const HotCopy& copy, const std::vector<int>& keys, Held held) {
  const std::vector<bf16> k = copy.k.download(), v = copy.v.download();
  const size_t row = size_t(kKvHeads) * kHeadDim;
  const std::vector<bf16> zeros(row, tobf(0.f));
  size_t wrong = 0;
  for (size_t slot = 0; slot < keys.size(); ++slot) {
    if (keys[slot] < 0) continue;
    const bool from_pages = held(keys[slot]);
    const bf16* want_k = from_pages ? hc.k.data() + hc.offset(keys[slot], 0) : zeros.data();
    const bf16* want_v = from_pages ? hc.v.data() + hc.offset(keys[slot], 0) : zeros.data();
    wrong += std::memcmp(k.data() + slot * row, want_k, row * sizeof(bf16)) != 0 ||
             std::memcmp(v.data() + slot * row, want_v, row * sizeof(bf16)) != 0;
  }
  return wrong;
}

void record_decode(const std::string& name, const std::vector<bf16>& hot, const std::vector<bf16>& pages) {
  record(name, same_bits(hot, pages), same_bits(hot, pages) ? "bit-identical" : "DIFFERENT");
}

}  // namespace

void test_hip_hot_kv() {
  run_test("hip hot kv", [&] {
    HostCache hc(kKvHeads, kHeadDim, kPageSize, kKeys);
    DevCache dc(hc);
    const Dev<bf16> q(rand_bf16(size_t(kHeads) * kHeadDim, -1, 1));
    const auto all = [](int) { return true; };

    // First copy at t1: blocks that straddle the sink's end and the window's begin (partly masked).
    const int t1 = 2000, w1 = t1 - kWindow + 1;
    const Mask mask1({kSink - 3, 100, 180, 500, 1000, w1 - 3});
    HotCopy a, b, c;
    hip_hot_kv_gather(dc.kv, t1, kSink, kWindow, mask1.blocks.p, mask1.count.p, kMaxBlocks, kBlockK,
                      HipHotKv{}, a.view, 0);
    const std::vector<int> keys1 = slot_keys(t1, kWindow, kWindow, {kSink - 3, 100, 180, 500, 1000, w1 - 3});
    const size_t wrong1 = wrong_rows(hc, a, keys1, all);
    record("hip hot kv: first gather, rows", wrong1 == 0, std::to_string(wrong1) + " wrong rows");
    record_decode("hip hot kv: decode at the gather", decode(dc, q, t1, kWindow, mask1, &a.view),
                  decode(dc, q, t1, kWindow, mask1, nullptr));

    // A refresh 3 steps later that keeps the window begin (window 67): with the pages zeroed, the keys the
    // first copy held keep their rows and the others read zeros.
    const int t2 = t1 + 3, window2 = kWindow + 3;
    const std::vector<int32_t> starts2{100, 180, 700, 1200, w1 - 3};
    const Mask mask2(starts2);
    const std::vector<int> keys2 = slot_keys(t2, window2, kWindow, starts2);
    const auto held_by_a = [&](int key) { return std::find(keys1.begin(), keys1.end(), key) != keys1.end(); };
    CK(cudaMemset(dc.k.p, 0, dc.k.n * sizeof(bf16)));
    CK(cudaMemset(dc.v.p, 0, dc.v.n * sizeof(bf16)));
    hip_hot_kv_gather(dc.kv, t2, kSink, window2, mask2.blocks.p, mask2.count.p, kMaxBlocks, kBlockK, a.view,
                      b.view, 0);
    const size_t wrong2 = wrong_rows(hc, b, keys2, held_by_a);
    record("hip hot kv: refresh reuses the held rows", wrong2 == 0, std::to_string(wrong2) + " wrong rows");

    dc.k.upload(hc.k);
    dc.v.upload(hc.v);
    hip_hot_kv_gather(dc.kv, t2, kSink, window2, mask2.blocks.p, mask2.count.p, kMaxBlocks, kBlockK, a.view,
                      b.view, 0);
    const size_t wrong2b = wrong_rows(hc, b, keys2, all);
    record("hip hot kv: refresh keeping the window, rows", wrong2b == 0,
           std::to_string(wrong2b) + " wrong rows");
    record_decode("hip hot kv: decode at the refresh", decode(dc, q, t2, window2, mask2, &b.view),
                  decode(dc, q, t2, window2, mask2, nullptr));
    record_decode("hip hot kv: decode 4 steps on (window past the copy)",
                  decode(dc, q, t2 + 4, window2 + 4, mask2, &b.view),
                  decode(dc, q, t2 + 4, window2 + 4, mask2, nullptr));

    // A refresh from scratch: the window moves on; the sink and some blocks come from the previous copy.
    const int t3 = t2 + 13;
    const std::vector<int32_t> starts3{180, 300, 1200, 1500, 1900};
    const Mask mask3(starts3);
    hip_hot_kv_gather(dc.kv, t3, kSink, kWindow, mask3.blocks.p, mask3.count.p, kMaxBlocks, kBlockK, b.view,
                      c.view, 0);
    const size_t wrong3 = wrong_rows(hc, c, slot_keys(t3, kWindow, kWindow, starts3), all);
    record("hip hot kv: refresh moving the window, rows", wrong3 == 0,
           std::to_string(wrong3) + " wrong rows");
    record_decode("hip hot kv: decode after the window moved", decode(dc, q, t3, kWindow, mask3, &c.view),
                  decode(dc, q, t3, kWindow, mask3, nullptr));

    expect_error(
        "hip hot kv: a copy for another window is refused",
        [&] { decode(dc, q, t3, kWindow, mask3, &b.view); }, "window begin");

    // Recorded at the first gather, replayed at later positions with the other masks and copies.
    RecordedDecode recorded(dc, q, t1, kWindow, mask1, &a.view);
    record_decode("hip decode replay: as recorded", recorded.replay(t1, kWindow, mask1, &a.view),
                  decode(dc, q, t1, kWindow, mask1, &a.view, kReplaySplits));
    record_decode("hip decode replay: 4 steps after the refresh, other copy",
                  recorded.replay(t2 + 4, window2 + 4, mask2, &b.view),
                  decode(dc, q, t2 + 4, window2 + 4, mask2, nullptr, kReplaySplits));
    record_decode("hip decode replay: window moved", recorded.replay(t3 + 2, kWindow + 2, mask3, &c.view),
                  decode(dc, q, t3 + 2, kWindow + 2, mask3, &c.view, kReplaySplits));
    record_decode("hip decode replay: no hot copy", recorded.replay(t3 + 1, kWindow + 1, mask3, nullptr),
                  decode(dc, q, t3 + 1, kWindow + 1, mask3, nullptr, kReplaySplits));
    expect_error(
        "hip decode replay: a replay without its layer record is refused",
        [&] {
          const HipDecodeReplay partial{nullptr, nullptr};
          Dev<float> ws(hip_decode_workspace_bytes(kHeads, kHeadDim, kReplaySplits) / sizeof(float) + 1);
          Dev<bf16> out(size_t(kHeads) * kHeadDim);
          hip_decode(q.p, dc.kv, out.p, kHeads, t3, kSink, kWindow, mask3.blocks.p, mask3.count.p, kMaxBlocks,
                     kBlockK, kScale, kReplaySplits, ws.p, ws.n * sizeof(float), 0, nullptr, &partial);
        },
        "replay needs key_count and layer");
  });
}
