// `patchlm convert MODEL OUT_DIR`: a GGUF file (or HF directory) → a Hugging Face directory (config.json +
// safetensors) that transformers loads. The output directory appears complete or not at all.
#include <iostream>

#include "cli/command.h"
#include "cli/options.h"
#include "model/checkpoint.h"
#include "model/decoder.h"
#include "util/error.h"
#include "util/log.h"
#include "util/output_paths.h"

namespace patchlm::cli {

Command add_convert_command(CLI::App& root, const GlobalOptions&) {
  struct Options {
    std::string model, out, dtype = "f32", max_shard = "5GB";
  };
  auto o = std::make_shared<Options>();
  auto* app = root.add_subcommand("convert", "Convert a GGUF file (or HF directory) into a Hugging Face directory");
  app->add_option("model", o->model, "GGUF file or HF model directory")->required();
  app->add_option("out_dir", o->out, "New output directory (must not exist)")->required();
  app->add_option("--dtype", o->dtype, "Stored dtype: f32, bf16, f16")->capture_default_str();
  app->add_option("--max-shard-size", o->max_shard, "Shard the weights above this size")->capture_default_str();
  return {app, [o] {
            c10::ScalarType dtype = parse_compute_dtype("--dtype", o->dtype);
            std::uint64_t shard = parse_byte_size("--max-shard-size", o->max_shard);
            check_new_output_dir(o->out, "out_dir", {o->model});
            Checkpoint ckpt = load_checkpoint(o->model);
            ckpt.unpack_hybrid();  // the whole checkpoint is rewritten: packed weights as the dense ones they stand for
            Decoder(ckpt, at::kFloat, at::kMeta);  // the loader's checks (names, shapes, nothing unaccounted), no copy
            save_hf_checkpoint(ckpt, o->out, dtype, shard);
            log_info("converted", {{"from", o->model}, {"to", o->out}, {"tensors", ckpt.tensors.size()}});
            std::cout << "wrote " << o->out << " (" << ckpt.tensors.size() << " tensors, " << ckpt.config.model_type
                      << ")\n";
            return 0;
          }};
}

}  // namespace patchlm::cli
