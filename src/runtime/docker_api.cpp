#include "dbsnap/runtime/docker_api.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <thread>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "dbsnap/util/fd_stream.hpp"
#include "dbsnap/util/interrupt.hpp"

namespace dbsnap::runtime::docker_api {

namespace http = boost::beast::http;
using util::FdStream;

namespace {

constexpr std::size_t keep_stderr = 64 * 1024;
constexpr std::size_t header_size = 8;

// A file descriptor closed when it goes out of scope unless released.
class OwnedFd {
 public:
  explicit OwnedFd(int fd = -1) : fd_(fd) {}
  ~OwnedFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  OwnedFd(const OwnedFd&) = delete;
  OwnedFd& operator=(const OwnedFd&) = delete;
  int get() const noexcept { return fd_; }
  int release() noexcept { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

std::expected<int, RequestError> connect_socket(const std::string& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof address.sun_path) {
    return std::unexpected(RequestError{Failure::unreachable, fmt::format("socket path too long: {}", path)});
  }
  std::memcpy(address.sun_path, path.data(), path.size());
  OwnedFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) {
    return std::unexpected(RequestError{Failure::unreachable, fmt::format("socket: {}", std::strerror(errno))});
  }
  // The kernel's default send buffer is kept: a 4 MiB one made PostgreSQL restores slower and
  // less steady (two interleaved sets of 5 and 9 restores: medians 4.52 and 4.19 s against 4.24
  // and 4.10 s).
  for (;;) {
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0) break;
    if (errno == EINTR && util::interrupt_signal() == 0) continue;
    return std::unexpected(
        RequestError{Failure::unreachable, fmt::format("cannot connect to {}: {}", path, std::strerror(errno))});
  }
  return fd.release();
}

http::request<http::string_body> make_request(std::string_view method, const std::string& target,
                                              const std::string& json_body) {
  http::request<http::string_body> req{http::string_to_verb({method.data(), method.size()}), target, 11};
  req.set(http::field::host, "docker");
  req.set(http::field::user_agent, "dbsnap");
  if (!json_body.empty()) {
    req.set(http::field::content_type, "application/json");
    req.body() = json_body;
  }
  req.prepare_payload();
  return req;
}

RequestError broken(const std::string& what, const boost::system::error_code& ec) {
  return RequestError{Failure::broken, fmt::format("docker API {}: {}", what, ec.message())};
}

}  // namespace

EndpointInputs endpoint_inputs_from_environment() {
  EndpointInputs inputs;
  if (const char* host = std::getenv("DOCKER_HOST"); host != nullptr && *host != '\0') inputs.docker_host = host;
  if (const char* context = std::getenv("DOCKER_CONTEXT"); context != nullptr && *context != '\0') {
    inputs.docker_context = context;
  }
  std::string dir;
  if (const char* config = std::getenv("DOCKER_CONFIG"); config != nullptr && *config != '\0') {
    dir = config;
  } else if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
    dir = std::string(home) + "/.docker";
  }
  if (dir.empty()) return inputs;
  std::ifstream in(dir + "/config.json");
  if (!in) return inputs;  // no config: the default context
  auto json = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) {
    inputs.current_context = "(unreadable config.json)";
  } else if (auto it = json.find("currentContext"); it != json.end()) {
    inputs.current_context = it->is_string() ? it->get<std::string>() : "(not a string)";
  }
  return inputs;
}

std::optional<std::string> socket_path(const EndpointInputs& inputs) {
  const auto named = [](const std::optional<std::string>& context) {
    return context.has_value() && !context->empty() && *context != "default";
  };
  if (named(inputs.docker_context)) return std::nullopt;
  if (inputs.docker_host.has_value()) {
    constexpr std::string_view scheme = "unix://";
    if (!inputs.docker_host->starts_with(scheme)) return std::nullopt;
    std::string path = inputs.docker_host->substr(scheme.size());
    if (path.empty() || path.front() != '/') return std::nullopt;
    return path;
  }
  if (named(inputs.current_context)) return std::nullopt;
  return std::string("/var/run/docker.sock");
}

std::string encode_segment(std::string_view segment) {
  std::string out;
  for (unsigned char c : segment) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

std::expected<Response, RequestError> request(const std::string& socket, std::string_view method,
                                              const std::string& target, const std::string& json_body) {
  auto fd = connect_socket(socket);
  if (!fd) return std::unexpected(fd.error());
  OwnedFd owned(*fd);
  FdStream stream(owned.get());
  boost::system::error_code ec;
  auto req = make_request(method, target, json_body);
  http::write(stream, req, ec);
  if (ec) return std::unexpected(broken(fmt::format("{} {}", method, target), ec));
  boost::beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(16 << 20);
  http::read(stream, buffer, parser, ec);
  if (ec) return std::unexpected(broken(fmt::format("{} {}", method, target), ec));
  return Response{parser.get().result_int(), std::move(parser.get().body())};
}

std::string error_message(const Response& response) {
  auto json = nlohmann::json::parse(response.body, nullptr, false);
  if (json.is_object()) {
    if (auto it = json.find("message"); it != json.end() && it->is_string()) return it->get<std::string>();
  }
  std::string body = response.body;
  while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) body.pop_back();
  return body.empty() ? fmt::format("HTTP status {}", response.status) : body;
}

DemuxSource::DemuxSource(pipeline::Source& raw, std::string pending)
    : raw_(raw), buffer_(std::make_unique<char[]>(std::max(pending.size(), pipeline::chunk_size))) {
  std::memcpy(buffer_.get(), pending.data(), pending.size());
  end_ = pending.size();
}

Expected<bool> DemuxSource::fill() {
  if (eof_) return false;
  // Only a partial frame header (under 8 bytes) can be left when we refill.
  const std::size_t left = end_ - begin_;
  std::memmove(buffer_.get(), buffer_.get() + begin_, left);
  begin_ = 0;
  end_ = left;
  auto n = raw_.read(pipeline::MutableBytes(reinterpret_cast<std::byte*>(buffer_.get() + end_),
                                            pipeline::chunk_size - end_));
  if (!n) return std::unexpected(n.error());
  end_ += *n;
  if (*n == 0) eof_ = true;
  return *n > 0;
}

Expected<std::size_t> DemuxSource::read(pipeline::MutableBytes out) {
  std::size_t produced = 0;
  while (produced < out.size()) {
    if (begin_ == end_ || (frame_left_ == 0 && end_ - begin_ < header_size)) {
      if (produced > 0) break;  // hand over what we have rather than wait for more
      auto more = fill();
      if (!more) return std::unexpected(more.error());
      if (!*more) {
        if (begin_ == end_ && frame_left_ == 0) return 0;
        return make_error(ErrorKind::runtime,
                          "the connection ended inside a stream frame (the daemon stopped or the connection was cut)");
      }
      continue;
    }
    if (frame_left_ == 0) {
      const auto* h = reinterpret_cast<const unsigned char*>(buffer_.get() + begin_);
      if (h[0] > 2 || h[1] != 0 || h[2] != 0 || h[3] != 0) {
        return make_error(ErrorKind::runtime, "docker API: the exec stream is not multiplexed as expected");
      }
      stream_ = h[0];
      frame_left_ = (std::size_t{h[4]} << 24) | (std::size_t{h[5]} << 16) | (std::size_t{h[6]} << 8) | h[7];
      begin_ += header_size;
      continue;
    }
    const char* p = buffer_.get() + begin_;
    if (stream_ == 1) {
      const std::size_t n = std::min({end_ - begin_, frame_left_, out.size() - produced});
      std::memcpy(out.data() + produced, p, n);
      produced += n;
      begin_ += n;
      frame_left_ -= n;
    } else {
      const std::size_t n = std::min(end_ - begin_, frame_left_);
      if (stream_ == 2) {
        stderr_.append(p, n);
        if (stderr_.size() > 2 * keep_stderr) stderr_.erase(0, stderr_.size() - keep_stderr);
      }
      begin_ += n;
      frame_left_ -= n;
    }
  }
  return produced;
}

std::expected<std::unique_ptr<Exec>, RequestError> Exec::start(const std::string& socket, const std::string& container,
                                                               const std::vector<std::string>& argv,
                                                               const std::vector<std::string>& env,
                                                               Stdin stdin_mode) {
  const bool attach = stdin_mode == Stdin::attach;
  const nlohmann::json create = {{"AttachStdin", attach}, {"AttachStdout", true}, {"AttachStderr", true},
                                 {"Tty", false},         {"Env", env},          {"Cmd", argv}};
  auto created = request(socket, "POST", "/containers/" + encode_segment(container) + "/exec", create.dump());
  if (!created) return std::unexpected(created.error());
  if (created->status != 201) {
    return std::unexpected(RequestError{Failure::broken, fmt::format("docker exec failed: {}", error_message(*created))});
  }
  auto json = nlohmann::json::parse(created->body, nullptr, false);
  if (!json.is_object() || !json.contains("Id") || !json["Id"].is_string()) {
    return std::unexpected(RequestError{Failure::broken, "docker API: the exec's creation returned no Id"});
  }
  const std::string id = json["Id"].get<std::string>();

  auto fd = connect_socket(socket);
  if (!fd) return std::unexpected(fd.error());
  OwnedFd owned(*fd);
  FdStream stream(owned.get());
  boost::system::error_code ec;
  const nlohmann::json start = {{"Detach", false}, {"Tty", false}};
  auto req = make_request("POST", "/exec/" + encode_segment(id) + "/start", start.dump());
  req.set(http::field::connection, "Upgrade");
  req.set(http::field::upgrade, "tcp");
  http::write(stream, req, ec);
  if (ec) return std::unexpected(broken("exec start", ec));
  boost::beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  http::read_header(stream, buffer, parser, ec);
  if (ec) return std::unexpected(broken("exec start", ec));
  const unsigned status = parser.get().result_int();
  if (status != 101 && status != 200) {
    http::read(stream, buffer, parser, ec);
    Response response{status, parser.get().body()};
    return std::unexpected(RequestError{Failure::broken, fmt::format("docker exec failed: {}", error_message(response))});
  }
  std::string pending(static_cast<const char*>(buffer.data().data()), buffer.data().size());
  return std::unique_ptr<Exec>(new Exec(socket, id, owned.release(), std::move(pending)));
}

Exec::Exec(std::string socket, std::string id, int fd, std::string pending)
    : socket_(std::move(socket)), id_(std::move(id)), fd_(fd), raw_(fd), demux_(raw_, std::move(pending)) {}

Exec::~Exec() { close(); }

Expected<std::size_t> Exec::read(pipeline::MutableBytes buffer) {
  if (fd_ < 0) return make_error(ErrorKind::runtime, "docker API: the exec's stream was closed");
  auto n = demux_.read(buffer);
  if (!n && n.error().kind != ErrorKind::interrupted) {
    return std::unexpected(with_context(n.error(), fmt::format("docker API (unix://{})", socket_)));
  }
  return n;
}

Expected<void> Exec::write_stdin(pipeline::Bytes data) {
  if (fd_ < 0) return make_error(ErrorKind::runtime, "docker API: the exec's stream was closed");
  // SIGPIPE is ignored (util::install_interrupt_handlers): a closed peer is an EPIPE error here.
  pipeline::FdSink sink(fd_);
  return sink.write(data);
}

void Exec::close_stdin() noexcept {
  if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
}

void Exec::shutdown() noexcept {
  if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
}

void Exec::close() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

ExitStatus Exec::wait() {
  ExitStatus status;
  const auto note = [this](const std::string& text) {
    extra_stderr_ += (extra_stderr_.empty() ? "" : "\n") + text;
  };
  if (fd_ >= 0) {
    auto buffer = std::make_unique<std::byte[]>(pipeline::chunk_size);
    for (;;) {
      auto n = demux_.read(pipeline::MutableBytes(buffer.get(), pipeline::chunk_size));
      if (!n) {
        note(n.error().message);
        break;
      }
      if (*n == 0) break;
    }
    close();
  }
  using namespace std::chrono;
  const auto deadline = steady_clock::now() + seconds(30);
  auto pause = milliseconds(1);
  for (;;) {
    auto inspected = request(socket_, "GET", "/exec/" + encode_segment(id_) + "/json");
    // A daemon that cannot be asked (it restarted, or went away with the stream) leaves the
    // command's own exit status unknown: the stream's end alone does not prove the output whole.
    if (!inspected || inspected->status != 200) {
      note(fmt::format("the docker daemon (unix://{}) cannot say how the command ended: {}", socket_,
                       inspected ? error_message(*inspected) : inspected.error().message));
      status.lost = true;
      break;
    }
    auto json = nlohmann::json::parse(inspected->body, nullptr, false);
    const bool running = json.is_object() && json.value("Running", false);
    if (!running) {
      if (json.is_object() && json.contains("ExitCode") && json["ExitCode"].is_number_integer()) {
        status.code = json["ExitCode"].get<int>();
        // The daemon records 126 in place of the command's own exit code when
        // the connection that carried the command's streams broke (its attach
        // failed); a command that never started has no Pid.
        const bool started = json.contains("Pid") && json["Pid"].is_number_integer() && json["Pid"].get<long>() > 0;
        if (status.code == 126 && started) {
          status.code = -1;
          status.lost = true;
          note(fmt::format("the docker daemon lost the connection carrying the command's streams (unix://{}); it "
                           "records exit 126 for the command after it started",
                           socket_));
        }
      } else {
        note("docker API: the exec ended without an exit code");
      }
      break;
    }
    if (steady_clock::now() > deadline || util::interrupt_signal() != 0) {
      note("docker API: the exec's stream ended but the command still runs");
      break;
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, milliseconds(50));
  }
  stderr_all_ = demux_.stderr_text();
  if (!extra_stderr_.empty()) stderr_all_ += (stderr_all_.empty() ? "" : "\n") + extra_stderr_;
  return status;
}

const std::string& Exec::stderr_text() const noexcept {
  if (stderr_all_.empty()) stderr_all_ = demux_.stderr_text();
  return stderr_all_;
}

}  // namespace dbsnap::runtime::docker_api
