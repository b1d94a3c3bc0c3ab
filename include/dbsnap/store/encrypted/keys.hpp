#pragma once

// The keys of an encrypted repository (FORMAT.md, "Encryption").
//
// The repository has one secret: an age X25519 identity (everything is
// encrypted to it, encrypted_backend.hpp) and a 32-byte key for chunk ids,
// made at random when encryption is turned on. Users never hold it
// directly: each `keys/<16 hex>` object is an age file, encrypted to a
// user's X25519 recipients or passphrase, whose plaintext is an age identity
// file holding the repository's identity (and the chunk key on a comment
// line); `age -d -i MY-KEY keys/ID > repo.key` gives a file that `age -d -i
// repo.key` opens every other object with. Adding a key writes one more such
// object; removing one deletes it (never the last). The plaintext `config`
// object says that the repository is encrypted and to which recipient; it
// is written last when encryption is turned on (the commit point), so a
// store is encrypted exactly when it has `config`.
//
// A store is encrypted from its start: a key given for a new, empty store
// turns encryption on; a key given for a store that holds snapshots without
// `config` is refused (it may be a store whose `config` someone deleted to
// have it written in the clear).
//
// Manifests: every manifest written with the repository's key carries a MAC
// (FORMAT.md, "Manifest"). Key objects of repositories made since then say
// `# manifests: hmac-sha256`, and a manifest without a valid MAC is refused;
// those of older repositories lack the line, and their manifests are
// accepted without a MAC (a MAC that is there is checked) until `dbsnap key
// upgrade` has given every manifest one and rewritten the user's key object.
//
// The same keys can keep a store in the clear but authenticated
// (`encryption = "none"`, authenticated_backend.hpp): `config` then says
// "encryption": "none", the key objects are the same, and the repository's
// chunk key is the secret its manifests are authenticated with.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dbsnap/crypto/age.hpp"
#include "dbsnap/store/backend.hpp"
#include "dbsnap/store/encrypted/encrypted_backend.hpp"

namespace dbsnap::store::encrypted {

// What a key given for a new store turns on: encryption (age), or
// authentication only, the objects in the clear.
enum class Encryption { age, none };

// What the user holds to open an encrypted store: identities from an age
// identity file (`key_file`, DBSNAP_KEY_FILE), or a passphrase
// (DBSNAP_PASSPHRASE). Never from argv.
struct UserKeys {
  std::vector<crypto::age::Identity> identities;
  std::string passphrase;
  std::string source;  // for messages: "the key file /root/dbsnap.key", "DBSNAP_PASSPHRASE"
  // For the message when no key was given: the ways to give one.
  std::string ways =
      "key_file or key_command in dbsnap.toml, DBSNAP_KEY_FILE (an age identity file) or DBSNAP_PASSPHRASE";
  // For a new store: encrypted, or in the clear and authenticated.
  Encryption encryption = Encryption::age;
  bool empty() const { return identities.empty() && passphrase.empty(); }
  // Whom a new key object is encrypted to for these keys.
  crypto::age::Recipients recipients() const;
};

// What opening may do to a store that has no `config`.
enum class NewStore {
  may_encrypt,  // a key given for an empty store turns encryption on
  leave,        // a store opened for reading only: never written
};

// The store's objects as the repository layer sees them: `inner` itself for
// a store without `config` (and no key given), else an EncryptedBackend
// (or, for "encryption": "none", an AuthenticatedBackend) over it unlocked
// with `user`. Errors: `config` for an encrypted store and
// no key given, or a key given for a store with snapshots and no `config`;
// `refused` when no key object opens with the key given; `corrupt` for a
// `config` or key object that does not parse or does not match; the
// backend's.
Expected<std::unique_ptr<Backend>> open_repository(std::unique_ptr<Backend> inner, const UserKeys& user,
                                                   NewStore new_store);

// The key objects' ids ("keys/<id>"), sorted.
Expected<std::vector<std::string>> list_keys(const Backend& inner);

// Writes a new key object holding `key` for `to`; returns its id.
Expected<std::string> add_key(Backend& inner, const RepositoryKey& key, const crypto::age::Recipients& to);

// Removes key object `id`. Errors: `not_found`, `refused` for the last one.
Expected<void> remove_key(Backend& inner, const std::string& id);

// What require_manifest_macs did to the key objects, by id.
struct KeyObjectsUpgrade {
  std::string added;                 // the new key object (empty: the user had one already)
  std::vector<std::string> removed;  // the user's key objects without the manifests line
  std::vector<std::string> kept;     // the user's key objects that had it already
  std::vector<std::string> others;   // key objects that do not open with the user's key
};

// The key-object step of `dbsnap key upgrade` (store/upgrade_macs.cpp): the
// user's key objects that lack the line `# manifests: hmac-sha256` are
// replaced by one that has it, sealed to the same recipients (those of the
// user's identities that opened them, or the passphrase), written before
// they are removed, so that a kill between leaves both and either opens the
// store. Key objects of other users are left alone (only their holders can
// rewrite them): with theirs, manifests without a MAC are still accepted.
//
// Planned first, before a manifest is touched: every key object read and
// opened once, and a key object sealed to more recipients than the user
// holds refused (replacing it would lock the others out). Errors of the
// plan: `usage` for a store without keys, `refused` when no key object opens
// with `user` or one holds recipients `user` lacks, `corrupt` as
// open_repository's, the backend's. Applying it: the backend's.
struct KeyUpgradePlan {
  KeyObjectsUpgrade objects;         // `added` empty until applied
  std::optional<RepositoryKey> key;  // the key to write anew; none: nothing to replace
  crypto::age::Recipients to;        // whom the new key object is sealed to
};
Expected<KeyUpgradePlan> plan_manifest_macs(const Backend& inner, const UserKeys& user);
Expected<KeyObjectsUpgrade> require_manifest_macs(Backend& inner, const KeyUpgradePlan& plan);
// Both at once (nothing between them to do, as for a store whose manifests all carry a MAC).
Expected<KeyObjectsUpgrade> require_manifest_macs(Backend& inner, const UserKeys& user);

// The plaintext of a key object, and its parser (errors: `corrupt`).
std::string format_key_object(const RepositoryKey& key);
Expected<RepositoryKey> parse_key_object(std::string_view text);

}  // namespace dbsnap::store::encrypted
