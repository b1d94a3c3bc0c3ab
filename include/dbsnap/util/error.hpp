#pragma once

#include <expected>
#include <stdexcept>
#include <string>
#include <utility>

#include <fmt/core.h>

namespace dbsnap {

// What went wrong, in the coarse classes the exit code reports. The numeric
// values are the process exit codes documented in the README and man page.
enum class ErrorKind : int {
  failure = 1,       // generic failure (I/O error, unexpected state)
  usage = 2,         // bad command line
  config = 3,        // bad or missing configuration, unknown target
  not_found = 4,     // unknown, ambiguous or missing snapshot
  corrupt = 5,       // a snapshot failed verification
  runtime = 6,       // the runtime (docker, podman, local exec) could not run a command
  engine = 7,        // the dump or restore tool failed or produced incomplete output
  refused = 8,       // a destructive action was not confirmed
  guarded = 9,       // a guarded upgrade/rollback failed and the database was put back
  busy = 10,         // the target is locked by another dbsnap (see --lock-timeout)
  interrupted = 130, // SIGINT, or SIGTERM: the process then exits 143 (128 + the signal's
                     // number, as a shell reports it; see util::interrupted_exit_code)
};

// A failure as a value: what low-level functions return inside std::expected.
struct Error {
  ErrorKind kind = ErrorKind::failure;
  std::string message;
};

template <typename T>
using Expected = std::expected<T, Error>;

// Builds an unexpected Error with a fmt-formatted message.
template <typename... Args>
std::unexpected<Error> make_error(ErrorKind kind, fmt::format_string<Args...> format, Args&&... args) {
  return std::unexpected(Error{kind, fmt::format(format, std::forward<Args>(args)...)});
}

// The typed exception command code throws; the single catch in cli::run turns
// it into a one-line message on stderr and the exit code of its kind.
class DbsnapError : public std::runtime_error {
 public:
  DbsnapError(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  explicit DbsnapError(const Error& error) : DbsnapError(error.kind, error.message) {}
  ErrorKind kind() const noexcept { return kind_; }

 private:
  ErrorKind kind_;
};

// Throws a DbsnapError with a fmt-formatted message.
template <typename... Args>
[[noreturn]] void fail(ErrorKind kind, fmt::format_string<Args...> format, Args&&... args) {
  throw DbsnapError(kind, fmt::format(format, std::forward<Args>(args)...));
}

// Returns the value of an Expected or throws its error as a DbsnapError;
// the bridge between the expected-returning layers and command code.
template <typename T>
T value_or_throw(Expected<T>&& result) {
  if (!result) throw DbsnapError(result.error());
  if constexpr (!std::is_void_v<T>) return std::move(*result);
}

// Prefixes an error's message with context, keeping its kind.
inline Error with_context(Error error, std::string_view context) {
  error.message = fmt::format("{}: {}", context, error.message);
  return error;
}

}  // namespace dbsnap
