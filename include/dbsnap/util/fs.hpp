#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "dbsnap/util/error.hpp"

namespace dbsnap::util {

namespace fs = std::filesystem;

// An open file descriptor that is closed when the object dies.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) noexcept : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd();

  int get() const noexcept { return fd_; }
  bool valid() const noexcept { return fd_ >= 0; }
  int release() noexcept { return std::exchange(fd_, -1); }
  // Closes the descriptor, reporting the close error (which can carry a
  // deferred write error on some file systems).
  Expected<void> close();

 private:
  int fd_ = -1;
};

// Creates a directory and its parents with mode 0700 where they do not exist.
Expected<void> ensure_private_dir(const fs::path& dir);

// Flushes a directory entry table to disk so that a rename inside it survives a crash.
Expected<void> fsync_dir(const fs::path& dir);

// Flushes a file's data and metadata to disk.
Expected<void> fsync_fd(int fd, const fs::path& for_message);

// A file written under a temporary name in its final directory and renamed
// into place only by commit(). Dropping it without commit() deletes the
// temporary file: a destructor never publishes anything. The temp file is
// 0600 and holds an exclusive flock, so a cleanup pass can tell live temp
// files (locked) from ones left by a crashed process (unlocked).
class AtomicFile {
 public:
  static Expected<AtomicFile> create(const fs::path& final_path);
  AtomicFile(AtomicFile&&) noexcept;
  AtomicFile& operator=(AtomicFile&&) = delete;
  ~AtomicFile();

  int fd() const noexcept { return fd_.get(); }
  const fs::path& temp_path() const noexcept { return temp_path_; }
  const fs::path& final_path() const noexcept { return final_path_; }
  // Whether commit() may replace a file already at the final path.
  enum class Existing { replace, keep };
  // fsyncs the data, renames over the final path and fsyncs the directory.
  // With Existing::keep a file that appeared at the final path meanwhile is
  // never replaced (renameat2 RENAME_NOREPLACE): an error, the temp file kept
  // for the destructor to remove.
  Expected<void> commit(Existing existing = Existing::replace);

 private:
  AtomicFile(UniqueFd fd, fs::path temp_path, fs::path final_path);
  UniqueFd fd_;
  fs::path temp_path_;
  fs::path final_path_;
  bool committed_ = false;
};

// The suffix every temp file made by AtomicFile or make_private_temp carries.
inline constexpr std::string_view temp_marker = ".dbsnap-tmp";

// Creates a new private (0600), flocked temp file in `dir` whose name starts
// with `stem` and carries temp_marker; the caller removes it.
Expected<std::pair<UniqueFd, fs::path>> make_private_temp(const fs::path& dir, std::string_view stem);

// Removes temp files under `dir` (recursively) that no live process holds a
// lock on: leftovers of a crash or a kill. Returns how many it removed.
std::size_t remove_stale_temp_files(const fs::path& dir);

// The same for the files directly in `dir` whose names start with `prefix`
// (for temp files kept beside a user's files, e.g. a database's folder).
std::size_t remove_stale_temp_files(const fs::path& dir, std::string_view prefix);

// Writes a whole small file atomically (temp, fsync, rename, fsync dir), mode 0600.
Expected<void> write_file_atomic(const fs::path& path, std::string_view content);

// Reads a whole small file.
Expected<std::string> read_small_file(const fs::path& path);

// Writes all of `data` to `fd`, retrying on EINTR and short writes.
Expected<void> write_all(int fd, const void* data, std::size_t size);

// Bytes available to an unprivileged user on the file system holding `path`.
Expected<std::uint64_t> free_space(const fs::path& path);

// An exclusive advisory lock on a lock file, released when the object dies.
// flock(2)'s two modes: many holders of `shared`, or one of `exclusive`.
enum class LockMode { exclusive, shared };

class FileLock {
 public:
  // Blocks until the lock is held.
  static Expected<FileLock> acquire(const fs::path& lock_path, LockMode mode = LockMode::exclusive);
  // Takes the lock if nobody holds it in a conflicting mode; std::nullopt
  // when somebody does. Errors: the lock file cannot be opened or locked.
  static Expected<std::optional<FileLock>> try_acquire(const fs::path& lock_path, LockMode mode);
  FileLock(FileLock&&) noexcept = default;
  ~FileLock() = default;

 private:
  explicit FileLock(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

}  // namespace dbsnap::util
