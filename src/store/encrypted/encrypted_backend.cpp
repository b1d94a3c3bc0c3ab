#include "dbsnap/store/encrypted/encrypted_backend.hpp"

#include <algorithm>
#include <cstring>
#include <functional>

#include <fmt/format.h>

namespace dbsnap::store::encrypted {

namespace age = crypto::age;

namespace {

constexpr std::uint64_t sealed_chunk = age::payload_chunk + age::payload_tag;
constexpr std::size_t header_cache_limit = 512;

// The inner writer behind an age encryptor: commit seals, then commits.
class EncryptingWriter final : public ObjectWriter {
 public:
  EncryptingWriter(std::unique_ptr<ObjectWriter> inner, std::unique_ptr<pipeline::Sink> encryptor,
                   std::function<void()> on_commit)
      : inner_(std::move(inner)), encryptor_(std::move(encryptor)), on_commit_(std::move(on_commit)) {}
  Expected<void> write(pipeline::Bytes data) override { return encryptor_->write(data); }
  Expected<void> finish() override {
    if (finished_) return {};
    finished_ = true;
    return encryptor_->finish();  // seals the last chunk and finishes the inner writer
  }
  Expected<void> commit() override {
    if (auto r = finish(); !r) return r;
    if (auto r = inner_->commit(); !r) return r;
    on_commit_();
    return {};
  }

 private:
  std::unique_ptr<ObjectWriter> inner_;
  std::unique_ptr<pipeline::Sink> encryptor_;
  std::function<void()> on_commit_;
  bool finished_ = false;
};

// A whole object, decrypted as it streams; owns the inner source.
class WholeObject final : public pipeline::Source {
 public:
  WholeObject(std::unique_ptr<pipeline::Source> inner, std::unique_ptr<pipeline::Source> plain)
      : inner_(std::move(inner)), plain_(std::move(plain)) {}
  Expected<std::size_t> read(pipeline::MutableBytes out) override { return plain_->read(out); }

 private:
  std::unique_ptr<pipeline::Source> inner_;  // declared first: outlives plain_, which reads it
  std::unique_ptr<pipeline::Source> plain_;
};

// Plaintext bytes [offset, offset + length) of an object: the sealed chunks
// that cover them, read in one ranged read and opened one by one.
class RangeObject final : public pipeline::Source {
 public:
  RangeObject(std::unique_ptr<pipeline::Source> sealed, age::PayloadKey key, std::uint64_t first_chunk,
              std::uint64_t last_chunk_of_object, std::uint64_t skip, std::uint64_t length, std::string where)
      : sealed_(std::move(sealed)), key_(std::move(key)), counter_(first_chunk), last_(last_chunk_of_object),
        skip_(skip), left_(length), where_(std::move(where)) {}

  Expected<std::size_t> read(pipeline::MutableBytes out) override {
    while (at_ >= plain_.size()) {
      if (left_ == 0) return std::size_t{0};
      if (auto r = next(); !r) return std::unexpected(r.error());
    }
    const std::size_t n = std::min<std::uint64_t>({out.size(), plain_.size() - at_, left_});
    std::memcpy(out.data(), plain_.data() + at_, n);
    at_ += n;
    left_ -= n;
    return n;
  }

 private:
  Expected<void> next() {
    std::string sealed(sealed_chunk, '\0');
    std::size_t got = 0;
    while (got < sealed.size()) {
      auto n = sealed_->read(pipeline::MutableBytes(reinterpret_cast<std::byte*>(sealed.data() + got),
                                                    sealed.size() - got));
      if (!n) return std::unexpected(n.error());
      if (*n == 0) break;
      got += *n;
    }
    sealed.resize(got);
    auto plain = age::open_chunk(key_, counter_, counter_ == last_, sealed);
    if (!plain) return std::unexpected(Error{plain.error().kind, fmt::format("{}: {}", where_, plain.error().message)});
    plain_ = std::move(*plain);
    at_ = std::min<std::uint64_t>(skip_, plain_.size());
    skip_ = 0;
    ++counter_;
    return {};
  }

  std::unique_ptr<pipeline::Source> sealed_;
  age::PayloadKey key_;
  std::uint64_t counter_;
  std::uint64_t last_;
  std::uint64_t skip_;
  std::uint64_t left_;
  std::string where_;
  std::string plain_;
  std::size_t at_ = 0;
};

}  // namespace

EncryptedBackend::EncryptedBackend(std::unique_ptr<Backend> inner, RepositoryKey key)
    : inner_(std::move(inner)), key_(std::move(key)) {}

Expected<std::unique_ptr<ObjectWriter>> EncryptedBackend::create(std::string_view name, IfExists if_exists) {
  auto writer = inner_->create(name, if_exists);
  if (!writer) return std::unexpected(writer.error());
  auto encryptor = age::encrypt_to(**writer, {.keys = {key_.identity.recipient()}});
  if (!encryptor) return std::unexpected(encryptor.error());
  std::string key(name);
  return std::unique_ptr<ObjectWriter>(new EncryptingWriter(std::move(*writer), std::move(*encryptor), [this, key] {
    std::lock_guard lock(mutex_);
    headers_.erase(key);  // a replaced object has a new header
  }));
}

Expected<EncryptedBackend::Header> EncryptedBackend::header(std::string_view name) const {
  {
    std::lock_guard lock(mutex_);
    if (auto it = headers_.find(name); it != headers_.end()) return it->second;
  }
  auto info = inner_->stat(name);
  if (!info) return std::unexpected(info.error());
  // The header and nonce: the first bytes of the object (ours are 184; age allows longer ones).
  auto source = inner_->open(name, 0, std::min<std::uint64_t>(info->size, 4096));
  if (!source) return std::unexpected(source.error());
  auto bytes = pipeline::read_all(**source, 4096);
  if (!bytes) return std::unexpected(bytes.error());
  auto key = age::open_header(*bytes, {.keys = {key_.identity}});
  if (!key) {
    return make_error(ErrorKind::corrupt, "{} is not an object of this encrypted repository: {}", locate(name),
                      key.error().message);
  }
  auto plain = age::plain_size(key->payload_offset, info->size);
  if (!plain) {
    return make_error(ErrorKind::corrupt, "{}: {} bytes is not the size of an age file (cut short?)", locate(name),
                      info->size);
  }
  Header h{std::move(*key), info->size, *plain};
  std::lock_guard lock(mutex_);
  if (headers_.size() >= header_cache_limit) headers_.clear();
  headers_.emplace(std::string(name), h);
  return h;
}

Expected<std::unique_ptr<pipeline::Source>> EncryptedBackend::open(std::string_view name, std::uint64_t offset,
                                                                   std::optional<std::uint64_t> length) const {
  if (offset == 0 && !length) {
    // A whole object (a manifest, a chunk list, a blob): streamed, no size needed.
    auto inner = inner_->open(name);
    if (!inner) return std::unexpected(inner.error());
    auto plain = age::decrypt_from(**inner, {.keys = {key_.identity}});
    if (!plain) {
      return make_error(ErrorKind::corrupt, "{} does not open with this repository's key: {}", locate(name),
                        plain.error().message);
    }
    return std::unique_ptr<pipeline::Source>(new WholeObject(std::move(*inner), std::move(*plain)));
  }
  auto h = header(name);
  if (!h) return std::unexpected(h.error());
  const std::uint64_t end = length ? offset + *length : h->plain_size;
  if (end > h->plain_size || offset > end) {
    return make_error(ErrorKind::corrupt, "{}: bytes {}-{} are past its end ({} bytes)", locate(name), offset, end,
                      h->plain_size);
  }
  const std::uint64_t chunks = h->plain_size == 0 ? 1 : (h->plain_size + age::payload_chunk - 1) / age::payload_chunk;
  const std::uint64_t first = offset / age::payload_chunk;
  const std::uint64_t last = end == offset ? first : (end - 1) / age::payload_chunk;
  const std::uint64_t from = h->key.payload_offset + first * sealed_chunk;
  const std::uint64_t to = std::min(h->sealed_size, h->key.payload_offset + (last + 1) * sealed_chunk);
  auto sealed = inner_->open(name, from, to - from);
  if (!sealed) return std::unexpected(sealed.error());
  return std::unique_ptr<pipeline::Source>(new RangeObject(std::move(*sealed), h->key, first, chunks - 1,
                                                           offset - first * age::payload_chunk, end - offset,
                                                           locate(name)));
}

Expected<ObjectInfo> EncryptedBackend::stat(std::string_view name) const {
  auto info = inner_->stat(name);
  if (!info) return std::unexpected(info.error());
  auto plain = age::plain_size(object_payload_offset, info->size);
  if (!plain) {
    return make_error(ErrorKind::corrupt, "{}: {} bytes is not the size of an object of an encrypted repository",
                      locate(name), info->size);
  }
  return ObjectInfo{info->name, *plain};
}

Expected<std::vector<ObjectInfo>> EncryptedBackend::list(std::string_view prefix) const {
  auto listed = inner_->list(prefix);
  if (!listed) return std::unexpected(listed.error());
  for (auto& object : *listed) {
    // A size no object of ours has: listed as 0 bytes; reading it fails, and says why.
    object.size = age::plain_size(object_payload_offset, object.size).value_or(0);
  }
  return listed;
}

Expected<void> EncryptedBackend::remove(std::string_view name) {
  {
    std::lock_guard lock(mutex_);
    if (auto it = headers_.find(name); it != headers_.end()) headers_.erase(it);
  }
  return inner_->remove(name);
}

}  // namespace dbsnap::store::encrypted
