// The part of the cuBLASLt C API that gemm.cu uses, declared here because no cuBLAS headers exist at
// build time (cuBLASLt is dlopen'ed at run time). Values are those of cublasLt.h / cublas_api.h
// (CUDA 11.x-13.x, unchanged across those releases); only the entries we use are listed.
#pragma once

#include <cuda_runtime.h>
#include <library_types.h>  // cudaDataType_t: CUDA_R_16BF = 14, CUDA_R_32F = 0 (from the CUDA toolkit)

#include <cstddef>
#include <cstdint>

namespace hipcode::cuda::blas {

using cublasStatus_t = int;  // CUBLAS_STATUS_SUCCESS = 0
constexpr cublasStatus_t kCublasStatusSuccess = 0;

using cublasLtHandle_t = struct cublasLtContext*;
using cublasLtMatmulDesc_t = struct cublasLtMatmulDescOpaque*;
using cublasLtMatrixLayout_t = struct cublasLtMatrixLayoutOpaque*;
using cublasLtMatmulPreference_t = struct cublasLtMatmulPreferenceOpaque*;

struct cublasLtMatmulAlgo_t {
  uint64_t data[8];
};

struct cublasLtMatmulHeuristicResult_t {
  cublasLtMatmulAlgo_t algo;
  size_t workspaceSize;
  cublasStatus_t state;
  float wavesCount;
  int reserved[4];
};

// cublasComputeType_t
constexpr int kCublasCompute32F = 68;  // CUBLAS_COMPUTE_32F
// cublasOperation_t
constexpr int32_t kCublasOpN = 0;  // CUBLAS_OP_N
constexpr int32_t kCublasOpT = 1;  // CUBLAS_OP_T
// cublasLtMatmulDescAttributes_t
constexpr int kMatmulDescTransA = 3;       // CUBLASLT_MATMUL_DESC_TRANSA (int32_t)
constexpr int kMatmulDescTransB = 4;       // CUBLASLT_MATMUL_DESC_TRANSB (int32_t)
constexpr int kMatmulDescEpilogue = 7;     // CUBLASLT_MATMUL_DESC_EPILOGUE (uint32_t)
constexpr int kMatmulDescBiasPointer = 8;  // CUBLASLT_MATMUL_DESC_BIAS_POINTER (const void*)
// cublasLtEpilogue_t
constexpr uint32_t kEpilogueDefault = 1;  // CUBLASLT_EPILOGUE_DEFAULT
constexpr uint32_t kEpilogueBias = 4;     // CUBLASLT_EPILOGUE_BIAS (bias has the type of D)
// cublasLtMatmulPreferenceAttributes_t
constexpr int kPrefMaxWorkspaceBytes = 1;   // CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES (uint64_t)
constexpr int kPrefMinAlignmentABytes = 5;  // CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES (uint32_t)
constexpr int kPrefMinAlignmentBBytes = 6;  // CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES (uint32_t)
constexpr int kPrefMinAlignmentCBytes = 7;  // CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES (uint32_t)
constexpr int kPrefMinAlignmentDBytes = 8;  // CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES (uint32_t)

using PFN_cublasLtCreate = cublasStatus_t (*)(cublasLtHandle_t*);
using PFN_cublasLtDestroy = cublasStatus_t (*)(cublasLtHandle_t);
using PFN_cublasLtGetVersion = size_t (*)();
using PFN_cublasLtGetStatusString = const char* (*)(cublasStatus_t);
using PFN_cublasLtMatmulDescCreate = cublasStatus_t (*)(cublasLtMatmulDesc_t*, int /*cublasComputeType_t*/,
                                                        cudaDataType_t /*scaleType*/);
using PFN_cublasLtMatmulDescSetAttribute = cublasStatus_t (*)(cublasLtMatmulDesc_t, int /*attr*/, const void*,
                                                              size_t);
using PFN_cublasLtMatmulDescDestroy = cublasStatus_t (*)(cublasLtMatmulDesc_t);
using PFN_cublasLtMatrixLayoutCreate = cublasStatus_t (*)(cublasLtMatrixLayout_t*, cudaDataType_t,
                                                          uint64_t rows, uint64_t cols, int64_t ld);
using PFN_cublasLtMatrixLayoutDestroy = cublasStatus_t (*)(cublasLtMatrixLayout_t);
using PFN_cublasLtMatmulPreferenceCreate = cublasStatus_t (*)(cublasLtMatmulPreference_t*);
using PFN_cublasLtMatmulPreferenceSetAttribute = cublasStatus_t (*)(cublasLtMatmulPreference_t, int /*attr*/,
                                                                    const void*, size_t);
using PFN_cublasLtMatmulPreferenceDestroy = cublasStatus_t (*)(cublasLtMatmulPreference_t);
using PFN_cublasLtMatmulAlgoGetHeuristic = cublasStatus_t (*)(
    cublasLtHandle_t, cublasLtMatmulDesc_t, cublasLtMatrixLayout_t A, cublasLtMatrixLayout_t B,
    cublasLtMatrixLayout_t C, cublasLtMatrixLayout_t D, cublasLtMatmulPreference_t, int requested,
    cublasLtMatmulHeuristicResult_t* results, int* returned);
using PFN_cublasLtMatmul = cublasStatus_t (*)(cublasLtHandle_t, cublasLtMatmulDesc_t, const void* alpha,
                                              const void* A, cublasLtMatrixLayout_t, const void* B,
                                              cublasLtMatrixLayout_t, const void* beta, const void* C,
                                              cublasLtMatrixLayout_t, void* D, cublasLtMatrixLayout_t,
                                              const cublasLtMatmulAlgo_t*, void* workspace,
                                              size_t workspace_bytes, cudaStream_t);

}  // namespace hipcode::cuda::blas
