#include "dbsnap/pipeline/sha256.hpp"

#include <openssl/err.h>
#include <openssl/evp.h>

#include "dbsnap/util/text.hpp"

namespace dbsnap::pipeline {

namespace {

Error openssl_error(const char* what) {
  unsigned long code = ERR_get_error();
  char text[256] = "unknown error";
  if (code != 0) ERR_error_string_n(code, text, sizeof text);
  return Error{ErrorKind::failure, fmt::format("OpenSSL {} failed: {}", what, text)};
}

}  // namespace

struct Sha256::State {
  EVP_MD_CTX* ctx = nullptr;
  ~State() { EVP_MD_CTX_free(ctx); }
};

Sha256::Sha256(std::unique_ptr<State> state) : state_(std::move(state)) {}
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;
Sha256::~Sha256() = default;

Expected<Sha256> Sha256::create() {
  auto state = std::make_unique<State>();
  state->ctx = EVP_MD_CTX_new();
  if (state->ctx == nullptr) return std::unexpected(openssl_error("EVP_MD_CTX_new"));
  if (EVP_DigestInit_ex(state->ctx, EVP_sha256(), nullptr) != 1) {
    return std::unexpected(openssl_error("EVP_DigestInit_ex"));
  }
  return Sha256(std::move(state));
}

Expected<void> Sha256::update(Bytes data) {
  if (data.empty()) return {};
  if (EVP_DigestUpdate(state_->ctx, data.data(), data.size()) != 1) {
    return std::unexpected(openssl_error("EVP_DigestUpdate"));
  }
  return {};
}

Expected<std::string> Sha256::finish_hex() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(state_->ctx, digest, &length) != 1) {
    return std::unexpected(openssl_error("EVP_DigestFinal_ex"));
  }
  return util::to_hex(std::span<const unsigned char>(digest, length));
}

Expected<std::string> sha256_hex(Bytes data) {
  auto hasher = Sha256::create();
  if (!hasher) return std::unexpected(hasher.error());
  if (auto r = hasher->update(data); !r) return std::unexpected(r.error());
  return hasher->finish_hex();
}

Expected<std::string> hmac_sha256_hex(std::string_view key, Bytes data) {
  unsigned char out[32];
  std::size_t length = 0;
  if (::EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key.data(), key.size(),
                  reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, sizeof out, &length) ==
          nullptr ||
      length != sizeof out) {
    return make_error(ErrorKind::failure, "HMAC-SHA-256 failed in OpenSSL");
  }
  return util::to_hex(out);
}

Expected<HashingSink> HashingSink::create(Sink& next) {
  auto hasher = Sha256::create();
  if (!hasher) return std::unexpected(hasher.error());
  return HashingSink(std::move(*hasher), next);
}

Expected<void> HashingSink::write(Bytes data) {
  if (auto r = hasher_.update(data); !r) return r;
  count_ += data.size();
  return next_->write(data);
}

Expected<void> HashingSink::finish() {
  auto digest = hasher_.finish_hex();
  if (!digest) return std::unexpected(digest.error());
  digest_ = std::move(*digest);
  return next_->finish();
}

}  // namespace dbsnap::pipeline
