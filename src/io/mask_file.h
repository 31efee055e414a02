#pragma once
// patchlm mask files (docs/masks.md): a safetensors file with one U8 tensor per masked weight, named like the
// weight. A layer whose every group of 4 keeps exactly 2 is stored as 2:4 pattern indices (3 bits per group, 0.75
// bit per weight); any other layer as packed keep-bits (1 bit per weight). Metadata records the format version, the
// method, pattern, sparsity and the encoding of every layer. Torch-free.
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace patchlm {

struct LayerMask {
  std::int64_t rows = 0, cols = 0;
  std::vector<std::uint8_t> keep;  // rows*cols, row-major, 1 = weight kept

  std::int64_t kept() const;
  double sparsity() const;
};

struct MaskSet {
  std::map<std::string, LayerMask> layers;  // by weight name
  std::map<std::string, std::string> metadata;  // method, pattern, sparsity, source_model, ...
};

// Fraction pruned over all layers together (0 when there are none).
double global_sparsity(const MaskSet& masks);

// The 6 ways to keep 2 of 4, in PATCH's order (the one candidate table: mask files store these indices, the 2:4
// logits of learn/mask_2to4 score these candidates). kTwoFourPatterns[i][j] = 1: position j of the group is kept.
inline constexpr std::uint8_t kTwoFourPatterns[6][4] = {{1, 1, 0, 0}, {1, 0, 1, 0}, {1, 0, 0, 1},
                                                        {0, 1, 1, 0}, {0, 1, 0, 1}, {0, 0, 1, 1}};
int pattern_index(const std::uint8_t* group);  // -1 when the group does not keep exactly 2
void pattern_fill(int index, std::uint8_t* group);

bool is_2to4(const LayerMask& m);
std::vector<std::uint8_t> pack_bits(const LayerMask& m);
std::vector<std::uint8_t> pack_2to4(const LayerMask& m);  // Error if not 2:4
LayerMask unpack_bits(const std::vector<std::uint8_t>& packed, std::int64_t rows, std::int64_t cols);
LayerMask unpack_2to4(const std::vector<std::uint8_t>& packed, std::int64_t rows, std::int64_t cols);

void write_mask_file(const std::filesystem::path& path, const MaskSet& masks);  // atomic
MaskSet read_mask_file(const std::filesystem::path& path);  // validates everything; Error names file and layer

}  // namespace patchlm
