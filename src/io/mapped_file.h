#pragma once
// A read-only memory map of a whole file. Shared by every tensor view into it, so tensors can be zero-copy.
#include <cstddef>
#include <filesystem>
#include <memory>
#include <span>

namespace patchlm {

class MappedFile {
 public:
  // Throws Error naming the path when the file is missing, unreadable or not a regular file.
  static std::shared_ptr<MappedFile> open(const std::filesystem::path& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  std::span<const std::byte> bytes() const { return {data_, size_}; }
  std::size_t size() const { return size_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  MappedFile() = default;
  std::filesystem::path path_;
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace patchlm
