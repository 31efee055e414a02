#pragma once
// A test-only c10d::Backend (never used by the product): allreduce SUM over a c10d::Store — every rank publishes
// its tensor's bytes under the collective's sequence number and adds all ranks' in rank order, so every rank gets
// the same sum. It lets CPU tests drive the trainer's data-parallel hook through the very c10d interface
// ProcessGroupNCCL implements, without NCCL and without Gloo (whose headers the torch wheel does not ship).
#include <torch/csrc/distributed/c10d/Backend.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>

#include <cstring>

namespace patchlm::testing {

class StoreBackend : public c10d::Backend {
 public:
  StoreBackend(c10::intrusive_ptr<c10d::Store> store, int rank, int size)
      : c10d::Backend(rank, size), store_(std::move(store)) {}

  const std::string getBackendName() const override { return "patchlm-test-store"; }

  c10::intrusive_ptr<c10d::Work> allreduce(std::vector<at::Tensor>& tensors,
                                           const c10d::AllreduceOptions& opts) override {
    TORCH_CHECK(opts.reduceOp == c10d::ReduceOp::SUM, "StoreBackend: SUM only");
    for (at::Tensor& t : tensors) {
      TORCH_CHECK(t.is_cpu() && t.is_contiguous(), "StoreBackend: contiguous CPU tensors only");
      const std::string prefix = "allreduce/" + std::to_string(sequence_++) + "/";
      const auto* bytes = static_cast<const std::uint8_t*>(t.data_ptr());
      store_->set(prefix + std::to_string(rank_), std::vector<std::uint8_t>(bytes, bytes + t.nbytes()));
      at::Tensor sum = at::zeros_like(t);
      for (int r = 0; r < size_; ++r) {
        const std::vector<std::uint8_t> data = store_->get(prefix + std::to_string(r));  // waits for rank r
        at::Tensor other = at::empty_like(t);
        std::memcpy(other.data_ptr(), data.data(), data.size());
        sum.add_(other);
      }
      t.copy_(sum);
    }
    auto work = c10::make_intrusive<Done>();
    return work;
  }

 private:
  struct Done : c10d::Work {
    bool isCompleted() override { return true; }
    bool wait(std::chrono::milliseconds) override { return true; }
  };
  c10::intrusive_ptr<c10d::Store> store_;
  std::int64_t sequence_ = 0;
};

}  // namespace patchlm::testing
