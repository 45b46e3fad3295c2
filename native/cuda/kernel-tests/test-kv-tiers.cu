// A tiered range (GPU, host, GPU, host pieces) written by a kernel and read back by cudaMemcpy, and written
// by cudaMemcpy and summed by a kernel; then the bench: 64 KB pages (one layer's keys of 64 tokens at 4 KV
// heads of 128) gathered at random from GPU memory, read in place from mapped host memory, or copied from
// pinned host memory into GPU memory first.
#include "cuda/tiered-region.h"
#include "test-harness.cuh"
#include "test-kv-tiers.h"

namespace {

constexpr size_t kPageBytes = 64 << 10;

__host__ __device__ uint32_t word_at(size_t index) {
  return uint32_t(index * 2654435761u) ^ uint32_t(index >> 7);
}

__global__ void fill_words(uint32_t* words, size_t count) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < count;
       i += size_t(gridDim.x) * blockDim.x) {
    words[i] = word_at(i);
  }
}

// One CTA per listed page: the XOR of its 16-byte words into sums[cta].
__global__ void xor_pages(const uint4* base, const int64_t* pages, uint32_t* sums) {
  const uint4* page = base + pages[blockIdx.x] * int64_t(kPageBytes / sizeof(uint4));
  uint32_t acc = 0;
  for (int i = threadIdx.x; i < int(kPageBytes / sizeof(uint4)); i += blockDim.x) {
    const uint4 v = page[i];
    acc ^= v.x ^ v.y ^ v.z ^ v.w;
  }
  for (int offset = 16; offset > 0; offset /= 2) acc ^= __shfl_xor_sync(0xffffffffu, acc, offset);
  __shared__ uint32_t warp_sums[32];
  if (threadIdx.x % 32 == 0) warp_sums[threadIdx.x / 32] = acc;
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int w = 1; w < int(blockDim.x / 32); ++w) acc ^= warp_sums[w];
    sums[blockIdx.x] = acc;
  }
}

uint32_t host_xor_of_page(int64_t page) {
  uint32_t acc = 0;
  const size_t first = size_t(page) * (kPageBytes / 4);
  for (size_t i = 0; i < kPageBytes / 4; ++i) acc ^= word_at(first + i);
  return acc;
}

std::vector<hipcode::cuda::TieredRegion::Piece> alternating_pieces(size_t gpu_bytes, size_t host_bytes) {
  return {{gpu_bytes, false}, {host_bytes, true}, {gpu_bytes, false}, {host_bytes, true}};
}

}  // namespace

void test_kv_tiers() {
  try {
    const size_t gpu = hipcode::cuda::TieredRegion::granularity(0, false);
    const size_t host = hipcode::cuda::TieredRegion::granularity(0, true);
    const size_t piece = std::lcm(gpu, host);
    hipcode::cuda::TieredRegion region(0, alternating_pieces(piece, piece), "the test's sizes");
    const size_t words = region.bytes() / 4;
    fill_words<<<256, 256>>>(reinterpret_cast<uint32_t*>(region.data()), words);
    CK(cudaDeviceSynchronize());
    std::vector<uint32_t> back(words);
    CK(cudaMemcpy(back.data(), region.data(), region.bytes(), cudaMemcpyDeviceToHost));
    size_t wrong = 0;
    for (size_t i = 0; i < words; ++i) wrong += back[i] != word_at(i);
    record("kv tiers: kernel writes, copy reads", wrong == 0,
           std::to_string(piece >> 10) + " KiB pieces (granules: GPU " + std::to_string(gpu >> 10) +
               " KiB, host " + std::to_string(host >> 10) + " KiB), " + std::to_string(wrong) +
               " wrong words");

    CK(cudaMemset(region.data(), 0, region.bytes()));
    CK(cudaMemcpy(region.data(), back.data(), region.bytes(), cudaMemcpyHostToDevice));
    const int64_t page_count = int64_t(region.bytes() / kPageBytes);
    std::vector<int64_t> pages(static_cast<size_t>(page_count));
    std::iota(pages.begin(), pages.end(), 0);
    Dev<int64_t> page_list(pages);
    Dev<uint32_t> sums(pages.size());
    xor_pages<<<unsigned(page_count), 256>>>(reinterpret_cast<const uint4*>(region.data()), page_list.p,
                                             sums.p);
    const std::vector<uint32_t> got = sums.download();
    int64_t mismatched = 0;
    for (int64_t page = 0; page < page_count; ++page)
      mismatched += got[size_t(page)] != host_xor_of_page(page);
    record("kv tiers: copy writes, kernel reads", mismatched == 0,
           std::to_string(page_count) + " pages, " + std::to_string(mismatched) + " wrong");
  } catch (const std::exception& e) {
    record("kv tiers", false, std::string("exception: ") + e.what());
  }
}

void bench_kv_tiers() {
  const size_t granule = std::lcm(hipcode::cuda::TieredRegion::granularity(0, false),
                                  hipcode::cuda::TieredRegion::granularity(0, true));
  const size_t gpu_bytes = (size_t(2) << 30) / granule * granule;
  const size_t host_bytes = (size_t(8) << 30) / granule * granule;
  hipcode::cuda::TieredRegion region(0, {{gpu_bytes, false}, {host_bytes, true}}, "the bench's sizes");
  fill_words<<<1024, 256>>>(reinterpret_cast<uint32_t*>(region.data()), region.bytes() / 4);
  CK(cudaDeviceSynchronize());
  const auto* base = reinterpret_cast<const uint4*>(region.data());
  const int64_t gpu_pages = int64_t(gpu_bytes / kPageBytes);
  const int64_t host_pages = int64_t(host_bytes / kPageBytes);

  for (int count : {64, 512, 4096}) {
    std::uniform_int_distribution<int64_t> in_gpu(0, gpu_pages - 1),
        in_host(gpu_pages, gpu_pages + host_pages - 1);
    std::vector<int64_t> gpu_list(static_cast<size_t>(count)), host_list(static_cast<size_t>(count));
    for (auto& page : gpu_list) page = in_gpu(g_rng);
    for (auto& page : host_list) page = in_host(g_rng);
    Dev<int64_t> gpu_pages_dev(gpu_list), host_pages_dev(host_list);
    Dev<uint32_t> sums(static_cast<size_t>(count));
    const double bytes = double(count) * kPageBytes;
    const double gpu_us = time_us([&] { xor_pages<<<count, 256>>>(base, gpu_pages_dev.p, sums.p); });
    const double mapped_us = time_us([&] { xor_pages<<<count, 256>>>(base, host_pages_dev.p, sums.p); });

    // The same pages copied from pinned host memory (cudaMemcpyAsync each) into a GPU buffer, then read
    // there.
    static char* pinned = nullptr;
    const size_t pinned_bytes = size_t(1) << 30;
    if (!pinned) CK(cudaHostAlloc(&pinned, pinned_bytes, cudaHostAllocDefault));
    Dev<uint4> staging(size_t(count) * kPageBytes / sizeof(uint4));
    std::vector<int64_t> staged(static_cast<size_t>(count));
    std::iota(staged.begin(), staged.end(), 0);
    Dev<int64_t> staged_dev(staged);
    std::uniform_int_distribution<int64_t> in_pinned(0, int64_t(pinned_bytes / kPageBytes) - 1);
    std::vector<int64_t> pinned_list(static_cast<size_t>(count));
    for (auto& page : pinned_list) page = in_pinned(g_rng);
    const double copy_us = time_us([&] {
      for (int i = 0; i < count; ++i) {
        cudaMemcpyAsync(reinterpret_cast<char*>(staging.p) + size_t(i) * kPageBytes,
                        pinned + size_t(pinned_list[size_t(i)]) * kPageBytes, kPageBytes,
                        cudaMemcpyHostToDevice);
      }
      xor_pages<<<count, 256>>>(staging.p, staged_dev.p, sums.p);
    });
    std::printf(
        "kv tiers: %4d random 64 KiB pages: GPU %8.1f us (%6.1f GB/s), mapped host %8.1f us (%5.1f GB/s), "
        "copied from pinned host %8.1f us (%5.1f GB/s)\n",
        count, gpu_us, bytes / gpu_us / 1e3, mapped_us, bytes / mapped_us / 1e3, copy_us,
        bytes / copy_us / 1e3);
  }
}
