// dbsnap metrics: the store's state in Prometheus' text exposition format
// (version 0.0.4), for node_exporter's textfile collector:
//   dbsnap metrics > /var/lib/prometheus/node-exporter/dbsnap.prom.$$ && mv ... dbsnap.prom
// One series per target (configured, or with snapshots in the store), from
// the catalog alone (and the last failed backup's record,
// store/failure_record.hpp): it reads no snapshot, takes no lock and writes
// nothing.

#include <set>

#include <CLI/CLI.hpp>

#include "dbsnap/cli/command.hpp"
#include "dbsnap/cli/commands.hpp"
#include "dbsnap/cli/context.hpp"
#include "dbsnap/store/failure_record.hpp"
#include "dbsnap/util/text.hpp"

namespace dbsnap::cli {

namespace {

// A label value as the exposition format wants it: \, " and newlines escaped.
std::string label_value(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

double seconds_of(const std::string& utc) {
  util::TimePoint t;
  if (!util::parse_utc(utc, t)) return 0;
  return static_cast<double>(t.time_since_epoch().count()) / 1000.0;
}

struct Family {
  const char* name;
  const char* help;
};

constexpr Family families[] = {
    {"dbsnap_snapshots", "Snapshots of the target in the store (those dbsnap took itself included)."},
    {"dbsnap_last_backup_timestamp_seconds",
     "When the newest snapshot the user took (not a pre-*/failed-* one) was taken; 0 when there is none."},
    {"dbsnap_last_backup_raw_bytes", "Size of the newest such snapshot's dump, uncompressed."},
    {"dbsnap_stored_bytes",
     "Bytes the target's snapshots added to the store (a blob's size; what a chunked one added new)."},
    {"dbsnap_last_verified_timestamp_seconds", "When dbsnap verify last checked one of its snapshots; 0 if never."},
    {"dbsnap_damaged_snapshots", "Snapshots dbsnap verify marked damaged."},
    {"dbsnap_last_restore_test_timestamp_seconds",
     "When dbsnap verify --restore last restored one of its snapshots into a scratch copy and found it whole; 0 if "
     "never."},
    {"dbsnap_last_backup_failure_timestamp_seconds",
     "When a backup of the target last failed on this host; 0 if never (alert when it is newer than the last backup)."},
};

}  // namespace

int run_metrics(Context& context, const MetricsOptions& options) {
  auto& store = context.store_for_reading();
  std::set<std::string> targets;
  if (!options.target.empty()) {
    require_known_target(context, store, options.target);
    targets.insert(options.target);
  } else {
    for (const auto& [name, target] : context.config().targets) targets.insert(name);
    for (const auto& name : value_or_throw(store.targets())) targets.insert(name);
  }
  std::map<std::string, std::vector<double>> values;  // per target, in the order of `families`
  for (const auto& name : targets) {
    const auto snapshots = value_or_throw(store.find({.target = name}));  // newest first
    double last = 0, last_raw = 0, stored = 0, verified = 0, damaged = 0, tested = 0;
    for (const auto& m : snapshots) {
      if (!m.automatic && last == 0) {
        last = seconds_of(m.created_at);
        last_raw = static_cast<double>(m.raw_bytes);
      }
      stored += static_cast<double>(m.stored_bytes);
      if (!m.verified_at.empty()) verified = std::max(verified, seconds_of(m.verified_at));
      damaged += m.status == "damaged";
      if (!m.restore_tested_at.empty()) tested = std::max(tested, seconds_of(m.restore_tested_at));
    }
    const auto failure = store::read_failure_record(store.root(), name);
    values[name] = {static_cast<double>(snapshots.size()), last, last_raw, stored, verified, damaged, tested,
                    failure ? seconds_of(failure->at) : 0};
  }
  std::string out;
  for (std::size_t i = 0; i < std::size(families); ++i) {
    out += fmt::format("# HELP {} {}\n# TYPE {} gauge\n", families[i].name, families[i].help, families[i].name);
    for (const auto& [name, v] : values) {
      out += fmt::format("{}{{target=\"{}\"}} {}\n", families[i].name, label_value(name), v[i]);
    }
  }
  fmt::print("{}", out);
  return 0;
}

void add_metrics(CLI::App& app, Context& context) {
  auto options = std::make_shared<MetricsOptions>();
  auto* cmd = add_command(app, context, options, "metrics",
                          "Print the store's state in Prometheus' text format (node_exporter's "
                                            "textfile collector)", run_metrics);
  cmd->add_option("--target", options->target, "Only this target");
}

}  // namespace dbsnap::cli
