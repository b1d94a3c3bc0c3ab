#include "dbsnap/cli/output.hpp"

#include <algorithm>
#include <set>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "dbsnap/cli/context.hpp"
#include "dbsnap/pipeline/progress.hpp"
#include "dbsnap/runtime/process.hpp"
#include "dbsnap/util/text.hpp"

namespace dbsnap::cli {

namespace {

// The commands that print a result, and so take --json.
const std::set<std::string> reporting_commands = {"backup",    "list",  "show",    "verify",  "restore",
                                                  "revisions", "prune", "upgrade", "rollback", "doctor", "copy"};

void add_to_commands(CLI::App& parent, GlobalOptions& globals) {
  for (CLI::App* cmd : parent.get_subcommands({})) {
    if (!cmd->get_subcommands({}).empty()) {
      add_to_commands(*cmd, globals);  // a group (catalog): its commands take them
      continue;
    }
    if (reporting_commands.contains(cmd->get_name())) {
      cmd->add_flag("--json", globals.json,
                    "Print the result as one JSON document (FORMAT.md: JSON output); errors as JSON on stderr");
    }
    cmd->add_flag("-q,--quiet", globals.quiet, "No progress line and no informational messages on stderr");
    cmd->add_flag("-v,--verbose", globals.verbose, "Log every command dbsnap runs on stderr, secrets masked");
  }
}

}  // namespace

void add_output_options(CLI::App& app, GlobalOptions& globals) {
  app.add_flag("--json", globals.json, "Commands that report print one JSON document; errors as JSON on stderr");
  app.add_flag("-q,--quiet", globals.quiet, "No progress line and no informational messages on stderr");
  app.add_flag("-v,--verbose", globals.verbose, "Log every command dbsnap runs on stderr, secrets masked");
  add_to_commands(app, globals);
  runtime::set_command_observer([&globals](const runtime::Command& command) {
    if (!globals.verbose) return;
    pipeline::Progress::clear_active_line();
    if (command.via.empty()) {
      fmt::print(stderr, "dbsnap: run: {}\n", runtime::describe_command(command));
    } else {
      fmt::print(stderr, "dbsnap: run via {}: {}\n", command.via, runtime::describe_command(command));
    }
    std::fflush(stderr);
  });
}

void print_json(const nlohmann::json& document) {
  fmt::print("{}\n", document.dump(2, ' ', false, nlohmann::json::error_handler_t::replace));
  std::fflush(stdout);
}

const char* kind_name(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::failure: return "failure";
    case ErrorKind::usage: return "usage";
    case ErrorKind::config: return "config";
    case ErrorKind::not_found: return "not_found";
    case ErrorKind::corrupt: return "corrupt";
    case ErrorKind::runtime: return "runtime";
    case ErrorKind::engine: return "engine";
    case ErrorKind::refused: return "refused";
    case ErrorKind::guarded: return "guarded";
    case ErrorKind::busy: return "busy";
    case ErrorKind::interrupted: return "interrupted";
  }
  return "failure";
}

std::string error_json(ErrorKind kind, const std::string& message, int exit_code) {
  // Ordered as documented: kind, exit_code, message.
  nlohmann::ordered_json doc = {
      {"error", {{"kind", kind_name(kind)}, {"exit_code", exit_code}, {"message", message}}}};
  // Invalid UTF-8 (a path, a tool's output) is replaced rather than thrown on.
  return doc.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

nlohmann::json snapshot_ref_json(const store::Manifest& m) {
  return {{"id", m.id}, {"target", m.target}, {"revisions", m.revisions}, {"created_at", m.created_at}, {"label", m.label}};
}

nlohmann::json snapshot_json(const store::Store& store, const store::Manifest& manifest) {
  auto doc = store::to_json(manifest);
  doc["path"] = store.blob_location(manifest);
  doc["manifest_path"] = store.manifest_location(manifest);
  return doc;
}

void print_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths(header.size());
  for (std::size_t i = 0; i < header.size(); ++i) widths[i] = header[i].size();
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size() && i < widths.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  auto print_row = [&](const std::vector<std::string>& row) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      if (i + 1 == row.size()) {
        line += row[i];
      } else {
        line += fmt::format("{:<{}}  ", row[i], widths[i]);
      }
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    fmt::print("{}\n", line);
  };
  print_row(header);
  for (const auto& row : rows) print_row(row);
}

std::string snapshot_summary(const store::Manifest& m) {
  if (m.layout == store::DataLayout::chunks) {
    return fmt::format(
        "snapshot  {}\n"
        "target    {} ({})\n"
        "revision  {}\n"
        "size      {} raw, {} new in the repository (deduplicated)\n"
        "time      {}\n",
        m.id, m.target, m.engine, util::revision_text(m.revisions), util::human_bytes(m.raw_bytes),
        util::human_bytes(m.stored_bytes), util::human_duration(std::chrono::milliseconds(m.duration_ms)));
  }
  return fmt::format(
      "snapshot  {}\n"
      "target    {} ({})\n"
      "revision  {}\n"
      "size      {} raw, {} stored ({})\n"
      "time      {}\n",
      m.id, m.target, m.engine, util::revision_text(m.revisions), util::human_bytes(m.raw_bytes),
      util::human_bytes(m.stored_bytes), util::compression_ratio(m.raw_bytes, m.stored_bytes),
      util::human_duration(std::chrono::milliseconds(m.duration_ms)));
}

}  // namespace dbsnap::cli
