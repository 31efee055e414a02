#include "util/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>

#include "util/error.h"
#include "util/interrupt.h"

namespace patchlm {
namespace fs = std::filesystem;

namespace {

std::string errno_text() { return std::strerror(errno); }

fs::path parent_or_cwd(const fs::path& p) {
  fs::path parent = p.parent_path();
  return parent.empty() ? fs::path(".") : parent;
}

// Temporaries of `target` left by writers that no longer run (killed outright): `.<name>.tmp-<pid>-XXXXXX` whose
// process is gone. Removed before a new one is made, so a crash never leaves them to pile up.
void remove_stale_siblings(const fs::path& target) {
  const fs::path dir = parent_or_cwd(target);
  const std::string prefix = "." + target.filename().string() + ".tmp-";
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string rest = name.substr(prefix.size());
    const std::size_t dash = rest.find('-');
    if (dash == std::string::npos || dash == 0 || rest.find_first_not_of("0123456789") != dash) continue;
    const long pid = std::strtol(rest.substr(0, dash).c_str(), nullptr, 10);
    if (pid <= 0 || pid == ::getpid() || ::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;
    std::error_code remove_ec;
    fs::remove_all(entry.path(), remove_ec);
  }
}

// A fresh hidden sibling `.<name>.tmp-<pid>-XXXXXX`, created with O_EXCL / mkdir so two writers never share it, and
// registered for removal if the process is interrupted (util/interrupt). Not mkstemp: its 0600 mode would survive
// the rename, while open(0666) / mkdir(0777) respect the umask.
fs::path create_unique_sibling(const fs::path& target, bool directory) {
  static thread_local std::mt19937_64 rng{std::random_device{}() ^ static_cast<std::uint64_t>(::getpid())};
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  const fs::path dir = parent_or_cwd(target);
  remove_stale_siblings(target);
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::string suffix(6, ' ');
    for (char& c : suffix) c = kAlphabet[rng() % (sizeof(kAlphabet) - 1)];
    fs::path candidate = dir / ("." + target.filename().string() + ".tmp-" + std::to_string(::getpid()) + "-" + suffix);
    register_temporary(candidate);
    int rc = directory ? ::mkdir(candidate.c_str(), 0777)
                       : ::open(candidate.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (rc >= 0) {
      if (!directory) ::close(rc);
      return candidate;
    }
    forget_temporary(candidate);
    if (errno != EEXIST) break;
  }
  throw Error(str_cat("cannot create a ", directory ? "directory" : "file", " in ", in_quotes(dir.string()), ": ",
                      errno_text()));
}

}  // namespace

void fsync_directory(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw Error(str_cat("cannot open directory ", in_quotes(dir.string()), ": ", errno_text()));
  int rc = ::fsync(fd);
  int saved = errno;
  ::close(fd);
  if (rc != 0 && saved != EINVAL) {  // some file systems do not support fsync on directories
    throw Error(str_cat("cannot fsync directory ", in_quotes(dir.string()), ": ", std::strerror(saved)));
  }
}

AtomicFile::AtomicFile(fs::path target) : target_(std::move(target)) {
  if (target_.filename().empty()) throw Error(str_cat("output path ", in_quotes(target_.string()), " names no file"));
  temp_ = create_unique_sibling(target_, /*directory=*/false);
  fd_ = ::open(temp_.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd_ < 0) throw Error(str_cat("cannot write ", in_quotes(temp_.string()), ": ", errno_text()));
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_ && !temp_.empty()) ::unlink(temp_.c_str());
  if (!temp_.empty()) forget_temporary(temp_);
}

void AtomicFile::write(const void* data, std::size_t size) {
  if (committed_ || fd_ < 0) throw Error(str_cat("write to ", in_quotes(target_.string()), " after commit"));
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::write(fd_, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error(str_cat("cannot write ", in_quotes(target_.string()), ": ", errno_text(),
                          errno == EFBIG ? " (the file-size limit, ulimit -f)" : ""));
    }
    p += n;
    size -= static_cast<std::size_t>(n);
    written_ += static_cast<std::size_t>(n);
  }
}

void AtomicFile::commit() {
  if (committed_) return;
  if (::fsync(fd_) != 0) {
    throw Error(str_cat("cannot write ", in_quotes(target_.string()), ": ", errno_text()));
  }
  if (::close(fd_) != 0) {
    fd_ = -1;
    throw Error(str_cat("cannot write ", in_quotes(target_.string()), ": ", errno_text()));
  }
  fd_ = -1;
  if (::rename(temp_.c_str(), target_.c_str()) != 0) {
    throw Error(str_cat("cannot replace ", in_quotes(target_.string()), ": ", errno_text()));
  }
  committed_ = true;
  forget_temporary(temp_);
  fsync_directory(parent_or_cwd(target_));
}

void write_file_atomic(const fs::path& target, std::string_view content) {
  AtomicFile file(target);
  file.write(content);
  file.commit();
}

AtomicDirectory::AtomicDirectory(fs::path target) : target_(std::move(target)) {
  if (target_.filename().empty()) target_ = target_.parent_path();  // "out/" -> "out"
  std::error_code ec;
  if (fs::exists(target_, ec)) {
    throw Error(str_cat("output directory ", in_quotes(target_.string()), " already exists; remove it or choose another"));
  }
  temp_ = create_unique_sibling(target_, /*directory=*/true);
}

AtomicDirectory::~AtomicDirectory() {
  if (temp_.empty()) return;
  if (!committed_) {
    std::error_code ec;
    fs::remove_all(temp_, ec);
  }
  forget_temporary(temp_);
}

void AtomicDirectory::commit() {
  if (committed_) return;
  // renameat2(RENAME_NOREPLACE) would be ideal; rename() onto an existing non-empty directory fails anyway.
  if (fs::exists(target_)) {
    throw Error(str_cat("output directory ", in_quotes(target_.string()), " appeared while writing; not replacing it"));
  }
  if (::rename(temp_.c_str(), target_.c_str()) != 0) {
    throw Error(str_cat("cannot create ", in_quotes(target_.string()), ": ", errno_text()));
  }
  committed_ = true;
  forget_temporary(temp_);
  fsync_directory(parent_or_cwd(target_));
}

}  // namespace patchlm
