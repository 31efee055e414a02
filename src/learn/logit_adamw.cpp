#include "learn/logit_adamw.h"

#include <ATen/Parallel.h>

#include <atomic>
#include <cmath>

#include "learn/gumbel.h"
#include "learn/logit_adamw_element.h"
#include "learn/logit_adamw_kernels.h"
#include "util/error.h"

#if PATCHLM_LEARN_CUDA
#include <ATen/cuda/CUDAContext.h>
#endif

namespace patchlm {
namespace {

// The rounding bits of tensor `index` at optimizer step `step`: a stream of its own, apart from the Gumbel noise.
std::uint64_t rounding_stream(std::uint64_t seed, std::int64_t step, std::size_t index) {
  return mix64(mix64(seed ^ 0x5851f42d4c957f2dull) + static_cast<std::uint64_t>(step) * kGoldenGamma +
               mix64(static_cast<std::uint64_t>(index) + 1));
}

bool is_bf16(const at::Tensor& t) { return t.scalar_type() == at::kBFloat16; }

// Elements [begin, end): the vectorised kernel where the CPU has AVX2 + FMA, else the scalar loop (both compute the
// same bits). False if a gradient element was not finite.
bool update_cpu_range(const AdamWLaunch& k, std::int64_t begin, std::int64_t end) {
#if PATCHLM_LEARN_AVX2
  if (logit_adamw_avx2_available()) return logit_adamw_avx2(k, begin, end);
#endif
  bool ok = true;
  adamw::by_storage_types(k.param_bf16, k.state_bf16, [&]<typename P, typename S>() {
    for (std::int64_t i = begin; i < end; ++i)
      ok &= adamw::update(static_cast<P*>(k.param), static_cast<S*>(k.exp_avg), static_cast<S*>(k.exp_avg_sq),
                          k.grad[i], i, k.scalars);
  });
  return ok;
}

bool update_cpu(const AdamWLaunch& k) {
  std::atomic<bool> all_finite{true};
  at::parallel_for(0, k.n, 1 << 14, [&](std::int64_t begin, std::int64_t end) {
    if (!update_cpu_range(k, begin, end)) all_finite = false;
  });
  return all_finite;
}

}  // namespace

at::ScalarType parse_state_dtype(const std::string& name) {
  if (name == "fp32") return at::kFloat;
  if (name == "bf16") return at::kBFloat16;
  throw UsageError(str_cat("--state-dtype: '", name, "' is not fp32 or bf16"));
}

const char* state_dtype_name(at::ScalarType dtype) { return dtype == at::kBFloat16 ? "bf16" : "fp32"; }

LogitAdamW::LogitAdamW(const LearnOptimizer& options, double weight_decay, at::ScalarType state_dtype, std::uint64_t seed)
    : options_(options), weight_decay_(weight_decay), state_dtype_(state_dtype), seed_(seed) {
  if (state_dtype != at::kFloat && state_dtype != at::kBFloat16) throw Error("logit AdamW: state must be fp32 or bf16");
}

std::size_t LogitAdamW::add(const at::Tensor& param, std::int64_t element_offset) {
  if (!param.is_contiguous() || (param.scalar_type() != at::kFloat && !is_bf16(param)))
    throw Error("logit AdamW: parameters must be contiguous fp32 or bf16 tensors");
  if (element_offset < 0) throw Error("logit AdamW: negative element offset");
  params_.push_back(param);
  element_offsets_.push_back(element_offset);
  exp_avg_.push_back(at::zeros_like(param, param.options().dtype(state_dtype_)));
  exp_avg_sq_.push_back(at::zeros_like(param, param.options().dtype(state_dtype_)));
  return params_.size() - 1;
}

void LogitAdamW::update(std::size_t index, const at::Tensor& grad_in, double lr, std::int64_t step) {
  at::Tensor& p = params_.at(index);
  const at::Tensor grad = grad_in.to(at::kFloat).contiguous();
  if (grad.sizes() != p.sizes() || grad.device() != p.device())
    throw Error("logit AdamW: the gradient does not match its parameter");
  const double t = static_cast<double>(step);
  adamw::StepScalars s;
  s.decay = static_cast<float>(1.0 - lr * weight_decay_);
  s.beta1 = static_cast<float>(options_.beta1);
  s.beta2 = static_cast<float>(options_.beta2);
  s.one_minus_beta1 = static_cast<float>(1.0 - options_.beta1);
  s.one_minus_beta2 = static_cast<float>(1.0 - options_.beta2);
  s.step_size = static_cast<float>(lr / (1.0 - std::pow(options_.beta1, t)));
  s.sqrt_bias2 = static_cast<float>(std::sqrt(1.0 - std::pow(options_.beta2, t)));
  s.eps = static_cast<float>(options_.eps);
  s.stream = rounding_stream(seed_, step, index);
  s.element_offset = static_cast<std::uint64_t>(element_offsets_.at(index));
  at::Tensor &m = exp_avg_.at(index), &v = exp_avg_sq_.at(index);
  AdamWLaunch k;
  k.param = p.mutable_data_ptr();
  k.exp_avg = m.mutable_data_ptr();
  k.exp_avg_sq = v.mutable_data_ptr();
  k.grad = grad.const_data_ptr<float>();
  k.n = p.numel();
  k.param_bf16 = is_bf16(p);
  k.state_bf16 = state_dtype_ == at::kBFloat16;
  k.scalars = s;
  if (p.is_cuda()) {
#if PATCHLM_LEARN_CUDA
    const auto device = static_cast<std::size_t>(p.get_device());
    if (non_finite_.size() <= device) non_finite_.resize(device + 1);
    if (!non_finite_[device].defined()) non_finite_[device] = at::zeros({1}, p.options().dtype(at::kInt));
    k.non_finite = non_finite_[device].mutable_data_ptr<int>();
    k.cuda_stream = at::cuda::getCurrentCUDAStream(p.get_device()).stream();
    logit_adamw_cuda(k);
    return;
#else
    throw Error("logit AdamW: this build has no CUDA kernels");
#endif
  }
  if (!update_cpu(k)) cpu_non_finite_ = true;
}

bool LogitAdamW::take_non_finite() {
  bool seen = cpu_non_finite_;
  cpu_non_finite_ = false;
  for (at::Tensor& flag : non_finite_) {
    if (!flag.defined()) continue;
    seen |= flag.item<int>() != 0;
    flag.zero_();
  }
  return seen;
}

}  // namespace patchlm
