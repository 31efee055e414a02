#include "io/gguf.h"

#include <gtest/gtest.h>

#include <vector>

#include "io/dequant.h"
#include "io/gguf_builder.h"
#include "util/error.h"

namespace patchlm {
namespace {

using testing::GgufBuilder;
using testing::small_valid_gguf;

std::span<const std::byte> span_of(const std::string& s) { return {reinterpret_cast<const std::byte*>(s.data()), s.size()}; }

std::string parse_error(const std::string& file) {
  try {
    parse_gguf(span_of(file), "m.gguf");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Gguf, ParsesMetadataTensorsAndData) {
  std::string file = small_valid_gguf();
  GgufHeader h = parse_gguf(span_of(file), "m.gguf");
  EXPECT_EQ(h.version, 3u);
  EXPECT_EQ(h.at("general.architecture", "m").as_string("a"), "llama");
  EXPECT_EQ(h.at("llama.block_count", "m").as_int("b"), 1);
  EXPECT_EQ(h.at("tokenizer.ggml.tokens", "m").as_array("t").size(), 3u);
  ASSERT_EQ(h.tensors.size(), 2u);
  EXPECT_EQ(h.tensors[0].torch_shape(), (std::vector<std::int64_t>{2, 3}));  // ggml dims reversed
  EXPECT_EQ(h.data_offset % 32, 0u);
  std::vector<float> w(6), f16(4);
  dequantize(h.tensors[0].type, span_of(file).subspan(h.data_offset + h.tensors[0].offset, h.tensors[0].nbytes), w);
  dequantize(h.tensors[1].type, span_of(file).subspan(h.data_offset + h.tensors[1].offset, h.tensors[1].nbytes), f16);
  EXPECT_EQ(w, (std::vector<float>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(f16, (std::vector<float>{1, 2, -2, 0}));
  EXPECT_THROW(h.at("missing.key", "m.gguf"), Error);
}

TEST(Gguf, MissingKeyErrorNamesTheKey) {
  GgufHeader h = parse_gguf(span_of(small_valid_gguf()), "m.gguf");
  try {
    h.at("llama.embedding_length", "m.gguf");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'llama.embedding_length'"), std::string::npos);
  }
}

TEST(GgufBadInput, BadMagicAndVersion) {
  EXPECT_NE(parse_error("GGML....").find("bad magic"), std::string::npos);
  GgufBuilder v1(1);
  v1.counts(0, 0);
  EXPECT_NE(parse_error(v1.bytes()).find("version 1"), std::string::npos);
}

TEST(GgufBadInput, EveryTruncationIsAnErrorNotACrash) {
  std::string full = small_valid_gguf();
  for (std::size_t n = 0; n < full.size(); ++n) EXPECT_FALSE(parse_error(full.substr(0, n)).empty()) << n;
  EXPECT_TRUE(parse_error(full).empty());
}

TEST(GgufBadInput, ArrayLongerThanTheFile) {
  GgufBuilder b;
  b.counts(0, 1);
  b.put_string("k");
  b.put<std::uint32_t>(9);
  b.put<std::uint32_t>(8);
  b.put<std::uint64_t>(1ull << 60);
  EXPECT_NE(parse_error(b.bytes()).find("does not fit"), std::string::npos) << parse_error(b.bytes());
}

TEST(GgufBadInput, ImplausibleCounts) {
  GgufBuilder b;
  b.counts(1ull << 40, 0);
  EXPECT_NE(parse_error(b.bytes()).find("implausible"), std::string::npos);
}

TEST(GgufBadInput, TensorOutsideTheDataSection) {
  GgufBuilder b;
  b.counts(1, 0);
  b.tensor("w", {8}, 0, 64);
  b.data(std::string(32, '\0'));
  std::string e = parse_error(b.bytes());
  EXPECT_NE(e.find("'w'"), std::string::npos) << e;
  EXPECT_NE(e.find("outside the data section"), std::string::npos) << e;
}

TEST(GgufBadInput, OverlappingTensors) {
  GgufBuilder b;
  b.counts(2, 0);
  b.tensor("a", {16}, 0, 0);
  b.tensor("b", {16}, 0, 64);  // a spans [0, 64): adjacent, fine
  b.data(std::string(128, '\0'));
  EXPECT_TRUE(parse_error(b.bytes()).empty()) << parse_error(b.bytes());
  GgufBuilder c;
  c.counts(2, 0);
  c.tensor("a", {16}, 0, 0);
  c.tensor("b", {8}, 0, 32);  // a spans [0, 64): overlaps b at 32
  c.data(std::string(96, '\0'));
  EXPECT_NE(parse_error(c.bytes()).find("overlap"), std::string::npos) << parse_error(c.bytes());
}

TEST(GgufBadInput, UnknownTensorTypeAndBadBlockMultiple) {
  GgufBuilder b;
  b.counts(1, 0);
  b.tensor("w", {32}, 99, 0);
  EXPECT_NE(parse_error(b.bytes()).find("unknown ggml type id 99"), std::string::npos);
  GgufBuilder c;
  c.counts(1, 0);
  c.tensor("q", {48}, 2, 0);  // Q4_0 rows must be multiples of 32
  EXPECT_NE(parse_error(c.bytes()).find("not a multiple"), std::string::npos);
}

TEST(GgufBadInput, UnsupportedDequantTypeIsAClearError) {
  std::vector<std::byte> block(84);
  std::vector<float> out(256);
  try {
    dequantize(GgmlType::Q2_K, block, out);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("Q2_K"), std::string::npos);
  }
}

TEST(Dequant, Q8_0BlockByHand) {
  std::vector<std::uint8_t> block(34);
  block[0] = 0x00;
  block[1] = 0x38;  // f16 0.5
  for (int j = 0; j < 32; ++j) block[2 + j] = static_cast<std::uint8_t>(static_cast<std::int8_t>(j - 16));
  std::vector<float> out(32);
  dequantize(GgmlType::Q8_0, std::as_bytes(std::span(block)), out);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(out[j], 0.5f * static_cast<float>(j - 16));
}

}  // namespace
}  // namespace patchlm
