#include "dbsnap/crypto/age.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <optional>

#include <fmt/core.h>

#include "dbsnap/util/text.hpp"
#include "primitives.hpp"

namespace dbsnap::crypto::age {

using detail::Bytes;

namespace {

constexpr std::string_view version_line = "age-encryption.org/v1";
constexpr std::size_t chunk_size = 64 * 1024;
constexpr std::size_t tag_size = 16;
constexpr std::size_t header_limit = 64 * 1024;

std::string_view view(const Key32& key) { return {reinterpret_cast<const char*>(key.data()), key.size()}; }

Key32 to_key(std::string_view bytes) {
  Key32 key{};
  std::copy_n(bytes.begin(), key.size(), key.begin());
  return key;
}

// A stanza's body: base64 lines of 64 characters, the last one shorter (maybe empty).
std::string body_lines(std::string_view data) {
  const std::string text = detail::base64_raw(data);
  std::string out;
  std::size_t at = 0;
  for (; text.size() - at >= 64; at += 64) out += text.substr(at, 64) + "\n";
  out += text.substr(at) + "\n";
  return out;
}

// The nonce of payload chunk `counter`: 11 bytes big-endian, then the last-chunk flag.
std::string chunk_nonce(std::uint64_t counter, bool last) {
  std::string nonce(12, '\0');
  for (int i = 0; i < 8; ++i) nonce[10 - i] = static_cast<char>((counter >> (8 * i)) & 0xff);
  nonce[11] = last ? 1 : 0;
  return nonce;
}

Expected<void> put(pipeline::Sink& out, std::string_view bytes) {
  return out.write(pipeline::Bytes(reinterpret_cast<const std::byte*>(bytes.data()), bytes.size()));
}

class Encryptor final : public pipeline::Sink {
 public:
  Encryptor(pipeline::Sink& out, Bytes payload_key) : out_(out), key_(std::move(payload_key)) {}

  Expected<void> write(pipeline::Bytes data) override {
    pending_.append(reinterpret_cast<const char*>(data.data()), data.size());
    // A full chunk goes out only once a byte after it exists: the last chunk must carry the flag.
    while (pending_.size() > chunk_size) {
      if (auto r = emit(std::string_view(pending_).substr(0, chunk_size), false); !r) return r;
      pending_.erase(0, chunk_size);
    }
    return {};
  }

  Expected<void> finish() override {
    if (auto r = emit(pending_, true); !r) return r;
    pending_.clear();
    return out_.finish();
  }

 private:
  Expected<void> emit(std::string_view plain, bool last) {
    return put(out_, detail::seal(key_, chunk_nonce(counter_++, last), plain));
  }

  pipeline::Sink& out_;
  Bytes key_;
  std::string pending_;
  std::uint64_t counter_ = 0;
};

class Decryptor final : public pipeline::Source {
 public:
  Decryptor(pipeline::Source& in, Bytes payload_key, std::string already)
      : in_(in), key_(std::move(payload_key)), raw_(std::move(already)) {}

  Expected<std::size_t> read(pipeline::MutableBytes out) override {
    while (plain_at_ >= plain_.size()) {
      if (done_) return std::size_t{0};
      if (auto next = next_chunk(); !next) return std::unexpected(next.error());
    }
    const std::size_t n = std::min(out.size(), plain_.size() - plain_at_);
    std::copy_n(plain_.data() + plain_at_, n, reinterpret_cast<char*>(out.data()));
    plain_at_ += n;
    return n;
  }

 private:
  // Fills raw_ to a sealed chunk and one byte more (to know whether it is the last).
  Expected<void> fill() {
    char buffer[32 * 1024];
    while (raw_.size() < chunk_size + tag_size + 1 && !eof_) {
      auto n = in_.read(pipeline::MutableBytes(reinterpret_cast<std::byte*>(buffer), sizeof buffer));
      if (!n) return std::unexpected(n.error());
      if (*n == 0) eof_ = true;
      raw_.append(buffer, *n);
    }
    return {};
  }

  Expected<void> next_chunk() {
    if (auto r = fill(); !r) return r;
    const bool last = raw_.size() <= chunk_size + tag_size;
    const std::size_t take = std::min(raw_.size(), chunk_size + tag_size);
    if (take < tag_size || (last && take == tag_size && counter_ > 0)) {
      return make_error(ErrorKind::corrupt, "the encrypted data is cut short (chunk {})", counter_);
    }
    auto plain = detail::open(key_, chunk_nonce(counter_, last), std::string_view(raw_).substr(0, take));
    if (!plain) {
      return make_error(ErrorKind::corrupt, "chunk {} of the encrypted data does not authenticate (altered, "
                        "reordered or cut short)", counter_);
    }
    ++counter_;
    raw_.erase(0, take);
    plain_ = std::move(*plain);
    plain_at_ = 0;
    done_ = last;
    return {};
  }

  pipeline::Source& in_;
  Bytes key_;
  std::string raw_;
  bool eof_ = false;
  std::string plain_;
  std::size_t plain_at_ = 0;
  std::uint64_t counter_ = 0;
  bool done_ = false;
};

struct Stanza {
  std::vector<std::string> args;  // the type first
  Bytes body;
};

// Splits "a b c" on single spaces (age forbids empty arguments).
std::vector<std::string> words(std::string_view line) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= line.size()) {
    const auto end = std::min(line.find(' ', start), line.size());
    out.emplace_back(line.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

Error bad_header(std::string_view why) { return {ErrorKind::corrupt, fmt::format("not an age v1 file: {}", why)}; }

}  // namespace

Recipient Identity::recipient() const { return {to_key(detail::x25519_public(view(secret_key)))}; }

Identity generate_identity() { return {to_key(detail::random_bytes(32))}; }

std::string format_recipient(const Recipient& recipient) { return detail::bech32_encode("age", view(recipient.public_key)); }

std::string format_identity(const Identity& identity) {
  std::string text = detail::bech32_encode("age-secret-key-", view(identity.secret_key));
  for (char& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

Expected<Recipient> parse_recipient(std::string_view text) {
  auto decoded = detail::bech32_decode(util::trim(text));
  if (!decoded || decoded->first != "age" || decoded->second.size() != 32) {
    return make_error(ErrorKind::config, "'{}' is not an age recipient (age1...){}", util::printable(text),
                      decoded ? "" : ": " + decoded.error().message);
  }
  return Recipient{to_key(decoded->second)};
}

Expected<Identity> parse_identity(std::string_view text) {
  auto decoded = detail::bech32_decode(util::trim(text));
  if (!decoded || decoded->first != "age-secret-key-" || decoded->second.size() != 32) {
    // Never repeat the text: it may be most of a secret key.
    return make_error(ErrorKind::config, "not an age identity (AGE-SECRET-KEY-1...){}",
                      decoded ? "" : ": " + decoded.error().message);
  }
  return Identity{to_key(decoded->second)};
}

Expected<std::vector<Identity>> parse_identity_file(std::string_view text, const std::string& source) {
  std::vector<Identity> out;
  int number = 0;
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    const auto line = text.substr(start, end - start);
    start = end + 1;
    ++number;
    auto trimmed = util::trim(line);
    if (trimmed.empty() || trimmed.front() == '#') continue;
    auto identity = parse_identity(trimmed);
    if (!identity) return make_error(ErrorKind::config, "{} line {}: {}", source, number, identity.error().message);
    out.push_back(*identity);
  }
  if (out.empty()) return make_error(ErrorKind::config, "{} holds no age identity", source);
  return out;
}

Expected<std::vector<Identity>> read_identity_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) return make_error(ErrorKind::config, "cannot read the age identity file {}", path.string());
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return make_error(ErrorKind::failure, "cannot read the age identity file {}", path.string());
  return parse_identity_file(text.str(), path.string());
}

Expected<std::unique_ptr<pipeline::Sink>> encrypt_to(pipeline::Sink& out, const Recipients& recipients) {
  if (recipients.keys.empty() && recipients.passphrase.empty()) {
    return make_error(ErrorKind::usage, "nothing to encrypt to: no recipient and no passphrase");
  }
  const Bytes file_key = detail::random_bytes(16);
  std::string header = std::string(version_line) + "\n";
  if (!recipients.keys.empty()) {
    for (const auto& r : recipients.keys) {
      const Bytes ephemeral = detail::random_bytes(32);
      const Bytes share = detail::x25519_public(ephemeral);
      auto shared = detail::x25519_shared(ephemeral, view(r.public_key));
      if (!shared) return std::unexpected(shared.error());
      const Bytes wrap = detail::hkdf_sha256(*shared, share + std::string(view(r.public_key)),
                                             "age-encryption.org/v1/X25519", 32);
      header += "-> X25519 " + detail::base64_raw(share) + "\n" +
                body_lines(detail::seal(wrap, std::string(12, '\0'), file_key));
    }
  } else {
    const Bytes salt = detail::random_bytes(16);
    auto wrap = detail::scrypt(recipients.passphrase, "age-encryption.org/v1/scrypt" + salt,
                               recipients.scrypt_log2n, 32);
    if (!wrap) return std::unexpected(wrap.error());
    header += fmt::format("-> scrypt {} {}\n", detail::base64_raw(salt), recipients.scrypt_log2n) +
              body_lines(detail::seal(*wrap, std::string(12, '\0'), file_key));
  }
  header += "---";
  const Bytes mac = detail::hmac_sha256(detail::hkdf_sha256(file_key, "", "header", 32), header);
  header += " " + detail::base64_raw(mac) + "\n";
  const Bytes nonce = detail::random_bytes(16);
  if (auto r = put(out, header + nonce); !r) return std::unexpected(r.error());
  return std::make_unique<Encryptor>(out, detail::hkdf_sha256(file_key, nonce, "payload", 32));
}

namespace {

// The file key of an age header (`header`: its text up to, not including, the
// newline after the MAC), unwrapped with `identities` and the MAC checked.
Expected<Bytes> unwrap_file_key(const std::string& header, const Identities& identities) {
  std::vector<std::string> lines;
  for (std::size_t start = 0; start <= header.size();) {
    const auto end = std::min(header.find('\n', start), header.size());
    lines.push_back(header.substr(start, end - start));
    start = end + 1;
  }
  if (lines.empty() || lines.front() != version_line) return std::unexpected(bad_header("no age-encryption.org/v1 line"));
  std::vector<Stanza> stanzas;
  std::size_t i = 1;
  for (; i < lines.size() && lines[i].starts_with("-> "); ) {
    Stanza s{words(std::string_view(lines[i]).substr(3)), {}};
    std::string body;
    for (++i;; ++i) {
      if (i >= lines.size() || lines[i].size() > 64) return std::unexpected(bad_header("a stanza body is malformed"));
      body += lines[i];
      if (lines[i].size() < 64) {
        ++i;
        break;
      }
    }
    auto decoded = detail::unbase64_raw(body);
    if (!decoded) return std::unexpected(bad_header("a stanza body is not base64"));
    s.body = std::move(*decoded);
    stanzas.push_back(std::move(s));
  }
  if (stanzas.empty() || i + 1 != lines.size() || !lines[i].starts_with("--- ")) {
    return std::unexpected(bad_header("no stanza, or no MAC line after them"));
  }
  auto mac = detail::unbase64_raw(std::string_view(lines[i]).substr(4));
  if (!mac || mac->size() != 32) return std::unexpected(bad_header("the MAC is malformed"));
  const std::string mac_input = header.substr(0, header.size() - (lines[i].size() - 3));

  std::optional<Bytes> file_key;
  bool tried_passphrase = false;
  for (const auto& s : stanzas) {
    if (s.args.empty()) return std::unexpected(bad_header("an empty stanza"));
    if (s.args[0] == "X25519") {
      if (s.args.size() != 2 || s.body.size() != 32) return std::unexpected(bad_header("an X25519 stanza is malformed"));
      auto share = detail::unbase64_raw(s.args[1]);
      if (!share || share->size() != 32) return std::unexpected(bad_header("an X25519 share is malformed"));
      for (const auto& identity : identities.keys) {
        auto shared = detail::x25519_shared(view(identity.secret_key), *share);
        if (!shared) continue;
        const std::string mine(view(identity.recipient().public_key));
        const Bytes wrap = detail::hkdf_sha256(*shared, *share + mine, "age-encryption.org/v1/X25519", 32);
        if (auto key = detail::open(wrap, std::string(12, '\0'), s.body); key && key->size() == 16) {
          file_key = *key;
          break;
        }
      }
    } else if (s.args[0] == "scrypt") {
      if (stanzas.size() != 1) return std::unexpected(bad_header("a scrypt stanza must be the only one"));
      if (s.args.size() != 3 || s.body.size() != 32) return std::unexpected(bad_header("a scrypt stanza is malformed"));
      auto salt = detail::unbase64_raw(s.args[1]);
      const bool digits = !s.args[2].empty() && s.args[2].size() <= 2 &&
                          std::all_of(s.args[2].begin(), s.args[2].end(), [](char c) { return c >= '0' && c <= '9'; }) &&
                          s.args[2].front() != '0';
      if (!salt || salt->size() != 16 || !digits) return std::unexpected(bad_header("a scrypt stanza is malformed"));
      const int log2n = std::stoi(s.args[2]);
      if (identities.passphrase.empty()) continue;
      tried_passphrase = true;
      if (log2n > identities.max_scrypt_log2n) {
        return make_error(ErrorKind::refused, "the passphrase's work factor 2^{} is above the 2^{} allowed", log2n,
                          identities.max_scrypt_log2n);
      }
      auto wrap = detail::scrypt(identities.passphrase, "age-encryption.org/v1/scrypt" + *salt, log2n, 32);
      if (!wrap) return std::unexpected(wrap.error());
      if (auto key = detail::open(*wrap, std::string(12, '\0'), s.body); key && key->size() == 16) file_key = *key;
    }
    if (file_key) break;
  }
  if (!file_key) {
    return make_error(ErrorKind::refused, "{} does not open this encrypted data",
                      tried_passphrase ? "the passphrase" : "no identity given");
  }
  if (detail::hmac_sha256(detail::hkdf_sha256(*file_key, "", "header", 32), mac_input) != *mac) {
    return make_error(ErrorKind::corrupt, "the age header's MAC does not match: the header was altered");
  }
  return *file_key;
}

// Where the header ends in `raw` (the index of the newline after the MAC line), or npos.
std::size_t header_end_in(const std::string& raw) {
  if (!raw.starts_with(version_line)) return std::string::npos;
  auto mac_line = raw.find("\n---");
  if (mac_line == std::string::npos) return std::string::npos;
  return raw.find('\n', mac_line + 1);
}

}  // namespace

Expected<std::unique_ptr<pipeline::Source>> decrypt_from(pipeline::Source& in, const Identities& identities) {
  // The header: lines up to and including "--- MAC"; what follows is the payload.
  std::string raw;
  std::size_t header_end = std::string::npos;
  char buffer[4096];
  while (header_end == std::string::npos) {
    if (auto mac_line = raw.find("\n---"); mac_line != std::string::npos) {
      header_end = raw.find('\n', mac_line + 1);
      if (header_end != std::string::npos) break;
    }
    if (raw.size() > header_limit) return std::unexpected(bad_header("the header is too long"));
    auto n = in.read(pipeline::MutableBytes(reinterpret_cast<std::byte*>(buffer), sizeof buffer));
    if (!n) return std::unexpected(n.error());
    if (*n == 0) return std::unexpected(bad_header("it ends inside its header"));
    raw.append(buffer, *n);
  }
  auto file_key = unwrap_file_key(raw.substr(0, header_end), identities);
  if (!file_key) return std::unexpected(file_key.error());
  std::string rest = raw.substr(header_end + 1);
  // The payload's nonce, then its chunks.
  while (rest.size() < 16) {
    auto n = in.read(pipeline::MutableBytes(reinterpret_cast<std::byte*>(buffer), sizeof buffer));
    if (!n) return std::unexpected(n.error());
    if (*n == 0) return make_error(ErrorKind::corrupt, "the encrypted data ends before its nonce");
    rest.append(buffer, *n);
  }
  const Bytes nonce = rest.substr(0, 16);
  return std::make_unique<Decryptor>(in, detail::hkdf_sha256(*file_key, nonce, "payload", 32), rest.substr(16));
}

Expected<PayloadKey> open_header(std::string_view head, const Identities& identities) {
  const std::string raw(head.substr(0, std::min(head.size(), header_limit)));
  const std::size_t end = header_end_in(raw);
  if (end == std::string::npos) return std::unexpected(bad_header("no complete header in its first bytes"));
  if (raw.size() < end + 1 + 16) return make_error(ErrorKind::corrupt, "the encrypted data ends before its nonce");
  auto file_key = unwrap_file_key(raw.substr(0, end), identities);
  if (!file_key) return std::unexpected(file_key.error());
  return PayloadKey{detail::hkdf_sha256(*file_key, raw.substr(end + 1, 16), "payload", 32), end + 1 + 16};
}

Expected<std::string> open_chunk(const PayloadKey& key, std::uint64_t counter, bool last, std::string_view sealed) {
  auto plain = detail::open(key.key, chunk_nonce(counter, last), sealed);
  if (!plain) {
    return make_error(ErrorKind::corrupt, "chunk {} of the encrypted data does not authenticate (altered, "
                      "reordered or cut short)", counter);
  }
  return std::move(*plain);
}

std::uint64_t sealed_size(std::uint64_t payload_offset, std::uint64_t plain) {
  const std::uint64_t chunks = plain == 0 ? 1 : (plain + payload_chunk - 1) / payload_chunk;
  return payload_offset + plain + chunks * payload_tag;
}

std::optional<std::uint64_t> plain_size(std::uint64_t payload_offset, std::uint64_t sealed) {
  if (sealed < payload_offset + payload_tag) return std::nullopt;
  const std::uint64_t payload = sealed - payload_offset;
  const std::uint64_t full = payload / (payload_chunk + payload_tag);
  const std::uint64_t rem = payload % (payload_chunk + payload_tag);
  if (rem == 0) return full * payload_chunk;  // full >= 1 here
  if (rem < payload_tag || (rem == payload_tag && full > 0)) return std::nullopt;  // no empty last chunk but alone
  return full * payload_chunk + (rem - payload_tag);
}

}  // namespace dbsnap::crypto::age
