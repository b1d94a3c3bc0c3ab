#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "dbsnap/pipeline/stream.hpp"
#include "dbsnap/runtime/runtime.hpp"

namespace dbsnap::engine {

// Watches a dump as it streams past and forwards it unchanged: keeps its
// first and last 4 KiB (for header and trailer checks) and hands every line
// (its first 4 KiB when longer) to a handler, which is how engines read the
// Alembic rows out of the dump's own consistent view. Line splitting is a
// memchr per line; nothing is buffered beyond one short line.
class DumpTap final : public pipeline::Sink {
 public:
  using LineHandler = std::function<void(std::string_view line)>;
  // `on_bytes`, when set, also sees every byte as it passes (for readers
  // that must not be limited to a line's first 4 KiB).
  using ByteHandler = std::function<void(std::string_view bytes)>;
  DumpTap(pipeline::Sink& next, LineHandler on_line, ByteHandler on_bytes = {});
  Expected<void> write(pipeline::Bytes data) override;
  Expected<void> finish() override;

  std::string_view head() const noexcept { return head_; }
  // The last bytes of the stream (up to 4 KiB).
  std::string tail() const;
  std::uint64_t bytes() const noexcept { return bytes_; }

 private:
  void observe(std::string_view data);
  pipeline::Sink& next_;
  LineHandler on_line_;
  ByteHandler on_bytes_;
  std::string head_;
  std::string line_;
  bool line_overflow_ = false;
  std::string tail_ring_;
  std::size_t tail_pos_ = 0;
  std::uint64_t bytes_ = 0;
};

// Writes a stream into a tool's stdin through `write` (ToolInput::write, a
// psql session's write). When the tool has stopped reading, the error is
// `why()`, which waits for the tool and reads its own message (an SQL error
// on stderr) rather than reporting a broken pipe. finish() does nothing: the
// engine decides when the tool's input ends.
class ToolFeed final : public pipeline::Sink {
 public:
  using Writer = std::function<Expected<void>(pipeline::Bytes)>;
  ToolFeed(Writer write, std::function<std::string()> why) : write_(std::move(write)), why_(std::move(why)) {}
  Expected<void> write(pipeline::Bytes data) override;
  Expected<void> finish() override { return {}; }

 private:
  Writer write_;
  std::function<std::string()> why_;
};

// The outcome of a tool run.
struct ToolRun {
  runtime::ExitStatus status;
  std::string stderr_text;
};

// Runs `argv` through the runtime and streams its stdout into `out`,
// finishing `out` when the tool's output ends. Throws a `runtime` error when
// the exec itself failed, and the sink's error (the tool is killed) when
// writing fails; the tool's own exit status is returned for the engine to
// judge.
ToolRun stream_from(runtime::Runtime& runtime, const std::vector<std::string>& argv, const runtime::Secret& secret,
                    pipeline::Sink& out);

// A tool reading a script on stdin (mysql, a shell receiving a file): a
// Sink that writes to its stdin, started with Runtime::start_input. Its
// stdout is kept (the last 64 KiB) by a thread of its own as it runs, its
// stderr by the runtime. finish() does nothing: the engine decides when to
// close stdin (that is the commit or rollback decision for a client).
class ToolInput final : public pipeline::Sink {
 public:
  static std::unique_ptr<ToolInput> start(runtime::Runtime& runtime, const std::vector<std::string>& argv,
                                          const runtime::Secret& secret);
  // Without close_and_wait(): closes stdin (no commit: the client rolls
  // back) and gives up on the tool without waiting for it.
  ~ToolInput() override;
  Expected<void> write(pipeline::Bytes data) override;
  Expected<void> finish() override { return {}; }
  // Writes extra text (BEGIN;, COMMIT;) into the tool's stdin.
  Expected<void> send(std::string_view text);
  // Closes stdin and waits for the tool; throws a `runtime` error when the
  // exec itself failed.
  runtime::ExitStatus close_and_wait();
  // Blocks until the tool's stdout holds `marker` (true) or ends (false):
  // how a caller knows a statement it sent has run, with the tool still
  // running.
  bool wait_for_stdout(std::string_view marker);
  // What the tool printed on stdout (the last 64 KiB), after close_and_wait().
  const std::string& stdout_text() const;
  const std::string& stderr_text() const;

 private:
  ToolInput(runtime::Runtime& runtime, std::unique_ptr<runtime::InputSession> session, std::string tool);
  void read_stdout();
  runtime::Runtime& runtime_;
  std::unique_ptr<runtime::InputSession> session_;
  std::string tool_;
  std::string stdout_;
  std::mutex stdout_mutex_;  // guards stdout_ and stdout_ended_ while reader_ runs
  std::condition_variable stdout_changed_;
  bool stdout_ended_ = false;
  std::thread reader_;
  bool waited_ = false;
};

}  // namespace dbsnap::engine
