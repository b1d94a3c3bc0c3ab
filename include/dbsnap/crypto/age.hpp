#pragma once

// age v1 encryption (the public C2SP spec, age-encryption.org/v1), so that an
// object dbsnap encrypts opens with Debian's `age` and the other way round.
//
// A file is a text header, then the payload. The header names a random
// 16-byte file key once per recipient, each "stanza" wrapping it with
// ChaCha20-Poly1305: for an X25519 recipient ("age1...") under a key that
// HKDF-SHA-256 derives from an ephemeral Diffie-Hellman share; for a
// passphrase (the "scrypt" stanza, then the only one) under scrypt(passphrase,
// salt, 2^log2N, r=8, p=1). A MAC over the header (HMAC-SHA-256 under a key
// HKDF derives from the file key) ends it. The payload is a 16-byte nonce,
// then the plaintext in 64 KiB chunks, each sealed with ChaCha20-Poly1305
// under HKDF(file key, nonce, "payload") with an 11-byte counter and a
// last-chunk flag as nonce, so a truncated, reordered or altered file fails
// to open. Every primitive is OpenSSL 3's; this file only frames them.
//
// Encryptor and Decryptor are pipeline stages: memory stays at one chunk.

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dbsnap/pipeline/stream.hpp"
#include "dbsnap/util/error.hpp"

namespace dbsnap::crypto::age {

using Key32 = std::array<std::uint8_t, 32>;

// An X25519 recipient: its public key ("age1..." in Bech32).
struct Recipient {
  Key32 public_key{};
};

// An X25519 identity: its secret key ("AGE-SECRET-KEY-1..." in Bech32).
struct Identity {
  Key32 secret_key{};
  Recipient recipient() const;
};

// A new random identity (as `age-keygen` makes one).
Identity generate_identity();

std::string format_recipient(const Recipient& recipient);
std::string format_identity(const Identity& identity);

// Parse the forms above. Errors: `config` naming what is wrong.
Expected<Recipient> parse_recipient(std::string_view text);
Expected<Identity> parse_identity(std::string_view text);

// The identities in an `age-keygen` file (lines "AGE-SECRET-KEY-1...";
// '#' comments and blank lines skipped). Errors: `config`, `failure` for I/O.
Expected<std::vector<Identity>> read_identity_file(const std::filesystem::path& path);
// The same, from the file's text (a key_command's output); `source` names it in messages.
Expected<std::vector<Identity>> parse_identity_file(std::string_view text, const std::string& source);

// Who may open what is encrypted: X25519 recipients, or one passphrase.
struct Recipients {
  std::vector<Recipient> keys;
  std::string passphrase;  // used when keys is empty
  int scrypt_log2n = 18;   // the work factor age itself uses for passphrases
};

// How an encrypted file may be opened: X25519 identities, or a passphrase.
struct Identities {
  std::vector<Identity> keys;
  std::string passphrase;
  int max_scrypt_log2n = 20;  // refuse more work (and memory: 2^20 * 1 KiB) than this
};

// Encrypts what is written into it and writes the age file to `out`, which it
// does not own; finish() seals the last chunk and finishes `out`. Errors:
// `usage` when neither keys nor a passphrase is given, `failure` from OpenSSL.
Expected<std::unique_ptr<pipeline::Sink>> encrypt_to(pipeline::Sink& out, const Recipients& recipients);

// Reads the age file from `in` (not owned) and gives back the plaintext.
// Opening reads and checks the header: `corrupt` when it is malformed or its
// MAC fails, `refused` when no identity (or the passphrase) opens it (a wrong
// key or passphrase). Reading fails `corrupt` on any altered, reordered or
// missing chunk, and never returns bytes of a chunk that did not check.
Expected<std::unique_ptr<pipeline::Source>> decrypt_from(pipeline::Source& in, const Identities& identities);

// Random access to an age file's payload (store/encrypted/ reads ranges of
// packs): the payload is chunks of payload_chunk plaintext bytes, each
// payload_tag bytes longer sealed; chunk i starts at payload_offset + i *
// (payload_chunk + payload_tag), and only the last one may be shorter.
inline constexpr std::size_t payload_chunk = 64 * 1024;
inline constexpr std::size_t payload_tag = 16;

struct PayloadKey {
  std::string key;                  // the payload key (HKDF of the file key and the nonce)
  std::uint64_t payload_offset = 0;  // where chunk 0 starts: the header's length plus the 16-byte nonce
};

// Reads the header and nonce at the start of `head` (an age file's first
// bytes: at least through its nonce). Errors as decrypt_from's opening.
Expected<PayloadKey> open_header(std::string_view head, const Identities& identities);

// Opens sealed chunk `counter` (`last`: whether it is the file's last).
// Errors: `corrupt` when it does not authenticate.
Expected<std::string> open_chunk(const PayloadKey& key, std::uint64_t counter, bool last, std::string_view sealed);

// An age file's size for `plain` payload bytes, and the other way round
// (std::nullopt for a size no age file has).
std::uint64_t sealed_size(std::uint64_t payload_offset, std::uint64_t plain);
std::optional<std::uint64_t> plain_size(std::uint64_t payload_offset, std::uint64_t sealed);

}  // namespace dbsnap::crypto::age
