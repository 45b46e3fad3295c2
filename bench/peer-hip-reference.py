# Peers of our HiP kernels, one attention layer of the Qwen2.5-7B geometry (28 q heads, 4 kv heads, d 128), bf16,
# random inputs, batch 1: the published HiP Triton kernels (DeepAuto-AI/hip-attention, hip_attn.v1_2, copied
# into an ignored folder by bench/hip-reference-setup.sh) and dense PyTorch SDPA (FlashAttention backend).
# Decode against KEYS keys: the reference with a full mask, a cached mask, a refresh of its last stage and of
# its last two stages, and the average over the (16, 8, 4) refresh schedule; prefill of a 32K-query chunk after
# KEYS - 32K keys. Times are CUDA-event medians after warm-up, without CUDA graphs.
#
#   python3 bench/peer-hip-reference.py --reference .peer/hip-attention --keys 131072 1048576 --out FILE.json
#
# Needs torch (CUDA) and triton. Config as in our defaults: sink 256, window 1024, final 2048 keys, the
# reference's default stages (chunks 256 / 32 / 8).
import argparse
import dataclasses
import datetime
import json
import os
import statistics
import sys
import types

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.nn.attention.bias import causal_lower_right

HEADS, KV_HEADS, DIM, CHUNK = 28, 4, 128, 32768


def stub(name, **attrs):
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    sys.modules[name] = module
    return module


def no_managed_memory(*_args, **_kwargs):
    raise RuntimeError("the KV offload path (managed memory) is not part of this benchmark")


def njit(*args, **_kwargs):
    """numba.njit stand-in: the reference uses numba only for debug renderers and host-side offload copies."""
    if len(args) == 1 and callable(args[0]):
        return args[0]
    return lambda fn: fn


def stub_if_missing(name, **attrs):
    try:
        __import__(name)
    except ImportError:
        stub(name, **attrs)


def import_reference(path):
    """The reference's entry points. Its debug-only and offload-only imports (cv2, matplotlib, numba, tqdm,
    cuda.cudart, a JIT-compiled extension) are stubbed where they are missing or not needed."""
    sys.path.insert(0, os.path.join(path, "src"))
    stub_if_missing("cv2")
    stub_if_missing("tqdm")
    try:
        import matplotlib.pyplot  # noqa: F401
    except ImportError:
        stub("matplotlib").pyplot = stub("matplotlib.pyplot")
    try:
        import numba.cuda  # noqa: F401
    except ImportError:
        stub("numba", njit=njit, prange=range).cuda = stub("numba.cuda")
    try:
        import cuda.cudart  # noqa: F401
    except ImportError:
        try:
            import cuda
        except ImportError:
            cuda = stub("cuda")
        cuda.cudart = stub("cuda.cudart")
    stub("hip_attn.v1_1.offload_runner.tensor_from_pointer", sizeof=lambda t: t.element_size() * t.numel(),
         alloc_managed_tensor=no_managed_memory)
    from hip_attn.v1_2.attention_extend import dual_stage_quadratic_hip_attention
    from hip_attn.v1_2.attention_metadata import HiPAttentionArgs
    return dual_stage_quadratic_hip_attention, HiPAttentionArgs


def time_ms(fn, repeats, warmup=3):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def random_bf16(*shape):
    return torch.randn(*shape, device="cuda", dtype=torch.bfloat16)


def dense_times(q_decode, q_chunk, k, v, keys):
    """SDPA (FlashAttention) with the kv heads repeated for the group: decode and the chunk's prefill (ms)."""
    group = HEADS // KV_HEADS
    k_heads = k.transpose(1, 2).repeat_interleave(group, dim=1)  # [1, HEADS, keys, DIM]
    v_heads = v.transpose(1, 2).repeat_interleave(group, dim=1)
    qd, qc = q_decode.transpose(1, 2), q_chunk.transpose(1, 2)
    mask = causal_lower_right(CHUNK, keys)
    with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
        decode = time_ms(lambda: F.scaled_dot_product_attention(qd, k_heads, v_heads), 50)
        prefill = time_ms(lambda: F.scaled_dot_product_attention(qc, k_heads, v_heads, attn_mask=mask),
                          3 if keys > 200000 else 5, warmup=1)
    del k_heads, v_heads
    torch.cuda.empty_cache()
    return decode, prefill


def reference_times(hip_attention, args_type, q_decode, q_chunk, k, v, keys):
    scale = DIM ** -0.5  # the reference takes q already scaled
    config = dict(sliding_window_size=1024, sink_token_size=256, second_stage_k=2048,
                  require_cache_statistics=False)
    position = torch.tensor([[keys - 1]], device="cuda", dtype=torch.int64)
    args = args_type(position_ids=position, **config)
    qd = q_decode * scale
    _, metadata = hip_attention(qd, k, v, args, None)
    last_stage = dataclasses.replace(metadata, indices=None, ks=None, ks_count=None, ks_start_end=None)
    last_two = dataclasses.replace(last_stage, stage_caches=metadata.stage_caches[:-1])
    decode = {
        "fullMaskMs": time_ms(lambda: hip_attention(qd, k, v, args, None), 30),
        "cachedMaskMs": time_ms(lambda: hip_attention(qd, k, v, args, metadata), 50),
        "lastStageRefreshMs": time_ms(lambda: hip_attention(qd, k, v, args, last_stage), 30),
        "lastTwoStagesRefreshMs": time_ms(lambda: hip_attention(qd, k, v, args, last_two), 30),
    }
    decode["scheduleAverageMs"] = (decode["fullMaskMs"] + decode["lastTwoStagesRefreshMs"]
                                   + 2 * decode["lastStageRefreshMs"] + 12 * decode["cachedMaskMs"]) / 16
    qc = q_chunk * scale
    chunk_args = args_type(**config)
    prefill = time_ms(lambda: hip_attention(qc, k, v, chunk_args, None), 5, warmup=2)
    return decode, prefill


def run(keys, hip_attention, args_type):
    torch.manual_seed(keys)
    k, v = random_bf16(1, keys, KV_HEADS, DIM), random_bf16(1, keys, KV_HEADS, DIM)
    q_decode, q_chunk = random_bf16(1, 1, HEADS, DIM), random_bf16(1, CHUNK, HEADS, DIM)
    result = {"keys": keys}
    result["denseDecodeMs"], result["densePrefillMs"] = dense_times(q_decode, q_chunk, k, v, keys)
    try:
        result["referenceDecode"], result["referencePrefillMs"] = reference_times(
            hip_attention, args_type, q_decode, q_chunk, k, v, keys)
    except Exception as error:  # the reference does not run here: say why, keep the dense numbers
        result["referenceError"] = f"{type(error).__name__}: {error}"
    print(json.dumps(result), flush=True)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reference", required=True, help="folder made by bench/hip-reference-setup.sh")
    parser.add_argument("--keys", type=int, nargs="+", default=[131072, 1048576])
    parser.add_argument("--out", required=True)
    opts = parser.parse_args()
    if not os.path.isdir(os.path.join(opts.reference, "src", "hip_attn", "v1_2")):
        raise SystemExit(f"--reference {opts.reference}: no src/hip_attn/v1_2 there; "
                         "run bench/hip-reference-setup.sh first")
    hip_attention, args_type = import_reference(opts.reference)
    with open(os.path.join(opts.reference, "REVISION")) as f:
        revision = f.read().strip()
    results = [run(keys, hip_attention, args_type) for keys in opts.keys]
    report = {"peer": "hip_attn.v1_2 (DeepAuto-AI/hip-attention " + revision + ") and torch SDPA (flash)",
              "device": torch.cuda.get_device_name(), "torch": torch.__version__,
              "triton": __import__("triton").__version__,
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(), "heads": [HEADS, KV_HEADS, DIM],
              "chunk": CHUNK, "results": results}
    with open(opts.out, "w") as f:
        json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
