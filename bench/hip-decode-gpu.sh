#!/usr/bin/env bash
# HiP against dense decode of the Qwen2.5-7B geometry (random weights) at long contexts, one after the other on
# the same GPU: decode ms/token (dense from its CUDA graph and eagerly; HiP, whose steps between mask updates
# replay a CUDA graph, with the default (16, 8, 4) stage refreshes and the reference's "flash" (96, 24, 8)) and,
# at the first context, HiP's logits against a dense copy of the model. One JSON per run into OUT_DIR.
#   bash bench/hip-decode-gpu.sh OUT_DIR [CONTEXT...]   (default contexts: 131072 260000)
set -uo pipefail
out=${1:?usage: bench/hip-decode-gpu.sh OUT_DIR [CONTEXT...]}
shift
contexts=("$@")
[ ${#contexts[@]} -gt 0 ] || contexts=(131072 260000)
source "$(dirname "$0")/gpu-setup.sh" "$out"

bench() {
  local name=$1
  shift
  echo "== $name"
  node "$here/dist/hipcode.js" bench --backend cuda --geometry qwen2.5-7b --prefill 0 --repeats 1 \
    --gpu-kv-budget 16G --out "$out/$name.json" "$@"
}

first=${contexts[0]}
for context in "${contexts[@]}"; do
  bench "dense-$context" --context "$context" --decode-steps 64 --attention dense
  bench "hip-$context" --context "$context" --decode-steps 64 --attention hip
done
HIPCODE_CUDA_GRAPHS=0 bench "dense-eager-$first" --context "$first" --decode-steps 32 --attention dense
HIPCODE_HIP='{"refreshIntervals": [96, 24, 8]}' bench "hip-flash-$first" --context "$first" --decode-steps 96 \
  --attention hip --fidelity-steps 16
bench "hip-fidelity-$first" --context "$first" --decode-steps 0 --attention hip --fidelity-steps 16
