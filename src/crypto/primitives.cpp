#include "primitives.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <memory>
#include <optional>
#include <stdexcept>
#include <vector>

namespace dbsnap::crypto::detail {

namespace {

const unsigned char* u(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }

struct CtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};

[[noreturn]] void openssl_failed(const char* what) {
  throw std::runtime_error(std::string("OpenSSL failed: ") + what);
}

}  // namespace

Bytes random_bytes(std::size_t n) {
  Bytes out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) openssl_failed("RAND_bytes");
  return out;
}

Bytes hkdf_sha256(std::string_view key, std::string_view salt, std::string_view info, std::size_t size) {
  std::unique_ptr<EVP_PKEY_CTX, CtxFree> ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, nullptr));
  Bytes out(size, '\0');
  std::size_t len = size;
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) <= 0 || EVP_PKEY_CTX_set_hkdf_md(ctx.get(), EVP_sha256()) <= 0 ||
      (!salt.empty() && EVP_PKEY_CTX_set1_hkdf_salt(ctx.get(), u(salt), static_cast<int>(salt.size())) <= 0) ||
      EVP_PKEY_CTX_set1_hkdf_key(ctx.get(), u(key), static_cast<int>(key.size())) <= 0 ||
      EVP_PKEY_CTX_add1_hkdf_info(ctx.get(), u(info), static_cast<int>(info.size())) <= 0 ||
      EVP_PKEY_derive(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &len) <= 0 || len != size) {
    openssl_failed("HKDF");
  }
  return out;
}

Bytes hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), u(data), data.size(), digest, &size) == nullptr) {
    openssl_failed("HMAC");
  }
  return Bytes(reinterpret_cast<const char*>(digest), size);
}

Bytes seal(std::string_view key, std::string_view nonce, std::string_view plaintext) {
  std::unique_ptr<EVP_CIPHER_CTX, CtxFree> ctx(EVP_CIPHER_CTX_new());
  Bytes out(plaintext.size() + 16, '\0');
  int n = 0, tail = 0;
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_chacha20_poly1305(), nullptr, u(key), u(nonce)) != 1 ||
      EVP_EncryptUpdate(ctx.get(), o, &n, u(plaintext), static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), o + n, &tail) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_GET_TAG, 16, o + plaintext.size()) != 1) {
    openssl_failed("ChaCha20-Poly1305 seal");
  }
  return out;
}

Expected<Bytes> open(std::string_view key, std::string_view nonce, std::string_view sealed) {
  if (sealed.size() < 16) return make_error(ErrorKind::corrupt, "a sealed box shorter than its tag");
  const std::size_t size = sealed.size() - 16;
  std::unique_ptr<EVP_CIPHER_CTX, CtxFree> ctx(EVP_CIPHER_CTX_new());
  Bytes out(size, '\0');
  int n = 0, tail = 0;
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  std::array<unsigned char, 16> tag;
  std::copy_n(u(sealed) + size, 16, tag.begin());
  if (!ctx || EVP_DecryptInit_ex(ctx.get(), EVP_chacha20_poly1305(), nullptr, u(key), u(nonce)) != 1 ||
      EVP_DecryptUpdate(ctx.get(), o, &n, u(sealed), static_cast<int>(size)) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_SET_TAG, 16, tag.data()) != 1) {
    openssl_failed("ChaCha20-Poly1305 open");
  }
  if (EVP_DecryptFinal_ex(ctx.get(), o + n, &tail) != 1) {
    return make_error(ErrorKind::corrupt, "authentication failed");
  }
  return out;
}

Bytes x25519_public(std::string_view secret) {
  std::unique_ptr<EVP_PKEY, CtxFree> key(
      EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, u(secret), secret.size()));
  Bytes out(32, '\0');
  std::size_t len = 32;
  if (!key || EVP_PKEY_get_raw_public_key(key.get(), reinterpret_cast<unsigned char*>(out.data()), &len) != 1) {
    openssl_failed("X25519 public key");
  }
  return out;
}

Expected<Bytes> x25519_shared(std::string_view secret, std::string_view peer_public) {
  std::unique_ptr<EVP_PKEY, CtxFree> mine(
      EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, u(secret), secret.size()));
  std::unique_ptr<EVP_PKEY, CtxFree> peer(
      EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, u(peer_public), peer_public.size()));
  if (!mine || !peer) return make_error(ErrorKind::corrupt, "an X25519 key of the wrong size");
  std::unique_ptr<EVP_PKEY_CTX, CtxFree> ctx(EVP_PKEY_CTX_new(mine.get(), nullptr));
  Bytes out(32, '\0');
  std::size_t len = 32;
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1 || EVP_PKEY_derive_set_peer(ctx.get(), peer.get()) != 1 ||
      EVP_PKEY_derive(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &len) != 1) {
    return make_error(ErrorKind::corrupt, "X25519 agreement failed (a low-order share)");
  }
  if (std::all_of(out.begin(), out.end(), [](char c) { return c == 0; })) {
    return make_error(ErrorKind::corrupt, "X25519 gave an all-zero secret");
  }
  return out;
}

Expected<Bytes> scrypt(std::string_view passphrase, std::string_view salt, int log2n, std::size_t size) {
  Bytes out(size, '\0');
  const std::uint64_t n = std::uint64_t{1} << log2n;
  const std::uint64_t maxmem = 128 * 8 * n + (64u << 20);
  if (EVP_PBE_scrypt(passphrase.data(), passphrase.size(), u(salt), salt.size(), n, 8, 1, maxmem,
                     reinterpret_cast<unsigned char*>(out.data()), size) != 1) {
    return make_error(ErrorKind::failure, "scrypt with 2^{} failed (memory?)", log2n);
  }
  return out;
}

std::string base64_raw(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), u(data), static_cast<int>(data.size()));
  out.resize(static_cast<std::size_t>(n));
  while (!out.empty() && out.back() == '=') out.pop_back();
  return out;
}

Expected<Bytes> unbase64_raw(std::string_view text) {
  for (char c : text) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/')) {
      return make_error(ErrorKind::corrupt, "not unpadded base64");
    }
  }
  if (text.size() % 4 == 1) return make_error(ErrorKind::corrupt, "not unpadded base64 (length)");
  std::string padded(text);
  while (padded.size() % 4 != 0) padded.push_back('=');
  Bytes out(padded.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()), u(padded), static_cast<int>(padded.size()));
  if (n < 0) return make_error(ErrorKind::corrupt, "not base64");
  out.resize(static_cast<std::size_t>(n) - (padded.size() - text.size()));
  // Canonical only: re-encoding must give the same text (no stray low bits).
  if (base64_raw(out) != text) return make_error(ErrorKind::corrupt, "non-canonical base64");
  return out;
}

namespace {

constexpr std::string_view charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

std::uint32_t polymod(const std::vector<std::uint8_t>& values) {
  constexpr std::uint32_t gen[] = {0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3};
  std::uint32_t chk = 1;
  for (auto v : values) {
    const std::uint32_t top = chk >> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ v;
    for (int i = 0; i < 5; ++i) {
      if ((top >> i) & 1) chk ^= gen[i];
    }
  }
  return chk;
}

std::vector<std::uint8_t> hrp_expand(std::string_view hrp) {
  std::vector<std::uint8_t> out;
  for (char c : hrp) out.push_back(static_cast<std::uint8_t>(static_cast<unsigned char>(c) >> 5));
  out.push_back(0);
  for (char c : hrp) out.push_back(static_cast<std::uint8_t>(static_cast<unsigned char>(c) & 31));
  return out;
}

// Regroups bits: 8 -> 5 (pad) or 5 -> 8 (no pad; leftover bits must be zero).
std::optional<std::vector<std::uint8_t>> regroup(const std::vector<std::uint8_t>& in, int from, int to, bool pad) {
  std::uint32_t acc = 0;
  int bits = 0;
  std::vector<std::uint8_t> out;
  const std::uint32_t maxv = (1u << to) - 1;
  for (auto v : in) {
    acc = (acc << from) | v;
    bits += from;
    while (bits >= to) {
      bits -= to;
      out.push_back(static_cast<std::uint8_t>((acc >> bits) & maxv));
    }
  }
  if (pad) {
    if (bits > 0) out.push_back(static_cast<std::uint8_t>((acc << (to - bits)) & maxv));
  } else if (bits >= from || ((acc << (to - bits)) & maxv) != 0) {
    return std::nullopt;
  }
  return out;
}

}  // namespace

std::string bech32_encode(std::string_view hrp, std::string_view data) {
  std::vector<std::uint8_t> bytes(data.begin(), data.end());
  auto five = *regroup(bytes, 8, 5, true);
  auto values = hrp_expand(hrp);
  values.insert(values.end(), five.begin(), five.end());
  values.insert(values.end(), 6, 0);
  const std::uint32_t mod = polymod(values) ^ 1;
  std::string out(hrp);
  out.push_back('1');
  for (auto v : five) out.push_back(charset[v]);
  for (int i = 0; i < 6; ++i) out.push_back(charset[(mod >> (5 * (5 - i))) & 31]);
  return out;
}

Expected<std::pair<std::string, Bytes>> bech32_decode(std::string_view text) {
  const bool has_lower = std::any_of(text.begin(), text.end(), [](char c) { return c >= 'a' && c <= 'z'; });
  const bool has_upper = std::any_of(text.begin(), text.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
  if (has_lower && has_upper) return make_error(ErrorKind::config, "mixed case");
  std::string lower(text);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const auto sep = lower.rfind('1');
  if (sep == std::string::npos || sep == 0 || sep + 7 > lower.size()) {
    return make_error(ErrorKind::config, "not Bech32 (no separator or too short)");
  }
  const std::string hrp = lower.substr(0, sep);
  std::vector<std::uint8_t> five;
  for (char c : lower.substr(sep + 1)) {
    const auto at = charset.find(c);
    if (at == std::string_view::npos) return make_error(ErrorKind::config, "a character Bech32 does not use");
    five.push_back(static_cast<std::uint8_t>(at));
  }
  auto values = hrp_expand(hrp);
  values.insert(values.end(), five.begin(), five.end());
  if (polymod(values) != 1) return make_error(ErrorKind::config, "the Bech32 checksum does not match (a typo?)");
  five.resize(five.size() - 6);
  auto bytes = regroup(five, 5, 8, false);
  if (!bytes) return make_error(ErrorKind::config, "Bech32 data with stray bits");
  return std::pair{hrp, Bytes(bytes->begin(), bytes->end())};
}

}  // namespace dbsnap::crypto::detail
