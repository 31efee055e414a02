#pragma once
// A test-only c10d::Backend (never used by the product): allreduce (SUM), _allgather_base and _reduce_scatter_base
// (SUM) over a c10d::Store — every rank publishes its tensor's bytes under the collective's sequence number and
// combines all ranks' in rank order, so every rank computes the same result. It lets CPU tests drive the trainer's
// data-parallel and sharding hooks through the very c10d interface ProcessGroupNCCL implements, without NCCL and
// without Gloo (whose headers the torch wheel does not ship) — between threads over a HashStore, or between
// processes over a TCPStore. A rank that never publishes ends the wait with an error naming it.
#include <torch/csrc/distributed/c10d/Backend.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>

#include <cstring>
#include <stdexcept>

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
      const std::vector<at::Tensor> all = exchange(t, opts.timeout);
      at::Tensor sum = at::zeros_like(t);
      for (const at::Tensor& other : all) sum.add_(other);
      t.copy_(sum);
    }
    return c10::make_intrusive<Done>();
  }

  c10::intrusive_ptr<c10d::Work> _allgather_base(at::Tensor& out, at::Tensor& in,
                                                 const c10d::AllgatherOptions& opts) override {
    TORCH_CHECK(out.numel() == in.numel() * size_, "StoreBackend: allgather output size");
    const std::vector<at::Tensor> all = exchange(in, opts.timeout);
    out.copy_(at::cat(all).view(out.sizes()));
    return c10::make_intrusive<Done>();
  }

  c10::intrusive_ptr<c10d::Work> _reduce_scatter_base(at::Tensor& out, at::Tensor& in,
                                                      const c10d::ReduceScatterOptions& opts) override {
    TORCH_CHECK(opts.reduceOp == c10d::ReduceOp::SUM, "StoreBackend: SUM only");
    TORCH_CHECK(in.numel() == out.numel() * size_, "StoreBackend: reduce-scatter input size");
    const std::vector<at::Tensor> all = exchange(in, opts.timeout);
    at::Tensor sum = at::zeros_like(out);
    for (const at::Tensor& other : all) sum.add_(other.reshape({-1}).narrow(0, rank_ * out.numel(), out.numel()).view(out.sizes()));
    out.copy_(sum);
    return c10::make_intrusive<Done>();
  }

 private:
  struct Done : c10d::Work {
    bool isCompleted() override { return true; }
    bool wait(std::chrono::milliseconds) override { return true; }
  };

  // Publishes t and returns every rank's tensor, in rank order.
  std::vector<at::Tensor> exchange(const at::Tensor& t, std::chrono::milliseconds timeout) {
    TORCH_CHECK(t.is_cpu() && t.is_contiguous(), "StoreBackend: contiguous CPU tensors only");
    const std::string prefix = "collective/" + std::to_string(sequence_++) + "/";
    const auto* bytes = static_cast<const std::uint8_t*>(t.data_ptr());
    store_->set(prefix + std::to_string(rank_), std::vector<std::uint8_t>(bytes, bytes + t.nbytes()));
    std::vector<at::Tensor> all;
    for (int r = 0; r < size_; ++r) {
      const std::string key = prefix + std::to_string(r);
      try {
        store_->wait({key}, timeout.count() > 0 ? timeout : store_->getTimeout());
      } catch (const std::exception&) {
        throw std::runtime_error("rank " + std::to_string(r) + " did not take part in collective " + prefix +
                                 " within the timeout (it died or hangs)");
      }
      const std::vector<std::uint8_t> data = store_->get(key);
      all.push_back(at::empty_like(t));
      std::memcpy(all.back().data_ptr(), data.data(), data.size());
    }
    return all;
  }

  c10::intrusive_ptr<c10d::Store> store_;
  std::int64_t sequence_ = 0;
};

}  // namespace patchlm::testing
