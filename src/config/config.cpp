#include "dbsnap/config/config.hpp"

#include <toml++/toml.h>

#include "dbsnap/store/backend.hpp"
#include "dbsnap/store/ids.hpp"
#include "dbsnap/util/fs.hpp"
#include "dbsnap/util/text.hpp"

namespace dbsnap::config {


namespace {

const std::vector<KeySpec>& common_keys() {
  static const std::vector<KeySpec> keys = {
      {"engine", KeyType::string, true, "sqlite, mysql or postgres"},
  };
  return keys;
}

const char* type_name(KeyType type) {
  switch (type) {
    case KeyType::string: return "a string";
    case KeyType::path: return "a path string";
    case KeyType::integer: return "an integer";
    case KeyType::boolean: return "a boolean";
    case KeyType::string_list: return "an array of strings";
  }
  return "?";
}

std::string where(const fs::path& file, const toml::node& node) {
  return fmt::format("{}:{}", file.string(), node.source().begin.line);
}

}  // namespace

std::string Target::string(const std::string& key, const std::string& fallback) const {
  auto it = values.find(key);
  if (it == values.end()) return fallback;
  if (auto* s = std::get_if<std::string>(&it->second)) return *s;
  return fallback;
}

std::int64_t Target::integer(const std::string& key, std::int64_t fallback) const {
  auto it = values.find(key);
  if (it == values.end()) return fallback;
  if (auto* i = std::get_if<std::int64_t>(&it->second)) return *i;
  return fallback;
}

bool Target::boolean(const std::string& key, bool fallback) const {
  auto it = values.find(key);
  if (it == values.end()) return fallback;
  if (auto* b = std::get_if<bool>(&it->second)) return *b;
  return fallback;
}

std::vector<std::string> Target::strings(const std::string& key) const {
  auto it = values.find(key);
  if (it == values.end()) return {};
  if (auto* list = std::get_if<std::vector<std::string>>(&it->second)) return *list;
  return {};
}

fs::path Target::path(const std::string& key) const {
  fs::path p = string(key);
  if (p.empty() || p.is_absolute()) return p;
  return (config_dir / p).lexically_normal();
}

namespace {

// A store location as written in dbsnap.toml: kept when it has a scheme
// (s3://...), else a folder resolved against the config's folder.
std::string resolve_store_location(const std::string& written, const fs::path& dir) {
  if (written.empty() || store::has_scheme(written)) return written;
  const fs::path folder = written;
  return folder.is_absolute() ? folder.string() : (dir / folder).lexically_normal().string();
}

}  // namespace

const std::vector<KeySpec>& copy_keys() {
  static const std::vector<KeySpec> keys = {
      {"copy_to", KeyType::path, false, "a store (folder or s3://BUCKET/PREFIX) every backup of it is copied to"},
  };
  return keys;
}

std::string copy_destination(const Config& config, const Target& target) {
  if (target.has("copy_to")) return resolve_store_location(target.string("copy_to"), target.config_dir);
  return config.copy_to;
}

const Target& Config::target(const std::string& name) const {
  auto it = targets.find(name);
  if (it != targets.end()) return it->second;
  std::vector<std::string> known;
  for (const auto& [key, _] : targets) known.push_back(key);
  if (file.empty()) {
    fail(ErrorKind::config, "unknown target '{}': no {} found in this folder or its parents (or use --config)",
         name, config_file_name);
  }
  fail(ErrorKind::config, "unknown target '{}' in {} (known: {})", name, file.string(),
       known.empty() ? std::string("none") : util::join(known, ", "));
}

std::optional<fs::path> find_config(const fs::path& start) {
  std::error_code ec;
  fs::path dir = fs::absolute(start, ec);
  while (true) {
    fs::path candidate = dir / config_file_name;
    if (fs::is_regular_file(candidate, ec)) return candidate;
    if (!dir.has_parent_path() || dir.parent_path() == dir) return std::nullopt;
    dir = dir.parent_path();
  }
}

Expected<Config> load_config(const fs::path& file, const KeySchema& schema) {
  auto text = util::read_small_file(file);
  if (!text) return std::unexpected(Error{ErrorKind::config, text.error().message});
  return parse_config(*text, fs::absolute(file).lexically_normal(), schema);
}

Expected<Config> parse_config(std::string_view text, const fs::path& file, const KeySchema& schema) {
  toml::table root;
  try {
    root = toml::parse(text, file.string());
  } catch (const toml::parse_error& e) {
    return make_error(ErrorKind::config, "{}:{}: {}", file.string(), e.source().begin.line, e.description());
  }
  Config config;
  config.file = file;
  config.dir = file.parent_path();
  for (const auto& [key, node] : root) {
    const std::string name(key.str());
    if (name == "store") {
      const auto* value = node.as_string();
      if (!value) return make_error(ErrorKind::config, "{}: key 'store' must be a path string", where(file, node));
      fs::path store = value->get();
      // A location with a scheme (s3://...) is not a path: kept as written (the store says what it can hold).
      const bool located = store::has_scheme(value->get());
      config.store = store.is_absolute() || located ? store : (config.dir / store).lexically_normal();
    } else if (name == "key_file") {
      const auto* value = node.as_string();
      if (!value || value->get().empty()) {
        return make_error(ErrorKind::config, "{}: key 'key_file' must be a path string (an age identity file)",
                          where(file, node));
      }
      const fs::path key = value->get();
      config.key_file = key.is_absolute() ? key : (config.dir / key).lexically_normal();
    } else if (name == "key_command" || name == "copy_key_command") {
      const auto* array = node.as_array();
      std::vector<std::string> argv;
      if (array && array->is_homogeneous<std::string>()) {
        for (const auto& item : *array) argv.push_back(item.as_string()->get());
      }
      if (argv.empty() || argv.front().empty()) {
        return make_error(ErrorKind::config, "{}: key '{}' must be a command as an array of strings, e.g. [\"pass\", "
                          "\"show\", \"dbsnap\"] (it prints the key)", where(file, node), name);
      }
      (name == "key_command" ? config.key_command : config.copy_key_command) = std::move(argv);
    } else if (name == "copy_to") {
      const auto* value = node.as_string();
      if (!value || value->get().empty()) {
        return make_error(ErrorKind::config, "{}: key 'copy_to' must be a store: a folder or s3://BUCKET/PREFIX",
                          where(file, node));
      }
      config.copy_to = resolve_store_location(value->get(), config.dir);
    } else if (name == "copy_key_file") {
      const auto* value = node.as_string();
      if (!value || value->get().empty()) {
        return make_error(ErrorKind::config, "{}: key 'copy_key_file' must be a path string (an age identity file)",
                          where(file, node));
      }
      const fs::path key = value->get();
      config.copy_key_file = key.is_absolute() ? key : (config.dir / key).lexically_normal();
    } else if (name == "encryption" || name == "copy_encryption") {
      const auto* value = node.as_string();
      if (!value || (value->get() != "age" && value->get() != "none")) {
        return make_error(ErrorKind::config, "{}: key '{}' must be \"age\" (encrypted) or \"none\" (in the clear, "
                          "authenticated)", where(file, node), name);
      }
      (name == "encryption" ? config.encryption : config.copy_encryption) =
          value->get() == "age" ? NewStoreEncryption::age : NewStoreEncryption::none;
    } else if (name == "snapshot_layout") {
      const auto* value = node.as_string();
      const auto layout = value ? store::parse_data_layout(value->get()) : std::nullopt;
      if (!layout) {
        return make_error(ErrorKind::config, "{}: key 'snapshot_layout' must be \"blob\" or \"chunks\"",
                          where(file, node));
      }
      config.snapshot_layout = *layout;
    } else if (name == "s3") {
      const auto* table = node.as_table();
      if (!table) return make_error(ErrorKind::config, "{}: 's3' must be a table ([s3])", where(file, node));
      for (const auto& [k, v] : *table) {
        const std::string key(k.str());
        const auto* value = v.as_string();
        if (key != "endpoint" && key != "region" && key != "addressing") {
          return make_error(ErrorKind::config, "{}: unknown key 's3.{}' (known: endpoint, region, addressing; "
                            "credentials come from the environment or ~/.aws/credentials)", where(file, v), key);
        }
        if (!value || value->get().empty()) {
          return make_error(ErrorKind::config, "{}: key 's3.{}' must be a non-empty string", where(file, v), key);
        }
        if (key == "addressing" && value->get() != "path" && value->get() != "virtual") {
          return make_error(ErrorKind::config, "{}: key 's3.addressing' must be \"path\" or \"virtual\"",
                            where(file, v));
        }
        config.s3[key] = value->get();
      }
    } else if (name == "targets") {
      const auto* targets = node.as_table();
      if (!targets) return make_error(ErrorKind::config, "{}: 'targets' must be a table", where(file, node));
      for (const auto& [target_key, target_node] : *targets) {
        const std::string target_name(target_key.str());
        const auto* table = target_node.as_table();
        if (!table) {
          return make_error(ErrorKind::config, "{}: targets.{} must be a table", where(file, target_node),
                            target_name);
        }
        if (!store::is_valid_target_name(target_name)) {
          return make_error(ErrorKind::config, "{}: target name '{}' may only use letters, digits, '_', '-', '.'",
                            where(file, target_node), target_name);
        }
        Target target;
        target.name = target_name;
        target.config_dir = config.dir;
        const auto* engine_node = table->get("engine");
        if (!engine_node || !engine_node->is_string()) {
          return make_error(ErrorKind::config, "{}: targets.{}: key 'engine' (a string) is required",
                            where(file, target_node), target_name);
        }
        target.engine = engine_node->as_string()->get();
        const auto* specs = schema(target.engine);
        if (!specs) {
          return make_error(ErrorKind::config, "{}: targets.{}.engine: unknown engine '{}'", where(file, *engine_node),
                            target_name, target.engine);
        }
        std::vector<KeySpec> allowed = common_keys();
        allowed.insert(allowed.end(), specs->begin(), specs->end());
        for (const auto& [value_key, value_node] : *table) {
          const std::string k(value_key.str());
          if (k == "engine") continue;
          auto spec = std::find_if(allowed.begin(), allowed.end(), [&](const KeySpec& s) { return s.name == k; });
          if (spec == allowed.end()) {
            std::vector<std::string> names;
            for (const auto& s : allowed) names.push_back(s.name);
            return make_error(ErrorKind::config, "{}: targets.{}.{}: unknown key for engine '{}' (known: {})",
                              where(file, value_node), target_name, k, target.engine, util::join(names, ", "));
          }
          bool ok = false;
          switch (spec->type) {
            case KeyType::string:
            case KeyType::path:
              if (auto* s = value_node.as_string()) {
                target.values[k] = s->get();
                ok = true;
              }
              break;
            case KeyType::integer:
              if (auto* i = value_node.as_integer()) {
                target.values[k] = i->get();
                ok = true;
              }
              break;
            case KeyType::boolean:
              if (auto* b = value_node.as_boolean()) {
                target.values[k] = b->get();
                ok = true;
              }
              break;
            case KeyType::string_list:
              if (auto* array = value_node.as_array(); array && array->is_homogeneous<std::string>()) {
                std::vector<std::string> list;
                for (const auto& item : *array) list.push_back(item.as_string()->get());
                target.values[k] = std::move(list);
                ok = true;
              } else if (array && array->empty()) {
                target.values[k] = std::vector<std::string>{};
                ok = true;
              }
              break;
          }
          if (!ok) {
            return make_error(ErrorKind::config, "{}: targets.{}.{}: must be {}", where(file, value_node),
                              target_name, k, type_name(spec->type));
          }
        }
        for (const auto& spec : allowed) {
          if (spec.required && !target.values.contains(spec.name) && spec.name != "engine") {
            return make_error(ErrorKind::config, "{}: targets.{}: key '{}' is required for engine '{}' ({})",
                              where(file, target_node), target_name, spec.name, target.engine, spec.help);
          }
        }
        config.targets.emplace(target_name, std::move(target));
      }
    } else {
      return make_error(ErrorKind::config,
                        "{}: unknown top-level key '{}' (known: store, key_file, key_command, encryption, "
                        "snapshot_layout, copy_to, copy_key_file, copy_key_command, copy_encryption, s3, targets)",
                        where(file, node), name);
    }
  }
  return config;
}

}  // namespace dbsnap::config
