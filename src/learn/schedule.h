#pragma once
// Schedules of PATCH mask learning, all functions of the step s ∈ [0, steps):
//   linear:  start + (end − start) · s / steps         (τ 4 → 0.05, κ24 100 → 500, κt 25 → 350)
//   lr:      HF's cosine schedule with warm-up: s / warmup while s < warmup, then
//            0.5 · (1 + cos(π · (s − warmup) / (steps − warmup))), times the base rate
#include <cstdint>

#include "learn/hybrid_mask.h"
#include "learn/options.h"

namespace patchlm {

double linear_schedule(double start, double end, std::int64_t step, std::int64_t steps);
double cosine_lr(double base, std::int64_t step, std::int64_t steps, std::int64_t warmup);
SampleParams sample_params_at(const LearnSchedule& schedule, std::int64_t step, std::int64_t steps);

}  // namespace patchlm
