#pragma once
#include <cstdint>
#include <string>

// D [16][8] of one mma.sp.m16n8k32 probe (see mma_sp_probe.cu); "" or the CUDA error.
std::string run_mma_sp_probe(int selector, const std::uint32_t (&meta)[32], float (&d)[16 * 8]);
