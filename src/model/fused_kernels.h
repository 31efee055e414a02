#pragma once
// Launch descriptions of the decoder's fused elementwise CUDA kernels (rope.cu, gated_activation.cu): raw pointers,
// fp32 math, one rounding per output. The ops around them (rope.h, gated_activation.h) decide when they apply.
#include <cstdint>

namespace patchlm {

// y = rotate(x) over [rows, D] rows of x (row r = (b, h, t) of a [B, H, T, D] tensor with unit stride in D), by the
// tables cos/sin [T, D] (contiguous):
//   forward:   y1 = x1·c1 − x2·s1,  y2 = x2·c2 + x1·s2        (x1, x2: the two halves of the row)
//   transpose: y1 = x1·c1 + x2·s2,  y2 = x2·c2 − x1·s1        (the backward: dL/dx from dL/dy)
struct RopeLaunch {
  const void* x = nullptr;
  void* y = nullptr;
  const void* cos = nullptr;
  const void* sin = nullptr;
  std::int64_t batch = 0, heads = 0, tokens = 0, head_dim = 0;
  std::int64_t x_strides[3] = {0, 0, 0};  // elements, for b, h, t
  std::int64_t y_strides[3] = {0, 0, 0};
  bool bf16 = true;                        // else fp32 (x, y, cos, sin alike)
  bool transpose = false;
  void* cuda_stream = nullptr;
};
void rope_cuda(const RopeLaunch& launch);

// h = act(gate) · up and its backward (dgate = dh · up · act'(gate), dup = dh · act(gate)) over n contiguous elements.
struct GatedActivationLaunch {
  const void* gate = nullptr;
  const void* up = nullptr;
  const void* grad_out = nullptr;  // backward only
  void* out = nullptr;             // forward: h; backward: dgate
  void* out_up = nullptr;          // backward: dup
  std::int64_t n = 0;
  bool gelu_tanh = false;          // else SiLU
  bool bf16 = true;                // else fp32
  bool backward = false;
  void* cuda_stream = nullptr;
};
void gated_activation_cuda(const GatedActivationLaunch& launch);

}  // namespace patchlm
