// HiP block-sparse split-K decode attention: one new query token attends exactly the keys of
// hip::attended_ranges (native/hip/block-sparse-attention.h):
//   the sink [0, min(sink, w)), the selected blocks [start, start + block_k) clipped to [sink, w), and the
//   window [w, t], w = max(0, t - window + 1),
// with an exact online softmax (f32 math, bf16 P in the PV product as attention_decode), GQA (q head h reads
// kv head h / (n_heads / n_kv_heads)), bf16 in / out.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "kernels/paged-kv.cuh"

namespace hipcode::cuda {

// One layer's attended K/V rows copied into GPU memory when its mask changes (the hot copy that a KV cache
// with host pages decodes from): row i holds slot i of hip_decode's slot list as laid out at the copy (sink,
// block_k slots per selected block, then the first window_slots keys of the window). Between mask updates the
// list keeps that prefix (same sink, blocks and window begin; the window only grows), so hip_decode reads
// slots [0, sink_len + n_blocks * block_k + window_slots) from here and only the newer window keys from the
// pages. Masked slots are not copied (hip_decode never reads them).
struct HipHotKv {
  __nv_bfloat16* k = nullptr;  // [capacity, n_kv_heads, head_dim]
  __nv_bfloat16* v = nullptr;  // [capacity, n_kv_heads, head_dim]
  int32_t* blocks = nullptr;   // [max_blocks + 1]: the block starts of the layout, then their count
  int capacity = 0;            // rows: hip_hot_kv_capacity(...)
  int window_begin = -1;       // w of the layout; -1 = holds nothing
  int sink_len = 0;            // min(sink_tokens, w)
  int window_slots = 0;        // window keys [w, w + window_slots) copied
};

// Rows a hot copy needs for every layout of this budget: sink + max_blocks * block_k + window_tokens.
int hip_hot_kv_capacity(int sink_tokens, int window_tokens, int max_blocks, int block_k);

// Lays `to` out for the query at `position` with the mask blocks[0 .. *n_blocks) (device; capacity
// max_blocks) and copies its rows: a key that `from` holds (if from.window_begin >= 0; from and to must not
// share buffers) is copied from there, any other from the pages (keys on unmapped pages as zeros). The block
// list is copied into to.blocks too, so `from` of the next update needs nothing else. Window keys past
// to.capacity's share (window_tokens) stay in the pages.
void hip_hot_kv_gather(const PagedKv& cache, int position, int sink_tokens, int window_tokens,
                       const int32_t* blocks,    // [max_blocks] device
                       const int32_t* n_blocks,  // [1] device
                       int max_blocks, int block_k, const HipHotKv& from, HipHotKv& to, cudaStream_t stream);

// What a recorded (CUDA-graph) decode step reads on the device for one HiP layer, staged before each replay:
// the session's mask and hot copy, and the slot window they were laid out for. Between two estimations from
// scratch the model widens the window by the steps since, so its begin stays put and only the position moves.
struct HipDecodeLayer {
  const int32_t* blocks = nullptr;       // [max_blocks] device
  const int32_t* n_blocks = nullptr;     // [1] device
  const __nv_bfloat16* hot_k = nullptr;  // HipHotKv rows, null = none
  const __nv_bfloat16* hot_v = nullptr;
  int32_t window_begin = 0;      // w
  int32_t sink_len = 0;          // min(sink_tokens, w)
  int32_t hot_window_slots = 0;  // window keys the hot copy holds
  int32_t unused = 0;
};

// The record of a mask (blocks, n_blocks) and hot copy (null: none) for the query at `position` with this
// (widened) window.
HipDecodeLayer hip_decode_layer(int position, int sink_tokens, int window_tokens, const int32_t* blocks,
                                const int32_t* n_blocks, const HipHotKv* hot);

// Device inputs of a recorded hip_decode: the key count (position + 1) and the layer's record.
struct HipDecodeReplay {
  const int32_t* key_count = nullptr;     // [1] device
  const HipDecodeLayer* layer = nullptr;  // [1] device
};

// Splits that fill the GPU (about 2 CTAs per SM) for up to max_attended attended keys, at least 64 keys per
// split, at most 1024 splits.
int hip_decode_splits(int n_heads, int n_kv_heads, int max_attended);

// Most keys a query at `position` attends with at most max_blocks selected blocks.
int hip_decode_max_attended(int position, int sink_tokens, int window_tokens, int max_blocks, int block_k);

// Bytes of f32 workspace hip_decode needs for n_splits splits.
size_t hip_decode_workspace_bytes(int n_heads, int head_dim, int n_splits);

// The query at `position` (its K/V already in the cache) attends the sink, blocks[0 .. *n_blocks) (device
// list of key-block starts, ascending and disjoint as hip_mask_decode writes them; *n_blocks is clamped to
// [0, max_blocks]) and the window. The attended keys are laid out as one virtual list (sink slots, then
// block_k slots per block, slots outside [sink, w) masked, then the window) that the splits cut evenly;
// each CTA = one kv head x one split for all q heads of the group (up to 16 per CTA, tensor cores), a second
// kernel merges the splits in parallel. head_dim 64 or 128. n_splits <= 0 picks
// hip_decode_splits(hip_decode_max_attended(...)). n_blocks is read on the device only (graph-friendly).
// hot: null, or a copy gathered for these blocks and this window begin (checked), read instead of the pages
// for the slots it holds. replay: null, or where a recorded step reads its position, mask, hot copy and
// window instead (the host arguments, which must describe the capture, are then only checked).
void hip_decode(const __nv_bfloat16* q,  // [n_heads, head_dim]
                const PagedKv& cache,
                __nv_bfloat16* out,  // [n_heads, head_dim]
                int n_heads, int position, int sink_tokens, int window_tokens,
                const int32_t* blocks,    // [max_blocks] device
                const int32_t* n_blocks,  // [1] device
                int max_blocks, int block_k, float scale, int n_splits,
                float* workspace,  // hip_decode_workspace_bytes(n_heads, head_dim, n_splits)
                size_t workspace_bytes, cudaStream_t stream, const HipHotKv* hot = nullptr,
                const HipDecodeReplay* replay = nullptr);

}  // namespace hipcode::cuda
