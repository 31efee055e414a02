// learn/denormals: after flush_denormals_on_cpu, a product in the subnormal range is zero in the calling thread and
// in every thread of ATen's pool, and subnormal inputs count as zero.
#include <gtest/gtest.h>

#include <ATen/Parallel.h>

#include <atomic>
#include <cfloat>
#include <limits>

#include "learn/denormals.h"

namespace patchlm {
namespace {

// A subnormal result of normal inputs, and a subnormal input times a normal number: both 0 once flushed.
bool flushes_here() {
  volatile float tiny = FLT_MIN, scale = 0.25f;  // volatile: computed at run time, under the thread's MXCSR
  volatile float product = tiny * scale;
  volatile float subnormal_in = std::numeric_limits<float>::denorm_min();
  volatile float doubled = subnormal_in * 2.f;
  return product == 0.f && doubled == 0.f;
}

TEST(Denormals, FlushedInTheCallerAndEveryPoolThread) {
#if !defined(__x86_64__)
  GTEST_SKIP() << "flushing is set on x86-64 only";
#endif
  flush_denormals_on_cpu();
  EXPECT_TRUE(flushes_here());
  const int threads = at::get_num_threads();
  std::atomic<int> flushed{0}, ran{0};
  for (int round = 0; round < 3; ++round) {  // later regions run on the same pool threads
    at::parallel_for(0, threads, 1, [&](std::int64_t, std::int64_t) {
      ++ran;
      if (flushes_here()) ++flushed;
    });
  }
  EXPECT_EQ(ran.load(), 3 * threads);
  EXPECT_EQ(flushed.load(), ran.load());
}

}  // namespace
}  // namespace patchlm
