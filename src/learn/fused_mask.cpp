#include "learn/fused_mask.h"

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/autograd.h>

#include <bit>

#include "io/mask_file.h"
#include "learn/fused_mask_group.h"
#include "learn/gumbel.h"
#include "learn/mask_2to4.h"
#include "learn/regularizers.h"
#include "model/masks.h"
#include "util/error.h"

#include "learn/fused_mask_kernels.h"

#if PATCHLM_LEARN_CUDA
#include <ATen/cuda/CUDAContext.h>
#endif

namespace patchlm {
namespace {

// The kernels spell the candidate table out as sums (fused_mask_group.h); it must be io/mask_file's.
constexpr bool kernel_table_matches() {
  for (int c = 0; c < 6; ++c)
    for (int j = 0; j < 4; ++j)
      if ((kTwoFourPatterns[c][j] != 0) != (j == fused::kKeepA[c] || j == fused::kKeepB[c])) return false;
  return true;
}
static_assert(kernel_table_matches(), "fused_mask_group.h and kTwoFourPatterns disagree");

struct Geometry {
  std::int64_t rows, cols, tile_rows, tile_cols, tiles_per_row;
  double kappa_over_tau, inv_tau;
  std::uint64_t stream;
};

// One row of the forward pass: out[r, :] = W[r, :] ⊙ M[r, :].
template <typename T, typename W>
void forward_row(std::int64_t r, const W* w, const T* l24, const T* tiles, const std::uint8_t* fixed, W* out,
                 const Geometry& g) {
  const T kot = static_cast<T>(g.kappa_over_tau), it = static_cast<T>(g.inv_tau);
  const T* trow = tiles ? tiles + (r / g.tile_rows) * g.tiles_per_row : nullptr;
  const std::int64_t groups = g.cols / 4;
  for (std::int64_t q = 0; q < groups; ++q) {
    const std::int64_t group = r * groups + q, col = 4 * q, base = r * g.cols + col;
    T m[4];
    if (fixed) {
      for (int j = 0; j < 4; ++j) m[j] = static_cast<T>(fixed[base + j]);
    } else {
      T p[6];
      fused::candidate_probs(l24 + group * 6, g.stream, group, kot, it, p);
      fused::soft_2to4(p, m);
    }
    for (int j = 0; j < 4; ++j) {
      const T t = trow ? trow[(col + j) / g.tile_cols] : T(0);
      out[base + j] = static_cast<W>(static_cast<T>(w[base + j]) * (t + (1 - t) * m[j]));
    }
  }
}

// One row of the backward pass: dL24 of its groups and its share of dT, per tile column (dtile_row[C]), from
// dout + s·(W ⊙ M) (s = dL/d‖W ⊙ M‖ ÷ ‖W ⊙ M‖, the weight regulariser's; 0 without it).
template <typename T, typename W>
void backward_row(std::int64_t r, const W* w, const T* l24, const T* tiles, const std::uint8_t* fixed, const W* dout, T s,
                  T* dl24, T* dtile_row, const Geometry& g) {
  const T kot = static_cast<T>(g.kappa_over_tau), it = static_cast<T>(g.inv_tau);
  const T* trow = tiles ? tiles + (r / g.tile_rows) * g.tiles_per_row : nullptr;
  const std::int64_t groups = g.cols / 4;
  for (std::int64_t q = 0; q < groups; ++q) {
    const std::int64_t group = r * groups + q, col = 4 * q, base = r * g.cols + col;
    T m[4], p[6];
    if (fixed) {
      for (int j = 0; j < 4; ++j) m[j] = static_cast<T>(fixed[base + j]);
    } else {
      fused::candidate_probs(l24 + group * 6, g.stream, group, kot, it, p);
      fused::soft_2to4(p, m);
    }
    T dm[4];
    for (int j = 0; j < 4; ++j) {
      const T t = trow ? trow[(col + j) / g.tile_cols] : T(0), wj = static_cast<T>(w[base + j]);
      const T dM = (static_cast<T>(dout[base + j]) + s * wj * (t + (1 - t) * m[j])) * wj;
      if (dtile_row) dtile_row[(col + j) / g.tile_cols] += dM * (1 - m[j]);
      dm[j] = dM * (1 - t);
    }
    if (dl24) fused::logit_grads(p, dm, kot, dl24 + group * 6);
  }
}

// Autograd functions take no undefined tensors: an input a mode does not use travels as an empty tensor.
bool present(const at::Tensor& t) { return t.defined() && t.numel() > 0; }
at::Tensor absent(const at::Tensor& like) { return at::empty({0}, like.options().dtype(at::kFloat)); }

const void* data_or_null(const at::Tensor& t) { return present(t) ? t.const_data_ptr() : nullptr; }

// Inputs in the compute dtype (fp64 when anything is fp64 — the oracle tests — else fp32), contiguous; absent ones
// undefined.
at::Tensor as_compute(const at::Tensor& t, at::ScalarType compute) {
  return present(t) ? t.to(compute).contiguous() : at::Tensor();
}

// Runs row(r) for every row in parallel, typed: row is a lambda template <T (compute), W (weight)>.
template <typename RowFn>
void for_each_row(const at::Tensor& w, at::ScalarType compute, std::int64_t rows, RowFn&& row) {
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, w.scalar_type(), "fused_mask", [&] {
    using W = scalar_t;
    auto run = [&]<typename T>(T) {
      at::parallel_for(0, rows, 8, [&](std::int64_t begin, std::int64_t end) {
        for (std::int64_t r = begin; r < end; ++r) row.template operator()<T, W>(r);
      });
    };
    if (compute == at::kDouble) run(double{});
    else run(float{});
  });
}

// The inputs a kernel reads, in the compute dtype (fp64 when anything is fp64 — the oracle tests — else fp32) and
// contiguous — but the fixed 2:4 mask as 0/1 bytes — those the mode does not use undefined. Kernels hold raw
// pointers into them.
struct ComputeInputs {
  at::Tensor l24, tiles, fixed;
};

void forward_cpu(const at::Tensor& w, const ComputeInputs& in, const Geometry& g, at::ScalarType compute,
                 at::Tensor& out) {
  for_each_row(w, compute, g.rows, [&]<typename T, typename W>(std::int64_t r) {
    forward_row<T, W>(r, w.const_data_ptr<W>(), static_cast<const T*>(data_or_null(in.l24)),
                      static_cast<const T*>(data_or_null(in.tiles)), static_cast<const std::uint8_t*>(data_or_null(in.fixed)),
                      out.mutable_data_ptr<W>(), g);
  });
}

// dL24 into dl24 and each row's dT per tile column into drows [rows, tiles_per_row] (either may be undefined).
void backward_cpu(const at::Tensor& w, const ComputeInputs& in, const at::Tensor& dout, double norm_grad_scale,
                  const Geometry& g, at::ScalarType compute, at::Tensor& dl24, at::Tensor& drows) {
  for_each_row(w, compute, g.rows, [&]<typename T, typename W>(std::int64_t r) {
    backward_row<T, W>(r, w.const_data_ptr<W>(), static_cast<const T*>(data_or_null(in.l24)),
                       static_cast<const T*>(data_or_null(in.tiles)), static_cast<const std::uint8_t*>(data_or_null(in.fixed)),
                       dout.const_data_ptr<W>(), static_cast<T>(norm_grad_scale),
                       dl24.defined() ? dl24.mutable_data_ptr<T>() : nullptr,
                       drows.defined() ? drows.mutable_data_ptr<T>() + r * g.tiles_per_row : nullptr, g);
  });
}

// The launch description of the fp32 kernels (CUDA and AVX2); norm and norm_grad: ‖W ⊙ M‖ and its gradient, fp32
// on w's device — the regulariser's term only where norm_grad is defined.
FusedMaskLaunch launch_of(const at::Tensor& w, const ComputeInputs& in, const Geometry& g,
                          const at::Tensor& norm = {}, const at::Tensor& norm_grad = {}) {
  FusedMaskLaunch k;
  k.rows = g.rows;
  k.cols = g.cols;
  k.tile_rows = g.tile_rows;
  k.tile_cols = g.tile_cols;
  k.tiles_per_row = g.tiles_per_row;
  k.kappa_over_tau = static_cast<float>(g.kappa_over_tau);
  k.inv_tau = static_cast<float>(g.inv_tau);
  k.stream = g.stream;
  k.weight = w.const_data_ptr();
  k.weight_dtype = w.scalar_type() == at::kBFloat16 ? 1 : w.scalar_type() == at::kHalf ? 2 : 0;
  if (present(in.l24) && in.l24.scalar_type() == at::kBFloat16) {
    k.l24_bf16 = static_cast<const std::uint16_t*>(in.l24.const_data_ptr());
  } else {
    k.l24 = static_cast<const float*>(data_or_null(in.l24));
  }
  k.tiles = static_cast<const float*>(data_or_null(in.tiles));
  k.fixed = static_cast<const std::uint8_t*>(data_or_null(in.fixed));
  if (norm.defined() && norm_grad.defined()) {
    k.norm = norm.const_data_ptr<float>();
    k.norm_grad = norm_grad.const_data_ptr<float>();
  }
#if PATCHLM_LEARN_CUDA
  if (w.is_cuda()) k.cuda_stream = at::cuda::getCurrentCUDAStream(w.get_device()).stream();
#endif
  return k;
}

// Which kernel runs: the vectorised CPU one for fp32 math on fp32/bf16 weights where the CPU has AVX2 + FMA.
bool use_avx2(const at::Tensor& w, at::ScalarType compute) {
#if PATCHLM_LEARN_AVX2
  return w.is_cpu() && compute == at::kFloat && (w.scalar_type() == at::kFloat || w.scalar_type() == at::kBFloat16) &&
         fused_mask_avx2_available();
#else
  (void)w;
  (void)compute;
  return false;
#endif
}

// The CUDA and AVX2 kernels read bf16 logits as they are (no fp32 copy of the largest tensor of the step); the
// scalar loop takes everything in the compute dtype.
ComputeInputs compute_inputs(const at::Tensor& w, const at::Tensor& l24, const at::Tensor& tiles,
                             const at::Tensor& fixed, at::ScalarType compute) {
  const bool keep_bf16 = (w.is_cuda() || use_avx2(w, compute)) && present(l24) && l24.scalar_type() == at::kBFloat16;
  at::Tensor bytes = present(fixed) ? fixed.to(at::kByte).contiguous() : at::Tensor();
  // The CUDA kernel reads a group's four bytes as one word.
  if (bytes.defined() && reinterpret_cast<std::uintptr_t>(bytes.const_data_ptr()) % 4 != 0) bytes = bytes.clone();
  return {keep_bf16 ? l24.contiguous() : as_compute(l24, compute), as_compute(tiles, compute), bytes};
}

bool has_kernel(const at::Tensor& w, at::ScalarType compute) {
  if (w.is_cpu()) return true;
#if PATCHLM_LEARN_CUDA
  return w.is_cuda() && compute == at::kFloat;
#else
  (void)compute;
  return false;
#endif
}

struct FusedMaskFunction : public torch::autograd::Function<FusedMaskFunction> {
  // anchor: an empty tensor that requires grad (or an absent one) — with a sink, where no other input needs a
  // gradient, it keeps the op on the backward path; sink: the address of a LogitGradSink, or 0. Outputs W ⊙ M and,
  // with_norm, ‖W ⊙ M‖ (else an empty tensor), whose gradient the backward pass takes in the same pass over W.
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx, const at::Tensor& weight,
                                                const at::Tensor& l24, const at::Tensor& tiles, const at::Tensor& fixed,
                                                const at::Tensor& /*anchor*/, std::int64_t tile_rows,
                                                std::int64_t tile_cols, double kappa, double tau, std::int64_t stream,
                                                std::int64_t sink, bool with_norm) {
    ctx->saved_data["sink"] = sink;
    ctx->saved_data["tile_rows"] = tile_rows;
    ctx->saved_data["tile_cols"] = tile_cols;
    ctx->saved_data["kappa"] = kappa;
    ctx->saved_data["tau"] = tau;
    ctx->saved_data["stream"] = stream;
    const Geometry g = geometry(weight, tile_rows, tile_cols, kappa, tau, stream);
    const at::ScalarType compute = compute_type(weight, l24, tiles);
    const at::Tensor w = weight.contiguous();
    const ComputeInputs in = compute_inputs(w, l24, tiles, fixed, compute);
    at::Tensor out = at::empty_like(w), norm;
    if (w.is_cuda()) {
#if PATCHLM_LEARN_CUDA
      FusedMaskLaunch k = launch_of(w, in, g);
      at::Tensor partials;  // the kernel's per-block Σ out²: ‖out‖ without a second pass over it
      if (with_norm) {
        partials = at::empty({fused_mask_cuda_blocks(k)}, w.options().dtype(at::kFloat));
        k.norm_partials = partials.mutable_data_ptr<float>();
      }
      fused_mask_forward_cuda(k, out.mutable_data_ptr());
      if (with_norm) norm = partials.sum().sqrt();
#else
      throw Error("fused mask: this build has no CUDA kernels");
#endif
    } else if (use_avx2(w, compute)) {
      fused_mask_forward_avx2(launch_of(w, in, g), out.mutable_data_ptr());
    } else {
      forward_cpu(w, in, g, compute, out);
    }
    if (with_norm && !norm.defined()) norm = frobenius_norm_value(out);
    if (!with_norm) {
      norm = at::empty({0}, out.options().dtype(at::kFloat));
      ctx->mark_non_differentiable({norm});
    }
    ctx->save_for_backward({weight, l24, tiles, fixed, norm});
    return {out, norm};
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& weight = saved[0];
    const at::Tensor l24 = present(saved[1]) ? saved[1] : at::Tensor(), tiles = present(saved[2]) ? saved[2] : at::Tensor();
    const at::Tensor fixed = present(saved[3]) ? saved[3] : at::Tensor();
    const Geometry g = geometry(weight, ctx->saved_data["tile_rows"].toInt(), ctx->saved_data["tile_cols"].toInt(),
                                ctx->saved_data["kappa"].toDouble(), ctx->saved_data["tau"].toDouble(),
                                ctx->saved_data["stream"].toInt());
    const at::ScalarType compute = compute_type(weight, l24, tiles);
    const at::Tensor w = weight.contiguous();
    const at::Tensor dout = grad_out.at(0).defined() ? grad_out.at(0).to(weight.scalar_type()).contiguous() : at::zeros_like(w);
    // The regulariser's gradient (W ⊙ M)·dL/d‖W ⊙ M‖ ÷ ‖W ⊙ M‖ is never formed as a tensor of the weight's size:
    // the kernels read the norm and its gradient, one value each.
    const at::Tensor& norm = saved[4];
    const bool norm_term = norm.numel() == 1 && grad_out.size() > 1 && grad_out[1].defined();
    const at::Tensor norm_grad = norm_term ? grad_out[1].to(norm.scalar_type()).contiguous() : at::Tensor();
    const ComputeInputs in = compute_inputs(w, l24, tiles, fixed, compute);
    const auto opts = w.options().dtype(compute);
    at::Tensor dl24 = in.l24.defined() ? at::empty(in.l24.sizes(), opts) : at::Tensor();
    // Partial sums of dT per tile column over `partial_rows` consecutive rows (1 but on CUDA), summed below.
    std::int64_t partial_rows = 1;
#if PATCHLM_LEARN_CUDA
    if (w.is_cuda()) partial_rows = fused_mask_cuda_rows_per_partial(g.tile_rows);
#endif
    at::Tensor drows = in.tiles.defined() ? at::zeros({g.rows / partial_rows, g.tiles_per_row}, opts) : at::Tensor();
    auto f32 = [](at::Tensor& t) { return t.defined() ? t.mutable_data_ptr<float>() : nullptr; };  // kernels: fp32
    if (w.is_cuda()) {
#if PATCHLM_LEARN_CUDA
      fused_mask_backward_cuda(launch_of(w, in, g, norm, norm_grad), dout.const_data_ptr(), f32(dl24), f32(drows));
#else
      throw Error("fused mask: this build has no CUDA kernels");
#endif
    } else if (use_avx2(w, compute)) {
      fused_mask_backward_avx2(launch_of(w, in, g, norm, norm_grad), dout.const_data_ptr(), f32(dl24), f32(drows));
    } else {
      const double n = norm_term ? norm.item<double>() : 0.0;
      backward_cpu(w, in, dout, n > 0 ? norm_grad.item<double>() / n : 0.0, g, compute, dl24, drows);
    }
    at::Tensor dtiles =
        drows.defined() ? drows.view({g.rows / g.tile_rows, g.tile_rows / partial_rows, g.tiles_per_row}).sum(1)
                        : at::Tensor();
    if (dtiles.defined() && tiles.defined()) dtiles = dtiles.to(tiles.scalar_type());
    if (const std::int64_t sink = ctx->saved_data["sink"].toInt(); sink != 0 && dl24.defined()) {
      (*reinterpret_cast<const LogitGradSink*>(sink))(dl24);  // fp32, freed when the sink returns
      dl24 = at::Tensor();
    } else if (dl24.defined() && l24.defined()) {
      dl24 = dl24.to(l24.scalar_type());
    }
    return {at::Tensor(), dl24, dtiles, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(),
            at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }

  static Geometry geometry(const at::Tensor& w, std::int64_t tile_rows, std::int64_t tile_cols, double kappa,
                           double tau, std::int64_t stream) {
    return {w.size(0), w.size(1), tile_rows, tile_cols, w.size(1) / tile_cols, kappa / tau, 1.0 / tau,
            std::bit_cast<std::uint64_t>(stream)};
  }

  static at::ScalarType compute_type(const at::Tensor& w, const at::Tensor& l24, const at::Tensor& tiles) {
    const bool fp64 = w.scalar_type() == at::kDouble || (present(l24) && l24.scalar_type() == at::kDouble) ||
                      (present(tiles) && tiles.scalar_type() == at::kDouble);
    return fp64 ? at::kDouble : at::kFloat;
  }
};

void check_inputs(const at::Tensor& weight, const LayerLogits& l, MaskMode mode, const TileShape& tile,
                  const at::Tensor& soft_tile_probs) {
  if (weight.dim() != 2 || weight.size(0) != l.rows || weight.size(1) != l.cols || l.cols % 4 != 0) {
    throw Error(str_cat(l.name, ": the fused mask needs a [", l.rows, ", ", l.cols, "] weight with a multiple of 4 columns"));
  }
  if (mode != MaskMode::maskllm) {
    check_tiles_divide(l.name, l.rows, l.cols, tile);
    if (!soft_tile_probs.defined() || soft_tile_probs.sizes() != at::IntArrayRef{l.rows / tile.rows, l.cols / tile.cols}) {
      throw Error(str_cat(l.name, ": the fused mask needs the soft tile probabilities of its tile grid"));
    }
  }
}

}  // namespace

at::Tensor fused_masked_weight(const at::Tensor& weight, const LayerLogits& l, MaskMode mode,
                               const SampleParams& params, const TileShape& tile, const at::Tensor& soft_tile_probs,
                               std::uint64_t stream_2to4, const LogitGradSink* sink, const at::Tensor& anchor,
                               at::Tensor* norm) {
  check_inputs(weight, l, mode, tile, soft_tile_probs);
  const at::Tensor tiles = mode == MaskMode::maskllm ? absent(weight) : soft_tile_probs;
  const at::Tensor l24 = mode == MaskMode::tile ? absent(weight) : l.logits_2to4;
  const at::Tensor fixed = mode == MaskMode::tile ? l.fixed_2to4 : absent(weight);
  if (!has_kernel(weight, FusedMaskFunction::compute_type(weight, l24, tiles))) {
    if (sink) throw Error(str_cat(l.name, ": no fused mask kernel for this device and dtype"));
    at::Tensor out = reference_masked_weight(weight, l, mode, params, tile, soft_tile_probs, stream_2to4);
    if (norm) *norm = frobenius_norm(out);
    return out;
  }
  torch::autograd::variable_list out = FusedMaskFunction::apply(
      weight, l24, tiles, fixed, anchor.defined() ? anchor : absent(weight), tile.rows, tile.cols, params.kappa24,
      params.tau, std::bit_cast<std::int64_t>(stream_2to4), reinterpret_cast<std::int64_t>(sink), norm != nullptr);
  if (norm) *norm = out[1];
  return out[0];
}

at::Tensor reference_masked_weight(const at::Tensor& weight, const LayerLogits& l, MaskMode mode,
                                   const SampleParams& params, const TileShape& tile,
                                   const at::Tensor& soft_tile_probs, std::uint64_t stream_2to4) {
  check_inputs(weight, l, mode, tile, soft_tile_probs);
  at::Tensor m24;
  if (mode == MaskMode::tile) {
    m24 = l.fixed_2to4;
  } else {
    const at::Tensor noise = counter_gumbel_noise(stream_2to4, l.logits_2to4.sizes(), l.logits_2to4.options());
    m24 = soft_mask_2to4(l.logits_2to4, noise, params.kappa24, params.tau, l.rows, l.cols);
  }
  const at::Tensor mask = mode == MaskMode::maskllm ? m24 : combine_hybrid(expand_tiles(soft_tile_probs, tile), m24);
  return weight * mask.to(weight.scalar_type());
}

}  // namespace patchlm
