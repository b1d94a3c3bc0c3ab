#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dbsnap/pipeline/stream.hpp"
#include "dbsnap/runtime/process.hpp"
#include "dbsnap/util/error.hpp"

// The Docker Engine API over the daemon's unix socket: how dbsnap runs a dump
// tool in a container without the `docker` CLI in between. The CLI relays
// every byte of a dump through a process of its own (socket in, pipe out),
// which on a busy machine costs as much CPU as compressing the dump; reading
// the exec's stream straight from the socket saves that relay. Only the
// streaming exec and the container check use it; every other command still
// runs the CLI.
namespace dbsnap::runtime::docker_api {

// What decides whether the API may be used in place of the CLI: the
// environment the CLI itself reads.
struct EndpointInputs {
  std::optional<std::string> docker_host;      // $DOCKER_HOST
  std::optional<std::string> docker_context;   // $DOCKER_CONTEXT
  std::optional<std::string> current_context;  // "currentContext" of the CLI's config.json
};

// Reads DOCKER_HOST, DOCKER_CONTEXT and the currentContext of
// $DOCKER_CONFIG/config.json (default ~/.docker/config.json). An unreadable
// or unparsable config.json counts as naming a context, so the CLI decides.
EndpointInputs endpoint_inputs_from_environment();

// The socket the CLI would talk to, when dbsnap can talk to it the same way:
// DOCKER_HOST's path when it is a unix:// URL, /var/run/docker.sock when
// DOCKER_HOST is unset. None when a context other than "default" is chosen or
// DOCKER_HOST names another transport (tcp://, ssh://): the CLI handles those.
std::optional<std::string> socket_path(const EndpointInputs& inputs);

// Percent-encodes a path segment (a container name from the configuration
// must not change the request's path).
std::string encode_segment(std::string_view segment);

// An HTTP response from the daemon.
struct Response {
  unsigned status = 0;
  std::string body;
};

// Why a request could not be made: the daemon is not there (no socket, or
// nothing listens: the CLI may still know better), or it failed midway.
enum class Failure { unreachable, broken };

struct RequestError {
  Failure failure = Failure::broken;
  std::string message;
};

// Sends one request with a JSON body (or none for GET) on a new connection
// to the socket and reads the whole response.
std::expected<Response, RequestError> request(const std::string& socket, std::string_view method,
                                              const std::string& target, const std::string& json_body = {});

// The daemon's error message from an error response's JSON body
// ({"message": "..."}), or the body itself.
std::string error_message(const Response& response);

// Splits Docker's multiplexed exec stream (8-byte headers: stream type, three
// zero bytes, big-endian payload size) into stdout, returned by read(), and
// stderr, of which the last 64 KiB are kept. `pending` holds bytes already
// read from the stream (what followed the HTTP headers). A stream cut inside
// a frame is an error, not an end. Reads from `raw` a chunk at a time and
// fills each read() as far as the bytes at hand allow, so a dump costs one
// read(2) per chunk rather than two per frame.
class DemuxSource final : public pipeline::Source {
 public:
  DemuxSource(pipeline::Source& raw, std::string pending);
  Expected<std::size_t> read(pipeline::MutableBytes buffer) override;
  const std::string& stderr_text() const noexcept { return stderr_; }

 private:
  Expected<bool> fill();
  pipeline::Source& raw_;
  std::unique_ptr<char[]> buffer_;
  std::size_t begin_ = 0;  // unread bytes are buffer_[begin_, end_)
  std::size_t end_ = 0;
  unsigned char stream_ = 0;
  std::size_t frame_left_ = 0;
  bool eof_ = false;
  std::string stderr_;
};

// Whether an exec reads what we write (`docker exec -i` with a pipe) or
// nothing.
enum class Stdin { none, attach };

// A command running in a container through the API, its stdout read as a
// stream, its stdin (Stdin::attach) written through the same connection.
// Its environment travels in the request body, never in an argv.
class Exec final : public pipeline::Source {
 public:
  // Creates and starts the exec. Errors: Failure::broken with the daemon's
  // message (no such container, container not running); Failure::unreachable
  // when nothing answers on the socket, so the caller can fall back to the CLI.
  static std::expected<std::unique_ptr<Exec>, RequestError> start(
      const std::string& socket, const std::string& container, const std::vector<std::string>& argv,
      const std::vector<std::string>& env, Stdin stdin_mode = Stdin::none);
  ~Exec() override;
  Exec(const Exec&) = delete;
  Exec& operator=(const Exec&) = delete;

  // The exec's stdout; 0 at its end.
  Expected<std::size_t> read(pipeline::MutableBytes buffer) override;
  // Writes to the command's stdin (Stdin::attach). An `interrupted` error
  // when a SIGINT/SIGTERM arrives while the daemon does not read.
  Expected<void> write_stdin(pipeline::Bytes data);
  // Ends the command's stdin (half-closes the connection; the daemon then
  // closes the exec's stdin, as for `docker exec -i` at EOF).
  void close_stdin() noexcept;
  // Shuts the connection down both ways without closing it: a read() blocked
  // in another thread returns. For giving up on a command.
  void shutdown() noexcept;
  // Closes the connection: the daemon stops relaying (the process inside the
  // container is not stopped by that; see Runtime::stop_remote). Not while
  // another thread reads.
  void close() noexcept;
  // Reads the rest of the stream (discarding stdout), then the exit code,
  // waiting up to 30 s for the daemon to record it. A failure to learn it is
  // reported as exit code -1 with the reason in stderr_text(). When the
  // daemon cannot be asked, or records the 126 it gives a command that
  // started but whose connection broke (a command that could not start keeps
  // its 126), ExitStatus::lost is set too: the command's own status is unknown.
  ExitStatus wait();
  const std::string& stderr_text() const noexcept;

 private:
  Exec(std::string socket, std::string id, int fd, std::string pending);
  std::string socket_;
  std::string id_;
  int fd_ = -1;
  pipeline::FdSource raw_;
  DemuxSource demux_;
  std::string extra_stderr_;
  mutable std::string stderr_all_;
};

}  // namespace dbsnap::runtime::docker_api
