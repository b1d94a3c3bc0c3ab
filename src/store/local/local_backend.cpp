#include "dbsnap/store/local/local_backend.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "dbsnap/util/fs.hpp"
#include "dbsnap/util/error.hpp"
#include "dbsnap/util/interrupt.hpp"

namespace dbsnap::store::local {

namespace fs = std::filesystem;

namespace {

std::string errno_message(int error) { return std::strerror(error); }

// Publishes through util::AtomicFile (temp file in the object's folder, fsync, rename, fsync folder).
class LocalWriter final : public ObjectWriter {
 public:
  LocalWriter(util::AtomicFile file, IfExists if_exists, std::string shown)
      : file_(std::move(file)), sink_(file_.fd(), shown), if_exists_(if_exists), shown_(std::move(shown)) {}

  // Through FdSink: a signal while blocked is an `interrupted` error, a full disk names the object.
  Expected<void> write(pipeline::Bytes data) override {
    if (committed_) return make_error(ErrorKind::failure, "{} was already committed", shown_);
    return sink_.write(data);
  }
  Expected<void> finish() override { return {}; }
  Expected<void> commit() override {
    if (committed_) return make_error(ErrorKind::failure, "{} was already committed", shown_);
    const auto existing =
        if_exists_ == IfExists::fail ? util::AtomicFile::Existing::keep : util::AtomicFile::Existing::replace;
    if (auto r = file_.commit(existing); !r) {
      std::error_code ec;
      if (if_exists_ == IfExists::fail && fs::exists(file_.final_path(), ec)) {
        return make_error(ErrorKind::refused, "{} exists already; it was left as it is", shown_);
      }
      return r;
    }
    committed_ = true;
    return {};
  }

 private:
  util::AtomicFile file_;
  pipeline::FdSink sink_;
  IfExists if_exists_;
  std::string shown_;
  bool committed_ = false;
};

// Reads [offset, offset + length) of an open file it owns, with pread.
class RangeSource final : public pipeline::Source {
 public:
  RangeSource(util::UniqueFd fd, std::uint64_t offset, std::uint64_t length, std::string shown)
      : fd_(std::move(fd)), position_(offset), left_(length), shown_(std::move(shown)) {}

  Expected<std::size_t> read(pipeline::MutableBytes buffer) override {
    if (left_ == 0 || buffer.empty()) return std::size_t{0};
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), left_));
    for (;;) {
      const ssize_t n = ::pread(fd_.get(), buffer.data(), want, static_cast<off_t>(position_));
      if (n < 0 && errno == EINTR) {
        if (util::interrupt_signal() != 0) return make_error(ErrorKind::interrupted, "interrupted reading {}", shown_);
        continue;
      }
      if (n < 0) return make_error(ErrorKind::failure, "cannot read {}: {}", shown_, errno_message(errno));
      if (n == 0) {
        return make_error(ErrorKind::corrupt, "{} ended {} bytes early (it shrank while it was read)", shown_, left_);
      }
      position_ += static_cast<std::uint64_t>(n);
      left_ -= static_cast<std::uint64_t>(n);
      return static_cast<std::size_t>(n);
    }
  }

 private:
  util::UniqueFd fd_;
  std::uint64_t position_;
  std::uint64_t left_;
  std::string shown_;
};

// Appends the objects under `dir` (whose name prefix is `base`, "" or "a/b/")
// that start with `prefix`, never following links or entering '.' folders.
Expected<void> walk(const fs::path& dir, const std::string& base, std::string_view prefix,
                    std::vector<ObjectInfo>& out) {
  DIR* handle = ::opendir(dir.c_str());
  if (handle == nullptr) {
    if (errno == ENOENT) return {};
    return make_error(ErrorKind::failure, "cannot list {}: {}", dir.string(), errno_message(errno));
  }
  std::vector<std::pair<std::string, bool>> entries;  // name, is folder
  std::vector<ObjectInfo> files;
  while (dirent* entry = ::readdir(handle)) {
    const std::string name = entry->d_name;
    if (name.empty() || name.front() == '.') continue;
    struct stat st {};
    if (::fstatat(::dirfd(handle), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;  // gone meanwhile
    const std::string full = base + name;
    if (S_ISDIR(st.st_mode)) {
      const std::string as_folder = full + "/";
      // Enter only folders that can hold a match.
      if (as_folder.starts_with(prefix) || std::string_view(prefix).starts_with(as_folder)) {
        entries.emplace_back(name, true);
      }
    } else if (S_ISREG(st.st_mode) && full.starts_with(prefix) && check_object_name(full)) {
      out.push_back({full, static_cast<std::uint64_t>(st.st_size),
                     fmt::format("{}-{}.{:09}-{}", st.st_ino, st.st_mtim.tv_sec, st.st_mtim.tv_nsec, st.st_size)});
    }
  }
  ::closedir(handle);
  for (const auto& [name, folder] : entries) {
    if (auto r = walk(dir / name, base + name + "/", prefix, out); !r) return r;
  }
  return {};
}

}  // namespace

std::string LocalBackend::locate(std::string_view name) const { return (root_ / std::string(name)).string(); }

Expected<fs::path> LocalBackend::folder_of(std::string_view name, Folders folders) const {
  if (auto r = check_object_name(name); !r) return std::unexpected(r.error());
  if (folders == Folders::create) {
    if (auto r = util::ensure_private_dir(root_); !r) return std::unexpected(r.error());
  }
  fs::path folder = root_;
  std::string_view rest = name;
  for (auto slash = rest.find('/'); slash != std::string_view::npos; slash = rest.find('/')) {
    folder /= std::string(rest.substr(0, slash));
    rest.remove_prefix(slash + 1);
    struct stat st {};
    if (::lstat(folder.c_str(), &st) != 0) {
      if (errno == ENOENT && folders == Folders::create) {
        if (::mkdir(folder.c_str(), 0700) == 0 || errno == EEXIST) {
          if (::lstat(folder.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) continue;
        }
        return make_error(ErrorKind::failure, "cannot create folder {}: {}", folder.string(), errno_message(errno));
      }
      if (errno == ENOENT || errno == ENOTDIR) {
        return make_error(ErrorKind::not_found, "{} does not exist", locate(name));
      }
      return make_error(ErrorKind::failure, "cannot read {}: {}", folder.string(), errno_message(errno));
    }
    if (S_ISLNK(st.st_mode)) {
      return make_error(ErrorKind::failure, "{} is a symbolic link; links in a store are never followed",
                        folder.string());
    }
    if (!S_ISDIR(st.st_mode)) return make_error(ErrorKind::not_found, "{} does not exist", locate(name));
  }
  return folder;
}

Expected<void> LocalBackend::check_writable(std::string_view name) const {
  if (access_ == BackendAccess::write) return {};
  return make_error(ErrorKind::failure, "cannot write {}: the store {} is opened for reading only", locate(name),
                    root_.string());
}

Expected<std::unique_ptr<ObjectWriter>> LocalBackend::create(std::string_view name, IfExists if_exists) {
  if (auto r = check_object_name(name); !r) return std::unexpected(r.error());
  if (auto r = check_writable(name); !r) return std::unexpected(r.error());
  auto folder = folder_of(name, Folders::create);
  if (!folder) return std::unexpected(folder.error());
  const fs::path path = *folder / fs::path(std::string(name)).filename();
  auto file = util::AtomicFile::create(path);
  if (!file) return std::unexpected(file.error());
  return std::make_unique<LocalWriter>(std::move(*file), if_exists, path.string());
}

Expected<std::unique_ptr<pipeline::Source>> LocalBackend::open(std::string_view name, std::uint64_t offset,
                                                               std::optional<std::uint64_t> length) const {
  auto folder = folder_of(name, Folders::must_exist);
  if (!folder) return std::unexpected(folder.error());
  const fs::path path = *folder / fs::path(std::string(name)).filename();
  util::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return make_error(ErrorKind::not_found, "{} does not exist", path.string());
    if (errno == ELOOP) {
      return make_error(ErrorKind::failure, "{} is a symbolic link; links in a store are never followed",
                        path.string());
    }
    return make_error(ErrorKind::failure, "cannot open {}: {}", path.string(), errno_message(errno));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return make_error(ErrorKind::failure, "cannot read {}: {}", path.string(), errno_message(errno));
  }
  if (!S_ISREG(st.st_mode)) return make_error(ErrorKind::not_found, "{} is not a file", path.string());
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (offset > size || (length && *length > size - offset)) {
    return make_error(ErrorKind::corrupt, "{} is {} bytes; bytes {}-{} were asked for", path.string(), size, offset,
                      length ? offset + *length : size);
  }
  return std::make_unique<RangeSource>(std::move(fd), offset, length ? *length : size - offset, path.string());
}

Expected<ObjectInfo> LocalBackend::stat(std::string_view name) const {
  auto folder = folder_of(name, Folders::must_exist);
  if (!folder) return std::unexpected(folder.error());
  const fs::path path = *folder / fs::path(std::string(name)).filename();
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return make_error(ErrorKind::not_found, "{} does not exist", path.string());
    return make_error(ErrorKind::failure, "cannot read {}: {}", path.string(), errno_message(errno));
  }
  if (S_ISLNK(st.st_mode)) {
    return make_error(ErrorKind::failure, "{} is a symbolic link; links in a store are never followed",
                      path.string());
  }
  if (!S_ISREG(st.st_mode)) return make_error(ErrorKind::not_found, "{} is not a file", path.string());
  return ObjectInfo{std::string(name), static_cast<std::uint64_t>(st.st_size)};
}

Expected<std::vector<ObjectInfo>> LocalBackend::list(std::string_view prefix) const {
  std::vector<ObjectInfo> out;
  if (auto r = walk(root_, "", prefix, out); !r) return std::unexpected(r.error());
  std::sort(out.begin(), out.end(), [](const ObjectInfo& a, const ObjectInfo& b) { return a.name < b.name; });
  return out;
}

Expected<void> LocalBackend::remove(std::string_view name) {
  if (auto r = check_writable(name); !r) return r;
  auto info = stat(name);
  if (!info) return std::unexpected(info.error());
  auto folder = folder_of(name, Folders::must_exist);
  if (!folder) return std::unexpected(folder.error());
  const fs::path path = *folder / fs::path(std::string(name)).filename();
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT) return make_error(ErrorKind::not_found, "{} does not exist", path.string());
    return make_error(ErrorKind::failure, "cannot remove {}: {}", path.string(), errno_message(errno));
  }
  return util::fsync_dir(*folder);
}

Expected<std::unique_ptr<Backend>> open_local_backend(std::string_view path, BackendAccess access) {
  if (path.empty()) return make_error(ErrorKind::config, "the store location is empty");
  return std::make_unique<LocalBackend>(fs::absolute(fs::path(std::string(path))).lexically_normal(), access);
}

}  // namespace dbsnap::store::local
