// Finds cuBLAS and cuBLASLt at run time with dlopen, since builds do not link them.
#pragma once

#include "cuda/cuda-probe.h"

namespace hipcode::cuda {

// Tries libcublasLt + libcublas (CUDA 13, then 12) in CUDA_HOME, LD_LIBRARY_PATH, /usr/local/cuda and Python
// nvidia-* wheel folders, then by bare soname. The libraries are closed again afterwards.
CublasInfo find_cublas();

}  // namespace hipcode::cuda
