#pragma once
// Subnormal floats on the CPU while learning. Late in a PATCH schedule τ is small and κ large, so soft masks, their
// products with the weights and the gradients fall into the subnormal range, where x86 arithmetic takes microcode
// assists: the last steps of the CPU demo ran 5-15× slower than the others. Values below 1.2e-38 change nothing in a
// mask, so learning on the CPU flushes them to zero (what torch.set_flush_denormal(True) does, for every thread).

namespace patchlm {

// Sets flush-to-zero and denormals-are-zero in the calling thread and in every thread of ATen's intra-op pool
// (x86-64; elsewhere nothing). Stays set for the process.
void flush_denormals_on_cpu();

}  // namespace patchlm
