#pragma once
// Crash-safe file output: write into a temporary file in the target's directory, fsync it, then rename it over
// the target (atomic on POSIX) and fsync the directory. A reader sees either the old file or the complete new one,
// never a half-written file — also when the writer is killed before commit().
#include <cstddef>
#include <filesystem>
#include <string_view>

namespace patchlm {

class AtomicFile {
 public:
  // Creates `.<name>.tmp-XXXXXX` next to `target`. Throws Error naming the directory when that fails.
  explicit AtomicFile(std::filesystem::path target);
  ~AtomicFile();  // removes the temporary file unless commit() succeeded
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, std::size_t size);
  void write(std::string_view text) { write(text.data(), text.size()); }
  // Flushes, fsyncs and renames over the target. After it, the new content is durable.
  void commit();

  const std::filesystem::path& target() const { return target_; }
  const std::filesystem::path& temp_path() const { return temp_; }
  std::size_t bytes_written() const { return written_; }

 private:
  std::filesystem::path target_;
  std::filesystem::path temp_;
  int fd_ = -1;
  std::size_t written_ = 0;
  bool committed_ = false;
};

// Whole-file convenience wrapper.
void write_file_atomic(const std::filesystem::path& target, std::string_view content);

// Crash-safe directory output (checkpoints, exported models): files are written into a temporary sibling
// directory, which commit() renames to the target. The target must not exist yet (never overwrite a user's
// directory by surprise); an uncommitted temporary directory is removed on destruction.
class AtomicDirectory {
 public:
  explicit AtomicDirectory(std::filesystem::path target);
  ~AtomicDirectory();
  AtomicDirectory(const AtomicDirectory&) = delete;
  AtomicDirectory& operator=(const AtomicDirectory&) = delete;

  // Where to write the files now.
  const std::filesystem::path& path() const { return temp_; }
  const std::filesystem::path& target() const { return target_; }
  void commit();

 private:
  std::filesystem::path target_;
  std::filesystem::path temp_;
  bool committed_ = false;
};

// fsync a directory so that a rename inside it survives a power loss.
void fsync_directory(const std::filesystem::path& dir);

}  // namespace patchlm
