#pragma once
// The fp32 kernels of the fused mask op (fused_mask.h) behind one launch description: raw pointers, fp32
// logits/tiles/fixed mask, the weight and dL/d(W ⊙ M) in fp32, bf16 or fp16. CUDA (fused_mask.cu, on the caller's
// stream) and the vectorised CPU kernel (fused_mask_avx2.cpp, x86-64 with AVX2 + FMA; elsewhere fused_mask.cpp's
// scalar loop).
#include <cstdint>

namespace patchlm {

struct FusedMaskLaunch {
  std::int64_t rows = 0, cols = 0, tile_rows = 1, tile_cols = 1, tiles_per_row = 1;
  float kappa_over_tau = 1, inv_tau = 1;
  std::uint64_t stream = 0;             // the counter noise stream of the 2:4 logits
  const void* weight = nullptr;         // [rows, cols]
  int weight_dtype = 0;                 // 0 fp32, 1 bf16, 2 fp16 (also the dtype of out and dout)
  const float* l24 = nullptr;           // [rows·cols/4, 6] or null (tile mode)
  const std::uint16_t* l24_bf16 = nullptr;  // the same as bf16 bits, instead of l24 (CUDA and AVX2)
  const float* tiles = nullptr;         // [rows/tr, cols/tc] or null (maskllm)
  const std::uint8_t* fixed = nullptr;  // [rows, cols] 0/1 bytes or null (tile mode only)
  void* cuda_stream = nullptr;           // CUDA only
  // The weight regulariser's gradient folded into the backward pass: the kernels take dout + s·(W ⊙ M) for dout,
  // s = norm_grad ÷ norm (0 where norm is 0): ‖W ⊙ M‖ and dL/d‖W ⊙ M‖, one fp32 value each (device memory on CUDA);
  // null: dout alone.
  const float* norm = nullptr;
  const float* norm_grad = nullptr;
  // CUDA forward: where set, each block's Σ out² (of the values as stored) at [fused_mask_cuda_blocks(k)].
  float* norm_partials = nullptr;
};

// dl24 [rows·cols/4, 6] (may be null); drows [rows, tiles_per_row], zeroed by the caller (may be null): each row's
// dT per tile column, summed over a tile's rows by the caller. The CUDA kernel's drows is
// [rows / fused_mask_cuda_rows_per_partial(tile_rows), tiles_per_row]: its partials hold that many consecutive rows
// (a divisor of tile_rows).
std::int64_t fused_mask_cuda_blocks(const FusedMaskLaunch& k);
std::int64_t fused_mask_cuda_rows_per_partial(std::int64_t tile_rows);
void fused_mask_forward_cuda(const FusedMaskLaunch& k, void* out);
void fused_mask_backward_cuda(const FusedMaskLaunch& k, const void* dout, float* dl24, float* drows);

// Whether this CPU runs the vectorised kernels (AVX2 + FMA); they take fp32 and bf16 weights.
bool fused_mask_avx2_available();
void fused_mask_forward_avx2(const FusedMaskLaunch& k, void* out);
void fused_mask_backward_avx2(const FusedMaskLaunch& k, const void* dout, float* dl24, float* drows);

}  // namespace patchlm
