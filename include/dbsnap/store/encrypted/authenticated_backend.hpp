#pragma once

// An authenticated repository in the clear: a Backend over another one that
// stores every object as it is (packs open with `zstd -dc`, manifests are
// plain JSON) but holds the repository's key (keys.hpp), so that nobody who
// can only write the bucket can make dbsnap restore data of their choosing.
//
// Why a MAC on the manifest is enough: a manifest names its dump's SHA-256
// and its chunk list's (`raw_sha256`, `list_sha256`, or a blob's `sha256`),
// a chunk list names its chunks by SHA-256, and every reader checks each of
// these before it gives a byte on. The manifest is the only object whose
// content nothing else vouches for: anyone could write one naming data of
// their own with matching checksums. Here every manifest carries an
// HMAC-SHA-256 under a key derived from the repository's secret chunk key
// (manifest_key(), FORMAT.md "Manifest"), and a manifest without a valid one
// is refused as damaged. Chunk ids stay plain SHA-256, as in any clear
// store: a copy between clear stores still goes by the chunk list.
//
// Which objects this adds nothing to: `config`, `keys/` and lock objects,
// read through the inner backend like an encrypted store's.

#include <memory>
#include <string>

#include "dbsnap/store/backend.hpp"
#include "dbsnap/store/encrypted/encrypted_backend.hpp"

namespace dbsnap::store::encrypted {

// The manifest key of a repository whose secret chunk key is `chunk_key`.
Expected<std::string> derive_manifest_key(std::string_view chunk_key);

class AuthenticatedBackend final : public Backend {
 public:
  // The backend over `inner` for the repository whose key is `key` (its
  // manifest key derived when the key object did not say so: a store in the
  // clear with keys always authenticates its manifests). Errors: OpenSSL's.
  static Expected<std::unique_ptr<Backend>> create(std::unique_ptr<Backend> inner, RepositoryKey key);

  std::string_view scheme() const override { return inner_->scheme(); }
  std::string locate(std::string_view name) const override { return inner_->locate(name); }
  Expected<std::unique_ptr<ObjectWriter>> create(std::string_view name,
                                                 IfExists if_exists = IfExists::replace) override {
    return inner_->create(name, if_exists);
  }
  Expected<std::unique_ptr<pipeline::Source>> open(std::string_view name, std::uint64_t offset = 0,
                                                   std::optional<std::uint64_t> length = {}) const override {
    return inner_->open(name, offset, length);
  }
  Expected<ObjectInfo> stat(std::string_view name) const override { return inner_->stat(name); }
  Expected<std::vector<ObjectInfo>> list(std::string_view prefix = {}) const override { return inner_->list(prefix); }
  Expected<void> remove(std::string_view name) override { return inner_->remove(name); }
  std::string_view manifest_key() const override { return key_.manifest_key; }

  Backend& inner() { return *inner_; }
  const Backend& inner() const { return *inner_; }
  const RepositoryKey& key() const { return key_; }

 private:
  AuthenticatedBackend(std::unique_ptr<Backend> inner, RepositoryKey key)
      : inner_(std::move(inner)), key_(std::move(key)) {}
  std::unique_ptr<Backend> inner_;
  RepositoryKey key_;  // manifest_key always set: every manifest of such a store carries a MAC
};

}  // namespace dbsnap::store::encrypted
