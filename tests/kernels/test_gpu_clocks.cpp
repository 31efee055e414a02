// GpuClockSampler (kernels/gpu_clocks.h) against a stand-in NVML (tests/kernels/fake_nvml.cpp): medians of what it
// reads while running, and nothing — no error, no samples — where the library or the device is missing.
#include <gtest/gtest.h>

#include <thread>

#include "kernels/gpu_clocks.h"

namespace {

using patchlm::kernels::ClockSample;
using patchlm::kernels::GpuClockSampler;
using namespace std::chrono_literals;

TEST(GpuClocks, MediansOfTheSamplesTakenWhileRunning) {
  GpuClockSampler sampler("0000:01:00.0", PATCHLM_FAKE_NVML);
  ASSERT_TRUE(sampler.available());
  sampler.start(1ms);
  std::this_thread::sleep_for(100ms);
  const ClockSample s = sampler.stop();
  ASSERT_GE(s.samples, 5);
  EXPECT_EQ(s.sm_mhz, 1500);  // 1400, 1500, 1600 in turn: from 5 samples on, the median is 1500
  EXPECT_EQ(s.power_w, 650);  // the instantaneous reading, not the 1-second average (700)
  EXPECT_TRUE(s.power_instant);
  // A second period starts afresh.
  sampler.start(1ms);
  std::this_thread::sleep_for(20ms);
  EXPECT_GE(sampler.stop().samples, 3);
}

TEST(GpuClocks, WithoutAnInstantReadingPowerIsTheOneSecondAverage) {
  GpuClockSampler sampler("0000:03:00.0", PATCHLM_FAKE_NVML);
  ASSERT_TRUE(sampler.available());
  EXPECT_FALSE(sampler.power_instant());
  sampler.start(1ms);
  std::this_thread::sleep_for(20ms);
  const ClockSample s = sampler.stop();
  ASSERT_GE(s.samples, 3);
  EXPECT_EQ(s.power_w, 700);
  EXPECT_FALSE(s.power_instant);
}

TEST(GpuClocks, NoLibraryOrNoDeviceGivesNoSamples) {
  for (GpuClockSampler* sampler : {new GpuClockSampler("0000:01:00.0", "libnot-nvml-at-all.so"),
                                   new GpuClockSampler("0000:02:00.0", PATCHLM_FAKE_NVML)}) {
    EXPECT_FALSE(sampler->available());
    sampler->start(1ms);
    std::this_thread::sleep_for(5ms);
    EXPECT_EQ(sampler->stop().samples, 0);
    delete sampler;
  }
}

}  // namespace
