// `patchlm info`: what this build is and what it can run on — versions, threads, CUDA kernels, GPUs.
// `--check` runs a kernel on every visible GPU and verifies its output.
#include <ATen/Parallel.h>
#include <torch/headeronly/version.h>

#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "util/error.h"
#include "util/version.h"
#ifdef PATCHLM_HAVE_CUDA
#include "kernels/device_check.h"
#endif

namespace patchlm::cli {
namespace {

struct InfoOptions {
  bool json = false;
  bool check = false;
};

nlohmann::ordered_json collect_info() {
  nlohmann::ordered_json info;
  info["patchlm"] = version();
  info["build_type"] = PATCHLM_BUILD_TYPE;
  info["compiler"] = __VERSION__;
  info["libtorch"] = TORCH_VERSION;
  info["cpu_threads"] = at::get_num_threads();
#ifdef PATCHLM_HAVE_CUDA
  info["cuda_kernels"] = kernels::compiled_architectures();
  kernels::CudaStatus cuda = kernels::query_cuda();
  info["cuda_driver"] = cuda.driver_version;
  info["cuda_runtime"] = cuda.runtime_version;
  nlohmann::ordered_json devices = nlohmann::ordered_json::array();
  for (const auto& d : cuda.devices) {
    devices.push_back({{"index", d.index},
                       {"name", d.name},
                       {"compute_capability", std::to_string(d.major) + "." + std::to_string(d.minor)},
                       {"multiprocessors", d.multiprocessors},
                       {"memory_bytes", d.memory_bytes}});
  }
  info["cuda_devices"] = devices;
  if (!cuda.available) info["cuda_unavailable_reason"] = cuda.reason;
#else
  info["cuda_kernels"] = nlohmann::ordered_json::array();
  info["cuda_devices"] = nlohmann::ordered_json::array();
  info["cuda_unavailable_reason"] = "built without CUDA (nvcc not found at build time)";
#endif
  return info;
}

void print_text(const nlohmann::ordered_json& info) {
  auto row = [](const char* key, const std::string& value) {
    std::cout << std::left << std::setw(14) << key << value << "\n";
  };
  row("patchlm", info["patchlm"].get<std::string>() + " (" + info["build_type"].get<std::string>() + ")");
  row("compiler", info["compiler"].get<std::string>());
  row("LibTorch", info["libtorch"].get<std::string>());
  row("CPU threads", std::to_string(info["cpu_threads"].get<int>()));
  std::string archs;
  for (const auto& a : info["cuda_kernels"]) archs += (archs.empty() ? "" : ", ") + a.get<std::string>();
  row("CUDA kernels", archs.empty() ? "not compiled" : "compiled for " + archs);
  if (info["cuda_devices"].empty()) {
    row("GPUs", "none (" + info.value("cuda_unavailable_reason", std::string("?")) + ")");
  }
  for (const auto& d : info["cuda_devices"]) {
    double gib = d["memory_bytes"].get<double>() / (1024.0 * 1024.0 * 1024.0);
    char mem[32];
    std::snprintf(mem, sizeof mem, "%.1f GiB", gib);
    row(("GPU " + std::to_string(d["index"].get<int>())).c_str(),
        d["name"].get<std::string>() + " (cc " + d["compute_capability"].get<std::string>() + ", " +
            std::to_string(d["multiprocessors"].get<int>()) + " SMs, " + mem + ")");
  }
}

// Returns the number of failed devices.
int run_checks(nlohmann::ordered_json& info) {
#ifdef PATCHLM_HAVE_CUDA
  int failed = 0;
  if (info["cuda_devices"].empty()) throw Error("--check: no CUDA device to check");
  for (auto& d : info["cuda_devices"]) {
    std::string problem = kernels::run_device_self_check(d["index"].get<int>());
    d["self_check"] = problem.empty() ? "ok" : problem;
    failed += problem.empty() ? 0 : 1;
  }
  return failed;
#else
  throw Error("--check: this build has no CUDA kernels (nvcc was not found at build time)");
#endif
}

}  // namespace

Command add_info_command(CLI::App& root, const GlobalOptions& globals) {
  auto* app = root.add_subcommand("info", "Show the build, LibTorch, CUDA kernels and GPUs");
  auto opts = std::make_shared<InfoOptions>();
  app->add_flag("--json", opts->json, "Machine-readable output");
  app->add_flag("--check", opts->check, "Run a kernel on every GPU and verify its result");
  return {app, [opts] {
            nlohmann::ordered_json info = collect_info();
            int failed = opts->check ? run_checks(info) : 0;
            if (opts->json) {
              std::cout << info.dump(2) << "\n";
            } else {
              print_text(info);
              for (const auto& d : info["cuda_devices"]) {
                if (d.contains("self_check")) {
                  std::cout << "self-check GPU " << d["index"].get<int>() << ": " << d["self_check"].get<std::string>()
                            << "\n";
                }
              }
            }
            if (failed > 0) throw Error(str_cat("--check: ", failed, " GPU(s) failed the self-check"));
            return 0;
          }};
}

}  // namespace patchlm::cli
