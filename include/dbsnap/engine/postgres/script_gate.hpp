#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "dbsnap/engine/postgres/meta_command.hpp"
#include "dbsnap/engine/postgres/script_scanner.hpp"
#include "dbsnap/pipeline/stream.hpp"

namespace dbsnap::engine::postgres {

// Forwards a restore script to psql after ScriptScanner has seen every line:
// a chunk whose lines include a refused one is not forwarded (write fails),
// and the start of a top-level line is held back until its newline (or 64
// bytes), so psql, which runs an unterminated last line when its input ends,
// can never receive a cut-off "COMMIT" from the script.
class ScriptGate final : public pipeline::Sink {
 public:
  ScriptGate(pipeline::Sink& next, ScriptScanner& scanner) : next_(next), scanner_(scanner) {}
  Expected<void> write(pipeline::Bytes data) override;
  Expected<void> finish() override;
  static constexpr std::size_t hold_limit = 64;
  static constexpr std::size_t keep = 4096;

 private:
  Expected<void> refused() const;
  Expected<void> forward(std::string_view data);
  pipeline::Sink& next_;
  ScriptScanner& scanner_;
  std::string line_;  // the current line's first `keep` bytes, for the scanner
  std::uint64_t line_length_ = 0;
  MetaCommandScanner meta_;
  bool line_checked_ = true;  // the current line began outside COPY data: its bytes go to meta_
  std::string meta_refusal_;
  bool holding_ = true;  // the current line's bytes so far are all in pending_
  std::string pending_;
};

}  // namespace dbsnap::engine::postgres
