// `patchlm forward MODEL --ids ... --out logits.safetensors`: one forward pass, logits saved as F32 [B, T, V].
// For checking patchlm against another implementation and for debugging masks.
#include <iostream>

#include "cli/command.h"
#include "kernels/hybrid_model.h"
#include "cli/options.h"
#include "io/safetensors.h"
#include "model/checkpoint.h"
#include "model/decoder.h"
#include "util/output_paths.h"

namespace patchlm::cli {

using kernels::load_model;

Command add_forward_command(CLI::App& root, const GlobalOptions&) {
  struct Options {
    std::string model, ids, out, dtype = "auto", masks, device = "cpu";
  };
  auto o = std::make_shared<Options>();
  auto* app = root.add_subcommand("forward", "Run one forward pass and save the logits (safetensors, F32 [B,T,V])");
  app->add_option("model", o->model, "HF model directory or GGUF file")->required();
  app->add_option("--ids", o->ids, "Token ids: 1,2,3 or a batch 1,2,3;4,5,6")->required();
  app->add_option("--out", o->out, "Output .safetensors file")->required();
  app->add_option("--dtype", o->dtype, "Compute dtype: auto (bf16 for a hybrid checkpoint on CUDA, else f32), f32, bf16")->capture_default_str();
  app->add_option("--masks", o->masks, "Apply this mask file to the weights first");
  app->add_option("--device", o->device, "cpu or cuda[:N]")->capture_default_str();
  return {app, [o] {
            auto batch = parse_id_batch("--ids", o->ids);
            check_output_file(o->out, "--out", {o->model, o->masks});
            auto loaded = load_model(o->model, parse_model_dtype("--dtype", o->dtype), parse_device("--device", o->device),
                                     o->masks);
            Decoder& model = *loaded;
            std::vector<std::int64_t> flat;
            for (const auto& row : batch) flat.insert(flat.end(), row.begin(), row.end());
            at::Tensor ids = at::tensor(flat, at::kLong).view({static_cast<std::int64_t>(batch.size()), -1});
            at::Tensor logits = model.forward(ids.to(model.device())).to(at::kCPU).contiguous();
            write_safetensors(o->out, {tensor_to_write("logits", logits)});
            std::cout << "wrote " << o->out << " logits " << logits.sizes() << "\n";
            return 0;
          }};
}

}  // namespace patchlm::cli
