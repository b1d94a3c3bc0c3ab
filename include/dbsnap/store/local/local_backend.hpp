#pragma once

// The local-folder backend ("file://", or a plain path).
//
// Object "a/b/c" is the file <root>/a/b/c. A writer writes a flocked,
// 0600 temp file (".c.<random>.dbsnap-tmp") in the object's folder; commit()
// fsyncs it, renames it onto the name (the commit point) and fsyncs the
// folder. A writer that dies leaves only its temp file, which list() never
// shows and util::remove_stale_temp_files() removes once no process holds
// it. Folders are made 0700 as needed. No symbolic link below the root is
// ever followed: every access checks each folder on the way (lstat) and
// opens the file itself with O_NOFOLLOW; list() skips links.

#include <filesystem>
#include <memory>

#include "dbsnap/store/backend.hpp"

namespace dbsnap::store::local {

class LocalBackend final : public Backend {
 public:
  LocalBackend(std::filesystem::path root, BackendAccess access) : root_(std::move(root)), access_(access) {}

  std::string_view scheme() const override { return "file"; }
  std::string locate(std::string_view name) const override;
  Expected<std::unique_ptr<ObjectWriter>> create(std::string_view name, IfExists if_exists) override;
  Expected<std::unique_ptr<pipeline::Source>> open(std::string_view name, std::uint64_t offset,
                                                   std::optional<std::uint64_t> length) const override;
  Expected<ObjectInfo> stat(std::string_view name) const override;
  Expected<std::vector<ObjectInfo>> list(std::string_view prefix) const override;
  Expected<void> remove(std::string_view name) override;

  const std::filesystem::path& root() const noexcept { return root_; }

 private:
  enum class Folders { must_exist, create };
  // The folder holding object `name`, each component checked to be a real
  // folder (made 0700 when `folders` says create). Errors: `not_found` when
  // one is missing, `failure` for a symbolic link or I/O.
  Expected<std::filesystem::path> folder_of(std::string_view name, Folders folders) const;
  Expected<void> check_writable(std::string_view name) const;

  std::filesystem::path root_;
  BackendAccess access_;
};

// Registry entry: opens a LocalBackend at `path` (made absolute). The folder
// need not exist yet: a writer creates it, a reader sees no objects.
Expected<std::unique_ptr<Backend>> open_local_backend(std::string_view path, BackendAccess access);

}  // namespace dbsnap::store::local
