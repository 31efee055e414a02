#include "io/dequant.h"

#include <cstring>

#include "io/dtype.h"
#include "util/error.h"

// The reference computes e.g. (d * q) + m as two rounded float32 operations; contraction into an FMA would change
// the last bit. This file is compiled with -ffp-contract=off as well.
#pragma GCC optimize("fp-contract=off")

namespace patchlm {
namespace {

using u8 = std::uint8_t;

std::uint16_t load_u16(const u8* p) { return static_cast<std::uint16_t>(p[0] | (p[1] << 8)); }
std::uint32_t load_u32(const u8* p) {
  return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
         static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}
float load_f16(const u8* p) { return half_to_float(load_u16(p)); }

// Element j of a 32-element block packed as 16 bytes: low nibbles are elements 0..15, high nibbles 16..31.
int nibble(const u8* qs, int j) { return j < 16 ? (qs[j] & 0x0F) : (qs[j - 16] >> 4); }

void q4_0(const u8* b, float* out) {  // d, qs[16]
  float d = load_f16(b);
  for (int j = 0; j < 32; ++j) out[j] = d * static_cast<float>(nibble(b + 2, j) - 8);
}

void q4_1(const u8* b, float* out) {  // d, m, qs[16]
  float d = load_f16(b), m = load_f16(b + 2);
  for (int j = 0; j < 32; ++j) out[j] = (d * static_cast<float>(nibble(b + 4, j))) + m;
}

void q5_0(const u8* b, float* out) {  // d, qh (u32), qs[16]
  float d = load_f16(b);
  std::uint32_t qh = load_u32(b + 2);
  for (int j = 0; j < 32; ++j) {
    int q = nibble(b + 6, j) | static_cast<int>(((qh >> j) & 1u) << 4);
    out[j] = d * static_cast<float>(q - 16);
  }
}

void q5_1(const u8* b, float* out) {  // d, m, qh (u32), qs[16]
  float d = load_f16(b), m = load_f16(b + 2);
  std::uint32_t qh = load_u32(b + 4);
  for (int j = 0; j < 32; ++j) {
    int q = nibble(b + 8, j) | static_cast<int>(((qh >> j) & 1u) << 4);
    out[j] = (d * static_cast<float>(q)) + m;
  }
}

void q8_0(const u8* b, float* out) {  // d, qs[32] int8
  float d = load_f16(b);
  for (int j = 0; j < 32; ++j) out[j] = static_cast<float>(static_cast<std::int8_t>(b[2 + j])) * d;
}

// 6-bit scales and mins of the 8 sub-blocks of a Q4_K / Q5_K super-block, packed in 12 bytes.
void k_scale_min(const u8* s, int sc[8], int mn[8]) {
  for (int j = 0; j < 4; ++j) {
    sc[j] = s[j] & 0x3F;
    mn[j] = s[j + 4] & 0x3F;
    sc[j + 4] = (s[j + 8] & 0x0F) | ((s[j] >> 2) & 0x30);
    mn[j + 4] = (s[j + 8] >> 4) | ((s[j + 4] >> 2) & 0x30);
  }
}

void q4_k(const u8* b, float* out) {  // d, dmin, scales[12], qs[128]
  float d = load_f16(b), dmin = load_f16(b + 2);
  int sc[8], mn[8];
  k_scale_min(b + 4, sc, mn);
  const u8* qs = b + 16;
  for (int sub = 0; sub < 8; ++sub) {
    float ds = d * static_cast<float>(sc[sub]);
    float dm = dmin * static_cast<float>(mn[sub]);
    const u8* q = qs + (sub / 2) * 32;
    int shift = (sub % 2) * 4;
    for (int k = 0; k < 32; ++k) out[sub * 32 + k] = ds * static_cast<float>((q[k] >> shift) & 0x0F) - dm;
  }
}

void q5_k(const u8* b, float* out) {  // d, dmin, scales[12], qh[32], qs[128]
  float d = load_f16(b), dmin = load_f16(b + 2);
  int sc[8], mn[8];
  k_scale_min(b + 4, sc, mn);
  const u8* qh = b + 16;
  const u8* qs = b + 48;
  for (int sub = 0; sub < 8; ++sub) {
    float ds = d * static_cast<float>(sc[sub]);
    float dm = dmin * static_cast<float>(mn[sub]);
    const u8* q = qs + (sub / 2) * 32;
    int shift = (sub % 2) * 4;
    for (int k = 0; k < 32; ++k) {
      int v = ((q[k] >> shift) & 0x0F) | (((qh[k] >> sub) & 1) << 4);
      out[sub * 32 + k] = ds * static_cast<float>(v) - dm;
    }
  }
}

void q6_k(const u8* b, float* out) {  // ql[128], qh[64], scales[16] int8, d
  const u8* ql = b;
  const u8* qh = b + 128;
  const u8* scales = b + 192;
  float d = load_f16(b + 208);
  for (int i = 0; i < 256; ++i) {
    int half = i / 128, r = i % 128;
    int low = (ql[half * 64 + r % 64] >> ((r / 64) * 4)) & 0x0F;
    int high = (qh[half * 32 + r % 32] >> ((r / 32) * 2)) & 0x03;
    float ds = d * static_cast<float>(static_cast<std::int8_t>(scales[i / 16]));
    out[i] = ds * static_cast<float>((low | (high << 4)) - 32);
  }
}

using BlockFn = void (*)(const u8*, float*);

BlockFn block_function(GgmlType type) {
  switch (type) {
    case GgmlType::Q4_0: return q4_0;
    case GgmlType::Q4_1: return q4_1;
    case GgmlType::Q5_0: return q5_0;
    case GgmlType::Q5_1: return q5_1;
    case GgmlType::Q8_0: return q8_0;
    case GgmlType::Q4_K: return q4_k;
    case GgmlType::Q5_K: return q5_k;
    case GgmlType::Q6_K: return q6_k;
    default: return nullptr;
  }
}

}  // namespace

bool dequant_supported(GgmlType type) {
  return type == GgmlType::F32 || type == GgmlType::F16 || type == GgmlType::BF16 || block_function(type) != nullptr;
}

void dequantize(GgmlType type, std::span<const std::byte> src, std::span<float> out) {
  const GgmlTypeTraits* traits = ggml_type_traits(static_cast<std::uint32_t>(type));
  if (traits == nullptr || !dequant_supported(type)) {
    throw Error(str_cat("ggml type ", traits ? traits->name : "?", " cannot be dequantised (supported: F32, F16, BF16, "
                        "Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K)"));
  }
  if (out.size() % traits->block_elems != 0 || src.size() != out.size() / traits->block_elems * traits->block_bytes) {
    throw Error(str_cat("dequantise ", traits->name, ": ", src.size(), " bytes do not hold ", out.size(), " elements"));
  }
  const auto* p = reinterpret_cast<const u8*>(src.data());
  const std::size_t n = out.size();
  switch (type) {
    case GgmlType::F32: std::memcpy(out.data(), p, n * 4); return;
    case GgmlType::F16: for (std::size_t i = 0; i < n; ++i) out[i] = load_f16(p + 2 * i); return;
    case GgmlType::BF16: for (std::size_t i = 0; i < n; ++i) out[i] = bf16_to_float(load_u16(p + 2 * i)); return;
    default: break;
  }
  BlockFn fn = block_function(type);
  const std::size_t blocks = n / traits->block_elems;
  for (std::size_t i = 0; i < blocks; ++i) fn(p + i * traits->block_bytes, out.data() + i * traits->block_elems);
}

}  // namespace patchlm
