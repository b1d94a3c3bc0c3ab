// An authenticated repository in the clear (store/encrypted/authenticated_backend.hpp,
// keys.hpp with Encryption::none): manifests carry an HMAC under the repository's key and
// are refused without a valid one; objects stay in the clear; chunk ids stay plain SHA-256;
// opening needs one of the store's keys.

#include <algorithm>
#include <fstream>
#include <iterator>
#include <string>

#include "dbsnap/crypto/age.hpp"
#include "dbsnap/store/encrypted/authenticated_backend.hpp"
#include "dbsnap/store/encrypted/keys.hpp"
#include "dbsnap/store/local/local_backend.hpp"
#include "dbsnap/store/manifest.hpp"
#include "helpers.hpp"

namespace dbsnap::store::encrypted {

namespace {

Manifest sample() {
  Manifest m;
  m.id = "1m7z3mme60ymr";
  m.target = "dev";
  m.engine = "sqlite";
  m.created_at = "2026-11-21T13:09:57.123Z";
  m.revisions = {"a1"};
  m.blob_file = "1m7z3mme60ymr.sqlite.zst";
  m.raw_bytes = 24576;
  m.raw_sha256 = std::string(64, 'a');
  m.stored_bytes = 691;
  m.stored_sha256 = std::string(64, 'b');
  m.tables = {{"mac", 3}};  // a table named like the field: a number, never the MAC's place
  return m;
}

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

UserKeys user_keys(const crypto::age::Identity& identity) {
  UserKeys keys;
  keys.identities = {identity};
  keys.source = "a test key";
  keys.encryption = Encryption::none;
  return keys;
}

}  // namespace

TEST_CASE("authenticated manifests: a MAC over the text, checked before anything is read from it") {
  const std::string key(64, 'm'), other(64, 'o');
  const auto text = manifest_text(sample(), key);
  REQUIRE(text);
  CHECK(text->find("\"mac\": \"") != std::string::npos);
  CHECK(text->find("\"mac\": \"" + std::string(64, '0')) == std::string::npos);
  auto parsed = parse_manifest(*text, key);
  REQUIRE(parsed);
  CHECK(to_json(*parsed) == to_json(sample()));
  // The same text is still a manifest for readers without a key (and for standard tools).
  CHECK(parse_manifest(*text));

  SUBCASE("another key") {
    auto r = parse_manifest(*text, other);
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == ErrorKind::corrupt);
    CHECK(r.error().message.find("does not authenticate") != std::string::npos);
  }
  SUBCASE("an altered field") {
    auto r = parse_manifest(replaced(*text, "\"a1\"", "\"a2\""), key);
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == ErrorKind::corrupt);
  }
  SUBCASE("a MAC copied from another manifest") {
    auto m = sample();
    m.label = "other";
    auto second = manifest_text(m, key);
    REQUIRE(second);
    const auto mac_at = second->find("\"mac\": \"") + 8;
    const std::string mac = second->substr(mac_at, 64);
    const auto own_at = text->find("\"mac\": \"") + 8;
    std::string forged = *text;
    forged.replace(own_at, 64, mac);
    CHECK_FALSE(parse_manifest(forged, key));
  }
  SUBCASE("no MAC: a manifest written without the key") {
    auto plain = manifest_text(sample(), "");
    REQUIRE(plain);
    CHECK(plain->find("\"mac\": \"") == std::string::npos);
    auto r = parse_manifest(*plain, key);
    REQUIRE_FALSE(r);
    CHECK(r.error().message.find("carries no MAC") != std::string::npos);
  }
  SUBCASE("the MAC field twice") {
    const auto at = text->find("\"mac\": \"");
    const std::string field = text->substr(at, 8 + 64 + 1);
    auto r = parse_manifest(replaced(*text, "\"label\": \"\"", "\"label\": \"\", " + field), key);
    CHECK_FALSE(r);
  }
}

TEST_CASE("authenticated store: turned on by a key for a new store, opened only with one of its keys") {
  test::TempDir dir;
  const auto identity = crypto::age::generate_identity();
  auto opened = open_repository(std::make_unique<local::LocalBackend>(dir.path, BackendAccess::write),
                                user_keys(identity), NewStore::may_encrypt);
  REQUIRE(opened);
  CHECK(dynamic_cast<AuthenticatedBackend*>(opened->get()) != nullptr);
  CHECK((*opened)->chunk_key().empty());  // plain SHA-256 chunk ids, as any store in the clear
  CHECK((*opened)->manifest_key().size() == 64);
  const std::string config = slurp(dir.path / "config");
  CHECK(config.find("\"encryption\": \"none\"") != std::string::npos);
  CHECK(config.find("\"manifests\": \"hmac-sha256\"") != std::string::npos);

  // Objects stay as written.
  REQUIRE(write_object(**opened, "dev/x.json", "{\"clear\": true}\n"));
  CHECK(slurp(dir.path / "dev/x.json") == "{\"clear\": true}\n");

  SUBCASE("reopened with the key: the same manifest key") {
    auto again = open_repository(std::make_unique<local::LocalBackend>(dir.path, BackendAccess::write),
                                 user_keys(identity), NewStore::may_encrypt);
    REQUIRE(again);
    CHECK((*again)->manifest_key() == (*opened)->manifest_key());
  }
  SUBCASE("the key's encryption setting does not matter for a store that exists") {
    auto keys = user_keys(identity);
    keys.encryption = Encryption::age;
    auto again = open_repository(std::make_unique<local::LocalBackend>(dir.path, BackendAccess::write), keys,
                                 NewStore::may_encrypt);
    REQUIRE(again);
    CHECK(dynamic_cast<AuthenticatedBackend*>(again->get()) != nullptr);
  }
  SUBCASE("without a key") {
    auto r = open_repository(std::make_unique<local::LocalBackend>(dir.path, BackendAccess::write), UserKeys{},
                             NewStore::may_encrypt);
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == ErrorKind::config);
    CHECK(r.error().message.find("authenticated") != std::string::npos);
  }
  SUBCASE("with another key") {
    auto r = open_repository(std::make_unique<local::LocalBackend>(dir.path, BackendAccess::write),
                             user_keys(crypto::age::generate_identity()), NewStore::may_encrypt);
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == ErrorKind::refused);
  }
}

TEST_CASE("encrypted store: every manifest is written with a MAC; only older repositories accept one without") {
  test::TempDir dir;
  const auto identity = crypto::age::generate_identity();
  auto keys = user_keys(identity);
  keys.encryption = Encryption::age;
  auto opened = open_repository(std::make_unique<local::LocalBackend>(dir.path, BackendAccess::write), keys,
                                NewStore::may_encrypt);
  REQUIRE(opened);
  auto* crypt = dynamic_cast<EncryptedBackend*>(opened->get());
  REQUIRE(crypt != nullptr);
  CHECK(crypt->manifest_key().size() == 64);
  CHECK(crypt->manifest_key() == *derive_manifest_key(crypt->key().chunk_key));
  CHECK(crypt->manifest_macs_required());

  const std::string text = format_key_object(crypt->key());
  CHECK(text.find("\n# manifests: hmac-sha256\n") != std::string::npos);
  auto parsed = parse_key_object(text);
  REQUIRE(parsed);
  CHECK(parsed->manifest_key == crypt->key().manifest_key);
  CHECK(parsed->manifest_macs_required);

  // A key object written before manifests carried a MAC: no line. The manifest key is derived all
  // the same (new manifests get a MAC), but one without a MAC is accepted.
  RepositoryKey old = crypt->key();
  old.manifest_macs_required = false;
  const std::string old_text = format_key_object(old);
  CHECK(old_text.find("manifests") == std::string::npos);
  auto old_parsed = parse_key_object(old_text);
  REQUIRE(old_parsed);
  CHECK(old_parsed->manifest_key == crypt->key().manifest_key);
  CHECK_FALSE(old_parsed->manifest_macs_required);
  EncryptedBackend old_backend(std::make_unique<local::LocalBackend>(dir.path, BackendAccess::write), *old_parsed);
  CHECK_FALSE(old_backend.manifest_macs_required());
  const auto with_mac = manifest_text(sample(), old_backend.manifest_key());
  REQUIRE(with_mac);
  CHECK(parse_manifest(*with_mac, old_backend));
  CHECK(parse_manifest(*with_mac, *crypt));
  const auto without = manifest_text(sample(), "");
  REQUIRE(without);
  CHECK(parse_manifest(*without, old_backend));
  auto refused = parse_manifest(*without, *crypt);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().kind == ErrorKind::corrupt);
  // A MAC that is there is checked, required or not.
  auto altered = parse_manifest(replaced(*with_mac, "\"a1\"", "\"a2\""), old_backend);
  REQUIRE_FALSE(altered);
  CHECK(altered.error().kind == ErrorKind::corrupt);
}

TEST_CASE("a manifest given its MAC as it stands keeps every field, and is given one only once") {
  const std::string key(64, 'm');
  auto document = to_json(sample());
  document["written_by"] = "a field this build does not know";
  auto text = manifest_text(document, key);
  REQUIRE(text);
  auto parsed = parse_manifest(*text, key, MacPolicy::required);
  REQUIRE(parsed);
  CHECK(parsed->id == sample().id);
  auto back = nlohmann::json::parse(*text);
  back.erase("mac");
  CHECK(back == document);
  auto twice = manifest_text(nlohmann::json::parse(*text), key);
  REQUIRE_FALSE(twice);
  CHECK(twice.error().kind == ErrorKind::failure);
}

TEST_CASE("require_manifest_macs: the user's key objects without the line are replaced, others' left alone") {
  test::TempDir dir;
  const auto mine = crypto::age::generate_identity();
  const auto theirs = crypto::age::generate_identity();
  auto keys = user_keys(mine);
  keys.encryption = Encryption::age;
  local::LocalBackend inner(dir.path, BackendAccess::write);
  {
    auto opened = open_repository(std::make_unique<local::LocalBackend>(dir.path, BackendAccess::write), keys,
                                  NewStore::may_encrypt);
    REQUIRE(opened);
    // The store as an older dbsnap left it: key objects without the line (one mine, one theirs).
    RepositoryKey old = dynamic_cast<EncryptedBackend*>(opened->get())->key();
    old.manifest_macs_required = false;
    const auto made = list_keys(inner);
    REQUIRE(made);
    for (const auto& id : *made) REQUIRE(inner.remove("keys/" + id));
    REQUIRE(add_key(inner, old, keys.recipients()));
    REQUIRE(add_key(inner, old, user_keys(theirs).recipients()));
  }
  const auto before = *list_keys(inner);
  REQUIRE(before.size() == 2);
  auto done = require_manifest_macs(inner, keys);
  REQUIRE(done);
  CHECK_FALSE(done->added.empty());
  CHECK(done->removed.size() == 1);
  CHECK(done->others.size() == 1);
  const auto after = *list_keys(inner);
  CHECK(after.size() == 2);
  CHECK(std::find(after.begin(), after.end(), done->added) != after.end());
  CHECK(std::find(after.begin(), after.end(), done->removed[0]) == after.end());
  CHECK(std::find(after.begin(), after.end(), done->others[0]) != after.end());

  auto reopened = open_repository(std::make_unique<local::LocalBackend>(dir.path, BackendAccess::write), keys,
                                  NewStore::leave);
  REQUIRE(reopened);
  CHECK((*reopened)->manifest_macs_required());
  auto theirs_opened = open_repository(std::make_unique<local::LocalBackend>(dir.path, BackendAccess::write),
                                       user_keys(theirs), NewStore::leave);
  REQUIRE(theirs_opened);
  CHECK_FALSE((*theirs_opened)->manifest_macs_required());

  // A second run changes nothing; a key that opens nothing is refused.
  auto again = require_manifest_macs(inner, keys);
  REQUIRE(again);
  CHECK(again->added.empty());
  CHECK(again->removed.empty());
  CHECK(again->kept == std::vector<std::string>{done->added});
  CHECK(*list_keys(inner) == after);
  auto stranger = require_manifest_macs(inner, user_keys(crypto::age::generate_identity()));
  REQUIRE_FALSE(stranger);
  CHECK(stranger.error().kind == ErrorKind::refused);
}

TEST_CASE("require_manifest_macs never locks out a recipient the user does not hold") {
  test::TempDir dir;
  const auto mine = crypto::age::generate_identity();
  const auto spare = crypto::age::generate_identity();  // in my identity file too, not in the key object
  const auto colleague = crypto::age::generate_identity();
  auto keys = user_keys(mine);
  keys.encryption = Encryption::age;
  local::LocalBackend inner(dir.path, BackendAccess::write);
  RepositoryKey old;
  {
    auto opened = open_repository(std::make_unique<local::LocalBackend>(dir.path, BackendAccess::write), keys,
                                  NewStore::may_encrypt);
    REQUIRE(opened);
    old = dynamic_cast<EncryptedBackend*>(opened->get())->key();
  }
  old.manifest_macs_required = false;
  const auto made = list_keys(inner);
  REQUIRE(made);
  for (const auto& id : *made) REQUIRE(inner.remove("keys/" + id));
  // One key object sealed to me and a colleague together (age: any of them opens it).
  REQUIRE(add_key(inner, old, crypto::age::Recipients{.keys = {mine.recipient(), colleague.recipient()}}));
  const auto before = *list_keys(inner);
  auto refused = require_manifest_macs(inner, keys);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().kind == ErrorKind::refused);
  CHECK(refused.error().message.find("lock the others out") != std::string::npos);
  CHECK(*list_keys(inner) == before);

  // With both identities the object is replaced, sealed to both; with an identity file holding one
  // more (spare), the new object is sealed to those that opened the old one only.
  UserKeys both = keys;
  both.identities = {mine, colleague, spare};
  auto done = require_manifest_macs(inner, both);
  REQUIRE(done);
  REQUIRE_FALSE(done->added.empty());
  for (const auto& [who, opens] : {std::pair{mine, true}, std::pair{colleague, true}, std::pair{spare, false}}) {
    auto reopened = open_repository(std::make_unique<local::LocalBackend>(dir.path, BackendAccess::write),
                                    user_keys(who), NewStore::leave);
    CHECK(static_cast<bool>(reopened) == opens);
    if (reopened) CHECK((*reopened)->manifest_macs_required());
  }
}

}  // namespace dbsnap::store::encrypted
