#include "learn/schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace patchlm {

double linear_schedule(double start, double end, std::int64_t step, std::int64_t steps) {
  const double t = steps > 0 ? static_cast<double>(step) / static_cast<double>(steps) : 0.0;
  return start + (end - start) * t;
}

double cosine_lr(double base, std::int64_t step, std::int64_t steps, std::int64_t warmup) {
  if (step < warmup) return base * static_cast<double>(step) / static_cast<double>(std::max<std::int64_t>(1, warmup));
  const double progress = static_cast<double>(step - warmup) / static_cast<double>(std::max<std::int64_t>(1, steps - warmup));
  return base * std::max(0.0, 0.5 * (1.0 + std::cos(std::numbers::pi * progress)));
}

SampleParams sample_params_at(const LearnSchedule& s, std::int64_t step, std::int64_t steps) {
  return {linear_schedule(s.tau_start, s.tau_end, step, steps), linear_schedule(s.kappa24_start, s.kappa24_end, step, steps),
          linear_schedule(s.kappat_start, s.kappat_end, step, steps)};
}

}  // namespace patchlm
