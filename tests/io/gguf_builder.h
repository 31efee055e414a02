#pragma once
// Builds small GGUF images byte by byte for parser tests and fuzz seeds.
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace patchlm::testing {

class GgufBuilder {
 public:
  explicit GgufBuilder(std::uint32_t version = 3) {
    bytes_ += "GGUF";
    put<std::uint32_t>(version);
  }
  template <typename T>
  void put(T v) {
    char buf[sizeof(T)];
    std::memcpy(buf, &v, sizeof(T));
    bytes_.append(buf, sizeof(T));
  }
  void put_string(const std::string& s) {
    put<std::uint64_t>(s.size());
    bytes_ += s;
  }
  void counts(std::uint64_t tensors, std::uint64_t kvs) {
    put<std::uint64_t>(tensors);
    put<std::uint64_t>(kvs);
  }
  void kv_u32(const std::string& key, std::uint32_t v) {
    put_string(key);
    put<std::uint32_t>(4);
    put<std::uint32_t>(v);
  }
  void kv_f32(const std::string& key, float v) {
    put_string(key);
    put<std::uint32_t>(6);
    put<float>(v);
  }
  void kv_string(const std::string& key, const std::string& v) {
    put_string(key);
    put<std::uint32_t>(8);
    put_string(v);
  }
  void kv_string_array(const std::string& key, const std::vector<std::string>& items) {
    put_string(key);
    put<std::uint32_t>(9);
    put<std::uint32_t>(8);
    put<std::uint64_t>(items.size());
    for (const auto& s : items) put_string(s);
  }
  void tensor(const std::string& name, std::vector<std::uint64_t> dims, std::uint32_t type, std::uint64_t offset) {
    put_string(name);
    put<std::uint32_t>(static_cast<std::uint32_t>(dims.size()));
    for (auto d : dims) put<std::uint64_t>(d);
    put<std::uint32_t>(type);
    put<std::uint64_t>(offset);
  }
  // Pads to the alignment and appends the data section.
  void data(const std::string& payload, std::size_t alignment = 32) {
    while (bytes_.size() % alignment != 0) bytes_ += '\0';
    bytes_ += payload;
  }
  const std::string& bytes() const { return bytes_; }

 private:
  std::string bytes_;
};

// A valid two-tensor file: F32 [2,3] at 0 and F16 [4] at 32.
inline std::string small_valid_gguf() {
  GgufBuilder b;
  b.counts(2, 3);
  b.kv_string("general.architecture", "llama");
  b.kv_u32("llama.block_count", 1);
  b.kv_string_array("tokenizer.ggml.tokens", {"<s>", "a", "b"});
  b.tensor("w", {3, 2}, 0, 0);
  b.tensor("h", {4}, 1, 32);
  std::string payload(24, '\0');
  float vals[6] = {1, 2, 3, 4, 5, 6};
  std::memcpy(payload.data(), vals, 24);
  payload.resize(32, '\0');
  payload += std::string("\x00\x3c\x00\x40\x00\xc0\x00\x00", 8);  // f16 1, 2, -2, 0
  b.data(payload);
  return b.bytes();
}

}  // namespace patchlm::testing
