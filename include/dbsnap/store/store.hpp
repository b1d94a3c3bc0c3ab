#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "dbsnap/store/backend.hpp"
#include "dbsnap/store/catalog.hpp"
#include "dbsnap/store/encrypted/keys.hpp"
#include "dbsnap/store/manifest.hpp"
#include "dbsnap/store/repo/check.hpp"
#include "dbsnap/store/repo/chunk_index.hpp"
#include "dbsnap/store/repo/chunk_list.hpp"
#include "dbsnap/store/repo/chunk_store.hpp"
#include "dbsnap/store/repo/gc.hpp"
#include "dbsnap/store/repo/lock_object.hpp"
#include "dbsnap/util/fs.hpp"

namespace dbsnap::store {

namespace fs = std::filesystem;

// The repository lock as one process holds it: a flock in the store's local
// folder (the processes of this host) and, for a store on a remote backend,
// a lock object in it (processes on other hosts; repo/lock_object.hpp).
struct RepositoryLock {
  util::FileLock local;
  std::optional<repo::LockObject> remote;
};

// A snapshot being written. Nothing of it is visible until
// Store::publish(); dropping it aborts what it wrote (packs already
// committed stay, unreferenced, until garbage collection).
struct PendingSnapshot {
  std::string id;
  std::string target;
  DataLayout layout = DataLayout::blob;
  // Blob layout: the caller compresses the dump into `blob`.
  std::string blob_file;  // the blob's file name in its target folder, "<id>.<kind>.zst"
  std::unique_ptr<ObjectWriter> blob;
  // Chunks layout: the raw dump goes into `chunks_in`. The shared repository
  // lock keeps garbage collection out from the first chunk looked up to the
  // publish: a chunk found in the index stays there (in a remote store a blob
  // backup holds it too: there garbage collection removes unpublished blobs).
  std::string chunk_list;  // "<id>.chunks"
  std::optional<RepositoryLock> repository_lock;
  std::unique_ptr<repo::ChunkStore> chunk_store;
  std::unique_ptr<repo::SnapshotWriter> chunks_in;
};

// What Store::check_repository() found.
struct RepositoryCheck {
  repo::PackCheck packs;
  // Every chunked snapshot of the store whose data is not sound: id -> why
  // (its chunk list does not read or match its manifest, a chunk it lists is
  // missing or damaged).
  std::map<std::string, std::string> affected;
  std::uint64_t snapshots = 0;            // chunked snapshots whose lists were checked
  std::uint64_t unreferenced_chunks = 0;  // chunks no snapshot lists (the next delete or prune reclaims them)
  std::uint64_t unreferenced_bytes = 0;
};

// What Store::collect_garbage() did: std::nullopt in `report` when it did
// not run because a backup or a restore was using the repository.
struct GarbageCollection {
  std::optional<repo::GcReport> report;
};

// What Store::require_manifest_macs() did (`dbsnap key upgrade`).
struct ManifestMacUpgrade {
  std::vector<Manifest> given;       // manifests given their MAC by this run
  std::size_t had = 0;               // manifests that carried a valid one already
  std::vector<std::string> refused;  // manifests left as they were, each with why (never restorable anyway)
  encrypted::KeyObjectsUpgrade keys;
};

// The snapshot store: a folder (0700) holding catalog.db and one folder per
// target with <id>.<kind>.zst blobs and <id>.json manifests (FORMAT.md).
// Opening it removes temp files and unpublished blobs that crashed or killed
// runs left behind.
//
// A store on a remote backend ("s3://BUCKET/PREFIX") keeps the same objects
// in the backend and the rest (catalog.db, index.db, target locks, move
// records, scratch files) in a local cache folder of this user
// (cache_folder()): both indexes are caches that every open reconciles with
// the backend's manifests and packs, so a new machine with only the bucket
// rebuilds them. Hosts keep out of each other's way with lock objects
// (RepositoryLock); what a killed run left unpublished there is removed by
// garbage collection, which holds the repository alone, not by an open,
// since another host may be publishing it.
enum class CatalogRecovery {
  fail,         // a damaged catalog.db is an error
  set_aside,    // a damaged catalog.db is renamed to catalog.db.damaged-<time> and a new one started
};

// Whether `latest` and `@REV` may pick a snapshot dbsnap took itself
// (Manifest::automatic). An id or id prefix names any snapshot.
enum class AutomaticSnapshots { exclude, include };

// What a command does with the store. A reader never creates a store, and
// works on one it cannot write (a read-only mount): its catalog is then read
// in SQLite's immutable mode, or indexed in memory from the manifests, and
// nothing is cleaned up.
enum class StoreAccess { write, read };

// The local folder of the store at a remote `location`: DBSNAP_CACHE_DIR,
// else $XDG_CACHE_HOME/dbsnap, else ~/.cache/dbsnap, then
// stores/<first 16 hex digits of the location's SHA-256>. Errors: `config`
// when none of those variables is set.
Expected<fs::path> cache_folder(std::string_view location);

class Store {
 public:
  // `keys`: what opens an encrypted store (store/encrypted/keys.hpp); given
  // for a new, empty store, they turn encryption on for it.
  static Expected<Store> open(const fs::path& root, CatalogRecovery recovery = CatalogRecovery::fail,
                              StoreAccess access = StoreAccess::write, const encrypted::UserKeys& keys = {});
  // False for a store opened for reading that this process cannot write.
  bool writable() const noexcept { return writable_; }

  // The store's local folder: the store itself, or a remote store's cache.
  const fs::path& root() const noexcept { return root_; }
  // The store as the user named it, for people: a folder, or "s3://bucket/prefix".
  const std::string& location() const noexcept { return location_; }
  // Whether the snapshots live on a remote backend (see above).
  bool remote() const noexcept { return remote_; }

  // Keys (store/encrypted/): whether the store is encrypted; whether it has
  // keys at all (encrypted, or authenticated in the clear); its key
  // objects' ids; a key object for more recipients (or a passphrase), which
  // returns its id; removing one (never the last). Errors: `usage` for a
  // store without keys, the backend's; remove_key: `not_found`, `refused`
  // for the last key.
  bool encrypted() const;
  bool keyed() const;
  Expected<std::vector<std::string>> key_ids() const;
  Expected<std::string> add_key(const crypto::age::Recipients& to);
  Expected<void> remove_key(const std::string& id);

  // `dbsnap key upgrade` for an encrypted store made before manifests
  // carried a MAC (store/upgrade_macs.cpp): every manifest without one is
  // given its MAC as it stands (the run vouches for the manifests the store
  // holds now), then the user's key objects are rewritten to require MACs
  // (keys.hpp, require_manifest_macs). Holds the repository lock
  // exclusively. A kill at any moment leaves a store every key still opens;
  // a second run finishes. Errors: `usage` for a store without keys, `busy`
  // when a backup or restore holds the repository, `refused` for a key
  // that opens no key object, the backend's.
  Expected<ManifestMacUpgrade> require_manifest_macs(const encrypted::UserKeys& user);

  // The snapshots the catalog (the store's own index) holds that match
  // `filter`, newest first; commands ask here, never the catalog itself.
  Expected<std::vector<Manifest>> find(const CatalogFilter& filter) const { return catalog_.find(filter); }
  // The targets that have snapshots, sorted.
  Expected<std::vector<std::string>> targets() const { return catalog_.targets(); }

  // How new snapshots are stored (the config's `snapshot_layout`; chunks
  // unless it says blob). Snapshots already stored are read whatever their
  // layout.
  void set_snapshot_layout(DataLayout layout) noexcept { layout_ = layout; }
  DataLayout snapshot_layout() const noexcept { return layout_; }

  // Starts a new snapshot of `target` in the store's snapshot layout;
  // `extension` is the blob's kind, e.g. "sql" or "sqlite"; `level` the zstd
  // level of chunk frames. `id`: the id to publish under (a copy keeps its
  // original's), empty for a new one. Errors: `config` for a target or id
  // that is not usable as a name, the backend's.
  Expected<PendingSnapshot> begin(const std::string& target, const std::string& extension, int level = 3,
                                  const std::string& id = {});

  // Publishes a finished snapshot, under the store lock: its data (the blob
  // fsynced and renamed into place, or the chunk list after its packs), then
  // the manifest, written atomically (the commit point), then the catalog
  // row in one transaction. A chunked snapshot's layout, chunk list and
  // sizes are filled in from what was written.
  Expected<void> publish(PendingSnapshot& pending, Manifest manifest);

  // Reads a snapshot's manifest file (the truth the catalog row indexes).
  Expected<Manifest> load_manifest(const Manifest& indexed) const;

  // Rewrites a snapshot's manifest and catalog row (status changes).
  Expected<void> update(const Manifest& manifest);

  // Deletes a snapshot: catalog row first, then manifest and blob.
  Expected<void> remove(const Manifest& manifest);

  // Recreates catalog.db from the manifests found in the store, atomically.
  // Returns the number of snapshots indexed; manifests that do not parse are
  // reported in `skipped`.
  Expected<std::size_t> rebuild_catalog(std::vector<std::string>& skipped);

  // Streams a snapshot's stored blob (the zstd frames as written; blob
  // layout only). Errors: `corrupt` naming the blob when it is missing, else
  // the backend's.
  Expected<std::unique_ptr<pipeline::Source>> open_blob(const Manifest& manifest) const;

  // Streams a chunked snapshot's dump (raw bytes), each chunk checked
  // against its SHA-256 as it is read. The chunk list must read and agree
  // with the manifest (size, SHA-256 of the dump and of the list) before a
  // byte flows. Holds the repository lock shared while the source lives, so
  // garbage collection never removes a chunk under a reader. Errors:
  // `corrupt` naming the list or chunk, the backend's.
  Expected<std::unique_ptr<pipeline::Source>> open_chunks(const Manifest& manifest) const;

  // Removes the chunks no snapshot lists any more (repo/gc.hpp), under the
  // store lock and the repository lock held exclusively. Does not wait: when
  // a backup or restore is using the repository, nothing is collected and
  // `report` is empty (the next prune collects). Errors: the backend's, the
  // index's; a chunk list that does not read (nothing is removed then).
  Expected<GarbageCollection> collect_garbage(const repo::GcOptions& options = {});

  // Stores a blob snapshot again as chunks, under the same id, with the same
  // metadata (store/convert.cpp). The blob is read checked against its
  // manifest (both sizes and SHA-256 sums); the chunk list is committed and
  // read back, every chunk checked, before the manifest is replaced (the
  // commit point: format 2, same id); only then is the blob deleted. A kill
  // at any moment leaves the snapshot whole in one layout or the other, and
  // the next open removes the other layout's leftover. Returns the new
  // manifest. Errors: `corrupt` when the blob does not match its manifest
  // (nothing changed), the backend's and the index's.
  Expected<Manifest> convert_to_chunks(const Manifest& snapshot);

  // Fills `pending` (a chunked snapshot begun in this store) with the
  // chunked `snapshot` of `from` by its chunk list, when both repositories
  // key chunk ids alike (both in the clear, or sealed to one key): the
  // chunks this repository holds are listed without a byte of them read,
  // the others are read from `from` (each checked against its id) and
  // stored (store/copy_chunks.cpp). Holds `from`'s repository lock shared
  // meanwhile. Returns false, having done nothing, when the ids are keyed
  // differently or either side is not chunked: the caller then streams the
  // dump. `progress` counts the dump's bytes as they are listed. Errors:
  // `corrupt` for a source list or chunk that does not check out,
  // `interrupted` on a signal, both stores'.
  Expected<bool> copy_chunks(const Store& from, const Manifest& snapshot, PendingSnapshot& pending,
                             pipeline::Progress* progress = nullptr);

  // Checks the whole repository (store/check.cpp): every pack read once and
  // every chunk in it checked, then every chunked snapshot's list against
  // its manifest and against what the packs hold. Holds the repository lock
  // shared. Damage is the report; errors are the backend's and the index's.
  Expected<RepositoryCheck> check_repository(pipeline::Progress* progress = nullptr) const;

  // The repository's chunk index totals: chunks and their stored bytes.
  Expected<std::pair<std::uint64_t, std::uint64_t>> chunk_totals() const;

  // Where a snapshot's data (blob or chunk list) and manifest live, for people (a file path).
  std::string blob_location(const Manifest& manifest) const;
  std::string manifest_location(const Manifest& manifest) const;

  // A private local folder for scratch files (e.g. SQLite's online copy):
  // .scratch/ in a store this process writes, else the system temp folder.
  Expected<fs::path> scratch_folder() const;

  // Resolves a snapshot reference: a full id, a unique id prefix, "latest"
  // (newest of `target`, or of the only target in the store), or "@REV"
  // (newest snapshot taken at revision REV, or at the one revision starting
  // with REV), automatic snapshots left out unless `automatic` includes
  // them. Unknown or ambiguous references are not_found errors that list the
  // candidates.
  Expected<Manifest> resolve(std::string_view reference, const std::string& target = {},
                             AutomaticSnapshots automatic = AutomaticSnapshots::exclude);

 private:
  Store(fs::path root, Catalog catalog, bool writable, std::unique_ptr<Backend> backend, std::string location,
        bool remote);
  static Expected<Store> open_unwritable(const fs::path& root, const encrypted::UserKeys& keys);
  static Expected<Store> open_remote(const std::string& location, CatalogRecovery recovery,
                                     const encrypted::UserKeys& keys);
  // Puts the encrypted backend over the plain one when the store is encrypted (or is made so).
  Expected<void> open_repository(const encrypted::UserKeys& keys, encrypted::NewStore new_store);
  // What open does once the local folder is locked and the catalog open.
  static Expected<Store> finish_open(Store store, std::optional<util::FileLock> lock, bool catalog_missing);
  // Every manifest that names its own folder and file and has its blob; the others are described in `skipped`.
  Expected<std::vector<Manifest>> collect_manifests(std::vector<std::string>& skipped) const;
  Expected<void> check_writable() const;
  // The backend under the keys of a store that has them (encrypted, or authenticated in the clear); else nullptr.
  Backend* keys_backend() const;
  Expected<void> remove_unpublished_blobs();
  Expected<void> reconcile_catalog();
  void report_symlinks() const;
  // The snapshot files of the store, by target folder, from the backend's
  // listing (a local store's: real files in real folders, never links), sorted.
  // `versions`, when given, gets each one's ObjectInfo::version by "<target>/<file>".
  Expected<std::map<std::string, std::vector<std::string>>> snapshot_files(
      std::map<std::string, std::string>* versions = nullptr) const;
  // A remote store's catalog rows brought up to date with the manifests
  // other hosts rewrote (status after a verify, pin, unpin): those whose
  // listed version differs from the one recorded in the cache's
  // manifest-versions file when this host last read them are read again
  // (but not those in `just_read`, read after the listing to index them).
  Expected<void> refresh_rewritten_manifests(const std::map<std::string, std::string>& versions,
                                             const std::set<std::string>& just_read);
  // The repository lock held shared (nothing to hold in a store this
  // process cannot write): while it lives, garbage collection keeps out.
  // For a remote store the chunk index is reconciled with the packs once
  // it is held (another host's garbage collection may have moved chunks).
  Expected<std::optional<RepositoryLock>> share_repository() const;
  // The repository lock held exclusively, or std::nullopt when a backup or
  // restore (of any host) holds it.
  Expected<std::optional<RepositoryLock>> try_own_repository();
  static repo::LockObjectOptions lock_object_options();
  // A chunked snapshot's list, read and checked against its manifest (the
  // list's SHA-256, the count, the dump's size and SHA-256). Errors:
  // `corrupt` naming the list when it is missing or does not match.
  Expected<repo::ChunkList> load_chunk_list(const Manifest& manifest) const;
  // The chunk index, opened on first use: index.db in a store this process
  // writes (rebuilt from the packs when it is missing), else in memory from
  // the packs' own indexes.
  Expected<repo::ChunkIndex*> chunk_index() const;
  // Object names: "<target>/<blob_file>" (or "<target>/<id>.chunks") and "<target>/<id>.json".
  static std::string blob_object(const Manifest& manifest);
  static std::string manifest_object(const Manifest& manifest);
  // Writes `manifest` as its object (with its MAC in an authenticated store).
  Expected<void> write_manifest(const Manifest& manifest);
  // The store's flock files (FORMAT.md, "Locks"): `.lock` around publish,
  // delete and rebuild; `.repository-lock` shared by chunked backups and
  // reads, exclusive for garbage collection.
  static constexpr const char* lock_name = ".lock";
  static constexpr const char* catalog_name = "catalog.db";
  static constexpr const char* index_name = "index.db";
  static constexpr const char* scratch_dir = ".scratch";
  static constexpr const char* repository_lock_name = ".repository-lock";
  static constexpr const char* manifest_versions_name = "manifest-versions";
  fs::path root_;
  Catalog catalog_;
  bool writable_ = true;
  // The snapshots' blobs and manifests; catalog.db, locks and scratch files stay local to root_.
  std::unique_ptr<Backend> backend_;
  std::string location_;
  bool remote_ = false;
  DataLayout layout_ = DataLayout::chunks;
  mutable std::optional<repo::ChunkIndex> index_;
};

}  // namespace dbsnap::store
