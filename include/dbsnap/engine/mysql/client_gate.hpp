#pragma once

// What stands between a dump and the mysql client that loads it: the gate
// that refuses client commands (shell escapes, database switches) and the
// filter that drops MariaDB's sandbox line for Oracle's client.

#include <cstddef>
#include <string>
#include <string_view>

#include "dbsnap/pipeline/stream.hpp"

namespace dbsnap::engine::mysql {

// Refuses a dump line that starts a client shell command (`system ...` or
// `\!...`): what a hostile server's dump (or an altered snapshot) uses to run
// commands where the client runs, for clients without --sandbox; and one
// that switches database (`USE`, `connect`, `\\u`, `\\r`), which would load
// outside the restore's own schema. It looks only at the first bytes of each line, so memory stays small however long
// the line (extended INSERTs are megabytes); everything else passes as it is.
class ClientCommandGate final : public pipeline::Sink {
 public:
  explicit ClientCommandGate(pipeline::Sink& next) : next_(next) {}
  Expected<void> write(pipeline::Bytes data) override;
  Expected<void> finish() override;

 private:
  Expected<void> judge() const;
  Expected<void> forward(std::string_view bytes);
  pipeline::Sink& next_;
  bool at_line_start_ = true;
  std::string head_;  // the current line's first bytes (at most 32), to judge it
  std::string held_;  // the start of a line that began in an earlier chunk, not yet judged nor forwarded
  std::size_t line_ = 1;
};

// True for MariaDB's first dump line "/*M!999999\- enable the sandbox mode */"
// (older builds: "/*!999999\- ..."), which Oracle's mysql client rejects.
bool is_sandbox_line(std::string_view line);

// Forwards a dump, dropping its first line when it is MariaDB's sandbox line
// (for Oracle's client); with `enabled` false it forwards everything.
class SandboxFilter final : public pipeline::Sink {
 public:
  SandboxFilter(pipeline::Sink& next, bool enabled) : next_(next), deciding_(enabled) {}
  Expected<void> write(pipeline::Bytes data) override;
  Expected<void> finish() override;
  bool dropped() const noexcept { return dropped_; }

 private:
  Expected<void> decide();
  pipeline::Sink& next_;
  bool deciding_;
  bool dropped_ = false;
  std::string first_;
};

}  // namespace dbsnap::engine::mysql
