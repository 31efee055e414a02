#include "util/log.h"

#include <gtest/gtest.h>

#include <regex>
#include <sstream>

#include "util/error.h"

namespace patchlm {
namespace {

class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    set_log_stream(&out_);
    set_log_level(LogLevel::info);
    set_log_format(LogFormat::text);
  }
  void TearDown() override {
    set_log_stream(nullptr);
    set_log_level(LogLevel::info);
    set_log_format(LogFormat::text);
  }
  std::ostringstream out_;
};

TEST_F(LogTest, TextLineHasTimestampLevelMessageAndFields) {
  log_info("loaded checkpoint", {{"path", "/m dir"}, {"tensors", 291}, {"ok", true}});
  std::string line = out_.str();
  std::regex re(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z info  loaded checkpoint path="/m dir" tensors=291 ok=true\n$)");
  EXPECT_TRUE(std::regex_match(line, re)) << line;
}

TEST_F(LogTest, LevelFiltersLowerLevels) {
  set_log_level(LogLevel::warn);
  log_info("hidden");
  log_debug("hidden too");
  log_warn("shown");
  log_error("also shown");
  std::string text = out_.str();
  EXPECT_EQ(text.find("hidden"), std::string::npos);
  EXPECT_NE(text.find("warn  shown"), std::string::npos);
  EXPECT_NE(text.find("error also shown"), std::string::npos);
}

TEST_F(LogTest, OffSilencesEverything) {
  set_log_level(LogLevel::off);
  log_error("nothing");
  EXPECT_TRUE(out_.str().empty());
}

TEST_F(LogTest, JsonFormatIsOneParseableObjectPerLine) {
  set_log_format(LogFormat::json);
  log_info("step", {{"loss", 2.5}, {"name", "a\"b"}});
  log_warn("second");
  std::istringstream lines(out_.str());
  std::string first, second;
  std::getline(lines, first);
  std::getline(lines, second);
  auto j = nlohmann::json::parse(first);
  EXPECT_EQ(j["level"], "info");
  EXPECT_EQ(j["msg"], "step");
  EXPECT_EQ(j["loss"], 2.5);
  EXPECT_EQ(j["name"], "a\"b");
  EXPECT_EQ(nlohmann::json::parse(second)["level"], "warn");
}

TEST(LogLevelParse, KnownNamesAndClearErrorForOthers) {
  EXPECT_EQ(parse_log_level("debug"), LogLevel::debug);
  EXPECT_EQ(parse_log_level("warning"), LogLevel::warn);
  EXPECT_EQ(parse_log_level("off"), LogLevel::off);
  try {
    parse_log_level("verbose");
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("'verbose'"), std::string::npos);
  }
  EXPECT_THROW(parse_log_format("xml"), UsageError);
}

}  // namespace
}  // namespace patchlm
