#include "dbsnap/store/encrypted/authenticated_backend.hpp"

#include "dbsnap/pipeline/sha256.hpp"

namespace dbsnap::store::encrypted {

Expected<std::string> derive_manifest_key(std::string_view chunk_key) {
  constexpr std::string_view label = "dbsnap manifest mac v1";
  // HMAC-SHA-256 of a constant label: a second key that reveals nothing of the chunk key.
  return pipeline::hmac_sha256_hex(chunk_key, pipeline::Bytes(reinterpret_cast<const std::byte*>(label.data()),
                                                              label.size()));
}

Expected<std::unique_ptr<Backend>> AuthenticatedBackend::create(std::unique_ptr<Backend> inner, RepositoryKey key) {
  if (key.manifest_key.empty()) {
    auto manifest_key = derive_manifest_key(key.chunk_key);
    if (!manifest_key) return std::unexpected(manifest_key.error());
    key.manifest_key = std::move(*manifest_key);
  }
  key.manifest_macs_required = true;
  return std::unique_ptr<Backend>(new AuthenticatedBackend(std::move(inner), std::move(key)));
}

}  // namespace dbsnap::store::encrypted
