// Test tool: the tokenizer embedded in a GGUF file as tokenizer.json + tokenizer_config.json in OUT_DIR (the files
// `patchlm convert` writes), so tests get a real tokenizer from the packaged models without any other fixture.
#include <iostream>

#include "io/gguf.h"
#include "io/tokenizer/gguf_vocab.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/json_io.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: gguf_tokenizer MODEL.gguf OUT_DIR\n";
    return 2;
  }
  try {
    const patchlm::GgufFile file = patchlm::GgufFile::open(argv[1]);
    const std::filesystem::path out = argv[2];
    std::filesystem::create_directories(out);
    patchlm::write_file_atomic(out / "tokenizer.json", patchlm::tokenizer_json_from_gguf(file.header(), argv[1]).dump());
    patchlm::write_json_file(out / "tokenizer_config.json", patchlm::tokenizer_config_from_gguf(file.header(), argv[1]));
  } catch (const std::exception& e) {
    std::cerr << "gguf_tokenizer: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
