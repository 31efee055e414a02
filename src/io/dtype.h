#pragma once
// Element types of stored tensors, named as safetensors names them. Torch-free, so parsers and fuzzers use it.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace patchlm {

enum class DType : std::uint8_t { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };

std::size_t dtype_size(DType dtype);
std::string_view dtype_name(DType dtype);  // "F32", "BF16", ...
std::optional<DType> parse_dtype(std::string_view name);

// IEEE half / bfloat16 bits to float (exact).
float half_to_float(std::uint16_t bits);
inline float bf16_to_float(std::uint16_t bits) {
  std::uint32_t u = static_cast<std::uint32_t>(bits) << 16;
  float f;
  __builtin_memcpy(&f, &u, sizeof f);
  return f;
}

}  // namespace patchlm
