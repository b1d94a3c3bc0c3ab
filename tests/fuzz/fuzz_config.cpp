// libFuzzer target: the dbsnap.toml loader (config::parse_config) with the real
// engines' key schema. Besides not crashing, every failure must be a config
// error naming the file, and every loaded target must satisfy what the loader
// promises (a usable name, a known engine, its required keys, typed values).

#include "dbsnap/config/config.hpp"
#include "dbsnap/engine/engine.hpp"
#include "dbsnap/store/backend.hpp"
#include "dbsnap/store/ids.hpp"
#include "fuzz_check.hpp"

using namespace dbsnap;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const config::KeySchema schema = engine::key_schema();
  const std::filesystem::path file = "/fuzz/project/dbsnap.toml";
  auto loaded = config::parse_config(fuzz_text(data, size), file, schema);
  if (!loaded) {
    FUZZ_CHECK(loaded.error().kind == ErrorKind::config, "a bad config is a config error");
    FUZZ_CHECK(loaded.error().message.starts_with(file.string() + ":"), "the error names the file and line");
    return 0;
  }
  FUZZ_CHECK(loaded->file == file && loaded->dir == file.parent_path(), "the config knows where it is");
  FUZZ_CHECK(loaded->store.empty() || loaded->store.is_absolute() || store::has_scheme(loaded->store.string()),
             "the store key is resolved, or a location with a scheme");
  for (const auto& [name, target] : loaded->targets) {
    FUZZ_CHECK(store::is_valid_target_name(name) && target.name == name, "target names are folder-safe");
    const auto* keys = schema(target.engine);
    FUZZ_CHECK(keys != nullptr, "targets have a known engine");
    for (const auto& spec : *keys) {
      FUZZ_CHECK(!spec.required || target.has(spec.name), "required keys are present");
      if (!target.has(spec.name)) continue;
      const auto& value = target.values.at(spec.name);
      switch (spec.type) {
        case config::KeyType::string:
          FUZZ_CHECK(std::holds_alternative<std::string>(value), "string keys hold strings");
          break;
        case config::KeyType::path: {
          FUZZ_CHECK(std::holds_alternative<std::string>(value), "path keys hold strings");
          auto path = target.path(spec.name);
          FUZZ_CHECK(path.empty() || path.is_absolute(), "paths resolve against the config folder");
          break;
        }
        case config::KeyType::integer:
          FUZZ_CHECK(std::holds_alternative<std::int64_t>(value), "integer keys hold integers");
          break;
        case config::KeyType::boolean:
          FUZZ_CHECK(std::holds_alternative<bool>(value), "boolean keys hold booleans");
          break;
      }
    }
    for (const auto& [key, _] : target.values) {
      bool declared = std::ranges::any_of(*keys, [&](const config::KeySpec& s) { return s.name == key; });
      FUZZ_CHECK(declared, "only declared keys are loaded");
    }
    FUZZ_CHECK(&loaded->target(name) == &target, "targets are found by name");
  }
  try {
    (void)loaded->target("no such target, surely");
    FUZZ_CHECK(false, "an unknown target is an error");
  } catch (const DbsnapError& e) {
    FUZZ_CHECK(e.kind() == ErrorKind::config, "an unknown target is a config error");
  }
  return 0;
}
