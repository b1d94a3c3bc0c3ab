#include "dbsnap/store/manifest.hpp"
#include "helpers.hpp"

using namespace dbsnap;

namespace {

store::Manifest sample() {
  store::Manifest m;
  m.id = "1m7z3mme60ymr";
  m.target = "dev";
  m.engine = "sqlite";
  m.created_at = "2026-11-21T13:09:57.123Z";
  m.label = "before upgrade";
  m.revisions = {"a1", "b2"};
  m.blob_file = "1m7z3mme60ymr.sqlite.zst";
  m.raw_bytes = 24576;
  m.raw_sha256 = std::string(64, 'a');
  m.stored_bytes = 691;
  m.stored_sha256 = std::string(64, 'b');
  m.tool_version = "SQLite 3.40.1";
  m.source = "file /x/app.db";
  return m;
}

}  // namespace

TEST_CASE("a manifest survives a JSON round trip") {
  auto m = sample();
  auto parsed = store::parse_manifest(store::to_json(m).dump());
  REQUIRE(parsed);
  CHECK(store::to_json(*parsed) == store::to_json(m));
  CHECK(parsed->revisions == std::vector<std::string>{"a1", "b2"});
}

TEST_CASE("manifest parsing names what is wrong") {
  auto doc = store::to_json(sample());
  doc["blob"].erase("raw_sha256");
  auto missing = store::manifest_from_json(doc);
  REQUIRE_FALSE(missing);
  CHECK(missing.error().message.find("raw_sha256") != std::string::npos);

  doc = store::to_json(sample());
  doc["format_version"] = store::manifest_format_version + 1;
  auto newer = store::manifest_from_json(doc);
  REQUIRE_FALSE(newer);
  CHECK(newer.error().message.find("newer") != std::string::npos);

  doc = store::to_json(sample());
  doc["blob"]["file"] = "../../etc/passwd";
  CHECK_FALSE(store::manifest_from_json(doc));
  doc["blob"]["file"] = "/etc/passwd";
  CHECK_FALSE(store::manifest_from_json(doc));
  doc["blob"]["file"] = "1m7z3mme60yms.sqlite.zst";  // another snapshot's blob
  CHECK_FALSE(store::manifest_from_json(doc));

  for (const char* target : {"../../etc", "/tmp", "a/b", ".", ""}) {
    doc = store::to_json(sample());
    doc["target"] = target;
    auto outside = store::manifest_from_json(doc);
    CHECK_FALSE(outside);
    if (!outside) CHECK(outside.error().kind == ErrorKind::corrupt);
  }
  doc = store::to_json(sample());
  doc["id"] = "../1m7z3mme60";
  CHECK_FALSE(store::manifest_from_json(doc));

  CHECK_FALSE(store::parse_manifest("{not json"));
}

TEST_CASE("manifest numbers must be integers in range (found by fuzz_manifest)") {
  auto doc = store::to_json(sample());
  doc["format_version"] = 1.333e33;  // get<int>() would be undefined behaviour
  auto huge = store::manifest_from_json(doc);
  REQUIRE_FALSE(huge);
  CHECK(huge.error().kind == ErrorKind::corrupt);
  CHECK(huge.error().message.find("format_version") != std::string::npos);

  for (const char* field : {"raw_bytes", "stored_bytes", "level"}) {
    for (const auto& bad : {nlohmann::json(-1), nlohmann::json(2.5), nlohmann::json(1e300), nlohmann::json("7"),
                            nlohmann::json(true)}) {
      if (std::string_view(field) == "level" && bad == -1) continue;  // zstd's fast levels are negative
      doc = store::to_json(sample());
      doc["blob"][field] = bad;
      auto parsed = store::manifest_from_json(doc);
      CHECK_FALSE(parsed);
      if (!parsed) CHECK(parsed.error().message.find(field) != std::string::npos);
    }
  }
  doc = store::to_json(sample());
  doc["duration_ms"] = -5;
  CHECK_FALSE(store::manifest_from_json(doc));
  doc.erase("duration_ms");
  REQUIRE(store::manifest_from_json(doc));
  CHECK(store::manifest_from_json(doc)->duration_ms == 0);
}

TEST_CASE("automatic: written and read back; inferred from the label for manifests written before it") {
  auto m = sample();
  m.label = "pre-upgrade";
  auto doc = store::to_json(m);
  CHECK(doc.at("automatic") == false);  // a user's backup labelled like a safety snapshot stays manual
  CHECK_FALSE(store::manifest_from_json(doc)->automatic);
  doc["automatic"] = true;
  CHECK(store::manifest_from_json(doc)->automatic);
  doc.erase("automatic");  // a manifest from before the field
  CHECK(store::manifest_from_json(doc)->automatic);
  doc["label"] = "before upgrade";
  CHECK_FALSE(store::manifest_from_json(doc)->automatic);
  for (const char* label : {"pre-restore", "pre-rollback", "failed-upgrade", "failed-downgrade"}) {
    doc["label"] = label;
    CHECK(store::manifest_from_json(doc)->automatic);
  }
  doc["automatic"] = "yes";
  auto bad = store::manifest_from_json(doc);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message.find("'automatic'") != std::string::npos);
}

TEST_CASE("a chunked snapshot's manifest is format 2 and survives a round trip; a blob's stays format 1") {
  CHECK(store::to_json(sample())["format_version"] == 1);
  auto m = sample();
  m.layout = store::DataLayout::chunks;
  m.blob_file.clear();
  m.chunk_list = m.id + ".chunks";
  m.chunks = 7;
  const auto doc = store::to_json(m);
  CHECK(doc["format_version"] == 2);
  CHECK_FALSE(doc.contains("blob"));
  CHECK(doc["data"]["chunk_list"] == m.id + ".chunks");
  CHECK(doc["data"]["added_bytes"] == m.stored_bytes);
  auto parsed = store::parse_manifest(doc.dump());
  REQUIRE(parsed);
  CHECK(parsed->layout == store::DataLayout::chunks);
  CHECK(parsed->chunks == 7);
  CHECK(store::to_json(*parsed) == doc);
  CHECK(store::stream_bytes(*parsed) == m.raw_bytes);

  auto elsewhere = doc;
  elsewhere["data"]["chunk_list"] = "../other/x.chunks";
  auto bad = store::manifest_from_json(elsewhere);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message.find("chunk list name") != std::string::npos);
  auto unknown = doc;
  unknown["data"]["layout"] = "tapes";
  CHECK(store::manifest_from_json(unknown).error().message.find("unknown data layout 'tapes'") != std::string::npos);
  CHECK(store::parse_data_layout("chunks") == store::DataLayout::chunks);
  CHECK_FALSE(store::parse_data_layout("Chunks"));
}

TEST_CASE("row counts and the last test restore: written, read back, absent in older manifests") {
  auto m = sample();
  auto doc = store::to_json(m);
  CHECK(doc.at("tables").is_null());
  CHECK(doc.at("restore_tested_at") == "");
  doc.erase("tables");  // as written before the fields existed
  doc.erase("restore_tested_at");
  auto older = store::manifest_from_json(doc);
  REQUIRE(older);
  CHECK_FALSE(older->tables.has_value());
  CHECK(older->restore_tested_at.empty());

  m.tables = store::TableRows{{"users", 12}, {"odd`name", 0}, {"public.orders", 18446744073709551615ull}};
  m.restore_tested_at = "2026-12-07T04:00:00.000Z";
  auto parsed = store::parse_manifest(store::to_json(m).dump());
  REQUIRE(parsed);
  REQUIRE(parsed->tables.has_value());
  CHECK(*parsed->tables == *m.tables);
  CHECK(parsed->restore_tested_at == m.restore_tested_at);
  CHECK(store::to_json(*parsed) == store::to_json(m));

  // An empty database has no tables: recorded as an empty object, not as "not counted".
  m.tables = store::TableRows{};
  parsed = store::parse_manifest(store::to_json(m).dump());
  REQUIRE(parsed);
  REQUIRE(parsed->tables.has_value());
  CHECK(parsed->tables->empty());

  doc = store::to_json(sample());
  for (const auto& bad : {nlohmann::json(3), nlohmann::json::array({1}), nlohmann::json{{"t", -1}},
                          nlohmann::json{{"t", "12"}}, nlohmann::json{{"t", 1.5}}}) {
    doc["tables"] = bad;
    auto refused = store::manifest_from_json(doc);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().message.find("invalid manifest") != std::string::npos);
  }
}
