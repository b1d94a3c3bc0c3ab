#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "dbsnap/store/manifest.hpp"
#include "dbsnap/util/error.hpp"

namespace dbsnap::config {

namespace fs = std::filesystem;

// The name of the configuration file, searched from the current directory upward.
inline constexpr const char* config_file_name = "dbsnap.toml";

enum class KeyType { string, integer, boolean, path, string_list };

// One key a target table may hold. Engines and runtimes declare theirs; the
// loader rejects keys no one declared.
struct KeySpec {
  std::string name;
  KeyType type = KeyType::string;
  bool required = false;
  std::string help;
};

using Value = std::variant<std::string, std::int64_t, bool, std::vector<std::string>>;

// A named database: its engine and the keys of its table, already checked
// against the engine's and runtime's KeySpecs.
struct Target {
  std::string name;
  std::string engine;
  fs::path config_dir;  // relative paths are relative to this folder
  std::map<std::string, Value> values;

  bool has(const std::string& key) const { return values.contains(key); }
  // A string key's value, or `fallback` when it is not set.
  std::string string(const std::string& key, const std::string& fallback = {}) const;
  std::int64_t integer(const std::string& key, std::int64_t fallback) const;
  bool boolean(const std::string& key, bool fallback) const;
  // A string-list key's value (a TOML array of strings), empty when it is not set.
  std::vector<std::string> strings(const std::string& key) const;
  // A path key resolved against the config folder (absolute paths stay).
  fs::path path(const std::string& key) const;
};

// The keys allowed for an engine: nullptr for an unknown engine.
using KeySchema = std::function<const std::vector<KeySpec>*(const std::string& engine)>;

// What a key given for a new store turns on (Config::encryption).
enum class NewStoreEncryption { age, none };

// A loaded configuration. `file` is empty when no dbsnap.toml was found.
struct Config {
  fs::path file;
  fs::path dir;
  fs::path store;  // from the top-level `store` key, resolved; empty when unset
  // The top-level `key_file` key, resolved: an age identity file that opens
  // (or, for a new store, turns on) the store's encryption; empty when unset.
  fs::path key_file;
  // The top-level `key_command` key: an argv whose output is the key (an age
  // identity file's text, or a passphrase on one line), run in the config's
  // folder when no key file is set; `copy_key_command` likewise for copy_to.
  std::vector<std::string> key_command;
  std::vector<std::string> copy_key_command;
  // The top-level `encryption` key: what a key turns on for a new store:
  // "age" (the default: every object encrypted) or "none" (objects in the
  // clear, manifests authenticated with the key); `copy_encryption` likewise
  // for new copy destinations. A store that exists keeps what it has.
  NewStoreEncryption encryption = NewStoreEncryption::age;
  NewStoreEncryption copy_encryption = NewStoreEncryption::age;
  // The top-level `snapshot_layout` key: how new snapshots are stored
  // ("chunks", the default: repository v2, deduplicated; or "blob": one
  // zstd file per snapshot, the layout of releases before repository v2).
  store::DataLayout snapshot_layout = store::DataLayout::chunks;
  // The top-level `copy_to` key: a store (folder or s3://...) that every
  // successful backup is copied to, and `dbsnap copy`'s default destination;
  // a folder is resolved against the config folder. Empty when unset.
  std::string copy_to;
  // The top-level `copy_key_file` key, resolved: the age identity file that
  // opens (or, new, encrypts) the copy_to stores; empty when unset.
  fs::path copy_key_file;
  std::map<std::string, Target> targets;
  // The [s3] table: "endpoint", "region", "addressing" ("path", the
  // default, or "virtual"), for every s3:// store this file names
  // (store::set_backend_settings; the AWS_* environment wins). Never
  // credentials: those come from the environment or ~/.aws/credentials.
  std::map<std::string, std::string> s3;

  // The named target; a config error listing the known ones otherwise.
  const Target& target(const std::string& name) const;
};

// The target's `copy_to` key, for every engine's schema (engine/registry.cpp).
const std::vector<KeySpec>& copy_keys();

// Where a backup of `target` is copied to: its own `copy_to` key, else the
// top-level one (resolved as Config::copy_to says); empty for none.
std::string copy_destination(const Config& config, const Target& target);

// Finds dbsnap.toml in `start` or its parents, like git finds .git.
std::optional<fs::path> find_config(const fs::path& start);

// Loads and validates a config file. Syntax errors, unknown keys, wrong
// types, missing required keys and unknown engines are config errors that
// name the file, the line and the key.
Expected<Config> load_config(const fs::path& file, const KeySchema& schema);

// Parses config text (the file name is only used in messages).
Expected<Config> parse_config(std::string_view text, const fs::path& file, const KeySchema& schema);

}  // namespace dbsnap::config
