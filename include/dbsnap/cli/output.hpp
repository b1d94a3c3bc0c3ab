#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dbsnap/store/manifest.hpp"
#include "dbsnap/store/store.hpp"
#include "dbsnap/util/error.hpp"

namespace CLI {
class App;
}

namespace dbsnap::cli {

struct GlobalOptions;

// Declares --json, -q/--quiet and -v/--verbose, both before the command
// (global) and after it (on each command; --json only on the commands that
// report), and installs the --verbose command log ("dbsnap: run: ..." on
// stderr for every command dbsnap starts, secrets masked). Call after the
// commands are added.
void add_output_options(CLI::App& app, GlobalOptions& globals);

// Prints a --json document on stdout (one document, pretty-printed, with a
// final newline).
void print_json(const nlohmann::json& document);

// The name of an error kind in JSON errors: "failure", "usage", "config",
// "not_found", "corrupt", "runtime", "engine", "refused", "guarded",
// "interrupted".
const char* kind_name(ErrorKind kind);

// An error as --json reports it on stderr, one line:
// {"error":{"kind":"not_found","exit_code":4,"message":"..."}}; exit_code is the
// process's (the kind's, or 143 for an interruption by SIGTERM).
std::string error_json(ErrorKind kind, const std::string& message, int exit_code);

// A manifest's revisions etc. as --json prints a snapshot reference in
// command results: {"id", "target", "revisions", "created_at", "label"}.
nlohmann::json snapshot_ref_json(const store::Manifest& manifest);

// A manifest as --json prints it: the manifest document plus the absolute
// paths of its blob and manifest files.
nlohmann::json snapshot_json(const store::Store& store, const store::Manifest& manifest);

// Prints rows as a left-aligned table with a header row.
void print_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows);

// The one-paragraph summary backup and restore print for a snapshot.
std::string snapshot_summary(const store::Manifest& manifest);

}  // namespace dbsnap::cli
