#include "data/corpus.h"

#include <gtest/gtest.h>

#include "temp_dir.h"
#include "util/error.h"

namespace patchlm {
namespace {

using testing::TempDir;
using testing::write_file;

TEST(Corpus, SplitIsStableAndRoughly90_5_5) {
  int counts[3] = {0, 0, 0};
  for (int i = 0; i < 20000; ++i) {
    Split s = split_of("doc-" + std::to_string(i));
    EXPECT_EQ(s, split_of("doc-" + std::to_string(i)));  // deterministic
    ++counts[static_cast<int>(s)];
  }
  EXPECT_NEAR(counts[0] / 20000.0, 0.90, 0.01);
  EXPECT_NEAR(counts[1] / 20000.0, 0.05, 0.01);
  EXPECT_NEAR(counts[2] / 20000.0, 0.05, 0.01);
  // Pinned values (python-docs ids): changing the rule would silently change every reported number.
  EXPECT_EQ(split_of("library/os.rst.txt"), Split::train);
  EXPECT_EQ(split_of("c-api/gcsupport.rst.txt"), Split::test);
  EXPECT_EQ(split_of("c-api/structures.rst.txt"), Split::test);
  EXPECT_EQ(split_of("c-api/sequence.rst.txt"), Split::validation);
}

TEST(Corpus, ReadsFoldersSortedWithJsonlRecordsAndSkipsOtherFiles) {
  TempDir dir;
  std::filesystem::create_directories(dir / "b");
  write_file(dir / "b" / "x.rst", "rst text");
  write_file(dir / "a.txt", "plain text");
  write_file(dir / "image.png", "not text");
  write_file(dir / "c.jsonl", "{\"text\": \"one\"}\n\n{\"text\": \"two\", \"meta\": 1}\n");
  std::vector<Document> docs = read_corpus(dir.path(), Split::all);
  ASSERT_EQ(docs.size(), 4u);
  EXPECT_EQ(docs[0].id, "a.txt");
  EXPECT_EQ(docs[1].id, "b/x.rst");
  EXPECT_EQ(docs[2].id, "c.jsonl:1");
  EXPECT_EQ(docs[3].id, "c.jsonl:3");
  EXPECT_EQ(docs[3].text, "two");
}

TEST(Corpus, SplitsPartitionTheDocuments) {
  TempDir dir;
  for (int i = 0; i < 200; ++i) write_file(dir / ("d" + std::to_string(i) + ".txt"), "text " + std::to_string(i));
  std::size_t total = 0;
  for (Split s : {Split::train, Split::validation, Split::test}) total += read_corpus(dir.path(), s).size();
  EXPECT_EQ(total, 200u);
}

TEST(Corpus, BadInputNamesTheProblem) {
  TempDir dir;
  write_file(dir / "bad.jsonl", "{\"text\": \"ok\"}\n{\"txt\": \"no\"}\n");
  try {
    read_corpus(dir / "bad.jsonl");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("line 2"), std::string::npos) << e.what();
  }
  write_file(dir / "broken.jsonl", "{\"text\": \n");
  EXPECT_THROW(read_corpus(dir / "broken.jsonl"), Error);
  std::filesystem::create_directories(dir / "empty");
  EXPECT_THROW(read_corpus(dir / "empty"), Error);
  EXPECT_THROW(read_corpus(dir / "missing"), Error);
  EXPECT_THROW(parse_split("dev"), UsageError);
}

}  // namespace
}  // namespace patchlm
