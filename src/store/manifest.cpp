#include "dbsnap/store/manifest.hpp"

#include <algorithm>
#include <limits>
#include <optional>
#include <utility>

#include <nlohmann/json.hpp>
#include <openssl/crypto.h>

#include "dbsnap/pipeline/sha256.hpp"
#include "dbsnap/store/backend.hpp"
#include "dbsnap/store/ids.hpp"

namespace dbsnap::store {

using nlohmann::json;

namespace {

// The integer `key` of a JSON object as T. Fractions, booleans, strings and
// values outside T's range are refused: nlohmann's get<T>() would convert
// them with wrap-around or undefined behaviour (a float beyond int's range).
template <typename T>
Expected<T> integer_field(const json& object, const char* key) {
  const json& value = object.at(key);
  if (value.is_number_unsigned()) {
    const auto u = value.get<std::uint64_t>();
    if (std::in_range<T>(u)) return static_cast<T>(u);
  } else if (value.is_number_integer()) {
    const auto i = value.get<std::int64_t>();
    if (std::in_range<T>(i)) return static_cast<T>(i);
  }
  return make_error(ErrorKind::corrupt, "invalid manifest: '{}' must be an integer from {} to {}", key,
                    std::numeric_limits<T>::min(), std::numeric_limits<T>::max());
}

}  // namespace

bool is_automatic_label(std::string_view label) {
  return label == "pre-restore" || label == "pre-upgrade" || label == "pre-rollback" || label == "failed-upgrade" ||
         label == "failed-downgrade";
}

std::string_view layout_name(DataLayout layout) { return layout == DataLayout::chunks ? "chunks" : "blob"; }

std::optional<DataLayout> parse_data_layout(std::string_view name) {
  if (name == "blob") return DataLayout::blob;
  if (name == "chunks") return DataLayout::chunks;
  return std::nullopt;
}

json to_json(const Manifest& m) {
  json doc{
      {"format", "dbsnap-manifest"},
      {"format_version", m.layout == DataLayout::chunks ? 2 : 1},
      {"id", m.id},
      {"target", m.target},
      {"engine", m.engine},
      {"created_at", m.created_at},
      {"label", m.label},
      {"revisions", m.revisions},
      {"blob",
       {{"file", m.blob_file},
        {"compression", m.compression},
        {"level", m.level},
        {"raw_bytes", m.raw_bytes},
        {"raw_sha256", m.raw_sha256},
        {"stored_bytes", m.stored_bytes},
        {"stored_sha256", m.stored_sha256}}},
      {"versions", {{"tool", m.tool_version}, {"server", m.server_version}, {"dbsnap", m.dbsnap_version}}},
      {"source", m.source},
      {"duration_ms", m.duration_ms},
      {"status", m.status},
      {"verified_at", m.verified_at},
      {"automatic", m.automatic},
      {"pinned", m.pinned},
  };
  doc["tables"] = m.tables ? json(*m.tables) : json(nullptr);
  doc["restore_tested_at"] = m.restore_tested_at;
  if (m.layout == DataLayout::chunks) {
    doc.erase("blob");
    doc["data"] = json{{"layout", "chunks"},
                       {"chunk_list", m.chunk_list},
                       {"chunks", m.chunks},
                       {"compression", m.compression},
                       {"level", m.level},
                       {"raw_bytes", m.raw_bytes},
                       {"raw_sha256", m.raw_sha256},
                       {"added_bytes", m.stored_bytes},
                       {"list_sha256", m.stored_sha256}};
  }
  return doc;
}

Expected<Manifest> manifest_from_json(const json& doc) {
  try {
    if (!doc.is_object() || doc.value("format", "") != "dbsnap-manifest") {
      return make_error(ErrorKind::corrupt, "not a dbsnap manifest");
    }
    auto version_field = integer_field<int>(doc, "format_version");
    if (!version_field) return std::unexpected(version_field.error());
    const int version = *version_field;
    if (version > manifest_format_version) {
      return make_error(ErrorKind::corrupt, "manifest format {} is newer than this dbsnap understands ({})",
                        version, manifest_format_version);
    }
    Manifest m;
    m.id = doc.at("id").get<std::string>();
    if (!is_valid_snapshot_id(m.id)) return make_error(ErrorKind::corrupt, "invalid snapshot id '{}'", m.id);
    m.target = doc.at("target").get<std::string>();
    if (!is_valid_target_name(m.target)) return make_error(ErrorKind::corrupt, "invalid target name '{}'", m.target);
    m.engine = doc.at("engine").get<std::string>();
    m.created_at = doc.at("created_at").get<std::string>();
    m.label = doc.value("label", "");
    m.revisions = doc.at("revisions").get<std::vector<std::string>>();
    std::sort(m.revisions.begin(), m.revisions.end());
    if (version >= 2) {
      const json& data = doc.at("data");
      const std::string layout = data.at("layout").get<std::string>();
      if (layout != "chunks") return make_error(ErrorKind::corrupt, "invalid manifest: unknown data layout '{}'", layout);
      m.layout = DataLayout::chunks;
      m.chunk_list = data.at("chunk_list").get<std::string>();
      if (m.chunk_list != m.id + ".chunks") {
        return make_error(ErrorKind::corrupt, "invalid chunk list name '{}' (expected {}.chunks)", m.chunk_list, m.id);
      }
      auto chunks = integer_field<std::uint64_t>(data, "chunks");
      auto level = integer_field<int>(data, "level");
      auto raw_bytes = integer_field<std::uint64_t>(data, "raw_bytes");
      auto added_bytes = integer_field<std::uint64_t>(data, "added_bytes");
      if (!chunks) return std::unexpected(chunks.error());
      if (!level) return std::unexpected(level.error());
      if (!raw_bytes) return std::unexpected(raw_bytes.error());
      if (!added_bytes) return std::unexpected(added_bytes.error());
      m.chunks = *chunks;
      m.compression = data.at("compression").get<std::string>();
      m.level = *level;
      m.raw_bytes = *raw_bytes;
      m.raw_sha256 = data.at("raw_sha256").get<std::string>();
      m.stored_bytes = *added_bytes;
      m.stored_sha256 = data.at("list_sha256").get<std::string>();
    } else {
      const json& blob = doc.at("blob");
      m.blob_file = blob.at("file").get<std::string>();
      if (!is_valid_blob_file_name(m.blob_file, m.id)) {
        return make_error(ErrorKind::corrupt, "invalid blob file name '{}' (expected {}.<kind>.zst)", m.blob_file,
                          m.id);
      }
      m.compression = blob.at("compression").get<std::string>();
      auto level = integer_field<int>(blob, "level");
      auto raw_bytes = integer_field<std::uint64_t>(blob, "raw_bytes");
      auto stored_bytes = integer_field<std::uint64_t>(blob, "stored_bytes");
      if (!level) return std::unexpected(level.error());
      if (!raw_bytes) return std::unexpected(raw_bytes.error());
      if (!stored_bytes) return std::unexpected(stored_bytes.error());
      m.level = *level;
      m.raw_bytes = *raw_bytes;
      m.raw_sha256 = blob.at("raw_sha256").get<std::string>();
      m.stored_bytes = *stored_bytes;
      m.stored_sha256 = blob.at("stored_sha256").get<std::string>();
    }
    const json& versions = doc.at("versions");
    m.tool_version = versions.value("tool", "");
    m.server_version = versions.value("server", "");
    m.dbsnap_version = versions.value("dbsnap", "");
    m.source = doc.value("source", "");
    if (doc.contains("duration_ms")) {
      auto duration = integer_field<std::uint64_t>(doc, "duration_ms");
      if (!duration) return std::unexpected(duration.error());
      m.duration_ms = *duration;
    }
    m.status = doc.value("status", "complete");
    m.verified_at = doc.value("verified_at", "");
    if (auto it = doc.find("automatic"); it != doc.end()) {
      if (!it->is_boolean()) return make_error(ErrorKind::corrupt, "invalid manifest: 'automatic' must be true or false");
      m.automatic = it->get<bool>();
    } else {
      m.automatic = is_automatic_label(m.label);  // written before the field existed
    }
    if (auto it = doc.find("pinned"); it != doc.end()) {
      if (!it->is_boolean()) return make_error(ErrorKind::corrupt, "invalid manifest: 'pinned' must be true or false");
      m.pinned = it->get<bool>();
    }
    if (auto it = doc.find("tables"); it != doc.end() && !it->is_null()) {
      if (!it->is_object()) return make_error(ErrorKind::corrupt, "invalid manifest: 'tables' must be an object");
      TableRows tables;
      for (auto t = it->begin(); t != it->end(); ++t) {
        if (!t.value().is_number_unsigned()) {
          return make_error(ErrorKind::corrupt, "invalid manifest: the row count of table '{}' is not a count",
                            t.key());
        }
        tables[t.key()] = t.value().get<std::uint64_t>();
      }
      m.tables = std::move(tables);
    }
    m.restore_tested_at = doc.value("restore_tested_at", "");
    return m;
  } catch (const json::exception& e) {
    return make_error(ErrorKind::corrupt, "invalid manifest: {}", e.what());
  }
}

Expected<Manifest> parse_manifest(std::string_view text) {
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return make_error(ErrorKind::corrupt, "manifest is not valid JSON");
  return manifest_from_json(doc);
}

namespace {

const std::string zero_mac(64, '0');

Expected<std::string> mac_of(std::string_view text, std::string_view mac_key) {
  return pipeline::hmac_sha256_hex(mac_key,
                                   pipeline::Bytes(reinterpret_cast<const std::byte*>(text.data()), text.size()));
}

// Where the 64 hex digits of the one `"mac": "<hex>"` field of `text` begin;
// nullopt when it is missing or there twice.
std::optional<std::size_t> mac_digits_at(std::string_view text, const std::string& hex) {
  const std::string field = "\"mac\": \"" + hex + "\"";
  const auto at = text.find(field);
  if (at == std::string_view::npos || text.find(field, at + 1) != std::string_view::npos) return std::nullopt;
  return at + field.size() - 1 - hex.size();
}

bool is_hex64(const std::string& text) {
  return text.size() == 64 && std::ranges::all_of(text, [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

}  // namespace

Expected<std::string> manifest_text(json document, std::string_view mac_key) {
  if (mac_key.empty()) return document.dump(2) + "\n";
  if (!document.is_object() || document.contains("mac")) {
    return make_error(ErrorKind::failure, "a manifest that already has a \"mac\" field cannot be given one");
  }
  document["mac"] = zero_mac;
  std::string text = document.dump(2) + "\n";
  auto mac = mac_of(text, mac_key);
  if (!mac) return std::unexpected(mac.error());
  // The only `"mac": "000..."` in the text: every string value is JSON-escaped, so `"mac": "` can only
  // be a key, and no other key of a manifest is named mac.
  const auto at = mac_digits_at(text, zero_mac);
  if (!at) return make_error(ErrorKind::failure, "cannot place the manifest's MAC");
  text.replace(*at, zero_mac.size(), *mac);
  return text;
}

Expected<std::string> manifest_text(const Manifest& manifest, std::string_view mac_key) {
  return manifest_text(to_json(manifest), mac_key);
}

Expected<Manifest> parse_manifest(std::string_view text, std::string_view mac_key, MacPolicy policy) {
  if (mac_key.empty()) return parse_manifest(text);
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return make_error(ErrorKind::corrupt, "manifest is not valid JSON");
  if (policy == MacPolicy::when_present && doc.is_object() && !doc.contains("mac")) return manifest_from_json(doc);
  if (!doc.is_object() || !doc.contains("mac") || !doc["mac"].is_string() || !is_hex64(doc["mac"].get<std::string>())) {
    return make_error(ErrorKind::corrupt, "the manifest carries no MAC, and every manifest of this store must: it "
                      "was not written by dbsnap with the store's key");
  }
  const std::string given = doc["mac"].get<std::string>();
  const auto at = mac_digits_at(text, given);
  if (!at) return make_error(ErrorKind::corrupt, "the manifest's MAC is not where dbsnap writes it: it was altered");
  std::string zeroed(text);
  zeroed.replace(*at, given.size(), zero_mac);
  auto mac = mac_of(zeroed, mac_key);
  if (!mac) return std::unexpected(mac.error());
  if (CRYPTO_memcmp(mac->data(), given.data(), given.size()) != 0) {
    return make_error(ErrorKind::corrupt, "the manifest does not authenticate with the store's key: it was altered, "
                      "or written by someone without the key");
  }
  return manifest_from_json(doc);
}

Expected<Manifest> parse_manifest(std::string_view text, const Backend& from) {
  return parse_manifest(text, from.manifest_key(),
                        from.manifest_macs_required() ? MacPolicy::required : MacPolicy::when_present);
}

}  // namespace dbsnap::store
