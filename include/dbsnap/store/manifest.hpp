#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dbsnap/util/error.hpp"

namespace dbsnap::store {

class Backend;

// The newest manifest format version this build reads and writes; FORMAT.md
// documents each. A snapshot stored as one blob is written as version 1 (so
// that older releases still read it), a chunked one as version 2.
inline constexpr int manifest_format_version = 2;

// How a snapshot's dump is stored (FORMAT.md).
enum class DataLayout {
  blob,    // one zstd file, "<id>.<kind>.zst" beside the manifest (format 1)
  chunks,  // deduplicated chunks in the repository's packs, listed by "<id>.chunks" (format 2)
};

// "blob" or "chunks"; parse_data_layout() is its inverse (nullopt for anything else).
std::string_view layout_name(DataLayout layout);
std::optional<DataLayout> parse_data_layout(std::string_view name);

// Rows per table of a dump, counted as it streamed by at backup time
// (FORMAT.md, "tables"): MySQL/MariaDB "table", PostgreSQL "schema.table",
// SQLite "table". What `verify --restore` compares a test restore with.
using TableRows = std::map<std::string, std::uint64_t>;

// What is known about one snapshot. The JSON manifest beside the blob holds
// all of it, so the catalog can be rebuilt from the manifests alone.
struct Manifest {
  std::string id;
  std::string target;
  std::string engine;
  std::string created_at;              // RFC 3339 UTC, milliseconds
  std::string label;                   // may be empty
  std::vector<std::string> revisions;  // sorted Alembic revision set; empty when unversioned
  DataLayout layout = DataLayout::blob;
  std::string blob_file;               // blob layout: file name of the .zst blob, in the same folder
  std::string chunk_list;              // chunks layout: file name of the chunk list, "<id>.chunks"
  std::uint64_t chunks = 0;            // chunks layout: how many chunks the list names
  std::string compression = "zstd";
  int level = 3;
  std::uint64_t raw_bytes = 0;
  std::string raw_sha256;
  // Blob layout: the blob's size and SHA-256. Chunks layout: the bytes of
  // the new chunk frames this snapshot added to the repository when it was
  // taken, and the SHA-256 of its chunk list object.
  std::uint64_t stored_bytes = 0;
  std::string stored_sha256;
  std::string tool_version;    // the dump tool (or SQLite library) that wrote the dump
  std::string server_version;  // the database server, when there is one
  std::string dbsnap_version;
  std::uint64_t duration_ms = 0;
  std::string status = "complete";  // complete | verified | damaged
  std::string verified_at;          // last verify time, empty if never
  std::string source;               // what was dumped, without secrets ("file /x/app.db")
  // Taken by dbsnap itself to protect a change (pre-restore, pre-upgrade,
  // pre-rollback, and the failed state of a guarded command): never what
  // `latest`, `@REV` or rollback pick unless asked (--include-automatic).
  bool automatic = false;
  // Pinned by `dbsnap pin` or `backup --pin`: prune always keeps it, delete refuses it.
  bool pinned = false;
  // Rows per table at backup time; nullopt when not recorded (a snapshot
  // taken before dbsnap counted them, or a dump the counter could not follow).
  std::optional<TableRows> tables;
  // The last successful test restore (`verify --restore`), RFC 3339 UTC; empty if never.
  std::string restore_tested_at;
};

// How many bytes reading the snapshot back streams (what progress counts):
// the blob's size, or the dump's for a chunked snapshot.
inline std::uint64_t stream_bytes(const Manifest& m) {
  return m.layout == DataLayout::chunks ? m.raw_bytes : m.stored_bytes;
}

// The labels of the snapshots dbsnap takes itself. Manifests written before
// the `automatic` field existed are automatic when their label is one of these.
bool is_automatic_label(std::string_view label);

// Serialises a manifest as the versioned JSON document of FORMAT.md.
nlohmann::json to_json(const Manifest& manifest);

// Parses and validates a manifest document; errors name the missing or
// ill-typed field. Newer format versions than this build knows are refused.
Expected<Manifest> manifest_from_json(const nlohmann::json& document);

// Parses manifest text (a whole .json file).
Expected<Manifest> parse_manifest(std::string_view text);

// The text of a manifest object: to_json's document, and with a non-empty
// `mac_key` (Backend::manifest_key()) a top-level "mac": the HMAC-SHA-256
// under that key of this very text with the MAC's 64 hex digits written as
// zeros (FORMAT.md, "Manifest"). Errors: OpenSSL's.
Expected<std::string> manifest_text(const Manifest& manifest, std::string_view mac_key);

// The same text with its "mac" (written zeroed by manifest_text) filled in
// for `document` as it is: what `dbsnap key upgrade` gives the manifests of
// a store made before they carried one, keeping every field as written.
// Errors: `failure` when the document already has a "mac" field; OpenSSL's.
Expected<std::string> manifest_text(nlohmann::json document, std::string_view mac_key);

// Whether a manifest without a MAC is refused: always in an authenticated
// store, and in an encrypted one whose key object says so (keys.hpp); an
// encrypted store made before manifests carried a MAC accepts one without
// (until `dbsnap key upgrade`), but checks a MAC that is there.
enum class MacPolicy { required, when_present };

// Parses a manifest object's text; with a non-empty `mac_key`, first checks
// its "mac" (a `corrupt` error when it does not match: the manifest was
// altered, or written by someone without the store's key; or when it has
// none and `policy` requires one). Without a key a "mac" is not checked.
Expected<Manifest> parse_manifest(std::string_view text, std::string_view mac_key,
                                  MacPolicy policy = MacPolicy::required);

// parse_manifest with the manifest key and policy of the backend the text was read from.
Expected<Manifest> parse_manifest(std::string_view text, const Backend& from);

}  // namespace dbsnap::store
