#include "learn/denormals.h"

#include <ATen/Parallel.h>

#if defined(__x86_64__)
#include <xmmintrin.h>
#endif

namespace patchlm {
namespace {

void flush_in_this_thread() {
#if defined(__x86_64__)
  _mm_setcsr(_mm_getcsr() | 0x8040);  // MXCSR bit 15: flush to zero, bit 6: denormals are zero
#endif
}

}  // namespace

void flush_denormals_on_cpu() {
  flush_in_this_thread();
  // One index per pool thread: each sets its own control register (the pool's threads persist between regions).
  const int threads = at::get_num_threads();
  at::parallel_for(0, threads, 1, [](std::int64_t, std::int64_t) { flush_in_this_thread(); });
}

}  // namespace patchlm
