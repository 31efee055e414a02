// Writes seed inputs for the fuzzers: small valid files the mutator starts from.
#include <fstream>
#include <iostream>

#include "../io/gguf_builder.h"

// One 16x64 weight packed as a single 2:4 tile (zero values, every group keeping positions 0 and 1).
std::string small_hybrid_file() {
  std::string tiles(16 * 64 * 9 / 8, '\0');
  for (std::size_t i = 16 * 64; i < tiles.size(); ++i) tiles[i] = '\x44';  // metadata nibbles 0b0100
  std::string cols(4, '\0'), two_four("\x01\0\0\0", 4);
  std::string header = R"({"__metadata__":{"format":"patchlm-hybrid","hybrid_layout_version":"1","hybrid_tile":"16x64"},)"
                       R"("w:hybrid.tiles":{"dtype":"U8","shape":[1152],"data_offsets":[0,1152]},)"
                       R"("w:hybrid.cols":{"dtype":"I32","shape":[1,1],"data_offsets":[1152,1156]},)"
                       R"("w:hybrid.two_four":{"dtype":"I32","shape":[1],"data_offsets":[1156,1160]}})";
  std::string st(8, '\0');
  for (int i = 0; i < 8; ++i) st[i] = static_cast<char>((header.size() >> (8 * i)) & 0xFF);
  return st + header + tiles + cols + two_four;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: fuzz_seeds DIR\n";
    return 2;
  }
  std::string dir = argv[1];
  std::ofstream(dir + "/gguf/small.gguf", std::ios::binary) << patchlm::testing::small_valid_gguf();
  std::string header = R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
                       R"("b":{"dtype":"BF16","shape":[3],"data_offsets":[16,22]}})";
  std::string st(8, '\0');
  for (int i = 0; i < 8; ++i) st[i] = static_cast<char>((header.size() >> (8 * i)) & 0xFF);
  std::ofstream(dir + "/safetensors/small.safetensors", std::ios::binary) << st + header + std::string(22, '\x01');
  std::ofstream(dir + "/hybrid/small.safetensors", std::ios::binary) << small_hybrid_file();
  // A mask file: one 1x8 layer stored as 2:4 pattern indices.
  std::string mask_header = R"({"__metadata__":{"format":"patchlm-mask","version":"1","encoding.w":"2:4","shape.w":"1,8"},)"
                            R"("w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})";
  std::string ms(8, '\0');
  for (int i = 0; i < 8; ++i) ms[i] = static_cast<char>((mask_header.size() >> (8 * i)) & 0xFF);
  std::ofstream(dir + "/mask/small.safetensors", std::ios::binary) << ms + mask_header + std::string(1, '\x08');
  std::ofstream(dir + "/config/llama.json") << R"({"model_type":"llama","vocab_size":64,"hidden_size":32,)"
                                               R"("intermediate_size":48,"num_hidden_layers":2,"num_attention_heads":4,)"
                                               R"("num_key_value_heads":2,"rope_scaling":{"rope_type":"llama3","factor":8.0}})";
  std::ofstream(dir + "/config/gemma.json") << R"({"model_type":"gemma3_text","vocab_size":64,"hidden_size":32,)"
                                               R"("intermediate_size":48,"num_hidden_layers":6,"num_attention_heads":4,)"
                                               R"("num_key_value_heads":1,"head_dim":8,"sliding_window":4})";
  std::ofstream(dir + "/tokenizer_json/small.json")
      << R"({"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2,"<unk>":3},"merges":[["a","b"]],"unk_token":"<unk>"},)"
         R"("normalizer":{"type":"NFC"},"pre_tokenizer":{"type":"Split","pattern":{"String":" "},"behavior":"Isolated","invert":false},"decoder":{"type":"Fuse"},)"
         R"("added_tokens":[{"id":4,"content":"<mask>","special":true,"normalized":false}]})";
  std::ofstream(dir + "/tasks/piqa.jsonl") << "\x00" << R"({"goal":"g","sol1":"a","sol2":"b","label":1})" << "\n";
  return 0;
}
