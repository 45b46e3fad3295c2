#!/usr/bin/env bash
# The GPU checks of a device session in one call: the native tests (CPU/CUDA parity: ops, HiP decode and
# prefill with segments, session forks, snapshots), the kernel tests, then the long-context cases at 128K.
# Each one's output goes to OUT_DIR; a summary line each on stdout; the exit code is non-zero if any failed.
#   bash bench/checks-gpu.sh OUT_DIR   (needs build/Release and dist built here, node on PATH)
set -uo pipefail
out=${1:?usage: bench/checks-gpu.sh OUT_DIR}
source "$(dirname "$0")/gpu-setup.sh" "$out"
status=0

run() {
  local name=$1
  shift
  "$@" >"$out/$name.txt" 2>&1
  local code=$?
  echo "$name (exit $code): $(tail -1 "$out/$name.txt")"
  [ $code -eq 0 ] || status=1
}

run native-tests "$here/build/Release/hipcode-native-tests"
run kernel-tests "$here/build/Release/hipcode-cuda-kernel-tests"
run long-context bash "$here/bench/long-context-gpu.sh" "$out/long-context" 131072
exit $status
