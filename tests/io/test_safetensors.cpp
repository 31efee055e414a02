#include "io/safetensors.h"

#include <gtest/gtest.h>

#include <cstring>

#include "temp_dir.h"
#include "util/error.h"
#include "util/json_io.h"

namespace patchlm {
namespace {

using testing::read_file;
using testing::TempDir;
using testing::write_file;

std::span<const std::byte> bytes_of(const std::vector<float>& v) {
  return {reinterpret_cast<const std::byte*>(v.data()), v.size() * sizeof(float)};
}

// A file image with header `json` followed by `data_bytes` zero bytes.
std::string image(const std::string& json, std::size_t data_bytes) {
  std::string out(8, '\0');
  std::uint64_t n = json.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xFF);
  return out + json + std::string(data_bytes, '\0');
}

std::string parse_error(const std::string& file) {
  try {
    parse_safetensors({reinterpret_cast<const std::byte*>(file.data()), file.size()}, "m.safetensors");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Safetensors, RoundTripKeepsNamesShapesBytesAndMetadata) {
  TempDir dir;
  std::vector<float> a = {1.5f, -2.0f, 3.25f, 0.0f, 1e-30f, -7.0f};
  std::vector<float> b = {42.0f};
  write_safetensors(dir / "m.safetensors",
                    {{"layer.a", DType::F32, {2, 3}, bytes_of(a)}, {"b", DType::F32, {1}, bytes_of(b)}},
                    {{"format", "pt"}});
  SafetensorsFile f = SafetensorsFile::open(dir / "m.safetensors");
  EXPECT_EQ(f.header().metadata.at("format"), "pt");
  EXPECT_EQ(f.header().data_offset % 8, 0u);  // header padded to 8 bytes
  const TensorEntry* ea = f.find("layer.a");
  ASSERT_NE(ea, nullptr);
  EXPECT_EQ(ea->shape, (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(std::memcmp(f.data(*ea).data(), a.data(), 24), 0);
  ASSERT_NE(f.find("b"), nullptr);
  EXPECT_EQ(f.find("missing"), nullptr);
}

TEST(Safetensors, ScalarAndEmptyTensors) {
  TempDir dir;
  std::vector<float> s = {3.0f};
  write_safetensors(dir / "s.safetensors",
                    {{"scalar", DType::F32, {}, bytes_of(s)}, {"empty", DType::F32, {0, 4}, {}}});
  SafetensorsFile f = SafetensorsFile::open(dir / "s.safetensors");
  EXPECT_EQ(f.find("scalar")->numel(), 1);
  EXPECT_EQ(f.find("empty")->numel(), 0);
}

TEST(Safetensors, WriterRejectsWrongByteCount) {
  TempDir dir;
  std::vector<float> a = {1, 2, 3};
  EXPECT_THROW(write_safetensors(dir / "x.safetensors", {{"a", DType::F32, {2, 2}, bytes_of(a)}}), Error);
  EXPECT_FALSE(std::filesystem::exists(dir / "x.safetensors"));
}

TEST(Safetensors, ShardsBySizeWithIndex) {
  TempDir dir;
  std::vector<float> big(1000, 1.0f), small(10, 2.0f);
  auto files = write_safetensors_sharded(
      dir.path(),
      {{"t0", DType::F32, {1000}, bytes_of(big)}, {"t1", DType::F32, {10}, bytes_of(small)},
       {"t2", DType::F32, {1000}, bytes_of(big)}},
      {}, 4100);
  ASSERT_EQ(files.size(), 3u);  // two shards + index
  auto index = read_json_file(dir / "model.safetensors.index.json");
  EXPECT_EQ(index["metadata"]["total_size"], 8040);
  EXPECT_EQ(index["weight_map"]["t0"], "model-00001-of-00002.safetensors");
  EXPECT_EQ(index["weight_map"]["t1"], "model-00001-of-00002.safetensors");
  EXPECT_EQ(index["weight_map"]["t2"], "model-00002-of-00002.safetensors");
  EXPECT_NE(SafetensorsFile::open(dir / "model-00002-of-00002.safetensors").find("t2"), nullptr);
}

TEST(Safetensors, SingleFileWhenEverythingFits) {
  TempDir dir;
  std::vector<float> a(4, 1.0f);
  auto files = write_safetensors_sharded(dir.path(), {{"a", DType::F32, {4}, bytes_of(a)}}, {}, 1 << 20);
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].filename(), "model.safetensors");
}

TEST(SafetensorsBadInput, TooShort) { EXPECT_NE(parse_error("abc").find("not a safetensors file"), std::string::npos); }

TEST(SafetensorsBadInput, HeaderLengthPastEndOfFile) {
  std::string f = image(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 4);
  f[0] = static_cast<char>(0xF0);  // claims a longer header than the file has
  EXPECT_NE(parse_error(f).find("runs past the end"), std::string::npos) << parse_error(f);
}

TEST(SafetensorsBadInput, HeaderLengthOverLimit) {
  std::string f(16, '\0');
  f[7] = 0x7F;
  EXPECT_NE(parse_error(f).find("exceeds the limit"), std::string::npos);
}

TEST(SafetensorsBadInput, TruncatedData) {
  std::string f = image(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8);
  EXPECT_NE(parse_error(f).find("truncated"), std::string::npos) << parse_error(f);
}

TEST(SafetensorsBadInput, OverlappingOffsets) {
  std::string f = image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                        R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12);
  std::string e = parse_error(f);
  EXPECT_NE(e.find("'b'"), std::string::npos) << e;
  EXPECT_NE(e.find("overlap"), std::string::npos) << e;
}

TEST(SafetensorsBadInput, UnknownDtypeNamesTensorAndDtype) {
  std::string e = parse_error(image(R"({"a":{"dtype":"F8_X","shape":[1],"data_offsets":[0,1]}})", 1));
  EXPECT_NE(e.find("'a'"), std::string::npos) << e;
  EXPECT_NE(e.find("'F8_X'"), std::string::npos) << e;
}

TEST(SafetensorsBadInput, ShapeDisagreesWithOffsets) {
  std::string e = parse_error(image(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8));
  EXPECT_NE(e.find("needs 12 bytes"), std::string::npos) << e;
}

TEST(SafetensorsBadInput, ShapeOverflow) {
  std::string e = parse_error(
      image(R"({"a":{"dtype":"F64","shape":[4294967296,4294967296,16],"data_offsets":[0,8]}})", 8));
  EXPECT_NE(e.find("too many"), std::string::npos) << e;
}

TEST(SafetensorsBadInput, MalformedJsonHeader) {
  std::string e = parse_error(image("{\"a\": [", 0));
  EXPECT_NE(e.find("invalid JSON"), std::string::npos) << e;
}

TEST(SafetensorsBadInput, MissingFileIsNamed) {
  try {
    SafetensorsFile::open("/nonexistent/model.safetensors");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/model.safetensors"), std::string::npos);
  }
}

TEST(SafetensorsBadInput, EveryTruncationOfAValidFileIsAnErrorNotACrash) {
  TempDir dir;
  std::vector<float> a = {1, 2, 3, 4};
  write_safetensors(dir / "m.safetensors", {{"a", DType::F32, {4}, bytes_of(a)}}, {{"k", "v"}});
  std::string full = read_file(dir / "m.safetensors");
  for (std::size_t n = 0; n < full.size(); ++n) {
    EXPECT_FALSE(parse_error(full.substr(0, n)).empty()) << "prefix " << n;
  }
  EXPECT_TRUE(parse_error(full).empty());
}

}  // namespace
}  // namespace patchlm
