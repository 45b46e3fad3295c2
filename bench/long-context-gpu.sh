#!/usr/bin/env bash
# The long-context cases of issue 5 on one GPU, Qwen2.5-7B geometry with a 1M-token RoPE range (random weights):
# the context ingested (timed), decode at it, an edit's re-prefill of its last EDIT tokens, and a snapshot of it
# saved to SNAPSHOT_DIR, loaded into a fresh session and a first token decoded. One JSON per context length.
#   bash bench/long-context-gpu.sh OUT_DIR [TOKENS...]   (default: 131072 1000000)
# Environment: ATTENTION (default hip), GPU_KV_BUDGET (default 58G: all the KV on the GPU; the issue's 16G puts the
# rest in the host tier), HOST_KV_BUDGET (default: the engine's automatic choice), EDIT (default 4096),
# SNAPSHOT_DIR (default /dev/shm: memory, so a load measures the copy and checks, not the disk; a 1M-token
# snapshot is about 57 GB; "none" skips the snapshot), KV_DTYPE (default bf16; fp8-e4m3 keeps e4m3 rows with a scale
# each, about half the bytes).
set -uo pipefail
out=${1:?usage: bench/long-context-gpu.sh OUT_DIR [TOKENS...]}
shift
lengths=("$@")
[ ${#lengths[@]} -gt 0 ] || lengths=(131072 1000000)
source "$(dirname "$0")/gpu-setup.sh" "$out"
snapshot_flags=()
if [ "${SNAPSHOT_DIR:-}" != none ]; then
  snapshots=$(mktemp -d "${SNAPSHOT_DIR:-/dev/shm}/hipcode-bench-XXXXXX")
  trap 'rm -rf "$snapshots"' EXIT
  snapshot_flags=(--snapshot-dir "$snapshots")
fi
host_flags=()
[ -z "${HOST_KV_BUDGET:-}" ] || host_flags=(--host-kv-budget "$HOST_KV_BUDGET")

for tokens in "${lengths[@]}"; do
  echo "== ${ATTENTION:-hip} at $tokens tokens of context, KV rows ${KV_DTYPE:-bf16}"
  node "$here/dist/hipcode.js" bench --backend cuda --geometry qwen2.5-7b-1m --prefill 0 --context "$tokens" \
    --decode-steps 32 --question 100 --edit "${EDIT:-4096}" "${snapshot_flags[@]}" --repeats 1 \
    --gpu-kv-budget "${GPU_KV_BUDGET:-58G}" "${host_flags[@]}" --attention "${ATTENTION:-hip}" \
    --kv-dtype "${KV_DTYPE:-bf16}" --out "$out/long-context-$tokens${KV_DTYPE:+-$KV_DTYPE}.json"
done
