#include "dbsnap/store/failure_record.hpp"

#include <fstream>

#include <fmt/core.h>

#include "dbsnap/store/ids.hpp"
#include "dbsnap/store/lock.hpp"
#include "dbsnap/util/fs.hpp"
#include "dbsnap/util/text.hpp"

namespace dbsnap::store {

namespace fs = std::filesystem;

namespace {

constexpr const char* record_name = "last-failure";

}  // namespace

Expected<void> write_failure_record(const fs::path& store_root, const std::string& target,
                                    const FailureRecord& record) {
  if (!is_valid_target_name(target)) {
    return make_error(ErrorKind::config, "target name '{}' is not usable as a folder name", target);
  }
  const fs::path dir = target_folder(store_root, target);
  if (auto made = util::ensure_private_dir(dir); !made) return made;
  const std::string message = util::on_one_line(record.message);
  return util::write_file_atomic(dir / record_name,
                                 fmt::format("at={}\nexit_code={}\nmessage={}\n", record.at, record.exit_code, message));
}

std::optional<FailureRecord> read_failure_record(const fs::path& store_root, const std::string& target) {
  if (!is_valid_target_name(target)) return std::nullopt;
  std::ifstream in(target_folder(store_root, target) / record_name);
  if (!in) return std::nullopt;
  FailureRecord record;
  std::string line;
  while (std::getline(in, line)) {
    const auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    const std::string key = line.substr(0, eq), value = line.substr(eq + 1);
    if (key == "at") {
      record.at = value;
    } else if (key == "exit_code") {
      record.exit_code = std::atoi(value.c_str());
    } else if (key == "message") {
      record.message = value;
    }
  }
  if (record.at.empty()) return std::nullopt;
  return record;
}

}  // namespace dbsnap::store
