# Sourced by the GPU bench scripts: `here` (the repository), HIPCODE_COMMIT for the JSON, OUT_DIR created, the
# GPU's name written to OUT_DIR/gpu.txt.
#   source bench/gpu-setup.sh OUT_DIR
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export HIPCODE_COMMIT=${HIPCODE_COMMIT:-$(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)}
mkdir -p "$1"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$1/gpu.txt"
