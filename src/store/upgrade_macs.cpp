// `dbsnap key upgrade`: giving the manifests of an encrypted store made
// before manifests carried a MAC their MAC, in place (FORMAT.md, "Manifest"
// and "Encryption").
//
// Why it is safe to do one manifest at a time: until the user's key object
// says `# manifests: hmac-sha256`, readers accept a manifest with or without
// a MAC (and check one that is there), so a store with some manifests
// rewritten and others not reads exactly as before. Order:
//   1. the repository lock, exclusively (no backup or restore of any host
//      meanwhile), and the store lock; the key objects checked (a key that
//      opens none, or one whose replacement would lock others out, stops
//      the run here, before anything changes);
//   2. each manifest without a MAC is rewritten, its JSON as it stands with
//      a "mac" added (every field kept), replacing the object atomically;
//   3. the user's key objects without the line are replaced by one with it
//      (keys.hpp, require_manifest_macs): written first, then the old ones
//      removed. From then on this user's dbsnap refuses manifests without a
//      valid MAC.
// A kill at any moment leaves a store that every key opens and every
// snapshot reads from; a second run skips what is done.
//
// What it cannot know: whether a manifest without a MAC was written by
// dbsnap or planted by whoever could write the store. It vouches for the
// manifests as they stand, and lists each one it gave a MAC.

#include <nlohmann/json.hpp>

#include "dbsnap/store/encrypted/keys.hpp"
#include "dbsnap/store/store.hpp"

namespace dbsnap::store {

Expected<ManifestMacUpgrade> Store::require_manifest_macs(const encrypted::UserKeys& user) {
  if (auto r = check_writable(); !r) return std::unexpected(r.error());
  Backend* inner = keys_backend();
  if (inner == nullptr) return make_error(ErrorKind::usage, "the store {} has no keys", location_);
  auto repository_lock = try_own_repository();
  if (!repository_lock) return std::unexpected(repository_lock.error());
  if (!*repository_lock) {
    return make_error(ErrorKind::busy, "a backup or restore is using the store {}; run the upgrade again when it "
                      "is done", location_);
  }
  auto lock = util::FileLock::acquire(root_ / lock_name);
  if (!lock) return std::unexpected(lock.error());

  // What would stop the key step stops the run before a manifest is touched.
  auto plan = encrypted::plan_manifest_macs(*inner, user);
  if (!plan) return std::unexpected(plan.error());

  ManifestMacUpgrade done;
  auto files = snapshot_files();
  if (!files) return std::unexpected(files.error());
  const std::string_view key = backend_->manifest_key();
  for (const auto& [target, names] : *files) {
    for (const auto& name : names) {
      if (!name.ends_with(".json")) continue;
      const std::string object = target + "/" + name;
      const std::string where = backend_->locate(object);
      auto text = read_object(*backend_, object, 1024 * 1024);
      if (!text) {
        if (text.error().kind == ErrorKind::not_found) continue;  // deleted meanwhile
        if (text.error().kind != ErrorKind::corrupt) return std::unexpected(text.error());
        done.refused.push_back(fmt::format("{}: {}", where, text.error().message));
        continue;
      }
      auto document = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
      if (document.is_object() && document.contains("mac")) {
        if (auto checked = parse_manifest(*text, key, MacPolicy::required); !checked) {
          done.refused.push_back(fmt::format("{}: {}", where, checked.error().message));
        } else {
          ++done.had;
        }
        continue;
      }
      auto manifest = document.is_discarded()
                          ? Expected<Manifest>(make_error(ErrorKind::corrupt, "manifest is not valid JSON"))
                          : manifest_from_json(document);
      if (!manifest) {
        done.refused.push_back(fmt::format("{}: {}", where, manifest.error().message));
        continue;
      }
      if (manifest->target != target || name != manifest->id + ".json") {
        done.refused.push_back(fmt::format("{}: its id or target does not match where it is", where));
        continue;
      }
      auto sealed = manifest_text(std::move(document), key);
      if (!sealed) return std::unexpected(sealed.error());
      if (auto r = write_object(*backend_, object, *sealed); !r) return std::unexpected(r.error());
      done.given.push_back(std::move(*manifest));
    }
  }
  auto keys = encrypted::require_manifest_macs(*inner, *plan);
  if (!keys) return std::unexpected(keys.error());
  done.keys = std::move(*keys);
  return done;
}

}  // namespace dbsnap::store
