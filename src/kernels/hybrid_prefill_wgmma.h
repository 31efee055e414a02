#pragma once
// The wgmma instructions of hybrid_prefill.cu (sm_90a): dense m64nNk16 and 2:4 sparse m64nNk32, A (the weight) and B
// (the tokens) both from shared memory through descriptors — A in the device layout of its tile (docs/format.md "On
// the GPU") — fp32 accumulators d[N / 2] per thread, always accumulating (scale-d = 1). For N = 64, 72, …, 256 (the
// kernel's tokens per tile).
#include <cstdint>

// The accumulator operands d[0 .. k − 1] of an inline-PTX statement (PATCHLM_ACC<k>, k a multiple of 4 from 32 to 128),
// each list extending the one before.
#define PATCHLM_ACC4(b) "+f"(d[(b)]), "+f"(d[(b) + 1]), "+f"(d[(b) + 2]), "+f"(d[(b) + 3])
#define PATCHLM_ACC8(b) PATCHLM_ACC4(b), PATCHLM_ACC4((b) + 4)
#define PATCHLM_ACC32 PATCHLM_ACC8(0), PATCHLM_ACC8(8), PATCHLM_ACC8(16), PATCHLM_ACC8(24)
#define PATCHLM_ACC36 PATCHLM_ACC32, PATCHLM_ACC4(32)
#define PATCHLM_ACC40 PATCHLM_ACC36, PATCHLM_ACC4(36)
#define PATCHLM_ACC44 PATCHLM_ACC40, PATCHLM_ACC4(40)
#define PATCHLM_ACC48 PATCHLM_ACC44, PATCHLM_ACC4(44)
#define PATCHLM_ACC52 PATCHLM_ACC48, PATCHLM_ACC4(48)
#define PATCHLM_ACC56 PATCHLM_ACC52, PATCHLM_ACC4(52)
#define PATCHLM_ACC60 PATCHLM_ACC56, PATCHLM_ACC4(56)
#define PATCHLM_ACC64 PATCHLM_ACC60, PATCHLM_ACC4(60)
#define PATCHLM_ACC68 PATCHLM_ACC64, PATCHLM_ACC4(64)
#define PATCHLM_ACC72 PATCHLM_ACC68, PATCHLM_ACC4(68)
#define PATCHLM_ACC76 PATCHLM_ACC72, PATCHLM_ACC4(72)
#define PATCHLM_ACC80 PATCHLM_ACC76, PATCHLM_ACC4(76)
#define PATCHLM_ACC84 PATCHLM_ACC80, PATCHLM_ACC4(80)
#define PATCHLM_ACC88 PATCHLM_ACC84, PATCHLM_ACC4(84)
#define PATCHLM_ACC92 PATCHLM_ACC88, PATCHLM_ACC4(88)
#define PATCHLM_ACC96 PATCHLM_ACC92, PATCHLM_ACC4(92)
#define PATCHLM_ACC100 PATCHLM_ACC96, PATCHLM_ACC4(96)
#define PATCHLM_ACC104 PATCHLM_ACC100, PATCHLM_ACC4(100)
#define PATCHLM_ACC108 PATCHLM_ACC104, PATCHLM_ACC4(104)
#define PATCHLM_ACC112 PATCHLM_ACC108, PATCHLM_ACC4(108)
#define PATCHLM_ACC116 PATCHLM_ACC112, PATCHLM_ACC4(112)
#define PATCHLM_ACC120 PATCHLM_ACC116, PATCHLM_ACC4(116)
#define PATCHLM_ACC124 PATCHLM_ACC120, PATCHLM_ACC4(120)
#define PATCHLM_ACC128 PATCHLM_ACC124, PATCHLM_ACC4(124)

namespace patchlm::kernels::wgmma {

__device__ __forceinline__ void fence() { asm volatile("wgmma.fence.sync.aligned;" ::: "memory"); }
__device__ __forceinline__ void commit() { asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory"); }
// Waits until at most `Pending` of this warp's committed groups are still running.
template <int Pending>
__device__ __forceinline__ void wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;" ::"n"(Pending) : "memory");
}

template <int N>
struct Mma;

// Mma<N>::dense_ss: d += A[64×16] · B[16×N] (a dense weight tile's 16-column step). Mma<N>::sparse_ss<Selector>:
// d += A[64×32, 2:4: 16 kept values per row] · B[32×N] (a 2:4 tile's 32-column step); e: this thread's metadata word,
// Selector: which thread pair of each quad supplies it. Both take A and B from shared memory through descriptors (the
// device layouts of kernels/dense_tile_layout.h and sparse_tile_layout.h; x as TMA writes it). D: the accumulators'
// operand numbers; O0–O4: the operands after them — the two descriptors, then dense_ss's predicate or sparse_ss's
// metadata, selector and predicate (inline PTX numbers operands in order, so the strings must name them literally).
// wgmma reads e while the group runs: the caller keeps it unchanged until the wait that retires the group.
#define PATCHLM_WGMMA_MMA(N, ACC, D, O0, O1, O2, O3, O4)                                                           \
  template <>                                                                                                      \
  struct Mma<N> {                                                                                                  \
    __device__ __forceinline__ static void dense_ss(float* d, std::uint64_t desc_a, std::uint64_t desc_b) {       \
      asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, " O2 ", 0;\nwgmma.mma_async.sync.aligned.m64n" #N           \
                   "k16.f32.bf16.bf16 {" D "}, " O0 ", " O1 ", p, 1, 1, 0, 0;\n}\n"                                 \
                   : ACC                                                                                           \
                   : "l"(desc_a), "l"(desc_b), "r"(1));                                                            \
    }                                                                                                              \
    template <int Selector>                                                                                        \
    __device__ __forceinline__ static void sparse_ss(float* d, std::uint64_t desc_a, std::uint64_t desc_b,        \
                                                     std::uint32_t e) {                                            \
      asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, " O4 ", 0;\nwgmma.mma_async.sp.sync.aligned.m64n" #N         \
                   "k32.f32.bf16.bf16 {" D "}, " O0 ", " O1 ", " O2 ", " O3 ", p, 1, 1, 0, 0;\n}\n"                 \
                   : ACC                                                                                           \
                   : "l"(desc_a), "l"(desc_b), "r"(e), "n"(Selector), "r"(1));                                     \
    }                                                                                                              \
  };

// The accumulators' operand numbers "%0, …, %(k − 1)" (PATCHLM_D<k>), each list extending the one before.
#define PATCHLM_D32 "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31"
#define PATCHLM_D36 PATCHLM_D32 ", %32, %33, %34, %35"
#define PATCHLM_D40 PATCHLM_D36 ", %36, %37, %38, %39"
#define PATCHLM_D44 PATCHLM_D40 ", %40, %41, %42, %43"
#define PATCHLM_D48 PATCHLM_D44 ", %44, %45, %46, %47"
#define PATCHLM_D52 PATCHLM_D48 ", %48, %49, %50, %51"
#define PATCHLM_D56 PATCHLM_D52 ", %52, %53, %54, %55"
#define PATCHLM_D60 PATCHLM_D56 ", %56, %57, %58, %59"
#define PATCHLM_D64 PATCHLM_D60 ", %60, %61, %62, %63"
#define PATCHLM_D68 PATCHLM_D64 ", %64, %65, %66, %67"
#define PATCHLM_D72 PATCHLM_D68 ", %68, %69, %70, %71"
#define PATCHLM_D76 PATCHLM_D72 ", %72, %73, %74, %75"
#define PATCHLM_D80 PATCHLM_D76 ", %76, %77, %78, %79"
#define PATCHLM_D84 PATCHLM_D80 ", %80, %81, %82, %83"
#define PATCHLM_D88 PATCHLM_D84 ", %84, %85, %86, %87"
#define PATCHLM_D92 PATCHLM_D88 ", %88, %89, %90, %91"
#define PATCHLM_D96 PATCHLM_D92 ", %92, %93, %94, %95"
#define PATCHLM_D100 PATCHLM_D96 ", %96, %97, %98, %99"
#define PATCHLM_D104 PATCHLM_D100 ", %100, %101, %102, %103"
#define PATCHLM_D108 PATCHLM_D104 ", %104, %105, %106, %107"
#define PATCHLM_D112 PATCHLM_D108 ", %108, %109, %110, %111"
#define PATCHLM_D116 PATCHLM_D112 ", %112, %113, %114, %115"
#define PATCHLM_D120 PATCHLM_D116 ", %116, %117, %118, %119"
#define PATCHLM_D124 PATCHLM_D120 ", %120, %121, %122, %123"
#define PATCHLM_D128 PATCHLM_D124 ", %124, %125, %126, %127"

// Mma<N> for every N the kernel is built for (prefill_split.h: kTokensPerTileChoices).
PATCHLM_WGMMA_MMA(256, PATCHLM_ACC128, PATCHLM_D128, "%128", "%129", "%130", "%131", "%132")
PATCHLM_WGMMA_MMA(248, PATCHLM_ACC124, PATCHLM_D124, "%124", "%125", "%126", "%127", "%128")
PATCHLM_WGMMA_MMA(240, PATCHLM_ACC120, PATCHLM_D120, "%120", "%121", "%122", "%123", "%124")
PATCHLM_WGMMA_MMA(232, PATCHLM_ACC116, PATCHLM_D116, "%116", "%117", "%118", "%119", "%120")
PATCHLM_WGMMA_MMA(224, PATCHLM_ACC112, PATCHLM_D112, "%112", "%113", "%114", "%115", "%116")
PATCHLM_WGMMA_MMA(216, PATCHLM_ACC108, PATCHLM_D108, "%108", "%109", "%110", "%111", "%112")
PATCHLM_WGMMA_MMA(208, PATCHLM_ACC104, PATCHLM_D104, "%104", "%105", "%106", "%107", "%108")
PATCHLM_WGMMA_MMA(200, PATCHLM_ACC100, PATCHLM_D100, "%100", "%101", "%102", "%103", "%104")
PATCHLM_WGMMA_MMA(192, PATCHLM_ACC96, PATCHLM_D96, "%96", "%97", "%98", "%99", "%100")
PATCHLM_WGMMA_MMA(184, PATCHLM_ACC92, PATCHLM_D92, "%92", "%93", "%94", "%95", "%96")
PATCHLM_WGMMA_MMA(176, PATCHLM_ACC88, PATCHLM_D88, "%88", "%89", "%90", "%91", "%92")
PATCHLM_WGMMA_MMA(168, PATCHLM_ACC84, PATCHLM_D84, "%84", "%85", "%86", "%87", "%88")
PATCHLM_WGMMA_MMA(160, PATCHLM_ACC80, PATCHLM_D80, "%80", "%81", "%82", "%83", "%84")
PATCHLM_WGMMA_MMA(152, PATCHLM_ACC76, PATCHLM_D76, "%76", "%77", "%78", "%79", "%80")
PATCHLM_WGMMA_MMA(144, PATCHLM_ACC72, PATCHLM_D72, "%72", "%73", "%74", "%75", "%76")
PATCHLM_WGMMA_MMA(136, PATCHLM_ACC68, PATCHLM_D68, "%68", "%69", "%70", "%71", "%72")
PATCHLM_WGMMA_MMA(128, PATCHLM_ACC64, PATCHLM_D64, "%64", "%65", "%66", "%67", "%68")
PATCHLM_WGMMA_MMA(120, PATCHLM_ACC60, PATCHLM_D60, "%60", "%61", "%62", "%63", "%64")
PATCHLM_WGMMA_MMA(112, PATCHLM_ACC56, PATCHLM_D56, "%56", "%57", "%58", "%59", "%60")
PATCHLM_WGMMA_MMA(104, PATCHLM_ACC52, PATCHLM_D52, "%52", "%53", "%54", "%55", "%56")
PATCHLM_WGMMA_MMA(96, PATCHLM_ACC48, PATCHLM_D48, "%48", "%49", "%50", "%51", "%52")
PATCHLM_WGMMA_MMA(88, PATCHLM_ACC44, PATCHLM_D44, "%44", "%45", "%46", "%47", "%48")
PATCHLM_WGMMA_MMA(80, PATCHLM_ACC40, PATCHLM_D40, "%40", "%41", "%42", "%43", "%44")
PATCHLM_WGMMA_MMA(72, PATCHLM_ACC36, PATCHLM_D36, "%36", "%37", "%38", "%39", "%40")
PATCHLM_WGMMA_MMA(64, PATCHLM_ACC32, PATCHLM_D32, "%32", "%33", "%34", "%35", "%36")

#undef PATCHLM_WGMMA_MMA
#undef PATCHLM_D32
#undef PATCHLM_D36
#undef PATCHLM_D40
#undef PATCHLM_D44
#undef PATCHLM_D48
#undef PATCHLM_D52
#undef PATCHLM_D56
#undef PATCHLM_D60
#undef PATCHLM_D64
#undef PATCHLM_D68
#undef PATCHLM_D72
#undef PATCHLM_D76
#undef PATCHLM_D80
#undef PATCHLM_D84
#undef PATCHLM_D88
#undef PATCHLM_D92
#undef PATCHLM_D96
#undef PATCHLM_D100
#undef PATCHLM_D104
#undef PATCHLM_D108
#undef PATCHLM_D112
#undef PATCHLM_D116
#undef PATCHLM_D120
#undef PATCHLM_D124
#undef PATCHLM_D128

}  // namespace patchlm::kernels::wgmma

#undef PATCHLM_ACC128
#undef PATCHLM_ACC124
#undef PATCHLM_ACC120
#undef PATCHLM_ACC116
#undef PATCHLM_ACC112
#undef PATCHLM_ACC108
#undef PATCHLM_ACC104
#undef PATCHLM_ACC100
#undef PATCHLM_ACC96
#undef PATCHLM_ACC92
#undef PATCHLM_ACC88
#undef PATCHLM_ACC84
#undef PATCHLM_ACC80
#undef PATCHLM_ACC76
#undef PATCHLM_ACC72
#undef PATCHLM_ACC68
#undef PATCHLM_ACC64
#undef PATCHLM_ACC60
#undef PATCHLM_ACC56
#undef PATCHLM_ACC52
#undef PATCHLM_ACC48
#undef PATCHLM_ACC44
#undef PATCHLM_ACC40
#undef PATCHLM_ACC36
#undef PATCHLM_ACC32
#undef PATCHLM_ACC8
#undef PATCHLM_ACC4
