// age v1: round trips, tampering, and interoperation with Debian's `age` and
// `age-keygen` (packaging/install-deps.sh --test installs them) in both directions.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "dbsnap/crypto/age.hpp"
#include "helpers.hpp"

using namespace dbsnap;
namespace age = dbsnap::crypto::age;

namespace {

std::string encrypt(const std::string& plain, const age::Recipients& to) {
  test::StringSink sink;
  auto enc = age::encrypt_to(sink, to);
  REQUIRE_MESSAGE(enc.has_value(), enc.error().message);
  // In uneven pieces, so chunk boundaries never line up with writes.
  for (std::size_t at = 0; at < plain.size(); at += 7001) {
    const auto n = std::min<std::size_t>(7001, plain.size() - at);
    REQUIRE((*enc)->write(pipeline::Bytes(reinterpret_cast<const std::byte*>(plain.data() + at), n)).has_value());
  }
  REQUIRE((*enc)->finish().has_value());
  return sink.text;
}

// The plaintext, or the error of opening or reading it.
Expected<std::string> decrypt(const std::string& cipher, const age::Identities& with) {
  test::StringSource source(cipher);
  auto dec = age::decrypt_from(source, with);
  if (!dec) return std::unexpected(dec.error());
  std::string out;
  std::array<std::byte, 5003> buffer;
  for (;;) {
    auto n = (*dec)->read(buffer);
    if (!n) return std::unexpected(n.error());
    if (*n == 0) return out;
    out.append(reinterpret_cast<const char*>(buffer.data()), *n);
  }
}

std::string pattern(std::size_t size) {
  std::string s(size, '\0');
  for (std::size_t i = 0; i < size; ++i) s[i] = static_cast<char>((i * 131 + i / 977) & 0xff);
  return s;
}

std::string run(const std::string& command) { return dbsnap::test::run_shell(command); }

std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void spit(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

}  // namespace

TEST_CASE("age: round trips at chunk edges, to several recipients") {
  const auto alice = age::generate_identity(), bob = age::generate_identity();
  for (std::size_t size : {0ul, 1ul, 65535ul, 65536ul, 65537ul, 3ul * 65536ul, 200000ul}) {
    CAPTURE(size);
    const std::string plain = pattern(size);
    const std::string cipher = encrypt(plain, {.keys = {alice.recipient(), bob.recipient()}});
    CHECK(cipher.starts_with("age-encryption.org/v1\n-> X25519 "));
    CHECK(decrypt(cipher, {.keys = {bob}}).value() == plain);
    CHECK(decrypt(cipher, {.keys = {alice}}).value() == plain);
  }
}

TEST_CASE("age: a wrong key or passphrase is refused; altered, cut or reordered data is corrupt") {
  const auto alice = age::generate_identity(), mallory = age::generate_identity();
  const std::string plain = pattern(150000);
  const std::string cipher = encrypt(plain, {.keys = {alice.recipient()}});
  CHECK(decrypt(cipher, {.keys = {mallory}}).error().kind == ErrorKind::refused);
  CHECK(decrypt(cipher, {.passphrase = "guess"}).error().kind == ErrorKind::refused);

  std::string flipped = cipher;
  flipped[flipped.size() - 70000] ^= 1;  // inside the second chunk
  CHECK(decrypt(flipped, {.keys = {alice}}).error().kind == ErrorKind::corrupt);
  CHECK(decrypt(cipher.substr(0, cipher.size() - 20000), {.keys = {alice}}).error().kind == ErrorKind::corrupt);
  const std::size_t payload = cipher.find("\n---") + cipher.substr(cipher.find("\n---") + 1).find('\n') + 2 + 16;
  const std::size_t sealed = 65536 + 16;
  std::string swapped = cipher.substr(0, payload) + cipher.substr(payload + sealed, sealed) +
                        cipher.substr(payload, sealed) + cipher.substr(payload + 2 * sealed);
  CHECK(decrypt(swapped, {.keys = {alice}}).error().kind == ErrorKind::corrupt);
  // A whole last chunk dropped: the one before it was not sealed as the last.
  CHECK(decrypt(cipher.substr(0, payload + 2 * sealed), {.keys = {alice}}).error().kind == ErrorKind::corrupt);
  std::string header_changed = cipher;
  header_changed.insert(cipher.find("\n---"), "\n-> grease x\n");
  CHECK(decrypt(header_changed, {.keys = {alice}}).error().kind == ErrorKind::corrupt);  // the MAC
  CHECK(decrypt("not age at all\n", {.keys = {alice}}).error().kind == ErrorKind::corrupt);
}

TEST_CASE("age: passphrases (scrypt), and a work factor above the limit is refused") {
  const std::string plain = pattern(70000);
  const std::string cipher = encrypt(plain, {.passphrase = "correct horse", .scrypt_log2n = 10});
  CHECK(cipher.find("\n-> scrypt ") != std::string::npos);
  CHECK(decrypt(cipher, {.passphrase = "correct horse"}).value() == plain);
  CHECK(decrypt(cipher, {.passphrase = "wrong horse"}).error().kind == ErrorKind::refused);
  CHECK(decrypt(cipher, {.passphrase = "correct horse", .max_scrypt_log2n = 9}).error().kind == ErrorKind::refused);
}

TEST_CASE("age: keys as text; bad ones are one clear error that never repeats a secret") {
  const auto id = age::generate_identity();
  const std::string text = age::format_identity(id);
  CHECK(text.starts_with("AGE-SECRET-KEY-1"));
  CHECK(age::parse_identity(text)->secret_key == id.secret_key);
  const std::string r = age::format_recipient(id.recipient());
  CHECK(r.starts_with("age1"));
  CHECK(age::parse_recipient(r)->public_key == id.recipient().public_key);
  std::string typo = text;
  typo[20] = typo[20] == 'Q' ? 'P' : 'Q';
  auto bad = age::parse_identity(typo);
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().kind == ErrorKind::config);
  CHECK(bad.error().message.find(typo.substr(16)) == std::string::npos);
  CHECK_FALSE(age::parse_recipient(text).has_value());  // an identity is not a recipient
}

TEST_CASE("age interop: age-keygen's keys, and files that Debian's age opens and makes") {
  test::TempDir dir;
  const auto key_file = dir.path / "key.txt";
  run("age-keygen -o " + key_file.string() + " 2>/dev/null");
  auto identities = age::read_identity_file(key_file);
  REQUIRE_MESSAGE(identities.has_value(), identities.error().message);
  // The recipient we compute from the secret is the one age-keygen wrote in its comment.
  const std::string file = slurp(key_file);
  const auto at = file.find("# public key: ");
  REQUIRE(at != std::string::npos);
  const std::string public_key = file.substr(at + 14, file.find('\n', at) - at - 14);
  CHECK(age::format_recipient((*identities)[0].recipient()) == public_key);

  const std::string plain = pattern(300000);
  spit(dir.path / "plain", plain);
  // Ours -> age.
  spit(dir.path / "ours.age", encrypt(plain, {.keys = {*age::parse_recipient(public_key)}}));
  run("age -d -i " + key_file.string() + " -o " + (dir.path / "ours.out").string() + " " +
      (dir.path / "ours.age").string());
  CHECK(slurp(dir.path / "ours.out") == plain);
  // age -> ours, to a recipient and as an armor-less binary file.
  run("age -r " + public_key + " -o " + (dir.path / "theirs.age").string() + " " + (dir.path / "plain").string());
  CHECK(decrypt(slurp(dir.path / "theirs.age"), {.keys = *identities}).value() == plain);
  // An empty file both ways.
  spit(dir.path / "empty", "");
  run("age -r " + public_key + " -o " + (dir.path / "empty.age").string() + " " + (dir.path / "empty").string());
  CHECK(decrypt(slurp(dir.path / "empty.age"), {.keys = *identities}).value().empty());
  spit(dir.path / "ours-empty.age", encrypt("", {.keys = {*age::parse_recipient(public_key)}}));
  run("age -d -i " + key_file.string() + " -o " + (dir.path / "ours-empty.out").string() + " " +
      (dir.path / "ours-empty.age").string());
  CHECK(slurp(dir.path / "ours-empty.out").empty());
}

TEST_CASE("age interop: passphrases, typed into age on a terminal") {
  test::TempDir dir;
  const std::string plain = pattern(100000);
  spit(dir.path / "plain", plain);
  const std::string tty = std::string("/usr/bin/python3 ") + DBSNAP_TEST_UNIT_DIR + "/age_tty.py 'tr0ub4dor&3' ";
  // age -> ours: age's own work factor (2^18).
  run(tty + "age -p -o " + (dir.path / "theirs.age").string() + " " + (dir.path / "plain").string() + " 2>/dev/null");
  const std::string theirs = slurp(dir.path / "theirs.age");
  CHECK(theirs.find("\n-> scrypt ") != std::string::npos);
  CHECK(decrypt(theirs, {.passphrase = "tr0ub4dor&3"}).value() == plain);
  CHECK(decrypt(theirs, {.passphrase = "tr0ub4dor&4"}).error().kind == ErrorKind::refused);
  // Ours -> age.
  spit(dir.path / "ours.age", encrypt(plain, {.passphrase = "tr0ub4dor&3", .scrypt_log2n = 15}));
  run(tty + "age -d -o " + (dir.path / "ours.out").string() + " " + (dir.path / "ours.age").string() + " 2>/dev/null");
  CHECK(slurp(dir.path / "ours.out") == plain);
}
