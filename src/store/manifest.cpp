#include "dbsnap/store/manifest.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "dbsnap/store/ids.hpp"

namespace dbsnap::store {

using nlohmann::json;

json to_json(const Manifest& m) {
  return json{
      {"format", "dbsnap-manifest"},
      {"format_version", manifest_format_version},
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
  };
}

Expected<Manifest> manifest_from_json(const json& doc) {
  try {
    if (!doc.is_object() || doc.value("format", "") != "dbsnap-manifest") {
      return make_error(ErrorKind::corrupt, "not a dbsnap manifest");
    }
    int version = doc.at("format_version").get<int>();
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
    const json& blob = doc.at("blob");
    m.blob_file = blob.at("file").get<std::string>();
    if (!is_valid_blob_file_name(m.blob_file, m.id)) {
      return make_error(ErrorKind::corrupt, "invalid blob file name '{}' (expected {}.<kind>.zst)", m.blob_file, m.id);
    }
    m.compression = blob.at("compression").get<std::string>();
    m.level = blob.at("level").get<int>();
    m.raw_bytes = blob.at("raw_bytes").get<std::uint64_t>();
    m.raw_sha256 = blob.at("raw_sha256").get<std::string>();
    m.stored_bytes = blob.at("stored_bytes").get<std::uint64_t>();
    m.stored_sha256 = blob.at("stored_sha256").get<std::string>();
    const json& versions = doc.at("versions");
    m.tool_version = versions.value("tool", "");
    m.server_version = versions.value("server", "");
    m.dbsnap_version = versions.value("dbsnap", "");
    m.source = doc.value("source", "");
    m.duration_ms = doc.value("duration_ms", std::uint64_t{0});
    m.status = doc.value("status", "complete");
    m.verified_at = doc.value("verified_at", "");
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

}  // namespace dbsnap::store
