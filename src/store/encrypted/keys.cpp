#include "dbsnap/store/encrypted/keys.hpp"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "dbsnap/pipeline/stream.hpp"
#include "dbsnap/store/encrypted/authenticated_backend.hpp"
#include "dbsnap/util/text.hpp"

namespace dbsnap::store::encrypted {

namespace age = crypto::age;

namespace {

constexpr std::string_view config_name = "config";
constexpr std::string_view keys_prefix = "keys/";
constexpr std::string_view chunk_key_line = "# chunk-key: ";
// In key objects of repositories whose manifests carry a MAC. Only a key
// object says so, never `config`: a key object is encrypted to its user's
// key, which nobody who can merely write the store holds, so nobody can
// write one without the line to have MAC-less manifests accepted.
constexpr std::string_view manifests_line = "# manifests: hmac-sha256";

std::optional<std::string> from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  std::string out;
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    unsigned value = 0;
    for (char c : hex.substr(i, 2)) {
      value <<= 4;
      if (c >= '0' && c <= '9') value |= static_cast<unsigned>(c - '0');
      else if (c >= 'a' && c <= 'f') value |= static_cast<unsigned>(c - 'a' + 10);
      else return std::nullopt;
    }
    out += static_cast<char>(value);
  }
  return out;
}

// A sink into a string, for encrypting small objects in memory.
class StringSink final : public pipeline::Sink {
 public:
  Expected<void> write(pipeline::Bytes data) override {
    text.append(reinterpret_cast<const char*>(data.data()), data.size());
    return {};
  }
  Expected<void> finish() override { return {}; }
  std::string text;
};

class StringSource final : public pipeline::Source {
 public:
  explicit StringSource(std::string_view text) : text_(text) {}
  Expected<std::size_t> read(pipeline::MutableBytes out) override {
    const std::size_t n = std::min(out.size(), text_.size() - at_);
    std::memcpy(out.data(), text_.data() + at_, n);
    at_ += n;
    return n;
  }

 private:
  std::string_view text_;
  std::size_t at_ = 0;
};

Expected<std::string> encrypt(std::string_view plain, const age::Recipients& to) {
  StringSink out;
  auto sink = age::encrypt_to(out, to);
  if (!sink) return std::unexpected(sink.error());
  if (auto r = (*sink)->write(pipeline::Bytes(reinterpret_cast<const std::byte*>(plain.data()), plain.size())); !r) {
    return std::unexpected(r.error());
  }
  if (auto r = (*sink)->finish(); !r) return std::unexpected(r.error());
  return std::move(out.text);
}

Expected<std::string> decrypt(std::string_view sealed, const age::Identities& with) {
  StringSource in(sealed);
  auto source = age::decrypt_from(in, with);
  if (!source) return std::unexpected(source.error());
  return pipeline::read_all(**source, 64 * 1024);
}

struct Config {
  std::string recipient;  // "age1..."
  Encryption encryption = Encryption::age;
};

Expected<std::optional<Config>> read_config(const Backend& inner) {
  auto text = read_object(inner, config_name, 64 * 1024);
  if (!text) {
    if (text.error().kind == ErrorKind::not_found) return std::optional<Config>();
    return std::unexpected(text.error());
  }
  auto j = nlohmann::json::parse(*text, nullptr, false);
  const std::string where = inner.locate(config_name);
  if (j.is_discarded() || !j.is_object() || !j.contains("version") || !j["version"].is_number_integer()) {
    return make_error(ErrorKind::corrupt, "{} is not a dbsnap repository config", where);
  }
  if (j["version"].get<int>() != 1) {
    return make_error(ErrorKind::failure, "{} has version {}, newer than this dbsnap understands; upgrade dbsnap",
                      where, j["version"].get<int>());
  }
  const std::string encryption = j.value("encryption", "");
  const bool age = encryption == "age-v1" && j.value("chunk_ids", "") == "hmac-sha256";
  const bool clear = encryption == "none" && j.value("chunk_ids", "") == "sha256" &&
                     j.value("manifests", "") == "hmac-sha256";
  if ((!age && !clear) || !j.contains("recipient") || !j["recipient"].is_string()) {
    return make_error(ErrorKind::corrupt, "{}: its encryption, chunk_ids, manifests or recipient is not one this "
                      "dbsnap knows", where);
  }
  return std::optional<Config>(Config{j["recipient"].get<std::string>(), age ? Encryption::age : Encryption::none});
}

// Whether the store holds anything of a repository (snapshots, packs) besides config, keys and locks.
Expected<bool> holds_data(const Backend& inner) {
  auto listed = inner.list();
  if (!listed) return std::unexpected(listed.error());
  for (const auto& o : *listed) {
    if (o.name.find('/') == std::string::npos) continue;  // a folder store's own files (catalog.db, ...)
    if (o.name.starts_with(keys_prefix) || o.name.starts_with("locks/")) continue;
    return true;
  }
  return false;
}

// Turns encryption on for an empty store: a new repository key, a key object for `user`, then `config`.
Expected<RepositoryKey> initialize(Backend& inner, const UserKeys& user) {
  // Key objects without a config are a killed initialization's: they open nothing that exists.
  if (auto old = list_keys(inner); old) {
    for (const auto& id : *old) (void)inner.remove(std::string(keys_prefix) + id);
  }
  RepositoryKey key{age::generate_identity(), *from_hex(util::random_hex(32)), {}};
  auto manifest_key = derive_manifest_key(key.chunk_key);
  if (!manifest_key) return std::unexpected(manifest_key.error());
  key.manifest_key = std::move(*manifest_key);
  if (auto added = add_key(inner, key, user.recipients()); !added) return std::unexpected(added.error());
  nlohmann::ordered_json j;
  j["version"] = 1;
  if (user.encryption == Encryption::age) {
    j["encryption"] = "age-v1";
    j["chunk_ids"] = "hmac-sha256";
  } else {
    j["encryption"] = "none";
    j["chunk_ids"] = "sha256";
    j["manifests"] = "hmac-sha256";
  }
  j["recipient"] = age::format_recipient(key.identity.recipient());
  if (auto r = write_object(inner, config_name, j.dump(2) + "\n", IfExists::fail); !r) return std::unexpected(r.error());
  return key;
}

// A key object that opened with the user's key, and its sealed text.
struct OpenedKeyObject {
  RepositoryKey key;
  std::string sealed;
};

// Key object `id` opened with `user`'s key: nullopt when it is another
// user's. Errors: `corrupt` for one that does not decrypt, parse, or hold the
// key of the repository whose recipient `config` names; the backend's.
Expected<std::optional<OpenedKeyObject>> open_key_object(const Backend& inner, const std::string& id,
                                                         const UserKeys& user, const std::string& recipient) {
  const std::string name = std::string(keys_prefix) + id;
  auto sealed = read_object(inner, name, 64 * 1024);
  if (!sealed) return std::unexpected(sealed.error());
  const age::Identities with{.keys = user.identities, .passphrase = user.identities.empty() ? user.passphrase : ""};
  auto plain = decrypt(*sealed, with);
  if (!plain) {
    if (plain.error().kind == ErrorKind::refused) return std::optional<OpenedKeyObject>();
    return make_error(ErrorKind::corrupt, "{}: {}", inner.locate(name), plain.error().message);
  }
  auto key = parse_key_object(*plain);
  if (!key) return make_error(ErrorKind::corrupt, "{}: {}", inner.locate(name), key.error().message);
  if (age::format_recipient(key->identity.recipient()) != recipient) {
    return make_error(ErrorKind::corrupt, "{} holds another repository's key than {} names", inner.locate(name),
                      inner.locate(config_name));
  }
  return std::optional<OpenedKeyObject>(OpenedKeyObject{std::move(*key), std::move(*sealed)});
}

Error no_key_opens(const Backend& inner, std::size_t keys, const UserKeys& user) {
  return Error{ErrorKind::refused, fmt::format("none of the {} key(s) of the store {} opens with {}", keys,
                                               inner.locate(""), user.source)};
}

// The recipient stanzas (X25519 and scrypt) in the header of the age file `sealed`.
std::size_t recipient_stanzas(std::string_view sealed) {
  std::size_t n = 0;
  for (std::size_t start = 0; start < sealed.size();) {
    const auto end = std::min(sealed.find('\n', start), sealed.size());
    const auto line = sealed.substr(start, end - start);
    if (line.starts_with("---")) break;
    if (line.starts_with("-> X25519 ") || line.starts_with("-> scrypt ")) ++n;
    start = end + 1;
  }
  return n;
}

// Whom key object `id` (`sealed`), of `user`'s and to be replaced, was sealed
// to, as far as `user` holds them: added to `to`. Errors: `refused` when it
// has recipients `user` does not hold (replacing it would lock them out).
Expected<void> add_holders(const std::string& id, std::string_view sealed, const UserKeys& user,
                           age::Recipients& to) {
  std::size_t held = 0;
  if (user.identities.empty()) {
    held = 1;  // the passphrase opened it: its scrypt stanza stands alone (age's rule)
    to.passphrase = user.passphrase;
  } else {
    for (const auto& identity : user.identities) {
      if (!age::open_header(sealed, {.keys = {identity}})) continue;
      ++held;
      const auto recipient = identity.recipient();
      if (std::ranges::none_of(to.keys, [&](const auto& r) { return age::format_recipient(r) ==
                                                                    age::format_recipient(recipient); })) {
        to.keys.push_back(recipient);
      }
    }
  }
  if (const auto stanzas = recipient_stanzas(sealed); stanzas > held) {
    return make_error(ErrorKind::refused, "key object {} is sealed to {} recipients and {} holds {} of them: "
                      "replacing it would lock the others out; give an identity file with all of them, or add "
                      "keys for the others ('dbsnap key add') and remove {} yourself", id, stanzas, user.source,
                      held, id);
  }
  return {};
}

}  // namespace

age::Recipients UserKeys::recipients() const {
  age::Recipients to;
  for (const auto& identity : identities) to.keys.push_back(identity.recipient());
  if (to.keys.empty()) to.passphrase = passphrase;
  return to;
}

std::string format_key_object(const RepositoryKey& key) {
  const auto* raw = reinterpret_cast<const unsigned char*>(key.chunk_key.data());
  return fmt::format("# dbsnap repository key: an age identity that opens every object of the repository\n"
                     "{}{}\n{}{}\n",
                     chunk_key_line, util::to_hex(std::span(raw, key.chunk_key.size())),
                     key.manifest_macs_required ? std::string(manifests_line) + "\n" : "",
                     age::format_identity(key.identity));
}

Expected<RepositoryKey> parse_key_object(std::string_view text) {
  std::optional<RepositoryKey> key;
  std::optional<std::string> chunk_key;
  bool authenticated_manifests = false;
  for (std::size_t start = 0; start < text.size();) {
    const auto end = std::min(text.find('\n', start), text.size());
    const std::string line(util::trim(text.substr(start, end - start)));
    start = end + 1;
    if (line == manifests_line) {
      authenticated_manifests = true;
    } else if (line.starts_with(chunk_key_line)) {
      chunk_key = from_hex(util::trim(std::string_view(line).substr(chunk_key_line.size())));
    } else if (line.starts_with("AGE-SECRET-KEY-")) {
      auto identity = age::parse_identity(line);
      if (!identity) return make_error(ErrorKind::corrupt, "a repository key object holds a malformed identity");
      key = RepositoryKey{*identity, {}, {}, false};
    }
  }
  if (!key || !chunk_key || chunk_key->size() != 32) {
    return make_error(ErrorKind::corrupt, "not a dbsnap repository key (no identity or no chunk key)");
  }
  key->chunk_key = *chunk_key;
  // Derived whatever the key object says: manifests are always written with a MAC.
  auto manifest_key = derive_manifest_key(key->chunk_key);
  if (!manifest_key) return std::unexpected(manifest_key.error());
  key->manifest_key = std::move(*manifest_key);
  key->manifest_macs_required = authenticated_manifests;
  return *key;
}

Expected<std::vector<std::string>> list_keys(const Backend& inner) {
  auto listed = inner.list(keys_prefix);
  if (!listed) return std::unexpected(listed.error());
  std::vector<std::string> ids;
  for (const auto& o : *listed) ids.push_back(o.name.substr(keys_prefix.size()));
  return ids;
}

Expected<std::string> add_key(Backend& inner, const RepositoryKey& key, const age::Recipients& to) {
  auto sealed = encrypt(format_key_object(key), to);
  if (!sealed) return std::unexpected(sealed.error());
  const std::string id = util::random_hex(8);
  if (auto r = write_object(inner, std::string(keys_prefix) + id, *sealed, IfExists::fail); !r) {
    return std::unexpected(r.error());
  }
  return id;
}

Expected<void> remove_key(Backend& inner, const std::string& id) {
  auto ids = list_keys(inner);
  if (!ids) return std::unexpected(ids.error());
  if (std::find(ids->begin(), ids->end(), id) == ids->end()) {
    return make_error(ErrorKind::not_found, "the store has no key '{}' (its keys: {})", util::printable(id),
                      util::join(*ids, ", "));
  }
  if (ids->size() == 1) {
    return make_error(ErrorKind::refused, "key {} is the store's only key: without it nothing in the store can be "
                      "read again; add another first ('dbsnap key add')", id);
  }
  return inner.remove(std::string(keys_prefix) + id);
}

Expected<std::unique_ptr<Backend>> open_repository(std::unique_ptr<Backend> inner, const UserKeys& user,
                                                   NewStore new_store) {
  auto config = read_config(*inner);
  if (!config) return std::unexpected(config.error());
  if (!*config) {
    if (user.empty()) return inner;
    auto data = holds_data(*inner);
    if (!data) return std::unexpected(data.error());
    if (*data) {
      return make_error(ErrorKind::config, "the store {} is not encrypted, but a key is given ({}); a store is "
                        "encrypted from its first snapshot: use a new store, or drop the key (if the store was "
                        "encrypted, its 'config' object is gone: restore it)", inner->locate(""), user.source);
    }
    if (new_store == NewStore::leave) return inner;
    auto key = initialize(*inner, user);
    if (!key) return std::unexpected(key.error());
    if (user.encryption == Encryption::none) return AuthenticatedBackend::create(std::move(inner), std::move(*key));
    return std::unique_ptr<Backend>(new EncryptedBackend(std::move(inner), std::move(*key)));
  }
  if (user.empty()) {
    return make_error(ErrorKind::config, "the store {} is {}: give its key with {}", inner->locate(""),
                      (*config)->encryption == Encryption::age ? "encrypted" : "authenticated (in the clear)", user.ways);
  }
  auto ids = list_keys(*inner);
  if (!ids) return std::unexpected(ids.error());
  for (const auto& id : *ids) {
    auto opened = open_key_object(*inner, id, user, (*config)->recipient);
    if (!opened) return std::unexpected(opened.error());
    if (!*opened) continue;  // another user's key object
    RepositoryKey key = std::move((*opened)->key);
    if ((*config)->encryption == Encryption::none) return AuthenticatedBackend::create(std::move(inner), std::move(key));
    return std::unique_ptr<Backend>(new EncryptedBackend(std::move(inner), std::move(key)));
  }
  return std::unexpected(no_key_opens(*inner, ids->size(), user));
}

Expected<KeyUpgradePlan> plan_manifest_macs(const Backend& inner, const UserKeys& user) {
  auto config = read_config(inner);
  if (!config) return std::unexpected(config.error());
  if (!*config) return make_error(ErrorKind::usage, "the store {} has no keys", inner.locate(""));
  auto ids = list_keys(inner);
  if (!ids) return std::unexpected(ids.error());
  KeyUpgradePlan plan;
  for (const auto& id : *ids) {
    auto opened = open_key_object(inner, id, user, (*config)->recipient);
    if (!opened) return std::unexpected(opened.error());
    if (!*opened) {
      plan.objects.others.push_back(id);
    } else if ((*opened)->key.manifest_macs_required) {
      plan.objects.kept.push_back(id);
    } else {
      // Sealed again to the same recipients (those the user holds: any other would be locked out, refused).
      if (auto r = add_holders(id, (*opened)->sealed, user, plan.to); !r) return std::unexpected(r.error());
      plan.key = std::move((*opened)->key);
      plan.objects.removed.push_back(id);
    }
  }
  if (plan.objects.kept.empty() && plan.objects.removed.empty()) {
    return std::unexpected(no_key_opens(inner, ids->size(), user));
  }
  return plan;
}

Expected<KeyObjectsUpgrade> require_manifest_macs(Backend& inner, const KeyUpgradePlan& plan) {
  KeyObjectsUpgrade done = plan.objects;
  if (!plan.key) return done;  // nothing left to upgrade
  // The new key object before the old ones go (a kill between leaves both, and both open the store).
  if (done.kept.empty()) {
    RepositoryKey key = *plan.key;
    key.manifest_macs_required = true;
    auto added = add_key(inner, key, plan.to);
    if (!added) return std::unexpected(added.error());
    done.added = *added;
  }
  for (const auto& id : done.removed) {
    if (auto r = inner.remove(std::string(keys_prefix) + id); !r && r.error().kind != ErrorKind::not_found) {
      return std::unexpected(r.error());
    }
  }
  return done;
}

Expected<KeyObjectsUpgrade> require_manifest_macs(Backend& inner, const UserKeys& user) {
  auto plan = plan_manifest_macs(inner, user);
  if (!plan) return std::unexpected(plan.error());
  return require_manifest_macs(inner, *plan);
}

}  // namespace dbsnap::store::encrypted
