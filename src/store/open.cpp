// Opening a store: a local folder (locked, private, cleaned of what killed
// runs left, its catalog reconciled with the manifests) or a remote
// location, whose local cache folder (cache_folder()) holds the catalog,
// the chunk index, locks and scratch files; what is read from the store's
// listing (snapshot_files) for both.

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>

#include <sys/stat.h>
#include <unistd.h>

#include "dbsnap/pipeline/sha256.hpp"
#include "dbsnap/store/backend.hpp"
#include "dbsnap/store/encrypted/authenticated_backend.hpp"
#include "dbsnap/store/encrypted/keys.hpp"
#include "dbsnap/store/ids.hpp"
#include "dbsnap/store/local/local_backend.hpp"
#include "dbsnap/store/store.hpp"
#include "dbsnap/util/text.hpp"

namespace dbsnap::store {

namespace {

// Dumps are secrets: the store folder is 0700 (FORMAT.md). A folder the user
// made with a wider mode is narrowed when it is ours; otherwise a warning says so.
void keep_private(const fs::path& root) {
  struct stat st {};
  if (::stat(root.c_str(), &st) != 0 || (st.st_mode & 077) == 0) return;
  const bool ours = st.st_uid == ::geteuid() && (st.st_mode & S_ISVTX) == 0;
  if (ours && ::chmod(root.c_str(), 0700) == 0) return;
  std::fprintf(stderr, "dbsnap: warning: the store folder %s has mode %04o: other users can see into it; dumps are "
               "secrets: use a folder only you can read (chmod 700)\n", root.c_str(),
               static_cast<unsigned>(st.st_mode & 07777));
}

}  // namespace

Store::Store(fs::path root, Catalog catalog, bool writable, std::unique_ptr<Backend> backend, std::string location,
             bool remote)
    : root_(std::move(root)),
      catalog_(std::move(catalog)),
      writable_(writable),
      backend_(backend ? std::move(backend)
                       : std::make_unique<local::LocalBackend>(root_, writable ? BackendAccess::write
                                                                               : BackendAccess::read)),
      location_(location.empty() ? root_.string() : std::move(location)),
      remote_(remote) {}

namespace {

// The folder a store location names: a path, or file:///path; std::nullopt
// for any other scheme ("s3://bucket/prefix"), a remote store.
std::optional<fs::path> local_root(const fs::path& location) {
  const std::string text = location.string();
  const auto sep = text.find("://");
  if (sep == std::string::npos || !has_scheme(text)) return location;
  if (text.substr(0, sep) == "file") return fs::path(text.substr(sep + 3));
  return std::nullopt;
}

// Opens the catalog at `path`, setting a damaged one aside when asked.
Expected<Catalog> open_catalog(const fs::path& path, CatalogRecovery recovery) {
  auto catalog = Catalog::open(path);
  // Only a damaged catalog is set aside: one from a newer dbsnap, or one that cannot be written, stays as it is.
  if (recovery == CatalogRecovery::set_aside && Catalog::looks_damaged(path)) {
    catalog = std::unexpected(Error{});  // close it before the rename
    const std::string aside = fmt::format("{}.damaged-{}", path.string(), util::now_ms().time_since_epoch().count());
    for (const char* suffix : {"", "-wal", "-shm"}) {
      std::error_code ec;
      fs::rename(path.string() + suffix, aside + suffix, ec);
    }
    catalog = Catalog::open(path);
  }
  return catalog;
}

}  // namespace

Expected<fs::path> cache_folder(std::string_view location) {
  fs::path base;
  if (const char* env = std::getenv("DBSNAP_CACHE_DIR"); env && *env) {
    base = env;
  } else if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) {
    base = fs::path(xdg) / "dbsnap";
  } else if (const char* home = std::getenv("HOME"); home && *home) {
    base = fs::path(home) / ".cache" / "dbsnap";
  } else {
    return make_error(ErrorKind::config, "store '{}': no folder for its local cache (catalog, index, locks): set "
                      "DBSNAP_CACHE_DIR or HOME", util::printable(location));
  }
  auto digest = pipeline::sha256_hex(
      pipeline::Bytes(reinterpret_cast<const std::byte*>(location.data()), location.size()));
  if (!digest) return std::unexpected(digest.error());
  return (fs::absolute(base) / "stores" / digest->substr(0, 16)).lexically_normal();
}

Expected<Store> Store::open_remote(const std::string& location, CatalogRecovery recovery,
                                  const encrypted::UserKeys& keys) {
  auto backend = open_backend(location, BackendAccess::write);
  if (!backend) return std::unexpected(backend.error());
  auto cache = cache_folder(location);
  if (!cache) return std::unexpected(cache.error());
  if (auto r = util::ensure_private_dir(*cache); !r) return std::unexpected(r.error());
  // For people who find the folder: which store it caches.
  if (std::error_code ec; !fs::exists(*cache / "location", ec)) {
    if (auto r = util::write_file_atomic(*cache / "location", location + "\n"); !r) return std::unexpected(r.error());
  }
  auto acquired = util::FileLock::acquire(*cache / lock_name);
  if (!acquired) return std::unexpected(acquired.error());
  std::error_code missing_ec;
  const bool catalog_missing = !fs::exists(*cache / catalog_name, missing_ec);
  auto catalog = open_catalog(*cache / catalog_name, recovery);
  if (!catalog) return std::unexpected(catalog.error());
  util::remove_stale_temp_files(*cache);
  Store store(*cache, std::move(*catalog), true, std::move(*backend), location, true);
  if (auto r = store.open_repository(keys, encrypted::NewStore::may_encrypt); !r) return std::unexpected(r.error());
  return finish_open(std::move(store), std::move(*acquired), catalog_missing);
}

Expected<Store> Store::open(const fs::path& root_in, CatalogRecovery recovery, StoreAccess access,
                            const encrypted::UserKeys& keys) {
  auto local = local_root(root_in);
  if (!local) return open_remote(root_in.string(), recovery, keys);
  fs::path root = fs::absolute(*local).lexically_normal();
  if (access == StoreAccess::read) {
    std::error_code ec;
    const fs::path catalog = root / catalog_name;
    const bool usable = fs::is_directory(root, ec) && ::access(root.c_str(), W_OK | X_OK) == 0 &&
                        (!fs::exists(catalog, ec) || ::access(catalog.c_str(), W_OK) == 0);
    if (!usable) return open_unwritable(root, keys);
  }
  if (auto r = util::ensure_private_dir(root); !r) return std::unexpected(r.error());
  if (std::error_code ec; !fs::is_directory(root, ec)) {
    return make_error(ErrorKind::failure, "the store {} is not a folder (--store chooses another)", root.string());
  }
  if (::access(root.c_str(), W_OK | X_OK) != 0) {
    return make_error(ErrorKind::failure, "cannot write to the store folder {} ({}); dbsnap keeps its lock, catalog "
                      "and snapshots there (--store chooses another)", root.string(), std::strerror(errno));
  }
  auto acquired = util::FileLock::acquire(root / lock_name);
  if (!acquired) return std::unexpected(acquired.error());
  std::error_code missing_ec;
  const bool catalog_missing = !fs::exists(root / catalog_name, missing_ec);
  auto catalog = open_catalog(root / catalog_name, recovery);
  if (!catalog) return std::unexpected(catalog.error());
  Store store(root, std::move(*catalog), true, nullptr, {}, false);
  keep_private(root);
  store.report_symlinks();
  util::remove_stale_temp_files(root);
  if (auto r = store.open_repository(keys, encrypted::NewStore::may_encrypt); !r) return std::unexpected(r.error());
  // Under the store lock: no publish of this host is between its data and its manifest.
  if (auto r = store.remove_unpublished_blobs(); !r) return std::unexpected(r.error());
  return finish_open(std::move(store), std::move(*acquired), catalog_missing);
}

Expected<Store> Store::finish_open(Store store, std::optional<util::FileLock> lock, bool catalog_missing) {
  if (!catalog_missing) {
    if (auto r = store.reconcile_catalog(); !r) return std::unexpected(r.error());
    return store;
  }
  auto files = store.snapshot_files();
  if (!files) return std::unexpected(files.error());
  const bool has_manifests = std::ranges::any_of(*files, [](const auto& entry) {
    return std::ranges::any_of(entry.second, [](const std::string& f) { return f.ends_with(".json"); });
  });
  if (has_manifests) {
    lock.reset();  // rebuild_catalog takes the lock itself
    std::vector<std::string> skipped;
    auto count = store.rebuild_catalog(skipped);
    if (!count) return std::unexpected(count.error());
    std::fprintf(stderr, "dbsnap: %s was missing; rebuilt it from %zu manifest(s)%s\n",
                 (store.root_ / catalog_name).c_str(), *count,
                 store.remote_ ? fmt::format(" in {}", util::printable(store.location_)).c_str() : "");
  }
  return store;
}

Expected<void> Store::open_repository(const encrypted::UserKeys& keys, encrypted::NewStore new_store) {
  auto opened = encrypted::open_repository(std::move(backend_), keys, new_store);
  if (!opened) return std::unexpected(opened.error());
  backend_ = std::move(*opened);
  return {};
}

bool Store::encrypted() const { return dynamic_cast<const encrypted::EncryptedBackend*>(backend_.get()) != nullptr; }

namespace {

// The backend under the keys of a store that has them (encrypted, or
// authenticated in the clear), with the repository's key; {nullptr, nullptr} otherwise.
std::pair<Backend*, const encrypted::RepositoryKey*> keyed_backend(Backend* backend) {
  if (auto* crypt = dynamic_cast<encrypted::EncryptedBackend*>(backend)) return {&crypt->inner(), &crypt->key()};
  if (auto* auth = dynamic_cast<encrypted::AuthenticatedBackend*>(backend)) return {&auth->inner(), &auth->key()};
  return {nullptr, nullptr};
}

}  // namespace

bool Store::keyed() const { return keyed_backend(backend_.get()).first != nullptr; }

Backend* Store::keys_backend() const { return keyed_backend(backend_.get()).first; }

Expected<std::vector<std::string>> Store::key_ids() const {
  auto [inner, key] = keyed_backend(backend_.get());  // only listed: const in effect
  if (inner == nullptr) return make_error(ErrorKind::usage, "the store {} has no keys", location_);
  return encrypted::list_keys(*inner);
}

Expected<std::string> Store::add_key(const crypto::age::Recipients& to) {
  if (auto r = check_writable(); !r) return std::unexpected(r.error());
  auto [inner, key] = keyed_backend(backend_.get());
  if (inner == nullptr) return make_error(ErrorKind::usage, "the store {} has no keys", location_);
  return encrypted::add_key(*inner, *key, to);
}

Expected<void> Store::remove_key(const std::string& id) {
  if (auto r = check_writable(); !r) return std::unexpected(r.error());
  auto [inner, key] = keyed_backend(backend_.get());
  if (inner == nullptr) return make_error(ErrorKind::usage, "the store {} has no keys", location_);
  auto lock = util::FileLock::acquire(root_ / lock_name);
  if (!lock) return std::unexpected(lock.error());
  return encrypted::remove_key(*inner, id);
}

Expected<std::map<std::string, std::vector<std::string>>> Store::snapshot_files(
    std::map<std::string, std::string>* versions) const {
  auto listed = backend_->list();
  if (!listed) return std::unexpected(listed.error());
  std::map<std::string, std::vector<std::string>> files;
  for (const auto& object : *listed) {
    const auto slash = object.name.find('/');
    if (slash == std::string::npos || object.name.find('/', slash + 1) != std::string::npos) continue;
    const std::string target = object.name.substr(0, slash);
    if (!is_valid_target_name(target)) continue;
    files[target].push_back(object.name.substr(slash + 1));
    if (versions) (*versions)[object.name] = object.version;
  }
  return files;  // the listing is sorted, and so each folder's names
}

void Store::report_symlinks() const {
  if (remote_) return;
  auto report = [](const fs::path& link) {
    std::error_code ec;
    const fs::path to = fs::read_symlink(link, ec);
    std::fprintf(stderr, "dbsnap: warning: %s is a symbolic link (to %s); dbsnap never follows links in its store: "
                 "it is not read, cleaned or indexed\n", link.c_str(), ec ? "?" : to.c_str());
  };
  std::error_code ec;
  std::vector<fs::path> dirs;
  for (const auto& entry : fs::directory_iterator(root_, ec)) {
    std::error_code st;
    const auto type = entry.symlink_status(st).type();
    if (type == fs::file_type::symlink) report(entry.path());
    if (type == fs::file_type::directory && !entry.path().filename().string().starts_with(".")) {
      dirs.push_back(entry.path());
    }
  }
  for (const auto& dir : dirs) {
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      std::error_code st;
      if (entry.symlink_status(st).type() == fs::file_type::symlink) report(entry.path());
    }
  }
}

Expected<Store> Store::open_unwritable(const fs::path& root, const encrypted::UserKeys& keys) {
  std::error_code ec;
  if (!fs::exists(root, ec)) {
    auto empty = Catalog::in_memory();  // nothing there, and a reader creates nothing
    if (!empty) return std::unexpected(empty.error());
    return Store(root, std::move(*empty), false, nullptr, {}, false);
  }
  if (!fs::is_directory(root, ec)) {
    return make_error(ErrorKind::failure, "the store {} is not a folder (--store chooses another)", root.string());
  }
  if (fs::exists(root / catalog_name, ec)) {
    auto catalog = Catalog::open_read_only(root / catalog_name);
    if (!catalog) return std::unexpected(catalog.error());
    Store store(root, std::move(*catalog), false, nullptr, {}, false);
    store.report_symlinks();
    if (auto r = store.open_repository(keys, encrypted::NewStore::leave); !r) return std::unexpected(r.error());
    return store;
  }
  auto catalog = Catalog::in_memory();
  if (!catalog) return std::unexpected(catalog.error());
  Store store(root, std::move(*catalog), false, nullptr, {}, false);
  store.report_symlinks();
  if (auto r = store.open_repository(keys, encrypted::NewStore::leave); !r) return std::unexpected(r.error());
  std::vector<std::string> skipped;
  auto manifests = store.collect_manifests(skipped);
  if (!manifests) return std::unexpected(manifests.error());
  if (auto r = store.catalog_.replace_all(*manifests); !r) return std::unexpected(r.error());
  return store;
}

}  // namespace dbsnap::store
