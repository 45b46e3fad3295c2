#!/usr/bin/env bash
# HiP against dense prefill of the Qwen2.5-7B geometry (random weights) end to end in the engine, one after the
# other on the same GPU: prefill tokens/s of one prompt of N tokens (4096-token chunks; with --attention hip
# every chunk's query blocks but the last attend sink + selected blocks + window). One JSON per run into OUT_DIR.
#   bash bench/hip-prefill-gpu.sh OUT_DIR [TOKENS...]   (default: 32768 131072)
set -uo pipefail
out=${1:?usage: bench/hip-prefill-gpu.sh OUT_DIR [TOKENS...]}
shift
lengths=("$@")
[ ${#lengths[@]} -gt 0 ] || lengths=(32768 131072)
source "$(dirname "$0")/gpu-setup.sh" "$out"

for tokens in "${lengths[@]}"; do
  for attention in dense hip; do
    echo "== $attention prefill of $tokens tokens"
    node "$here/dist/hipcode.js" bench --backend cuda --geometry qwen2.5-7b --prefill "$tokens" --context 1 \
      --decode-steps 0 --repeats 1 --gpu-kv-budget 16G --attention "$attention" \
      --out "$out/prefill-$attention-$tokens.json"
  done
done
