#include <algorithm>

#include <CLI/CLI.hpp>

#include "dbsnap/cli/command.hpp"
#include "dbsnap/cli/commands.hpp"
#include "dbsnap/cli/context.hpp"
#include "dbsnap/cli/output.hpp"
#include "dbsnap/core/copy.hpp"
#include "dbsnap/util/text.hpp"

namespace dbsnap::cli {

// `dbsnap copy`: snapshots into another store, oldest first, one at a time
// (core/copy.hpp). A snapshot that fails (a damaged one) does not stop the
// others; the run then ends with the first failure's exit code. Resumable:
// what the destination holds is skipped.
int run_copy(Context& context, const CopyOptions& options) {
  const std::string to = options.to.empty() ? context.config().copy_to : options.to;
  if (to.empty()) {
    fail(ErrorKind::usage, "name the store to copy to: --to STORE (a folder or s3://BUCKET/PREFIX), or copy_to in "
         "dbsnap.toml");
  }
  if (options.all && !options.snapshots.empty()) fail(ErrorKind::usage, "give snapshots or --all, not both");
  if (!options.all && options.snapshots.empty()) fail(ErrorKind::usage, "name the snapshots to copy, or pass --all");
  auto& from = context.store_for_reading();
  std::vector<store::Manifest> snapshots;
  if (options.all) {
    auto found = value_or_throw(from.find({.target = options.target}));
    snapshots.assign(found.rbegin(), found.rend());
  } else {
    for (const auto& reference : options.snapshots) {
      auto m = context.resolve(reference, options.target);
      if (std::none_of(snapshots.begin(), snapshots.end(), [&](const auto& s) { return s.id == m.id; })) {
        snapshots.push_back(std::move(m));
      }
    }
    std::sort(snapshots.begin(), snapshots.end(),
              [](const auto& a, const auto& b) { return a.created_at < b.created_at; });
  }
  auto destination = context.open_copy_destination(from, to, options.key_file);

  nlohmann::json results = nlohmann::json::array();
  std::size_t copied = 0;
  std::size_t present = 0;
  std::uint64_t added = 0;
  std::optional<DbsnapError> first_failure;
  std::size_t failures = 0;
  for (const auto& m : snapshots) {
    auto progress = context.progress(fmt::format("copy {}", m.id), store::stream_bytes(m));
    try {
      const auto result = core::copy_snapshot(from, m, destination, progress.get());
      progress.reset();
      const bool was_present = result.outcome == core::CopyOutcome::present;
      nlohmann::json entry = snapshot_ref_json(result.copy);
      entry["outcome"] = was_present ? "present" : "copied";
      entry["new_bytes"] = was_present ? 0 : result.copy.stored_bytes;
      entry["error"] = "";
      results.push_back(std::move(entry));
      if (was_present) {
        ++present;
        if (!context.globals.json) fmt::print("present {}  {}  already in {}\n", m.id, m.target, destination.location());
        continue;
      }
      ++copied;
      added += result.copy.stored_bytes;
      if (!context.globals.json) {
        fmt::print("copied  {}  {}  {} dump, {} new in {}\n", m.id, m.target, util::human_bytes(m.raw_bytes),
                   util::human_bytes(result.copy.stored_bytes), destination.location());
      }
    } catch (const DbsnapError& e) {
      if (e.kind() == ErrorKind::interrupted) throw;
      progress.reset();
      ++failures;
      if (!first_failure) first_failure = e;
      nlohmann::json entry = snapshot_ref_json(m);
      entry["outcome"] = "failed";
      entry["new_bytes"] = 0;
      entry["error"] = e.what();
      results.push_back(std::move(entry));
      fmt::print(stderr, "dbsnap: snapshot {} was not copied: {}\n", m.id, e.what());
    }
  }
  if (context.globals.json) {
    print_json({{"destination", destination.location()}, {"snapshots", results}});
  } else {
    fmt::print("{} snapshot(s) copied to {} ({} new there), {} already there{}\n", copied, destination.location(),
               util::human_bytes(added), present, failures ? fmt::format(", {} failed", failures) : "");
  }
  if (first_failure) {
    throw DbsnapError(first_failure->kind(), fmt::format("{} of {} snapshot(s) were not copied to {}; the first: {}",
                                                         failures, snapshots.size(), destination.location(),
                                                         first_failure->what()));
  }
  return 0;
}

void add_copy(CLI::App& app, Context& context) {
  auto options = std::make_shared<CopyOptions>();
  auto* cmd = add_command(app, context, options, "copy",
                          "Copy snapshots into another store (only the chunks it lacks are sent)", run_copy);
  cmd->add_option("snapshots", options->snapshots, "Snapshot ids, id prefixes, 'latest' or @REV");
  cmd->add_option("--to", options->to, "The store to copy to: a folder or s3://BUCKET/PREFIX (default: copy_to)");
  cmd->add_option("--to-key-file", options->key_file,
                  "age identity file that opens the destination (or encrypts a new one)");
  cmd->add_option("--target", options->target, "Only this target's snapshots ('latest' and @REV: of this target)");
  cmd->add_flag("--all", options->all, "Copy every snapshot of the store (or of --target)");
}

}  // namespace dbsnap::cli
