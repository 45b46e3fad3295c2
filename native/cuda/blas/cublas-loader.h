// Finds and loads libcublasLt at run time (dlopen) and resolves the handful of functions gemm.cu
// needs; nothing links against cuBLAS at build time.
#pragma once

#include <string>
#include <vector>

#include "blas/cublaslt-api.h"

namespace hipcode::cuda::blas {

struct CublasLtApi {
  std::string path;    // the file that was loaded
  size_t version = 0;  // cublasLtGetVersion(), e.g. 130100
  PFN_cublasLtCreate create = nullptr;
  PFN_cublasLtDestroy destroy = nullptr;
  PFN_cublasLtGetVersion get_version = nullptr;
  PFN_cublasLtGetStatusString get_status_string = nullptr;  // optional
  PFN_cublasLtMatmulDescCreate matmul_desc_create = nullptr;
  PFN_cublasLtMatmulDescSetAttribute matmul_desc_set_attribute = nullptr;
  PFN_cublasLtMatmulDescDestroy matmul_desc_destroy = nullptr;
  PFN_cublasLtMatrixLayoutCreate matrix_layout_create = nullptr;
  PFN_cublasLtMatrixLayoutDestroy matrix_layout_destroy = nullptr;
  PFN_cublasLtMatmulPreferenceCreate preference_create = nullptr;
  PFN_cublasLtMatmulPreferenceSetAttribute preference_set_attribute = nullptr;
  PFN_cublasLtMatmulPreferenceDestroy preference_destroy = nullptr;
  PFN_cublasLtMatmulAlgoGetHeuristic algo_get_heuristic = nullptr;
  PFN_cublasLtMatmul matmul = nullptr;

  std::string status_string(cublasStatus_t status) const;
};

// The paths tried, in order: <dir>/libcublasLt.so.{13,12,} for dir in $CUDA_HOME/lib64,
// $CUDA_PATH/lib64, each $LD_LIBRARY_PATH entry, /usr/local/cuda/lib64, /usr/lib/x86_64-linux-gnu and
// the pip wheel folders (nvidia/cublas/lib, nvidia/cu13/lib under the usual site-packages), then the
// bare sonames for the dynamic loader's own search.
std::vector<std::string> cublaslt_candidates();

// Loads cuBLASLt once per process (thread-safe) and returns the resolved API, or nullptr with
// *reason saying what was tried and why it failed.
const CublasLtApi* cublaslt_load(std::string* reason);

}  // namespace hipcode::cuda::blas
