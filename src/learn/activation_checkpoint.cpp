#include "learn/activation_checkpoint.h"

#include <torch/autograd.h>

#include <cstdint>

namespace patchlm {
namespace {

struct CheckpointFunction : public torch::autograd::Function<CheckpointFunction> {
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx, const at::Tensor& h,
                                                at::TensorList extra, std::int64_t fn_address) {
    std::vector<at::Tensor> saved{h};
    saved.insert(saved.end(), extra.begin(), extra.end());
    ctx->save_for_backward(saved);
    ctx->saved_data["fn"] = fn_address;
    const auto& fn = *reinterpret_cast<const CheckpointedFn*>(fn_address);
    at::NoGradGuard no_grad;
    return fn(h, extra.vec());
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    const auto& fn = *reinterpret_cast<const CheckpointedFn*>(ctx->saved_data["fn"].toInt());
    std::vector<at::Tensor> inputs;
    for (const at::Tensor& t : ctx->get_saved_variables()) inputs.push_back(t.detach().requires_grad_(true));
    std::vector<at::Tensor> ys;
    {
      at::AutoGradMode grad(true);
      ys = fn(inputs.front(), std::vector<at::Tensor>(inputs.begin() + 1, inputs.end()));
    }
    // Outputs the loss did not use come with undefined gradients: leave them out.
    std::vector<at::Tensor> outputs, grads_in;
    for (std::size_t i = 0; i < ys.size(); ++i) {
      if (!grad_out.at(i).defined() || !ys[i].requires_grad()) continue;
      outputs.push_back(ys[i]);
      grads_in.push_back(grad_out[i]);
    }
    torch::autograd::variable_list grads =
        outputs.empty() ? torch::autograd::variable_list(inputs.size())
                        : torch::autograd::grad(outputs, inputs, grads_in, /*retain_graph=*/false,
                                                /*create_graph=*/false, /*allow_unused=*/true);
    grads.emplace_back();  // fn_address
    return grads;
  }
};

}  // namespace

std::vector<at::Tensor> checkpointed(const CheckpointedFn& fn, const at::Tensor& h, const std::vector<at::Tensor>& extra) {
  return CheckpointFunction::apply(h, at::TensorList(extra), reinterpret_cast<std::int64_t>(&fn));
}

}  // namespace patchlm
