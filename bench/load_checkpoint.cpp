// Benchmark: loading a ~1 GB safetensors checkpoint vs reading the same file with read(2).
//   bench_load_checkpoint [DIR]   (DIR is created with a random 1 GiB bf16 checkpoint when it has none)
// Prints: raw read GB/s, patchlm load (mmap, zero-copy) time, load + touching every weight byte, and the ratios.
// Warm page cache for both (the file is read once first), so it measures our overhead, not the disk.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <vector>

#include "model/checkpoint.h"
#include "util/json_io.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

static double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

static double raw_read(const fs::path& file) {
  std::vector<char> buf(1 << 24);
  auto t = Clock::now();
  int fd = ::open(file.c_str(), O_RDONLY);
  while (::read(fd, buf.data(), buf.size()) > 0) {
  }
  ::close(fd);
  return seconds_since(t);
}

static void make_checkpoint(const fs::path& dir) {
  patchlm::Checkpoint c;
  c.config.model_type = "llama";
  c.config.vocab_size = 32000;
  c.config.hidden_size = 2048;
  c.config.intermediate_size = 5632;
  c.config.num_layers = 12;
  c.config.num_heads = 16;
  c.config.num_kv_heads = 16;
  c.config.head_dim = 128;
  c.tensors["model.embed_tokens.weight"] = at::randn({32000, 2048});
  for (int i = 0; i < 12; ++i) {
    std::string p = "model.layers." + std::to_string(i) + ".";
    for (const char* n : {"q_proj", "k_proj", "v_proj", "o_proj"}) c.tensors[p + "self_attn." + n + ".weight"] = at::randn({2048, 2048});
    c.tensors[p + "mlp.gate_proj.weight"] = at::randn({5632, 2048});
    c.tensors[p + "mlp.up_proj.weight"] = at::randn({5632, 2048});
    c.tensors[p + "mlp.down_proj.weight"] = at::randn({2048, 5632});
  }
  patchlm::save_hf_checkpoint(c, dir, at::kBFloat16, 1ull << 40);
}

int main(int argc, char** argv) {
  fs::path dir = argc > 1 ? fs::path(argv[1]) : fs::temp_directory_path() / "patchlm-bench-1g";
  if (!fs::exists(dir / "model.safetensors")) {
    std::printf("creating %s ...\n", dir.c_str());
    make_checkpoint(dir);
  }
  const fs::path file = dir / "model.safetensors";
  const double gb = static_cast<double>(fs::file_size(file)) / 1e9;
  raw_read(file);  // warm the page cache
  double raw = raw_read(file);

  auto t = Clock::now();
  patchlm::Checkpoint ckpt = patchlm::load_checkpoint(dir);
  double lazy = seconds_since(t);
  // Read every weight byte once (8 bytes at a time), as a consumer of the tensors would: this is where the
  // page faults of the lazy mapping are paid.
  std::uint64_t checksum = 0;
  for (const auto& [name, tensor] : ckpt.tensors) {
    const auto* p = static_cast<const std::uint64_t*>(tensor.data_ptr());
    for (std::int64_t i = 0, n = tensor.nbytes() / 8; i < n; ++i) checksum ^= p[i];
  }
  double touched = seconds_since(t);

  std::printf("file %.2f GB, %zu tensors (checksum %llx)\n", gb, ckpt.tensors.size(),
              static_cast<unsigned long long>(checksum));
  std::printf("raw read(2)                 %7.3f s  %6.2f GB/s\n", raw, gb / raw);
  std::printf("patchlm load (mmap, lazy)   %7.3f s  ratio vs raw read %.3f\n", lazy, lazy / raw);
  std::printf("patchlm load + read every byte %5.3f s  %6.2f GB/s  ratio vs raw read %.3f\n", touched, gb / touched,
              touched / raw);
  return 0;
}
