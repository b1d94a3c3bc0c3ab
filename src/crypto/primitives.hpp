#pragma once

// The OpenSSL 3 primitives age is built from, as small functions over byte
// strings (src/crypto only: not part of the public interface).

#include <cstdint>
#include <string>
#include <string_view>

#include "dbsnap/util/error.hpp"

namespace dbsnap::crypto::detail {

using Bytes = std::string;  // raw bytes

Bytes random_bytes(std::size_t n);
Bytes hkdf_sha256(std::string_view key, std::string_view salt, std::string_view info, std::size_t size);
Bytes hmac_sha256(std::string_view key, std::string_view data);
// ChaCha20-Poly1305 with a 12-byte nonce: ciphertext || 16-byte tag.
Bytes seal(std::string_view key, std::string_view nonce, std::string_view plaintext);
// The plaintext, or std::unexpected when the tag does not check.
Expected<Bytes> open(std::string_view key, std::string_view nonce, std::string_view sealed);
// X25519: the public key of a secret; the shared secret of a secret and a public key.
Bytes x25519_public(std::string_view secret);
Expected<Bytes> x25519_shared(std::string_view secret, std::string_view peer_public);
Expected<Bytes> scrypt(std::string_view passphrase, std::string_view salt, int log2n, std::size_t size);
// Standard base64 without padding, as age writes it; decoding refuses padding and stray characters.
std::string base64_raw(std::string_view data);
Expected<Bytes> unbase64_raw(std::string_view text);
// Bech32 (BIP 173) with age's lengths: hrp + '1' + data + checksum.
std::string bech32_encode(std::string_view hrp, std::string_view data);
// The hrp (lower case) and the data; errors for a bad checksum, mixed case or characters.
Expected<std::pair<std::string, Bytes>> bech32_decode(std::string_view text);

}  // namespace dbsnap::crypto::detail
