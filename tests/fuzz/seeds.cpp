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
  return 0;
}
