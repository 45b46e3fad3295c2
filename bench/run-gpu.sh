#!/usr/bin/env bash
# Runs the engine benchmark and its dense peer (transformers + PyTorch SDPA) on the same GPU, one after the other,
# and writes both results as JSON into OUT_DIR. Needs a built engine (npm ci) and python3 with torch/transformers.
#   bash bench/run-gpu.sh OUT_DIR [GEOMETRY...]   (default geometries: qwen2.5-7b llama3.1-8b)
set -euo pipefail
out=${1:?usage: bench/run-gpu.sh OUT_DIR [GEOMETRY...]}
shift
geometries=("$@")
[ ${#geometries[@]} -gt 0 ] || geometries=(qwen2.5-7b llama3.1-8b)
source "$(dirname "$0")/gpu-setup.sh" "$out"
for geometry in "${geometries[@]}"; do
  echo "== hipcode $geometry"
  node "$here/dist/hipcode.js" bench --backend cuda --geometry "$geometry" --prefill 32768 --context 8192 \
    --decode-steps 64 --repeats 3 --out "$out/hipcode-$geometry.json"
  echo "== transformers $geometry"
  python3 "$here/bench/peer-transformers.py" --geometry "$geometry" --prefill 32768 --context 8192 \
    --decode-steps 64 --repeats 3 --out "$out/transformers-$geometry.json"
done
