#include "dbsnap/store/repo/lock_object.hpp"

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <random>
#include <thread>

#include <signal.h>
#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "dbsnap/util/interrupt.hpp"
#include "dbsnap/util/text.hpp"

namespace dbsnap::store::repo {

namespace {

constexpr std::string_view prefix = "locks/";

std::int64_t now() { return util::now_ms().time_since_epoch().count(); }

std::string this_host() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0) return "unknown";
  return name;
}

std::string new_lock_name() { return std::string(prefix) + util::random_hex(16); }

bool is_lock_name(std::string_view name) {
  if (!name.starts_with(prefix) || name.size() != prefix.size() + 32) return false;
  return std::ranges::all_of(name.substr(prefix.size()),
                             [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool conflicts(LockObjectMode mine, LockObjectMode theirs) {
  return mine == LockObjectMode::exclusive || theirs == LockObjectMode::exclusive;
}

}  // namespace

std::string format_lock_object(const LockObjectInfo& info) {
  nlohmann::ordered_json j;
  j["format"] = 1;
  j["host"] = info.host;
  j["pid"] = info.pid;
  j["mode"] = info.mode == LockObjectMode::exclusive ? "exclusive" : "shared";
  j["command"] = info.command;
  j["created_ms"] = info.created_ms;
  j["refreshed_ms"] = info.refreshed_ms;
  return j.dump(2) + "\n";
}

bool parse_lock_object(std::string_view text, LockObjectInfo& out) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return false;
  try {
    if (j.at("format").get<int>() != 1) return false;
    out.host = j.at("host").get<std::string>();
    out.pid = j.at("pid").get<int>();
    const auto mode = j.at("mode").get<std::string>();
    if (mode != "shared" && mode != "exclusive") return false;
    out.mode = mode == "exclusive" ? LockObjectMode::exclusive : LockObjectMode::shared;
    out.command = j.value("command", std::string());
    out.created_ms = j.at("created_ms").get<std::int64_t>();
    out.refreshed_ms = j.at("refreshed_ms").get<std::int64_t>();
  } catch (const nlohmann::json::exception&) {
    return false;
  }
  return true;
}

namespace {

// On this host a holder whose process is gone is dead however recent its object.
bool dead_here(const LockObjectInfo& info) {
  return info.host == this_host() && info.pid > 0 && ::kill(info.pid, 0) != 0 && errno == ESRCH;
}

}  // namespace

bool is_stale(const LockObjectInfo& info, std::int64_t now_ms, std::chrono::milliseconds stale_after) {
  return now_ms - info.refreshed_ms > stale_after.count() || dead_here(info);
}

Expected<std::vector<LockObjectInfo>> live_lock_objects(Backend& backend, const std::string& except,
                                                        std::chrono::milliseconds stale_after, StaleLocks stale) {
  auto listed = backend.list(prefix);
  if (!listed) return std::unexpected(listed.error());
  std::vector<LockObjectInfo> live;
  for (const auto& object : *listed) {
    if (object.name == except || !is_lock_name(object.name)) continue;
    auto text = read_object(backend, object.name, 64 * 1024);
    if (!text) {
      if (text.error().kind == ErrorKind::not_found) continue;  // released meanwhile
      return std::unexpected(text.error());
    }
    LockObjectInfo info;
    // An object that does not parse is not a holder this dbsnap understands:
    // taken for a live exclusive one, so that nobody goes on beside it.
    if (!parse_lock_object(*text, info)) {
      info = {.name = object.name, .host = "?", .mode = LockObjectMode::exclusive, .command = "an unreadable lock object"};
      live.push_back(info);
      continue;
    }
    info.name = object.name;
    if (is_stale(info, now(), stale_after)) {
      // A lock of a dead process of this host is removed by whoever sees it
      // (it is certain); one stale by time only by an exclusive taker.
      if (stale == StaleLocks::remove || dead_here(info)) (void)backend.remove(object.name);
      continue;
    }
    live.push_back(std::move(info));
  }
  return live;
}

std::string describe_lock_objects(const std::vector<LockObjectInfo>& holders) {
  std::vector<std::string> parts;
  for (const auto& h : holders) {
    parts.push_back(fmt::format("host {} pid {} ({}, {}), since {}", h.host, h.pid,
                                h.command.empty() ? "dbsnap" : h.command,
                                h.mode == LockObjectMode::exclusive ? "exclusive" : "shared",
                                util::format_local(util::TimePoint(std::chrono::milliseconds(h.created_ms)))));
  }
  return parts.empty() ? std::string("another process") : util::join(parts, " and ");
}

struct LockObject::State {
  std::unique_ptr<Backend> backend;
  LockObjectInfo info;
  LockObjectOptions options;
  std::mutex mutex;
  std::condition_variable wake;
  bool stopping = false;
  std::thread refresher;

  void refresh_loop() {
    bool warned = false;
    std::unique_lock lock(mutex);
    while (!wake.wait_for(lock, options.refresh, [this] { return stopping; })) {
      info.refreshed_ms = now();
      const std::string text = format_lock_object(info);
      lock.unlock();
      auto written = write_object(*backend, info.name, text);
      lock.lock();
      if (!written && !warned) {
        std::fprintf(stderr, "dbsnap: warning: cannot refresh the repository lock %s: %s\n",
                     backend->locate(info.name).c_str(), written.error().message.c_str());
        warned = true;
      }
    }
  }
};

LockObject::LockObject(std::unique_ptr<State> state) : state_(std::move(state)) {
  state_->refresher = std::thread([s = state_.get()] { s->refresh_loop(); });
}

LockObject::LockObject(LockObject&& other) noexcept = default;

LockObject& LockObject::operator=(LockObject&& other) noexcept {
  if (this != &other) {
    release();
    state_ = std::move(other.state_);
  }
  return *this;
}

LockObject::~LockObject() { release(); }

void LockObject::release() noexcept {
  if (!state_) return;
  {
    std::lock_guard lock(state_->mutex);
    state_->stopping = true;
  }
  state_->wake.notify_all();
  if (state_->refresher.joinable()) state_->refresher.join();
  if (auto r = state_->backend->remove(state_->info.name); !r && r.error().kind != ErrorKind::not_found) {
    std::fprintf(stderr, "dbsnap: warning: cannot remove the repository lock %s (garbage collection on this host "
                 "removes it, other hosts ignore it after %lld min): %s\n",
                 state_->backend->locate(state_->info.name).c_str(),
                 static_cast<long long>(state_->options.stale_after.count() / 60000), r.error().message.c_str());
  }
  state_.reset();
}

const std::string& LockObject::name() const { return state_->info.name; }

Expected<std::optional<LockObject>> LockObject::try_acquire(std::unique_ptr<Backend> backend, LockObjectMode mode,
                                                            const LockObjectOptions& options,
                                                            std::vector<LockObjectInfo>* holders) {
  auto state = std::make_unique<State>();
  state->options = options;
  state->info = {.name = new_lock_name(),
                 .host = this_host(),
                 .pid = static_cast<int>(::getpid()),
                 .mode = mode,
                 .command = options.command,
                 .created_ms = now(),
                 .refreshed_ms = now()};
  if (auto r = write_object(*backend, state->info.name, format_lock_object(state->info), IfExists::fail); !r) {
    return std::unexpected(r.error());
  }
  // Published first, then the others read: see the header.
  auto others = live_lock_objects(*backend, state->info.name, options.stale_after,
                                  mode == LockObjectMode::exclusive ? StaleLocks::remove : StaleLocks::keep);
  std::vector<LockObjectInfo> in_the_way;
  if (others) {
    for (auto& other : *others) {
      if (conflicts(mode, other.mode)) in_the_way.push_back(std::move(other));
    }
  }
  if (!others || !in_the_way.empty()) {
    (void)backend->remove(state->info.name);
    if (!others) return std::unexpected(others.error());
    if (holders) *holders = std::move(in_the_way);
    return std::optional<LockObject>();
  }
  state->backend = std::move(backend);
  return std::optional<LockObject>(LockObject(std::move(state)));
}

Expected<LockObject> LockObject::acquire(std::function<Expected<std::unique_ptr<Backend>>()> open_backend,
                                         LockObjectMode mode, const LockObjectOptions& options,
                                         const std::function<void(const std::string&)>& on_wait) {
  std::mt19937 rng{std::random_device{}()};
  bool told = false;
  for (;;) {
    auto backend = open_backend();
    if (!backend) return std::unexpected(backend.error());
    std::vector<LockObjectInfo> holders;
    auto taken = try_acquire(std::move(*backend), mode, options, &holders);
    if (!taken) return std::unexpected(taken.error());
    if (*taken) return std::move(**taken);
    if (!told && on_wait) {
      on_wait(fmt::format("waiting for the repository, which {} holds", describe_lock_objects(holders)));
      told = true;
    }
    // 1-5 s, in steps short enough to notice a signal.
    const int wait_ms = std::uniform_int_distribution<int>(1000, 5000)(rng);
    for (int waited = 0; waited < wait_ms; waited += 100) {
      if (util::interrupt_signal() != 0) return make_error(ErrorKind::interrupted, "interrupted while waiting for the repository lock");
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
}

}  // namespace dbsnap::store::repo
