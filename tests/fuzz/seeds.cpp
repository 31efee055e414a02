// Writes seed inputs for the fuzzers: small valid files the mutator starts from.
#include <fstream>
#include <iostream>

#include "../io/gguf_builder.h"

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
  return 0;
}
