#include "dbsnap/store/lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <thread>
#include <tuple>

#include "dbsnap/store/ids.hpp"
#include "dbsnap/util/interrupt.hpp"
#include "dbsnap/util/text.hpp"

namespace dbsnap::store {

namespace {

constexpr const char* locks_dir = ".locks";
constexpr const char* lock_file = "lock";
constexpr std::string_view note_prefix = "holder.";

std::string seconds_text(std::chrono::milliseconds duration) {
  if (duration.count() % 1000 == 0) return fmt::format("{} s", duration.count() / 1000);
  return fmt::format("{:.1f} s", static_cast<double>(duration.count()) / 1000.0);
}

// A holder note's command line: on one line, at most 300 bytes.
std::string note_command(std::string text) {
  text = util::on_one_line(std::move(text));
  if (text.size() > 300) text = text.substr(0, 297) + "...";
  return text;
}

}  // namespace

fs::path target_folder(const fs::path& store_root, const std::string& target) {
  return store_root / locks_dir / target;
}

std::string format_holder_note(const LockHolder& holder) {
  return fmt::format("pid={}\nmode={}\ncommand={}\nsince={}\n", holder.pid,
                     holder.mode == LockMode::exclusive ? "exclusive" : "shared", note_command(holder.command),
                     holder.since);
}

bool parse_holder_note(std::string_view text, LockHolder& out) {
  LockHolder holder;
  bool has_pid = false;
  while (!text.empty()) {
    const auto end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    const auto eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    const std::string_view key = line.substr(0, eq);
    const std::string_view value = line.substr(eq + 1);
    if (key == "pid") {
      int pid = 0;
      for (char c : value) {
        if (c < '0' || c > '9' || pid > 100'000'000) return false;
        pid = pid * 10 + (c - '0');
      }
      has_pid = pid > 0;
      holder.pid = pid;
    } else if (key == "mode") {
      holder.mode = value == "exclusive" ? LockMode::exclusive : LockMode::shared;
    } else if (key == "command") {
      holder.command = std::string(value);
    } else if (key == "since") {
      holder.since = std::string(value);
    }
  }
  if (!has_pid) return false;
  out = std::move(holder);
  return true;
}

std::string describe_holders(const std::vector<LockHolder>& holders) {
  if (holders.empty()) return "another process";
  std::vector<std::string> parts;
  for (const auto& h : holders) {
    parts.push_back(h.command.empty() ? fmt::format("pid {}", h.pid) : fmt::format("pid {} ({})", h.pid, h.command));
  }
  return util::join(parts, " and ");
}

std::vector<LockHolder> TargetLock::holders(const fs::path& store_root, const std::string& target) {
  std::vector<LockHolder> out;
  if (!is_valid_target_name(target)) return out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(target_folder(store_root, target), ec)) {
    const std::string name = entry.path().filename().string();
    if (!name.starts_with(note_prefix) || name.find(util::temp_marker) != std::string::npos) continue;
    util::UniqueFd fd(::open(entry.path().c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) continue;
    if (::flock(fd.get(), LOCK_SH | LOCK_NB) == 0) {
      // Its holder died (a live holder keeps its note locked): the note is stale.
      std::error_code rm;
      fs::remove(entry.path(), rm);
      continue;
    }
    std::string text;
    char buffer[4096];
    for (;;) {
      ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0 || text.size() > 16384) break;
      text.append(buffer, static_cast<std::size_t>(n));
    }
    LockHolder holder;
    if (parse_holder_note(text, holder)) out.push_back(std::move(holder));
  }
  std::sort(out.begin(), out.end(), [](const LockHolder& a, const LockHolder& b) {
    return std::tie(a.pid, a.since, a.command) < std::tie(b.pid, b.since, b.command);
  });
  return out;
}

Expected<TargetLock> TargetLock::acquire(const LockRequest& request) {
  if (!is_valid_target_name(request.target)) {
    return make_error(ErrorKind::config, "target name '{}' is not usable as a folder name", request.target);
  }
  const fs::path dir = target_folder(request.store_root, request.target);
  if (auto r = util::ensure_private_dir(dir); !r) return std::unexpected(r.error());
  const fs::path path = dir / lock_file;
  util::UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd.valid()) {
    return make_error(ErrorKind::failure, "cannot open lock file {}: {}", path.string(), std::strerror(errno));
  }
  const int operation = request.mode == LockMode::exclusive ? LOCK_EX : LOCK_SH;
  const auto deadline = std::chrono::steady_clock::now() + request.timeout;
  auto pause = std::chrono::milliseconds(20);
  bool announced = false;
  for (;;) {
    if (::flock(fd.get(), operation | LOCK_NB) == 0) break;
    if (errno == EINTR) continue;
    if (errno != EWOULDBLOCK) {
      return make_error(ErrorKind::failure, "cannot lock {}: {}", path.string(), std::strerror(errno));
    }
    if (int signal = util::interrupt_signal(); signal != 0) {
      return make_error(ErrorKind::interrupted, "interrupted by {} while waiting for the lock on target '{}'; "
                        "nothing was changed", signal == SIGINT ? "SIGINT" : "SIGTERM", request.target);
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      return make_error(ErrorKind::busy, "target '{}' is locked by {}; waited {} (see --lock-timeout)",
                        request.target, describe_holders(holders(request.store_root, request.target)),
                        seconds_text(request.timeout));
    }
    if (!announced && request.on_wait) {
      request.on_wait(fmt::format("target '{}' is locked by {}; waiting up to {} (--lock-timeout)", request.target,
                                  describe_holders(holders(request.store_root, request.target)),
                                  seconds_text(request.timeout)));
    }
    announced = true;
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(pause, deadline - now));
    pause = std::min(pause * 2, std::chrono::milliseconds(200));
  }
  TargetLock lock(std::move(fd), request.mode);
  (void)holders(request.store_root, request.target);  // sweeps notes of holders that died
  lock.write_note(dir, request.command);
  return lock;
}

void TargetLock::write_note(const fs::path& dir, const std::string& command) {
  // Best effort: without a note the lock still works, a waiter just cannot name us.
  auto temp = util::make_private_temp(dir, std::string(note_prefix.substr(0, note_prefix.size() - 1)));
  if (!temp) return;
  auto& [fd, temp_path] = *temp;
  LockHolder me{.pid = static_cast<int>(::getpid()), .mode = mode_, .command = command,
                .since = util::format_utc(util::now_ms())};
  const std::string text = format_holder_note(me);
  std::string final_name = temp_path.filename().string();
  final_name.erase(final_name.size() - util::temp_marker.size());
  const fs::path final_path = dir / final_name;
  if (!util::write_all(fd.get(), text.data(), text.size()) || ::rename(temp_path.c_str(), final_path.c_str()) != 0) {
    std::error_code ec;
    fs::remove(temp_path, ec);
    return;
  }
  note_fd_ = std::move(fd);  // keeps the note's flock: the note is live while we are
  note_path_ = final_path;
}

TargetLock::TargetLock(TargetLock&& other) noexcept
    : lock_fd_(std::move(other.lock_fd_)),
      note_fd_(std::move(other.note_fd_)),
      note_path_(std::exchange(other.note_path_, fs::path())),
      mode_(other.mode_) {}

TargetLock::~TargetLock() {
  if (!note_path_.empty()) {
    std::error_code ec;
    fs::remove(note_path_, ec);
  }
  // note_fd_ then lock_fd_ close as members: the note goes before the lock.
}

}  // namespace dbsnap::store
