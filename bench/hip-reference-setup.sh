#!/usr/bin/env bash
# Copies the published HiP kernels (DeepAuto-AI/hip-attention, hip_attn.v1_2) out of a clone or mirror of that
# repository into an ignored folder, for bench/peer-hip-reference.py to run as a benchmark peer; never
# committed here. Only the kernels' own package (src/hip_attn/v1_2) and its RoPE helper are copied; the package
# __init__ files are written empty (the original top-level one imports the v1.0/v1.1 research code).
#   bash bench/hip-reference-setup.sh GIT_DIR [DEST]   (DEST default: .peer/hip-attention)
set -euo pipefail
git_dir=${1:?usage: bench/hip-reference-setup.sh GIT_DIR [DEST]}
dest=${2:-"$(cd "$(dirname "$0")/.." && pwd)/.peer/hip-attention"}
rev=$(git -C "$git_dir" rev-parse --short HEAD)
files=$(git -C "$git_dir" ls-tree -r --name-only HEAD src/hip_attn/v1_2 | grep '\.py$' || true)
[ -n "$files" ] || { echo "no src/hip_attn/v1_2 in $git_dir: expected a clone of DeepAuto-AI/hip-attention" >&2; exit 2; }
rm -rf "$dest"
for f in $files src/hip_attn/utils/rope.py; do
  mkdir -p "$dest/$(dirname "$f")"
  git -C "$git_dir" show "HEAD:$f" > "$dest/$f"
done
for pkg in src/hip_attn src/hip_attn/utils src/hip_attn/v1_1 src/hip_attn/v1_1/offload_runner; do
  mkdir -p "$dest/$pkg"
  : > "$dest/$pkg/__init__.py"
done
echo "$rev" > "$dest/REVISION"
echo "hip_attn.v1_2 of DeepAuto-AI/hip-attention at $rev in $dest"
