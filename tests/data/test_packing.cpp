#include "data/packing.h"

#include <gtest/gtest.h>

#include "util/error.h"

namespace patchlm {
namespace {

std::vector<std::vector<std::int64_t>> docs() { return {{1, 2, 3}, {4, 5}, {6, 7, 8, 9}}; }

TEST(Packing, StreamAddsSeparatorAfterEveryDocument) {
  EXPECT_EQ(token_stream(docs(), 0), (std::vector<std::int64_t>{1, 2, 3, 0, 4, 5, 0, 6, 7, 8, 9, 0}));
  EXPECT_EQ(token_stream(docs(), -1), (std::vector<std::int64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9}));
}

TEST(Packing, ConsecutiveChunksDropTheRemainder) {
  auto seqs = pack_sequences(docs(), {.seq_len = 5, .separator = 0});
  ASSERT_EQ(seqs.size(), 2u);  // 12 tokens → 2 × 5, 2 dropped
  EXPECT_EQ(seqs[0], (std::vector<std::int64_t>{1, 2, 3, 0, 4}));
  EXPECT_EQ(seqs[1], (std::vector<std::int64_t>{5, 0, 6, 7, 8}));
}

TEST(Packing, RandomOffsetsAreSeededSlicesOfTheStream) {
  PackOptions o{.seq_len = 4, .count = 20, .random_offsets = true, .seed = 7, .separator = 0};
  auto a = pack_sequences(docs(), o), b = pack_sequences(docs(), o);
  EXPECT_EQ(a, b);  // deterministic
  o.seed = 8;
  EXPECT_NE(a, pack_sequences(docs(), o));
  std::vector<std::int64_t> stream = token_stream(docs(), 0);
  for (const auto& s : a) {
    ASSERT_EQ(s.size(), 4u);
    auto it = std::search(stream.begin(), stream.end(), s.begin(), s.end());
    EXPECT_NE(it, stream.end());  // every sequence is a window of the stream
  }
}

TEST(Packing, TooLittleTextIsAnError) {
  EXPECT_THROW(pack_sequences(docs(), {.seq_len = 100}), Error);
  EXPECT_THROW(pack_sequences(docs(), {.seq_len = 5, .count = 3, .separator = 0}), Error);
  EXPECT_THROW(pack_sequences(docs(), {.seq_len = 0}), UsageError);
}

}  // namespace
}  // namespace patchlm
