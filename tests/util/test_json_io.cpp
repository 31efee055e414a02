#include "util/json_io.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "temp_dir.h"
#include "util/error.h"

namespace patchlm {
namespace {

using testing::TempDir;
using testing::write_file;

TEST(JsonIo, RoundTripKeepsEveryValueExactly) {
  TempDir dir;
  nlohmann::ordered_json out;
  out["model"] = "SmolLM2-135M";
  out["ppl"] = 21.734567890123457;               // needs 17 significant digits
  out["tiny"] = std::numeric_limits<double>::denorm_min();
  out["big"] = 1.7976931348623157e308;
  out["count"] = 9007199254740993LL;             // > 2^53: must stay an integer
  out["flags"] = {true, false, nullptr};
  out["nested"] = {{"layers", {{"q_proj", 0.5}, {"k_proj", 0.25}}}, {"unicode", "tile ▁ 日本"}};
  write_json_file(dir / "r.json", out);
  nlohmann::json back = read_json_file(dir / "r.json");
  EXPECT_EQ(back["model"], "SmolLM2-135M");
  EXPECT_EQ(back["ppl"].get<double>(), 21.734567890123457);
  EXPECT_EQ(back["tiny"].get<double>(), std::numeric_limits<double>::denorm_min());
  EXPECT_EQ(back["big"].get<double>(), 1.7976931348623157e308);
  EXPECT_EQ(back["count"].get<long long>(), 9007199254740993LL);
  EXPECT_EQ(back["flags"], nlohmann::json::parse("[true,false,null]"));
  EXPECT_EQ(back["nested"]["unicode"], "tile ▁ 日本");
  EXPECT_EQ(nlohmann::json(out), back);
}

TEST(JsonIo, KeepsKeyOrderAsWritten) {
  TempDir dir;
  nlohmann::ordered_json out;
  out["zeta"] = 1;
  out["alpha"] = 2;
  write_json_file(dir / "o.json", out);
  std::string text = testing::read_file(dir / "o.json");
  EXPECT_LT(text.find("zeta"), text.find("alpha"));
  EXPECT_EQ(text.back(), '\n');
}

TEST(JsonIo, MalformedFileErrorNamesFileLineAndColumn) {
  TempDir dir;
  write_file(dir / "bad.json", "{\n  \"a\": 1,\n  \"b\": ]\n}\n");
  try {
    read_json_file(dir / "bad.json");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("bad.json"), std::string::npos) << msg;
    EXPECT_NE(msg.find("line 3, column 8"), std::string::npos) << msg;
  }
}

TEST(JsonIo, MissingFileIsAnError) {
  TempDir dir;
  EXPECT_THROW(read_json_file(dir / "absent.json"), Error);
}

TEST(JsonIo, RunMetadataNamesToolVersionAndArguments) {
  const char* argv[] = {"patchlm", "eval", "model"};
  nlohmann::ordered_json meta = run_metadata(3, argv);
  EXPECT_EQ(meta["tool"], "patchlm");
  EXPECT_FALSE(meta["version"].get<std::string>().empty());
  EXPECT_EQ(meta["argv"].size(), 3u);
  EXPECT_EQ(meta["created_utc"].get<std::string>().size(), 20u);  // 2026-11-25T21:50:01Z
}

}  // namespace
}  // namespace patchlm

namespace patchlm {
namespace {

// Found by the safetensors fuzzer: nlohmann throws out_of_range (not parse_error) for numbers beyond double.
TEST(JsonIo, NumberOverflowIsAnErrorNotACrash) {
  EXPECT_THROW(parse_json_text(R"({"shape":[466666666666e666]})", "header"), Error);
}

}  // namespace
}  // namespace patchlm
