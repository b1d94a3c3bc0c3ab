#pragma once

#include <array>
#include <memory>
#include <string>
#include <string_view>

#include "dbsnap/pipeline/stream.hpp"

namespace dbsnap::pipeline {

// Incremental SHA-256 over OpenSSL's EVP interface. Every OpenSSL failure
// comes back as an Error rather than an exception or an abort.
class Sha256 {
 public:
  static Expected<Sha256> create();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;
  ~Sha256();

  Expected<void> update(Bytes data);
  // The lowercase hex digest; the hasher cannot be updated afterwards.
  Expected<std::string> finish_hex();

 private:
  struct State;
  explicit Sha256(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// SHA-256 of a whole buffer (for tests and small texts).
Expected<std::string> sha256_hex(Bytes data);

// HMAC-SHA-256 of a whole buffer under `key`, lowercase hex (keyed chunk ids).
Expected<std::string> hmac_sha256_hex(std::string_view key, Bytes data);

// Hashes everything written through it and forwards it unchanged. After
// finish(), digest() is the hex SHA-256 and count() the byte count.
class HashingSink final : public Sink {
 public:
  static Expected<HashingSink> create(Sink& next);
  Expected<void> write(Bytes data) override;
  Expected<void> finish() override;
  const std::string& digest() const noexcept { return digest_; }
  std::uint64_t count() const noexcept { return count_; }

 private:
  HashingSink(Sha256 hasher, Sink& next) : hasher_(std::move(hasher)), next_(&next) {}
  Sha256 hasher_;
  Sink* next_;
  std::uint64_t count_ = 0;
  std::string digest_;
};

}  // namespace dbsnap::pipeline
