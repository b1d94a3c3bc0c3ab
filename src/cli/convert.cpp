#include <CLI/CLI.hpp>

#include "dbsnap/cli/command.hpp"
#include "dbsnap/cli/commands.hpp"
#include "dbsnap/cli/context.hpp"
#include "dbsnap/util/interrupt.hpp"
#include "dbsnap/util/text.hpp"

namespace dbsnap::cli {

// `dbsnap convert`: stores the blob snapshots of a store again as chunks
// (Store::convert_to_chunks), oldest first, one at a time: resumable (a
// second run converts what is left) and interruptible between snapshots and
// within one (the snapshot then stays a blob).
int run_convert(Context& context, const ConvertOptions& options) {
  auto& store = context.store();
  if (!options.target.empty()) (void)context.config().target(options.target);
  auto snapshots = value_or_throw(store.find({.target = options.target}));
  std::vector<store::Manifest> blobs;
  for (auto it = snapshots.rbegin(); it != snapshots.rend(); ++it) {
    if (it->layout == store::DataLayout::blob) blobs.push_back(*it);
  }
  std::uint64_t before = 0;
  std::uint64_t added = 0;
  std::size_t done = 0;
  for (const auto& m : blobs) {
    if (options.dry_run) {
      fmt::print("would convert {}  {}  {}\n", m.id, m.target, util::human_bytes(m.stored_bytes));
      before += m.stored_bytes;
      continue;
    }
    util::check_interrupted();
    auto converted = store.convert_to_chunks(m);
    if (!converted) {
      throw DbsnapError(with_context(converted.error(), fmt::format("converting snapshot {} (converted {} of {}; "
                                                                    "run it again to go on)", m.id, done,
                                                                    blobs.size())));
    }
    before += m.stored_bytes;
    added += converted->stored_bytes;
    ++done;
    fmt::print("converted {}  {}  blob {} -> {} new in the repository\n", m.id, m.target,
               util::human_bytes(m.stored_bytes), util::human_bytes(converted->stored_bytes));
  }
  if (options.dry_run) {
    fmt::print("would convert {} snapshot(s) ({} of blobs)\n", blobs.size(), util::human_bytes(before));
  } else if (blobs.empty()) {
    context.note("no snapshots stored as blobs{}", options.target.empty() ? "" : " for target " + options.target);
  } else {
    fmt::print("converted {} snapshot(s): {} of blobs replaced by {} of new chunks\n", done,
               util::human_bytes(before), util::human_bytes(added));
  }
  return 0;
}

void add_convert(CLI::App& app, Context& context) {
  auto options = std::make_shared<ConvertOptions>();
  auto* cmd = add_command(app, context, options, "convert",
                          "Store blob snapshots again as deduplicated chunks (resumable)", run_convert);
  cmd->add_option("--target", options->target, "Only this target's snapshots");
  cmd->add_flag("--dry-run", options->dry_run, "List what would be converted");
}

}  // namespace dbsnap::cli
