#include "util/progress.h"

#include <gtest/gtest.h>

#include <sstream>

namespace patchlm {
namespace {

TEST(ProgressFormat, KnownTotalShowsBarCountPercentRateAndEta) {
  ProgressStyle style{"tok", 20};
  // 512 of 1024 tokens in 41 s: 12.5 tok/s, 41 s left.
  EXPECT_EQ(Progress::format_line("learn", 512, 1024, 41.0, style),
            "learn [##########..........]  512/1024  50%  12.5 tok/s  00:41<00:41");
}

TEST(ProgressFormat, StartAndEnd) {
  ProgressStyle style{"it", 10};
  EXPECT_EQ(Progress::format_line("eval", 0, 30, 0.0, style), "eval [..........]  0/30   0%  ? it/s  00:00<--:--");
  EXPECT_EQ(Progress::format_line("eval", 30, 30, 75.0, style), "eval [##########] 30/30 100%  0.40 it/s  01:15<00:00");
}

TEST(ProgressFormat, UnknownTotalShowsCountAndRateOnly) {
  ProgressStyle style{"doc", 20};
  EXPECT_EQ(Progress::format_line("read", 2500, 0, 2.0, style), "read 2500  1.25k doc/s  00:02");
}

TEST(ProgressFormat, DurationsAndRates) {
  EXPECT_EQ(format_duration(0), "00:00");
  EXPECT_EQ(format_duration(59.4), "00:59");
  EXPECT_EQ(format_duration(3723), "1:02:03");
  EXPECT_EQ(format_duration(-1), "--:--");
  EXPECT_EQ(format_rate(1.234), "1.23");
  EXPECT_EQ(format_rate(12.34), "12.3");
  EXPECT_EQ(format_rate(123.4), "123");
  EXPECT_EQ(format_rate(12345), "12.3k");
  EXPECT_EQ(format_rate(4.56e6), "4.56M");
}

// A controllable clock for the drawing tests.
struct FakeClock {
  double now = 100.0;
  Progress::Clock fn() {
    return [this] { return now; };
  }
};

TEST(ProgressDraw, RedrawsInPlaceThrottledAndEndsTheLine) {
  std::ostringstream out;
  FakeClock clock;
  {
    Progress p("blocks", 4, {"block", 4}, &out, true, clock.fn());
    clock.now += 0.01;
    p.advance();  // too soon after the first draw: not drawn
    clock.now += 1.0;
    p.advance();  // drawn
    p.finish();
  }
  std::string s = out.str();
  EXPECT_EQ(s,
            "\rblocks [....] 0/4   0%  ? block/s  00:00<--:--\x1b[K"
            "\rblocks [##..] 2/4  50%  1.98 block/s  00:01<00:01\x1b[K"
            "\rblocks [##..] 2/4  50%  1.98 block/s  00:01<00:01\x1b[K\n");
}

TEST(ProgressDraw, DisabledWritesNothing) {
  std::ostringstream out;
  FakeClock clock;
  {
    Progress p("quiet", 10, {}, &out, false, clock.fn());
    p.advance(10);
  }
  EXPECT_TRUE(out.str().empty());
}

TEST(ProgressDraw, QuietFlagDisablesTerminalBars) {
  Progress::set_quiet(true);
  Progress p("x", 3);
  EXPECT_FALSE(p.enabled());
  Progress::set_quiet(false);
}

}  // namespace
}  // namespace patchlm
