// Test tool: the differentiable pieces of PATCH mask learning on one layer, with fixed Gumbel noise, in the dtype
// of the inputs (fp64 in the test), so a Python test can compare values and gradients with a direct PyTorch
// implementation of PATCH.md's formulas.
//   mask_grad IN.safetensors OUT.safetensors MODE TAU KAPPA24 KAPPAT TILE_ROWS TILE_COLS TARGET_DENSITY LS LW DECAY
// IN: l24 [G,6], lt [R,C], fixed24 [out,in], noise24 [G,6], noiset [R,C,2], w [out,in], x [n,in], r [n,out],
//     keep24 (U8, 2:4) and keepu (U8, unstructured) [out,in] for the priors.
// OUT: mask, loss, grad_l24, grad_lt (plain and through activation checkpointing: *_ckpt), per-block loss and
//      its grads (*_block), the same loss through the fused mask op (learn/fused_mask.h) whose 2:4 noise is the
//      counter stream kFusedStream (*_fused, checkpointed, and masked_weight_fused; its noise as counter_noise24), the
//      same as the trainer runs it — inside the checkpointed block, 2:4 gradient to a sink (*_sink), prior24, l24_prior,
//      tile_prior, lt_prior, hard.
#include <iostream>
#include <string>

#include <torch/autograd.h>

#include "io/safetensors.h"
#include "learn/activation_checkpoint.h"
#include "learn/fused_mask.h"
#include "learn/gumbel.h"
#include "learn/hybrid_mask.h"
#include "learn/mask_2to4.h"
#include "learn/regularizers.h"
#include "learn/tile_mask.h"
#include "model/checkpoint.h"
#include "util/error.h"

namespace {

using namespace patchlm;

at::Tensor load(const SafetensorsFile& f, const std::string& name) {
  const TensorEntry* e = f.find(name);
  if (!e) throw patchlm::Error("missing " + name);
  return tensor_view(f, *e).clone();
}

constexpr std::uint64_t kFusedStream = 0x0123456789abcdefull;

}  // namespace

int main(int argc, char** argv) {
  if (argc != 13) {
    std::cerr << "usage: mask_grad IN OUT MODE TAU KAPPA24 KAPPAT TILE_ROWS TILE_COLS TARGET_DENSITY LS LW DECAY\n";
    return 2;
  }
  try {
    const SafetensorsFile in = SafetensorsFile::open(argv[1]);
    const MaskMode mode = parse_mask_mode(argv[3]);
    const SampleParams p{std::stod(argv[4]), std::stod(argv[5]), std::stod(argv[6])};
    const TileShape tile{std::stoll(argv[7]), std::stoll(argv[8])};
    const double td = std::stod(argv[9]), ls = std::stod(argv[10]), lw = std::stod(argv[11]), decay = std::stod(argv[12]);
    const at::Tensor w = load(in, "w"), x = load(in, "x"), r = load(in, "r");
    LayerLogits l;
    l.rows = w.size(0);
    l.cols = w.size(1);
    l.logits_2to4 = load(in, "l24").requires_grad_(true);
    l.tile_logits = load(in, "lt").requires_grad_(true);
    l.fixed_2to4 = load(in, "fixed24");
    const at::Tensor n24 = load(in, "noise24"), nt = load(in, "noiset");
    Proj proj("layer", w, at::Tensor());
    auto strategy = std::make_shared<MaskedLinear>();
    proj.set_strategy(strategy);

    std::map<std::string, at::Tensor> out;
    auto run = [&](const std::string& suffix, bool ckpt, bool per_block, bool fused) {
      l.logits_2to4.mutable_grad() = at::Tensor();
      l.tile_logits.mutable_grad() = at::Tensor();
      at::Tensor m, mw, norm;
      LayerKept kept;
      if (fused) {  // ‖W ⊙ M‖ from the op: its gradient taken in the op's backward pass
        const at::Tensor tiles = mode == MaskMode::maskllm ? at::Tensor() : soft_tiles(l.tile_logits, nt, p.kappat, p.tau);
        mw = fused_masked_weight(w, l, mode, p, tile, tiles, kFusedStream, nullptr, {}, &norm);
        kept = {hybrid_kept(tiles, mode, l.rows, l.cols, tile), static_cast<double>(w.numel())};
      } else {
        m = soft_hybrid_mask(l, mode, p, tile, n24, nt);
        mw = w * m;
        kept = kept_of(m);
      }
      CheckpointedFn fn = [&](const at::Tensor& h, const std::vector<at::Tensor>& ws) {
        strategy->masked_weight = ws[0];
        return std::vector<at::Tensor>{proj.forward(h)};
      };
      const at::Tensor y = ckpt ? checkpointed(fn, x, {mw})[0] : fn(x, {mw})[0];
      const LayerKept other = kept_of(l.fixed_2to4);  // a second, constant "block" for the per-block variant
      const at::Tensor reg_s = per_block ? per_block_sparsity_regularizer(kept_masks({kept, other}),
                                                                                block_membership({0, 1}, kept.kept.options()), td)
                                         : sparsity_regularizer(kept_masks({kept}), td);
      if (!fused) norm = frobenius_norm(mw);
      const at::Tensor loss = (y * r).sum() + ls * reg_s - lw * decay * weight_regularizer({norm}, w.norm().item<double>());
      loss.backward();
      out[fused ? "masked_weight" + suffix : "mask" + suffix] = fused ? mw.detach() : m.detach();
      out["loss" + suffix] = loss.detach().reshape({1});
      out["grad_l24" + suffix] = mode == MaskMode::tile ? at::zeros_like(l.logits_2to4) : l.logits_2to4.grad();
      out["grad_lt" + suffix] = mode == MaskMode::maskllm ? at::zeros_like(l.tile_logits) : l.tile_logits.grad();
    };
    run("", false, false, false);
    run("_ckpt", true, false, false);
    run("_block", false, true, false);
    run("_fused", true, false, true);
    {
      // The trainer's arrangement (trainer.cpp): the fused op inside the checkpointed block, forming W ⊙ M again in
      // the backward pass, its 2:4 gradient handed to a sink, an anchor keeping it on the backward path, the block
      // returning its output and ‖W ⊙ M‖ (the op's).
      l.tile_logits.mutable_grad() = at::Tensor();
      at::Tensor grad24 = at::zeros_like(l.logits_2to4);
      int sink_calls = 0;
      const LogitGradSink sink = [&](const at::Tensor& g) {
        grad24 = g.clone();
        ++sink_calls;
      };
      const at::Tensor anchor = at::empty({0}, w.options()).requires_grad_(true);
      const at::Tensor tiles = mode == MaskMode::maskllm ? at::empty({0}, w.options())
                                                         : soft_tiles(l.tile_logits, nt, p.kappat, p.tau);
      CheckpointedFn fn = [&](const at::Tensor& h, const std::vector<at::Tensor>& in) {
        at::Tensor norm;
        const at::Tensor mw = fused_masked_weight(w, l, mode, p, tile, in[0].numel() ? in[0] : at::Tensor(),
                                                  kFusedStream, &sink, in[1], &norm);
        strategy->masked_weight = mw;
        return std::vector<at::Tensor>{proj.forward(h), norm};
      };
      const std::vector<at::Tensor> ys = checkpointed(fn, x, {tiles, anchor});
      const LayerKept kept = {hybrid_kept(mode == MaskMode::maskllm ? at::Tensor() : tiles, mode, l.rows, l.cols, tile),
                              static_cast<double>(w.numel())};
      const at::Tensor loss = (ys[0] * r).sum() + ls * sparsity_regularizer(kept_masks({kept}), td) -
                              lw * decay * weight_regularizer({ys[1]}, w.norm().item<double>());
      loss.backward();
      if (sink_calls != (mode == MaskMode::tile ? 0 : 1)) throw Error(str_cat("sink called ", sink_calls, " times"));
      out["loss_sink"] = loss.detach().reshape({1});
      out["grad_l24_sink"] = grad24;
      out["grad_lt_sink"] = mode == MaskMode::maskllm ? at::zeros_like(l.tile_logits) : l.tile_logits.grad();
    }
    out["counter_noise24"] = counter_gumbel_noise(kFusedStream, l.logits_2to4.sizes(), l.logits_2to4.options());
    const at::Tensor keep24 = load(in, "keep24").to(at::kBool), keepu = load(in, "keepu").to(at::kBool);
    out["prior24"] = prior_2to4(keep24, "layer").to(at::kDouble);
    out["l24_prior"] = apply_prior_2to4(l.logits_2to4.detach(), out["prior24"], 3.0);
    out["tile_prior"] = tile_prior(keepu, tile, td).to(at::kDouble);
    out["lt_prior"] = apply_tile_prior(l.tile_logits.detach(), out["tile_prior"], 3.0, 0.014);
    out["hard"] = hard_hybrid_mask(l, mode, tile).detach();

    std::vector<at::Tensor> keep;
    std::vector<TensorToWrite> tensors;
    for (auto& [name, t] : out) {
      keep.push_back(t.to(at::kDouble).contiguous());
      tensors.push_back({name, DType::F64, keep.back().sizes().vec(),
                         {static_cast<const std::byte*>(keep.back().data_ptr()), keep.back().nbytes()}});
    }
    write_safetensors(argv[2], tensors);
  } catch (const std::exception& e) {
    std::cerr << "mask_grad: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
