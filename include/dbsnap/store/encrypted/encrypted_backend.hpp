#pragma once

// An encrypted repository: a Backend over another one whose every object is
// an age v1 file (crypto/age.hpp) encrypted to the repository's own X25519
// identity, so that `age -d -i REPOSITORY-KEY OBJECT` (Debian's age) opens
// any of them, and no byte of a snapshot, manifest or chunk list reaches the
// backend in the clear. Chunk ids are keyed (chunk_key(): HMAC-SHA-256), so
// that the packs' ids reveal nothing either.
//
// How it stays whole: an object is the inner backend's object, committed
// by the inner writer's commit() after the age stream was sealed; an
// aborted writer leaves what the inner backend's abort leaves (nothing).
//
// Who wrote an object: age does not say (anyone may encrypt to the
// repository's public recipient). Keyed chunk ids keep forged chunks out;
// manifests carry a MAC under a key derived from the secret chunk key
// (manifest_key()), so that a forged manifest cannot name data of its
// writer's choosing either (repositories made before that accept manifests
// without a MAC until `dbsnap key upgrade` gives every manifest one).
//
// Ranged reads: age seals the payload in 64 KiB chunks, each authenticated
// on its own with its position and a last-chunk flag; a range is read as the
// sealed chunks that cover it, each checked before a byte of it is given.
// An object's header (its payload key) and sealed size are read once per
// object and kept (a few hundred objects). Every object this backend writes
// has one X25519 stanza, so its header is 168 bytes and the plaintext size
// follows from the sealed one: list() and stat() need no reads.
//
// Which objects are not encrypted: the repository's `config` and `keys/`
// (store/encrypted/keys.hpp) and lock objects, which are read through the
// inner backend.

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "dbsnap/crypto/age.hpp"
#include "dbsnap/store/backend.hpp"

namespace dbsnap::store::encrypted {

// The repository's secrets once unlocked (keys.hpp).
struct RepositoryKey {
  crypto::age::Identity identity;
  std::string chunk_key;  // 32 bytes
  // The key its manifests are authenticated with (64 hex digits,
  // authenticated_backend.hpp's derive_manifest_key), derived from chunk_key.
  std::string manifest_key;
  // Whether every manifest must carry a MAC: false for an encrypted
  // repository made before manifests carried one, whose key objects lack the
  // line that says they do (keys.hpp), until `dbsnap key upgrade`. Manifests
  // written through it carry a MAC all the same, and a MAC that is there is
  // checked.
  bool manifest_macs_required = true;
};

// The size of the header every object of this backend has ("age-encryption.org/v1",
// one X25519 stanza, the MAC line) plus its 16-byte nonce.
inline constexpr std::uint64_t object_payload_offset = 22 + 10 + 43 + 1 + 43 + 1 + 4 + 43 + 1 + 16;

class EncryptedBackend final : public Backend {
 public:
  EncryptedBackend(std::unique_ptr<Backend> inner, RepositoryKey key);

  std::string_view scheme() const override { return inner_->scheme(); }
  std::string locate(std::string_view name) const override { return inner_->locate(name); }
  Expected<std::unique_ptr<ObjectWriter>> create(std::string_view name,
                                                 IfExists if_exists = IfExists::replace) override;
  // Errors as the interface's, and `corrupt` when the object is not an age
  // file this repository's key opens, or a chunk of it does not authenticate.
  Expected<std::unique_ptr<pipeline::Source>> open(std::string_view name, std::uint64_t offset = 0,
                                                   std::optional<std::uint64_t> length = {}) const override;
  Expected<ObjectInfo> stat(std::string_view name) const override;
  Expected<std::vector<ObjectInfo>> list(std::string_view prefix = {}) const override;
  Expected<void> remove(std::string_view name) override;
  std::string_view chunk_key() const override { return key_.chunk_key; }
  std::string_view manifest_key() const override { return key_.manifest_key; }
  bool manifest_macs_required() const override { return key_.manifest_macs_required; }

  Backend& inner() { return *inner_; }
  const Backend& inner() const { return *inner_; }
  const RepositoryKey& key() const { return key_; }

 private:
  struct Header {
    crypto::age::PayloadKey key;
    std::uint64_t sealed_size = 0;
    std::uint64_t plain_size = 0;
  };
  Expected<Header> header(std::string_view name) const;
  std::unique_ptr<Backend> inner_;
  RepositoryKey key_;
  mutable std::mutex mutex_;
  mutable std::map<std::string, Header, std::less<>> headers_;
};

}  // namespace dbsnap::store::encrypted
