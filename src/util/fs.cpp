#include "dbsnap/util/fs.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>

namespace dbsnap::util {

namespace {

std::string errno_text(int err) { return std::strerror(err); }

std::string random_suffix() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("{:012x}", rng() & 0xffffffffffffULL);
}

}  // namespace

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) ::close(fd_);
}

Expected<void> UniqueFd::close() {
  if (fd_ < 0) return {};
  int fd = std::exchange(fd_, -1);
  if (::close(fd) != 0 && errno != EINTR) {
    return make_error(ErrorKind::failure, "close failed: {}", errno_text(errno));
  }
  return {};
}

Expected<void> ensure_private_dir(const fs::path& dir) {
  std::error_code ec;
  if (fs::is_directory(dir, ec)) return {};
  if (!dir.parent_path().empty() && dir.parent_path() != dir) {
    if (auto r = ensure_private_dir(dir.parent_path()); !r) return r;
  }
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return make_error(ErrorKind::failure, "cannot create directory {}: {}", dir.string(), errno_text(errno));
  }
  return {};
}

Expected<void> fsync_dir(const fs::path& dir) {
  UniqueFd fd(::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) {
    return make_error(ErrorKind::failure, "cannot open directory {}: {}", dir.string(), errno_text(errno));
  }
  if (::fsync(fd.get()) != 0) {
    return make_error(ErrorKind::failure, "cannot sync directory {}: {}", dir.string(), errno_text(errno));
  }
  return {};
}

Expected<void> fsync_fd(int fd, const fs::path& for_message) {
  if (::fsync(fd) != 0) {
    return make_error(ErrorKind::failure, "cannot sync {}: {}", for_message.string(), errno_text(errno));
  }
  return {};
}

Expected<std::pair<UniqueFd, fs::path>> make_private_temp(const fs::path& dir, std::string_view stem) {
  for (int attempt = 0; attempt < 16; ++attempt) {
    fs::path path = dir / fmt::format("{}.{}{}", stem, random_suffix(), temp_marker);
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!fd.valid()) {
      if (errno == EEXIST) continue;
      return make_error(ErrorKind::failure, "cannot create temporary file in {}: {}", dir.string(),
                        errno_text(errno));
    }
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
      // Another dbsnap's cleanup pass saw the file before we locked it, took it for a dead
      // process's leftover and is removing it: start over under a new name.
      if (errno == EWOULDBLOCK) continue;
      return make_error(ErrorKind::failure, "cannot lock {}: {}", path.string(), errno_text(errno));
    }
    // The same race, lost the other way round: the cleanup removed it before we locked it.
    struct stat ours {}, named {};
    if (::fstat(fd.get(), &ours) != 0 || ours.st_nlink == 0 || ::stat(path.c_str(), &named) != 0 ||
        named.st_ino != ours.st_ino || named.st_dev != ours.st_dev) {
      continue;
    }
    return std::pair{std::move(fd), path};
  }
  return make_error(ErrorKind::failure, "cannot create a unique temporary file in {}", dir.string());
}

namespace {

// Removes one temp file if no live process holds its lock.
bool remove_if_stale(const fs::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid() || ::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) return false;
  std::error_code ec;
  bool removed = fs::remove(path, ec);
  for (const char* suffix : {"-journal", "-wal", "-shm"}) fs::remove(path.string() + suffix, ec);
  return removed;
}

}  // namespace

std::size_t remove_stale_temp_files(const fs::path& dir) {
  std::size_t removed = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const auto name = it->path().filename().string();
    // Never a symbolic link: what it points to may be outside the folder.
    if (it->symlink_status(ec).type() != fs::file_type::regular || !name.ends_with(temp_marker)) continue;
    removed += remove_if_stale(it->path());
  }
  return removed;
}

std::size_t remove_stale_temp_files(const fs::path& dir, std::string_view prefix) {
  std::size_t removed = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, fs::directory_options::skip_permission_denied, ec)) {
    const auto name = entry.path().filename().string();
    if (name.starts_with(prefix) && name.ends_with(temp_marker) &&
        entry.symlink_status(ec).type() == fs::file_type::regular) {
      removed += remove_if_stale(entry.path());
    }
  }
  return removed;
}

Expected<AtomicFile> AtomicFile::create(const fs::path& final_path) {
  auto temp = make_private_temp(final_path.parent_path(), "." + final_path.filename().string());
  if (!temp) return std::unexpected(temp.error());
  return AtomicFile(std::move(temp->first), std::move(temp->second), final_path);
}

AtomicFile::AtomicFile(UniqueFd fd, fs::path temp_path, fs::path final_path)
    : fd_(std::move(fd)), temp_path_(std::move(temp_path)), final_path_(std::move(final_path)) {}

AtomicFile::AtomicFile(AtomicFile&& other) noexcept
    : fd_(std::move(other.fd_)),
      temp_path_(std::move(other.temp_path_)),
      final_path_(std::move(other.final_path_)),
      committed_(std::exchange(other.committed_, true)) {}

AtomicFile::~AtomicFile() {
  if (!committed_ && !temp_path_.empty()) {
    std::error_code ec;
    fs::remove(temp_path_, ec);
  }
}

Expected<void> AtomicFile::commit(Existing existing) {
  if (auto r = fsync_fd(fd_.get(), temp_path_); !r) return r;
  const int renamed = existing == Existing::keep
                          ? ::renameat2(AT_FDCWD, temp_path_.c_str(), AT_FDCWD, final_path_.c_str(), RENAME_NOREPLACE)
                          : ::rename(temp_path_.c_str(), final_path_.c_str());
  if (renamed != 0) {
    return make_error(ErrorKind::failure, "cannot rename {} to {}: {}", temp_path_.string(),
                      final_path_.string(), errno_text(errno));
  }
  committed_ = true;
  if (auto r = fd_.close(); !r) return r;
  return fsync_dir(final_path_.parent_path());
}

Expected<void> write_all(int fd, const void* data, std::size_t size) {
  const auto* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::write(fd, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return make_error(ErrorKind::failure, "write failed: {}", errno_text(errno));
    }
    p += n;
    size -= static_cast<std::size_t>(n);
  }
  return {};
}

Expected<void> write_file_atomic(const fs::path& path, std::string_view content) {
  auto file = AtomicFile::create(path);
  if (!file) return std::unexpected(file.error());
  if (auto r = write_all(file->fd(), content.data(), content.size()); !r) {
    return std::unexpected(with_context(r.error(), path.string()));
  }
  return file->commit();
}

Expected<std::string> read_small_file(const fs::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    return make_error(ErrorKind::failure, "cannot open {}: {}", path.string(), errno_text(errno));
  }
  std::string out;
  char buffer[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      return make_error(ErrorKind::failure, "cannot read {}: {}", path.string(), errno_text(errno));
    }
    if (n == 0) break;
    out.append(buffer, static_cast<std::size_t>(n));
  }
  return out;
}

Expected<std::uint64_t> free_space(const fs::path& path) {
  struct statvfs st {};
  if (::statvfs(path.c_str(), &st) != 0) {
    return make_error(ErrorKind::failure, "cannot stat file system of {}: {}", path.string(), errno_text(errno));
  }
  return static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
}

Expected<FileLock> FileLock::acquire(const fs::path& lock_path, LockMode mode) {
  UniqueFd fd(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd.valid()) {
    return make_error(ErrorKind::failure, "cannot open lock file {}: {}", lock_path.string(), errno_text(errno));
  }
  while (::flock(fd.get(), mode == LockMode::shared ? LOCK_SH : LOCK_EX) != 0) {
    if (errno != EINTR) {
      return make_error(ErrorKind::failure, "cannot lock {}: {}", lock_path.string(), errno_text(errno));
    }
  }
  return FileLock(std::move(fd));
}

Expected<std::optional<FileLock>> FileLock::try_acquire(const fs::path& lock_path, LockMode mode) {
  UniqueFd fd(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd.valid()) {
    return make_error(ErrorKind::failure, "cannot open lock file {}: {}", lock_path.string(), errno_text(errno));
  }
  while (::flock(fd.get(), (mode == LockMode::shared ? LOCK_SH : LOCK_EX) | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) return std::optional<FileLock>();
    if (errno != EINTR) {
      return make_error(ErrorKind::failure, "cannot lock {}: {}", lock_path.string(), errno_text(errno));
    }
  }
  return std::optional<FileLock>(FileLock(std::move(fd)));
}

}  // namespace dbsnap::util
