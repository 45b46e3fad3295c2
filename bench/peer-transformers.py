# Dense peer for `hipcode bench`: Hugging Face transformers + PyTorch SDPA, bf16, batch 1,
# RANDOM weights built directly on the GPU (no files, no network), at our engine's named geometries.
# Measures prefill (ms, tokens/s) and eager decode at a given context (ms/token), plus peak GPU memory.
#
#   python3 bench/peer-transformers.py --geometry qwen2.5-7b --prefill 32768 --context 8192 \
#       --decode-steps 64 --out FILE.json [--repeats 3]
#
# Needs torch (CUDA) and transformers >= 5 (rope_parameters config layout, `dtype=` kwarg).
# Pass --prefill 0 or --context 0 to skip that phase.
import argparse
import datetime
import gc
import json
import statistics
import time

import torch
import transformers
from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config

NEW_LAYOUT = int(transformers.__version__.split(".")[0]) >= 5  # rope_parameters instead of rope_theta


def rope_kwargs(rope):
    """rope: dict in the v5 rope_parameters layout; converted for older transformers."""
    if NEW_LAYOUT:
        return {"rope_parameters": rope}
    old = {k: v for k, v in rope.items() if k != "rope_theta"}
    return {"rope_theta": rope["rope_theta"], "rope_scaling": None if rope["rope_type"] == "default" else old}


def make_config(name):
    if name == "qwen2.5-7b":
        return Qwen2Config(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
                           num_attention_heads=28, num_key_value_heads=4, vocab_size=152064,
                           max_position_embeddings=131072, rms_norm_eps=1e-6, tie_word_embeddings=False,
                           **rope_kwargs({"rope_type": "default", "rope_theta": 1e6}))
    if name == "qwen2.5-0.5b":
        return Qwen2Config(hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                           num_attention_heads=14, num_key_value_heads=2, vocab_size=151936,
                           max_position_embeddings=131072, rms_norm_eps=1e-6, tie_word_embeddings=True,
                           **rope_kwargs({"rope_type": "default", "rope_theta": 1e6}))
    if name == "llama3.1-8b":
        return LlamaConfig(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                           num_attention_heads=32, num_key_value_heads=8, vocab_size=128256,
                           max_position_embeddings=131072, rms_norm_eps=1e-5, tie_word_embeddings=False,
                           **rope_kwargs({"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0,
                                          "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                          "original_max_position_embeddings": 8192}))
    raise SystemExit(f"unknown geometry {name!r} (qwen2.5-7b, llama3.1-8b, qwen2.5-0.5b)")


def build_model(config):
    torch.manual_seed(0)
    dtype_kw = {"dtype": torch.bfloat16} if NEW_LAYOUT else {"torch_dtype": torch.bfloat16}
    with torch.device("cuda"):
        model = AutoModelForCausalLM.from_config(config, attn_implementation="sdpa", **dtype_kw)
    assert all(p.dtype == torch.bfloat16 and p.is_cuda for p in model.parameters())
    with torch.no_grad():  # small random values everywhere; norm weights 1.0; nothing zero
        for name, p in model.named_parameters():
            if p.ndim == 1 and "norm" in name:
                p.fill_(1.0)
            else:
                p.normal_(mean=0.0, std=0.02)
    return model.eval()


def free():
    gc.collect()
    torch.cuda.empty_cache()


def is_oom(e):
    return isinstance(e, torch.OutOfMemoryError) or "out of memory" in str(e).lower()


def rand_ids(n, vocab):
    return torch.randint(0, vocab, (1, n), device="cuda")


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(q * (len(xs) - 1))))]


def bench_prefill(model, vocab, n, repeats):
    out = model(rand_ids(min(512, n), vocab), use_cache=True, logits_to_keep=1)  # warm-up
    finite = bool(torch.isfinite(out.logits).all())
    del out
    free()
    torch.cuda.reset_peak_memory_stats()
    ids = rand_ids(n, vocab)
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        torch.cuda.synchronize()
        start.record()
        out = model(ids, use_cache=True, logits_to_keep=1)
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
        del out
        free()
    ms = statistics.median(times)
    return {"tokens": n, "ms": ms, "ms_all": times, "tokens_per_s": n / (ms / 1e3),
            "peak_gpu_bytes": torch.cuda.max_memory_allocated(), "logits_finite": finite}


def bench_decode(model, vocab, context, steps):
    torch.cuda.reset_peak_memory_stats()
    out = model(rand_ids(context, vocab), use_cache=True, logits_to_keep=1)  # DynamicCache by default
    cache = out.past_key_values
    next_id = out.logits[:, -1].argmax(-1)
    del out
    torch.cuda.synchronize()
    prefill_peak = torch.cuda.max_memory_allocated()
    torch.cuda.reset_peak_memory_stats()  # decode peak = weights + KV cache + per-step working set

    def step(tok):
        o = model(tok[:, None], past_key_values=cache, use_cache=True, logits_to_keep=1)
        return o.logits[:, -1].argmax(-1)  # greedy

    for _ in range(4):  # warm-up (these also grow the cache)
        next_id = step(next_id)
    torch.cuda.synchronize()
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(steps)]
    ends = [torch.cuda.Event(enable_timing=True) for _ in range(steps)]
    t0 = time.perf_counter()
    for i in range(steps):
        starts[i].record()
        next_id = step(next_id)
        ends[i].record()
    torch.cuda.synchronize()
    wall_ms = (time.perf_counter() - t0) * 1e3
    times = [s.elapsed_time(e) for s, e in zip(starts, ends)]
    del cache
    return {"context": context, "steps": steps, "ms_per_token": statistics.median(times),
            "p10": pct(times, 0.10), "p90": pct(times, 0.90), "ms_all": times,
            "wall_ms_per_token": wall_ms / steps, "peak_gpu_bytes": torch.cuda.max_memory_allocated(),
            "context_prefill_peak_gpu_bytes": prefill_peak}


def run_phase(label, fn, *args):
    print(f"[{label}] running ...", flush=True)
    try:
        return fn(*args)
    except (torch.OutOfMemoryError, RuntimeError) as e:
        if not is_oom(e):
            raise
        err = "out of memory"
    free()  # outside the except block, so the exception's frames (and tensors) are released
    print(f"[{label}] {err}", flush=True)
    return {"error": err}


def main():
    ap = argparse.ArgumentParser(description="transformers/SDPA dense peer for hipcode bench")
    ap.add_argument("--geometry", required=True)
    ap.add_argument("--prefill", type=int, default=32768)
    ap.add_argument("--context", type=int, default=8192)
    ap.add_argument("--decode-steps", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    config = make_config(a.geometry)
    model = build_model(config)
    vocab = config.vocab_size
    params = sum(p.numel() for p in model.parameters())
    gpu = torch.cuda.get_device_name()
    print(f"{a.geometry}: {params / 1e9:.3f} B params, bf16, sdpa, on {gpu} "
          f"(torch {torch.__version__}, transformers {transformers.__version__})", flush=True)

    result = {"peer": "transformers", "attn_implementation": "sdpa", "gpu": gpu,
              "torch": torch.__version__, "transformers": transformers.__version__,
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "geometry": a.geometry, "params": params, "dtype": "bfloat16", "batch": 1,
              "prefill": None, "decode": None}
    with torch.inference_mode():
        if a.prefill > 0:
            result["prefill"] = run_phase("prefill", bench_prefill, model, vocab, a.prefill, a.repeats)
            free()
        if a.context > 0 and a.decode_steps > 0:
            result["decode"] = run_phase("decode", bench_decode, model, vocab, a.context, a.decode_steps)
            free()

    with open(a.out, "w") as f:
        json.dump(result, f, indent=2)

    gib = 1024 ** 3
    p, d = result["prefill"], result["decode"]
    if p and "error" not in p:
        print(f"prefill {p['tokens']} tok: {p['ms']:.1f} ms median, {p['tokens_per_s']:.0f} tok/s, "
              f"peak {p['peak_gpu_bytes'] / gib:.2f} GiB", flush=True)
    elif p:
        print(f"prefill {a.prefill} tok: {p['error']}", flush=True)
    if d and "error" not in d:
        print(f"decode @{d['context']} ctx x{d['steps']}: {d['ms_per_token']:.2f} ms/token median "
              f"(p10 {d['p10']:.2f}, p90 {d['p90']:.2f}; wall {d['wall_ms_per_token']:.2f}), "
              f"peak {d['peak_gpu_bytes'] / gib:.2f} GiB", flush=True)
    elif d:
        print(f"decode @{a.context} ctx: {d['error']}", flush=True)
    print(f"wrote {a.out}", flush=True)


if __name__ == "__main__":
    main()
