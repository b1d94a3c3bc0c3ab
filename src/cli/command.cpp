#include "dbsnap/cli/command.hpp"

namespace dbsnap::cli {

CLI::Option* add_target_argument(CLI::App& cmd, std::string& target) {
  return cmd.add_option("target", target, "Target name from dbsnap.toml")->required();
}

CLI::Option* add_scope_option(CLI::App& cmd, std::string& target) {
  return cmd.add_option("--target", target, "Resolve 'latest' and @REVISION among this target's snapshots");
}

CLI::Option* add_yes_flag(CLI::App& cmd, Confirmation& confirmation, const std::string& help) {
  return cmd.add_flag_callback("--yes,-y", [&confirmation] { confirmation = Confirmation::assume_yes; }, help);
}

}  // namespace dbsnap::cli
