#include "dbsnap/store/move_record.hpp"

#include <fstream>
#include <sstream>

#include <fmt/core.h>

#include "dbsnap/store/ids.hpp"
#include "dbsnap/store/lock.hpp"
#include "dbsnap/util/fs.hpp"
#include "dbsnap/util/text.hpp"

namespace dbsnap::store {

namespace fs = std::filesystem;

namespace {

constexpr const char* record_name = "move";

}  // namespace

Expected<void> write_move_record(const fs::path& store_root, const std::string& target, const MoveRecord& record) {
  if (!is_valid_target_name(target)) {
    return make_error(ErrorKind::config, "target name '{}' is not usable as a folder name", target);
  }
  const fs::path dir = target_folder(store_root, target);
  if (auto made = util::ensure_private_dir(dir); !made) return made;
  auto file = util::AtomicFile::create(dir / record_name);
  if (!file) return std::unexpected(file.error());
  using util::on_one_line;
  const std::string text = fmt::format("pid={}\nwhat={}\nto={}\nsafety_snapshot={}\nsince={}\n", record.pid,
                                       on_one_line(record.what), on_one_line(record.to),
                                       on_one_line(record.safety_snapshot), on_one_line(record.since));
  if (auto written = util::write_all(file->fd(), text.data(), text.size()); !written) return written;
  return file->commit();
}

std::optional<MoveRecord> read_move_record(const fs::path& store_root, const std::string& target) {
  if (!is_valid_target_name(target)) return std::nullopt;
  std::ifstream in(target_folder(store_root, target) / record_name);
  if (!in) return std::nullopt;
  MoveRecord record;
  std::string line;
  while (std::getline(in, line)) {
    const auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    const std::string key = line.substr(0, eq), value = line.substr(eq + 1);
    if (key == "pid") {
      try {
        record.pid = std::stoi(value);
      } catch (const std::exception&) {
        record.pid = 0;  // a pid we cannot read is only not named
      }
    } else if (key == "what") {
      record.what = value;
    } else if (key == "to") {
      record.to = value;
    } else if (key == "safety_snapshot") {
      record.safety_snapshot = value;
    } else if (key == "since") {
      record.since = value;
    }
  }
  if (record.safety_snapshot.empty()) return std::nullopt;
  return record;
}

Expected<void> clear_move_record(const fs::path& store_root, const std::string& target) {
  if (!is_valid_target_name(target)) return {};
  const fs::path dir = target_folder(store_root, target);
  std::error_code ec;
  if (!fs::remove(dir / record_name, ec)) {
    if (ec) return make_error(ErrorKind::failure, "cannot remove {}: {}", (dir / record_name).string(), ec.message());
    return {};  // there was none
  }
  return util::fsync_dir(dir);
}

std::string describe_unfinished_move(const std::string& target, const MoveRecord& record) {
  const std::string who = record.pid > 0 ? fmt::format(" (pid {})", record.pid) : std::string();
  const std::string to = record.to.empty() ? std::string() : " to " + record.to;
  const std::string when = record.since.empty() ? std::string() : " started " + util::display_time(record.since);
  return fmt::format("the {} of '{}'{}{}{} did not finish: dbsnap was stopped before it could check or undo it, "
                     "so '{}' may be between two states; snapshot {} holds it as it was before: dbsnap restore {} "
                     "--yes puts it back",
                     record.what.empty() ? "move" : record.what, target, to, who, when, target,
                     record.safety_snapshot, record.safety_snapshot);
}

}  // namespace dbsnap::store
