// dbsnap key list | add | remove | upgrade: the key objects of an encrypted
// store (store/encrypted/keys.hpp). Adding needs the store opened with a key
// it already has; a new key is a recipient (age1..., public: fine on argv) or
// a passphrase read from a variable (never argv). Upgrading gives the
// manifests of a store made before they carried a MAC their MAC, and makes
// the user's key require one (store/upgrade_macs.cpp).
#include <CLI/CLI.hpp>

#include "dbsnap/cli/commands.hpp"
#include "dbsnap/cli/context.hpp"
#include "dbsnap/cli/output.hpp"
#include "dbsnap/crypto/age.hpp"
#include "dbsnap/util/text.hpp"

namespace dbsnap::cli {

namespace {

// What `key upgrade` did, for people; 0, or 5 (corrupt) when manifests were left without a valid MAC.
int print_upgrade(const store::ManifestMacUpgrade& done) {
  if (!done.given.empty()) {
    fmt::print("gave a MAC to {} manifest(s), as they stood:\n", done.given.size());
    std::vector<std::vector<std::string>> rows;
    for (const auto& m : done.given) {
      rows.push_back({m.id, m.target, m.created_at, m.revisions.empty() ? "-" : util::join(m.revisions, ",")});
    }
    print_table({"ID", "TARGET", "CREATED", "REVISION"}, rows);
  }
  if (done.had > 0) fmt::print("{} manifest(s) carried a valid MAC already\n", done.had);
  if (!done.keys.added.empty()) {
    fmt::print("key {} replaces key {}: with it, a manifest without a valid MAC is refused\n", done.keys.added,
               util::join(done.keys.removed, ", "));
  } else if (!done.keys.removed.empty()) {
    fmt::print("removed key {}: key {} (which requires a MAC on every manifest) opens the store for you\n",
               util::join(done.keys.removed, ", "), util::join(done.keys.kept, ", "));
  } else if (done.given.empty()) {
    fmt::print("nothing to upgrade: your key already requires a MAC on every manifest\n");
  }
  if (!done.keys.others.empty()) {
    fmt::print("key(s) {} do not open with your key: until their holders run 'dbsnap key upgrade' (or you remove "
               "them with 'dbsnap key remove ID'), dbsnap opened with them still accepts manifests without a MAC\n",
               util::join(done.keys.others, ", "));
  }
  if (done.refused.empty()) return 0;
  for (const auto& why : done.refused) fmt::print(stderr, "dbsnap: left as it was: {}\n", why);
  fmt::print(stderr, "dbsnap: {} manifest(s) were not given a MAC (dbsnap did not read them as snapshots before "
             "either); delete them or restore them from a copy\n", done.refused.size());
  return static_cast<int>(ErrorKind::corrupt);
}

}  // namespace

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
    case KeyAction::upgrade:
      return print_upgrade(value_or_throw(store.require_manifest_macs(context.store_keys())));
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
  auto* upgrade = cmd->add_subcommand("upgrade", "Give every manifest of a store made before manifests carried a "
                                      "MAC its MAC, and make your key require one");
  upgrade->callback([&context] { context.exit_code = run_key(context, {}, KeyAction::upgrade); });
  auto remove_options = std::make_shared<KeyOptions>();
  auto* remove = cmd->add_subcommand("remove", "Remove a key object (never the last one)");
  remove->add_option("id", remove_options->id, "The key's id (dbsnap key list)")->required();
  remove->callback([&context, remove_options] {
    context.exit_code = run_key(context, *remove_options, KeyAction::remove);
  });
}

}  // namespace dbsnap::cli
