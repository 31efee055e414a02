#include "util/atomic_file.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "temp_dir.h"
#include "util/error.h"

namespace patchlm {
namespace {

namespace fs = std::filesystem;
using testing::read_file;
using testing::TempDir;
using testing::write_file;

int count_entries(const fs::path& dir) {
  int n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++n;
  return n;
}

TEST(AtomicFile, CommitReplacesContentAndLeavesNoTemporary) {
  TempDir dir;
  write_file(dir / "out.json", "old");
  write_file_atomic(dir / "out.json", "new content");
  EXPECT_EQ(read_file(dir / "out.json"), "new content");
  EXPECT_EQ(count_entries(dir.path()), 1);
}

TEST(AtomicFile, CreatesFileWithUsualPermissions) {
  TempDir dir;
  write_file_atomic(dir / "a.txt", "x");
  auto perms = fs::status(dir / "a.txt").permissions();
  EXPECT_NE(perms & fs::perms::owner_read, fs::perms::none);
  EXPECT_NE(perms & fs::perms::group_read, fs::perms::none);  // not mkstemp's 0600
}

TEST(AtomicFile, AbandonedWriterLeavesOldFileAndRemovesTemporary) {
  TempDir dir;
  write_file(dir / "ckpt.bin", "previous checkpoint");
  {
    AtomicFile f(dir / "ckpt.bin");
    f.write("half of a new checkpo");
    EXPECT_TRUE(fs::exists(f.temp_path()));
    // leaves scope without commit(), e.g. because an exception is thrown
  }
  EXPECT_EQ(read_file(dir / "ckpt.bin"), "previous checkpoint");
  EXPECT_EQ(count_entries(dir.path()), 1);
}

TEST(AtomicFile, WriterKilledBeforeRenameLeavesOldFileIntact) {
  TempDir dir;
  const fs::path target = dir / "ckpt.bin";
  write_file(target, "previous checkpoint");
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    AtomicFile f(target);
    std::string big(1 << 20, 'z');
    f.write(big);
    ::raise(SIGKILL);  // dies mid-write: no destructor, no commit
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGKILL);
  EXPECT_EQ(read_file(target), "previous checkpoint");
  // The dead writer's temporary stays behind, hidden and never under the target's name.
  int temporaries = 0;
  for (const auto& e : fs::directory_iterator(dir.path())) {
    if (e.path().filename().string().rfind(".ckpt.bin.tmp-", 0) == 0) ++temporaries;
  }
  EXPECT_EQ(temporaries, 1);
}

TEST(AtomicFile, MissingDirectoryIsNamedInTheError) {
  TempDir dir;
  try {
    write_file_atomic(dir / "no-such-dir" / "x.json", "{}");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no-such-dir"), std::string::npos) << e.what();
  }
}

TEST(AtomicFile, LargeWritesAreComplete) {
  TempDir dir;
  std::string data(3 * 1024 * 1024 + 17, '\0');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 131 % 251);
  AtomicFile f(dir / "big.bin");
  f.write(data.data(), data.size() / 2);
  f.write(data.data() + data.size() / 2, data.size() - data.size() / 2);
  EXPECT_EQ(f.bytes_written(), data.size());
  f.commit();
  EXPECT_EQ(read_file(dir / "big.bin"), data);
}

TEST(AtomicDirectory, CommitMovesCompleteDirectoryIntoPlace) {
  TempDir dir;
  const fs::path out = dir / "export";
  {
    AtomicDirectory d(out);
    write_file(d.path() / "config.json", "{}");
    write_file(d.path() / "model.safetensors", "weights");
    EXPECT_FALSE(fs::exists(out));  // nothing visible before commit
    d.commit();
  }
  EXPECT_EQ(read_file(out / "config.json"), "{}");
  EXPECT_EQ(read_file(out / "model.safetensors"), "weights");
  EXPECT_EQ(count_entries(dir.path()), 1);
}

TEST(AtomicDirectory, UncommittedDirectoryIsRemoved) {
  TempDir dir;
  {
    AtomicDirectory d(dir / "export");
    write_file(d.path() / "part.bin", "half");
  }
  EXPECT_EQ(count_entries(dir.path()), 0);
}

TEST(AtomicDirectory, RefusesExistingTarget) {
  TempDir dir;
  fs::create_directory(dir / "export");
  write_file(dir / "export" / "keep.txt", "user data");
  EXPECT_THROW(AtomicDirectory d(dir / "export"), Error);
  EXPECT_EQ(read_file(dir / "export" / "keep.txt"), "user data");
}

}  // namespace
}  // namespace patchlm
