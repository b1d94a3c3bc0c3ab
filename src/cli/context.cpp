#include "dbsnap/cli/context.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include <fmt/core.h>

#include "dbsnap/core/copy.hpp"
#include "dbsnap/engine/engine.hpp"
#include "dbsnap/pipeline/sha256.hpp"
#include "dbsnap/runtime/process.hpp"
#include "dbsnap/store/backend.hpp"
#include "dbsnap/store/move_record.hpp"
#include "dbsnap/util/fs.hpp"
#include "dbsnap/util/text.hpp"

namespace dbsnap::cli {

const config::Config& Context::config() {
  if (!config_) {
    if (!globals.config_file.empty()) {
      std::error_code ec;
      if (!std::filesystem::is_regular_file(globals.config_file, ec)) {
        fail(ErrorKind::config, "config file {} does not exist", globals.config_file);
      }
      config_ = value_or_throw(config::load_config(globals.config_file, engine::key_schema()));
    } else if (auto found = config::find_config(std::filesystem::current_path())) {
      config_ = value_or_throw(config::load_config(*found, engine::key_schema()));
    } else {
      config_ = config::Config{};
      config_->dir = std::filesystem::current_path();
    }
    // Before any store opens: the [s3] table for the S3 backend (the environment still wins).
    std::map<std::string, std::string> settings;
    for (const auto& [key, value] : config_->s3) settings["s3." + key] = value;
    store::set_backend_settings(std::move(settings));
  }
  return *config_;
}

std::filesystem::path Context::store_path() {
  if (!globals.store_dir.empty()) return globals.store_dir;
  if (const char* env = std::getenv("DBSNAP_STORE"); env && *env) return env;
  const auto& cfg = config();
  if (!cfg.store.empty()) return cfg.store;
  return cfg.dir / "snapshots";
}

namespace {

// What a key_command printed: an age identity file's text, or a passphrase
// on one line. Throws `config` when it does not run, fails or prints neither;
// its output is never shown.
store::encrypted::UserKeys keys_from_command(const std::vector<std::string>& argv, const std::string& key,
                                             const std::filesystem::path& cwd) {
  auto ran = runtime::run(runtime::Command{.argv = argv, .cwd = cwd}, {}, 64 * 1024);
  if (!ran) fail(ErrorKind::config, "{} did not run: {}", key, ran.error().message);
  if (!ran->status.ok()) {
    std::string said = std::string(util::trim(ran->err));
    if (auto nl = said.rfind('\n'); nl != std::string::npos) said = said.substr(nl + 1);
    fail(ErrorKind::config, "{} {}{}", key, ran->status.describe(), said.empty() ? "" : ": " + util::printable(said));
  }
  store::encrypted::UserKeys keys;
  keys.source = key;
  std::string text = ran->out;
  if (text.find("AGE-SECRET-KEY-1") != std::string::npos) {
    keys.identities = value_or_throw(crypto::age::parse_identity_file(text, "the output of " + key));
    return keys;
  }
  if (text.ends_with('\n')) text.pop_back();
  if (text.ends_with('\r')) text.pop_back();
  if (text.empty() || text.find('\n') != std::string::npos) {
    fail(ErrorKind::config, "{} printed no key: it must print an age identity file, or a passphrase on one line", key);
  }
  keys.passphrase = std::move(text);
  return keys;
}

}  // namespace

namespace {

// Where one store's key may come from, in order: a key file (given, else the
// variable `file_env`, else the config's), else the config's key command,
// else a passphrase in the variable `passphrase_env`.
struct KeySources {
  std::filesystem::path given_file;
  const char* file_env;
  std::filesystem::path config_file;
  const std::vector<std::string>& command;
  const char* command_key;
  const char* passphrase_env;
};

store::encrypted::Encryption encryption_of(config::NewStoreEncryption e) {
  return e == config::NewStoreEncryption::age ? store::encrypted::Encryption::age : store::encrypted::Encryption::none;
}

store::encrypted::UserKeys keys_from(const KeySources& from, const std::filesystem::path& config_dir,
                                     store::encrypted::UserKeys keys) {
  std::filesystem::path file = from.given_file;
  if (const char* env = std::getenv(from.file_env); file.empty() && env && *env) file = env;
  if (file.empty()) file = from.config_file;
  if (!file.empty()) {
    keys.identities = value_or_throw(crypto::age::read_identity_file(file));
    keys.source = "the key file " + file.string();
  } else if (!from.command.empty()) {
    auto printed = keys_from_command(from.command, from.command_key, config_dir);
    keys.identities = std::move(printed.identities);
    keys.passphrase = std::move(printed.passphrase);
    keys.source = std::move(printed.source);
  } else if (const char* passphrase = std::getenv(from.passphrase_env); passphrase && *passphrase) {
    keys.passphrase = passphrase;
    keys.source = from.passphrase_env;
  }
  return keys;
}

}  // namespace

const store::encrypted::UserKeys& Context::store_keys() {
  if (store_keys_) return *store_keys_;
  const auto& cfg = config();
  store::encrypted::UserKeys keys;
  keys.encryption = encryption_of(cfg.encryption);
  store_keys_ = keys_from({.given_file = {}, .file_env = "DBSNAP_KEY_FILE", .config_file = cfg.key_file,
                           .command = cfg.key_command, .command_key = "key_command",
                           .passphrase_env = "DBSNAP_PASSPHRASE"},
                          cfg.dir, std::move(keys));
  return *store_keys_;
}

store::encrypted::UserKeys Context::copy_keys(const std::filesystem::path& key_file) {
  const auto& cfg = config();
  store::encrypted::UserKeys keys;
  keys.encryption = encryption_of(cfg.copy_encryption);
  keys.ways = "--to-key-file, copy_key_file or copy_key_command in dbsnap.toml, DBSNAP_COPY_KEY_FILE (an age "
              "identity file) or DBSNAP_COPY_PASSPHRASE";
  return keys_from({.given_file = key_file, .file_env = "DBSNAP_COPY_KEY_FILE", .config_file = cfg.copy_key_file,
                    .command = cfg.copy_key_command, .command_key = "copy_key_command",
                    .passphrase_env = "DBSNAP_COPY_PASSPHRASE"},
                   cfg.dir, std::move(keys));
}

store::Store Context::open_copy_destination(const store::Store& from, const std::string& location,
                                            const std::filesystem::path& key_file) {
  auto keys = copy_keys(key_file);
  if (keys.empty()) core::refuse_copy_in_clear(from, location);
  auto opened = value_or_throw(store::Store::open(location, store::CatalogRecovery::fail, store::StoreAccess::write,
                                                  std::move(keys)));
  opened.set_snapshot_layout(config().snapshot_layout);
  core::check_copy_destination(from, opened);
  return opened;
}

store::Store& Context::store() {
  if (!store_) {
    store_ = value_or_throw(store::Store::open(store_path(), store::CatalogRecovery::fail,
                                               store::StoreAccess::write, store_keys()));
    store_->set_snapshot_layout(config().snapshot_layout);
  }
  return *store_;
}

store::Store& Context::store_for_reading() {
  if (!store_) {
    store_ = value_or_throw(store::Store::open(store_path(), store::CatalogRecovery::fail, store::StoreAccess::read,
                                               store_keys()));
    store_->set_snapshot_layout(config().snapshot_layout);
  }
  return *store_;
}

store::Store& Context::store_for_rebuild() {
  if (!store_) {
    store_ = value_or_throw(store::Store::open(store_path(), store::CatalogRecovery::set_aside,
                                               store::StoreAccess::write, store_keys()));
    store_->set_snapshot_layout(config().snapshot_layout);
  }
  return *store_;
}

void Context::record_command_line(int argc, char** argv) {
  command_line = argc > 0 ? std::filesystem::path(argv[0]).filename().string() : "dbsnap";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool plain = !arg.empty() && arg.find_first_of(" \t'\"$\\") == std::string::npos;
    command_line += plain ? " " + arg : " '" + arg + "'";
  }
}

namespace {

// Where the target locks of a store this process cannot write live: a private
// folder per user ($XDG_RUNTIME_DIR, else the temp folder), one subfolder per
// store (the SHA-256 of its path). Every dbsnap that uses that store sees it
// read-only too, so they all meet there.
std::filesystem::path lock_root_outside(const std::filesystem::path& store_root) {
  const char* runtime = std::getenv("XDG_RUNTIME_DIR");
  const std::filesystem::path base = runtime && *runtime
                                         ? std::filesystem::path(runtime) / "dbsnap-locks"
                                         : std::filesystem::temp_directory_path() /
                                               fmt::format("dbsnap-locks-{}", ::getuid());
  value_or_throw(util::ensure_private_dir(base));
  struct stat st{};
  if (::lstat(base.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::getuid()) {
    fail(ErrorKind::failure, "the lock folder {} is not a folder of this user; remove it", base.string());
  }
  const auto digest = value_or_throw(pipeline::sha256_hex(
      pipeline::Bytes(reinterpret_cast<const std::byte*>(store_root.c_str()), store_root.native().size())));
  return base / digest.substr(0, 16);
}

}  // namespace

store::TargetLock Context::lock_target(const std::string& target, store::LockMode mode) {
  const auto timeout = std::chrono::milliseconds(static_cast<long long>(globals.lock_timeout * 1000.0));
  const auto& opened = store_ ? *store_ : store();
  auto lock = value_or_throw(store::TargetLock::acquire(
      {.store_root = opened.writable() ? opened.root() : lock_root_outside(opened.root()),
       .target = target,
       .mode = mode,
       .timeout = timeout,
       .command = command_line,
       .on_wait = [](const std::string& message) { std::fprintf(stderr, "dbsnap: %s\n", message.c_str()); }}));
  // Holding the lock, no live process is moving the target: a record left is a killed move's.
  if (auto left = store::read_move_record(opened.root(), target)) {
    fmt::print(stderr, "dbsnap: warning: {}\n", store::describe_unfinished_move(target, *left));
  }
  return lock;
}

const config::Target& Context::target(const std::string& name) { return config().target(name); }

std::filesystem::path Context::migrations_dir(const config::Target& target, const std::string& override_dir) {
  if (!override_dir.empty()) return std::filesystem::absolute(override_dir).lexically_normal();
  if (target.has("migrations")) return target.path("migrations");
  return (target.config_dir / "migrations" / "versions").lexically_normal();
}

void require_known_target(Context& context, store::Store& store, const std::string& name) {
  if (context.config().targets.contains(name)) return;
  const auto stored = value_or_throw(store.targets());
  if (std::find(stored.begin(), stored.end(), name) == stored.end()) context.target(name);
}

void report_unfinished_moves(Context& context, const std::string& target) {
  const auto& root = context.store_for_reading().root();
  auto report = [&](const std::string& name) {
    auto left = store::read_move_record(root, name);
    if (!left) return;
    for (const auto& holder : store::TargetLock::holders(root, name)) {
      if (holder.pid == left->pid) return;  // still moving it
    }
    fmt::print(stderr, "dbsnap: warning: {}\n", store::describe_unfinished_move(name, *left));
  };
  if (!target.empty()) {
    report(target);
    return;
  }
  for (const auto& [name, configured] : context.config().targets) report(name);
}

void forget_unfinished_move(Context& context, const std::string& target) {
  if (auto cleared = store::clear_move_record(context.store().root(), target); !cleared) {
    fmt::print(stderr, "dbsnap: warning: cannot remove the record of an earlier unfinished move: {}\n",
               cleared.error().message);
  }
}

void remove_restore_leftovers(Context& context) {
  for (const auto& [name, target] : context.config().targets) {
    if (auto* engine = engine::find_engine(target.engine)) engine->remove_leftovers(target);
  }
}

store::Manifest Context::resolve(const std::string& reference, const std::string& target) {
  // The store is open already when a command needs to write it; a reader's reference opens it for reading.
  return value_or_throw(store_for_reading().resolve(reference, target, globals.automatic));
}

}  // namespace dbsnap::cli

namespace dbsnap::cli {

std::unique_ptr<pipeline::Progress> Context::progress(std::string label, std::uint64_t total) const {
  if (globals.quiet || globals.json || ::isatty(STDERR_FILENO) != 1) return nullptr;
  return std::make_unique<pipeline::Progress>(STDERR_FILENO, std::move(label), total);
}

}  // namespace dbsnap::cli
