// dbsnap key list | add | remove: the key objects of an encrypted store
// (store/encrypted/keys.hpp). Adding needs the store opened with a key it
// already has; a new key is a recipient (age1..., public: fine on argv) or a
// passphrase read from a variable (never argv).
#include <CLI/CLI.hpp>

#include "dbsnap/cli/commands.hpp"
#include "dbsnap/cli/context.hpp"
#include "dbsnap/crypto/age.hpp"

namespace dbsnap::cli {

int run_key(Context& context, const KeyOptions& options, KeyAction action) {
  auto& store = context.store();
  if (!store.keyed()) {
    fail(ErrorKind::usage, "the store {} has no keys: it is not encrypted or authenticated (key_file or "
         "DBSNAP_KEY_FILE given for a new store turns encryption on, or with encryption = \"none\" authentication)",
         store.location());
  }
  switch (action) {
    case KeyAction::list:
      for (const auto& id : value_or_throw(store.key_ids())) fmt::print("{}\n", id);
      return 0;
    case KeyAction::add: {
      crypto::age::Recipients to;
      if (!options.recipient.empty() == !options.passphrase_env.empty()) {
        fail(ErrorKind::usage, "key add needs one of --recipient age1... or --passphrase-env VARIABLE");
      }
      if (!options.recipient.empty()) {
        to.keys.push_back(value_or_throw(crypto::age::parse_recipient(options.recipient)));
      } else {
        const char* value = std::getenv(options.passphrase_env.c_str());
        if (value == nullptr || *value == '\0') {
          fail(ErrorKind::usage, "--passphrase-env {}: that variable is not set or empty", options.passphrase_env);
        }
        to.passphrase = value;
      }
      const auto id = value_or_throw(store.add_key(to));
      fmt::print("added key {}\n", id);
      return 0;
    }
    case KeyAction::remove:
      value_or_throw(store.remove_key(options.id));
      fmt::print("removed key {}\n", options.id);
      return 0;
  }
  return 0;
}

void add_key(CLI::App& app, Context& context) {
  auto* cmd = app.add_subcommand("key", "Manage the keys of an encrypted or authenticated store");
  cmd->require_subcommand(1);
  auto* list = cmd->add_subcommand("list", "List the store's key objects by id");
  list->callback([&context] { context.exit_code = run_key(context, {}, KeyAction::list); });
  auto add_options = std::make_shared<KeyOptions>();
  auto* add = cmd->add_subcommand("add", "Add a key: another recipient or a passphrase opens the store too");
  add->add_option("--recipient", add_options->recipient, "An age recipient (age1..., from age-keygen -y)");
  add->add_option("--passphrase-env", add_options->passphrase_env, "A variable holding the new passphrase");
  add->callback([&context, add_options] { context.exit_code = run_key(context, *add_options, KeyAction::add); });
  auto remove_options = std::make_shared<KeyOptions>();
  auto* remove = cmd->add_subcommand("remove", "Remove a key object (never the last one)");
  remove->add_option("id", remove_options->id, "The key's id (dbsnap key list)")->required();
  remove->callback([&context, remove_options] {
    context.exit_code = run_key(context, *remove_options, KeyAction::remove);
  });
}

}  // namespace dbsnap::cli
