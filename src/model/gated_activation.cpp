#include "model/gated_activation.h"

#include <torch/autograd.h>

#include "model/fused_kernels.h"

#if PATCHLM_MODEL_CUDA
#include <ATen/cuda/CUDAContext.h>
#endif

namespace patchlm {
namespace {

at::Tensor composed(const at::Tensor& gate, const at::Tensor& up, bool gelu_tanh) {
  return (gelu_tanh ? at::gelu(gate, "tanh") : at::silu(gate)) * up;
}

bool fused_applies(const at::Tensor& gate, const at::Tensor& up) {
#if PATCHLM_MODEL_CUDA
  const at::ScalarType t = gate.scalar_type();
  return gate.is_cuda() && (t == at::kBFloat16 || t == at::kFloat) && up.scalar_type() == t &&
         gate.sizes() == up.sizes() && up.device() == gate.device();
#else
  (void)gate, (void)up;
  return false;
#endif
}

// Forward (grad_out undefined): h; backward: {dgate, dup}.
std::vector<at::Tensor> run_kernel(const at::Tensor& gate, const at::Tensor& up, const at::Tensor& grad_out,
                                   bool gelu_tanh) {
  const at::Tensor g = gate.contiguous(), u = up.contiguous();
  const bool backward = grad_out.defined();
  const at::Tensor d = backward ? grad_out.contiguous() : at::Tensor();
  std::vector<at::Tensor> out{at::empty_like(g)};
  if (backward) out.push_back(at::empty_like(u));
#if PATCHLM_MODEL_CUDA
  GatedActivationLaunch k;
  k.gate = g.const_data_ptr();
  k.up = u.const_data_ptr();
  k.grad_out = backward ? d.const_data_ptr() : nullptr;
  k.out = out[0].mutable_data_ptr();
  k.out_up = backward ? out[1].mutable_data_ptr() : nullptr;
  k.n = g.numel();
  k.gelu_tanh = gelu_tanh;
  k.bf16 = g.scalar_type() == at::kBFloat16;
  k.backward = backward;
  k.cuda_stream = at::cuda::getCurrentCUDAStream(g.get_device()).stream();
  gated_activation_cuda(k);
#else
  (void)gelu_tanh;
#endif
  return out;
}

struct FusedGatedActivation : public torch::autograd::Function<FusedGatedActivation> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& gate, const at::Tensor& up,
                            bool gelu_tanh) {
    ctx->save_for_backward({gate, up});
    ctx->saved_data["gelu_tanh"] = gelu_tanh;
    return run_kernel(gate, up, at::Tensor(), gelu_tanh)[0];
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    const auto saved = ctx->get_saved_variables();
    std::vector<at::Tensor> grads =
        run_kernel(saved[0], saved[1], grad_out.at(0), ctx->saved_data["gelu_tanh"].toBool());
    return {grads[0], grads[1], at::Tensor()};
  }
};

}  // namespace

at::Tensor gated_activation(const at::Tensor& gate, const at::Tensor& up, bool gelu_tanh, bool fused) {
  if (!fused || !fused_applies(gate, up)) return composed(gate, up, gelu_tanh);
  return FusedGatedActivation::apply(gate, up, gelu_tanh);
}

}  // namespace patchlm
