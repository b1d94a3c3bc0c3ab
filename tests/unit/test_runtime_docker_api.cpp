#include <cstdlib>
#include <fstream>

#include "dbsnap/runtime/docker_api.hpp"
#include "helpers.hpp"

using namespace dbsnap;
using namespace dbsnap::runtime::docker_api;

namespace {

// One frame of Docker's multiplexed stream: type, three zero bytes, big-endian size, payload.
std::string frame(unsigned char stream, const std::string& payload) {
  std::string out{static_cast<char>(stream), 0, 0, 0};
  const auto n = static_cast<std::uint32_t>(payload.size());
  out.push_back(static_cast<char>(n >> 24));
  out.push_back(static_cast<char>((n >> 16) & 0xff));
  out.push_back(static_cast<char>((n >> 8) & 0xff));
  out.push_back(static_cast<char>(n & 0xff));
  return out + payload;
}

// Reads a whole DemuxSource in reads of `step` bytes.
Expected<std::string> drain(DemuxSource& demux, std::size_t step) {
  std::string out;
  std::vector<std::byte> buffer(step);
  for (;;) {
    auto n = demux.read(buffer);
    if (!n) return std::unexpected(n.error());
    if (*n == 0) return out;
    out.append(reinterpret_cast<const char*>(buffer.data()), *n);
  }
}

// Sets an environment variable for a scope; restores the old value after.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      ::setenv(name, value, 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

}  // namespace

TEST_CASE("docker_api: the socket follows DOCKER_HOST and contexts as the CLI does") {
  CHECK(socket_path({}) == "/var/run/docker.sock");
  CHECK(socket_path({.docker_host = "unix:///run/user/1000/docker.sock"}) == "/run/user/1000/docker.sock");
  CHECK_FALSE(socket_path({.docker_host = "tcp://127.0.0.1:2375"}).has_value());
  CHECK_FALSE(socket_path({.docker_host = "ssh://user@host"}).has_value());
  CHECK_FALSE(socket_path({.docker_host = "unix://relative.sock"}).has_value());
  CHECK_FALSE(socket_path({.docker_context = "remote"}).has_value());
  CHECK(socket_path({.docker_context = "default"}) == "/var/run/docker.sock");
  CHECK_FALSE(socket_path({.current_context = "remote"}).has_value());
  CHECK(socket_path({.current_context = "default"}) == "/var/run/docker.sock");
  // DOCKER_HOST wins over the config file's context, as it does for the CLI.
  CHECK(socket_path({.docker_host = "unix:///x.sock", .current_context = "remote"}) == "/x.sock");
  CHECK_FALSE(socket_path({.docker_host = "unix:///x.sock", .docker_context = "remote"}).has_value());
}

TEST_CASE("docker_api: the CLI's config.json context is read from DOCKER_CONFIG") {
  test::TempDir dir;
  ScopedEnv config("DOCKER_CONFIG", dir.path.c_str());
  ScopedEnv host("DOCKER_HOST", nullptr);
  ScopedEnv context("DOCKER_CONTEXT", nullptr);
  CHECK_FALSE(endpoint_inputs_from_environment().current_context.has_value());
  CHECK(socket_path(endpoint_inputs_from_environment()) == "/var/run/docker.sock");

  std::ofstream(dir.path / "config.json") << R"({"auths": {}, "currentContext": "prod-remote"})";
  CHECK(endpoint_inputs_from_environment().current_context == "prod-remote");
  CHECK_FALSE(socket_path(endpoint_inputs_from_environment()).has_value());

  std::ofstream(dir.path / "config.json") << R"({"currentContext": "default"})";
  CHECK(socket_path(endpoint_inputs_from_environment()) == "/var/run/docker.sock");

  // Unreadable: the CLI, not dbsnap, decides what it means.
  std::ofstream(dir.path / "config.json") << "{not json";
  CHECK_FALSE(socket_path(endpoint_inputs_from_environment()).has_value());
}

TEST_CASE("docker_api: a container name cannot change the request path") {
  CHECK(encode_segment("db-1_x.y") == "db-1_x.y");
  CHECK(encode_segment("../../images") == "..%2F..%2Fimages");
  CHECK(encode_segment("a b?c#d") == "a%20b%3Fc%23d");
  CHECK(encode_segment("caf\xc3\xa9") == "caf%C3%A9");
}

TEST_CASE("docker_api: the daemon's error message is taken from its JSON body") {
  CHECK(error_message({404, R"({"message":"No such container: db"})"}) == "No such container: db");
  CHECK(error_message({500, "plain text\n"}) == "plain text");
  CHECK(error_message({502, ""}) == "HTTP status 502");
}

TEST_CASE("docker_api: the exec stream splits into stdout and stderr in reads of any size") {
  std::string stdout_text;
  std::string stream;
  for (int i = 0; i < 300; ++i) {
    std::string payload(static_cast<std::size_t>(1 + (i * 7919) % 40000), static_cast<char>('a' + i % 26));
    stdout_text += payload;
    stream += frame(1, payload);
    if (i % 50 == 0) stream += frame(2, "warning " + std::to_string(i) + "\n");
    if (i % 97 == 0) stream += frame(1, "");  // an empty frame is legal
  }
  for (std::size_t pending : {std::size_t{0}, std::size_t{3}, std::size_t{8}, std::size_t{1000}}) {
    for (std::size_t source_step : {std::size_t{1}, std::size_t{5}, std::size_t{8192}, std::size_t{1} << 20}) {
      for (std::size_t read_step : {std::size_t{7}, pipeline::chunk_size}) {
        if (source_step == 1 && read_step == 7 && pending != 3) continue;  // slow; one case covers it
        CAPTURE(pending);
        CAPTURE(source_step);
        CAPTURE(read_step);
        test::StringSource raw(stream.substr(pending), source_step);
        DemuxSource demux(raw, stream.substr(0, pending));
        auto out = drain(demux, read_step);
        REQUIRE(out.has_value());
        CHECK(out->size() == stdout_text.size());
        CHECK(*out == stdout_text);
        CHECK(demux.stderr_text().starts_with("warning 0\n"));
        CHECK(demux.stderr_text().ends_with("warning 250\n"));
      }
    }
  }
}

TEST_CASE("docker_api: a stream cut short or not multiplexed is an error, never a clean end") {
  const std::string whole = frame(1, std::string(1000, 'x')) + frame(2, "err");
  SUBCASE("an empty stream is a clean end") {
    test::StringSource raw("");
    DemuxSource demux(raw, "");
    auto out = drain(demux, 64);
    REQUIRE(out.has_value());
    CHECK(out->empty());
  }
  SUBCASE("cut inside a payload") {
    test::StringSource raw(whole.substr(0, 500));
    DemuxSource demux(raw, "");
    auto out = drain(demux, 64);
    REQUIRE_FALSE(out.has_value());
    CHECK(out.error().kind == ErrorKind::runtime);
    CHECK(out.error().message.find("ended inside a stream frame") != std::string::npos);
  }
  SUBCASE("cut inside a header") {
    test::StringSource raw(whole.substr(0, 1008 + 5));
    DemuxSource demux(raw, "");
    auto out = drain(demux, 64);
    REQUIRE_FALSE(out.has_value());
    CHECK(out.error().message.find("ended inside a stream frame") != std::string::npos);
  }
  SUBCASE("raw text where a header should be (a TTY stream)") {
    test::StringSource raw("-- PostgreSQL database dump\n");
    DemuxSource demux(raw, "");
    auto out = drain(demux, 64);
    REQUIRE_FALSE(out.has_value());
    CHECK(out.error().message.find("not multiplexed") != std::string::npos);
  }
}

TEST_CASE("docker_api: stderr keeps its last 64 KiB however much a tool writes") {
  std::string stream;
  for (int i = 0; i < 2000; ++i) stream += frame(2, "line " + std::to_string(i) + std::string(100, '.') + "\n");
  stream += frame(1, "data");
  test::StringSource raw(stream, 4096);
  DemuxSource demux(raw, "");
  auto out = drain(demux, 64);
  REQUIRE(out.has_value());
  CHECK(*out == "data");
  CHECK(demux.stderr_text().size() <= 2 * 64 * 1024);
  CHECK(demux.stderr_text().size() >= 64 * 1024);
  CHECK(demux.stderr_text().ends_with("line 1999" + std::string(100, '.') + "\n"));
}

TEST_CASE("docker_api: an absent socket is unreachable, so the CLI can take over") {
  test::TempDir dir;
  auto r = request((dir.path / "docker.sock").string(), "GET", "/_ping");
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().failure == Failure::unreachable);
  CHECK(r.error().message.find("docker.sock") != std::string::npos);
}
