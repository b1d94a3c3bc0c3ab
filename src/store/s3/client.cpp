#include "dbsnap/store/s3/client.hpp"

#include <netdb.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <fstream>
#include <limits>
#include <sstream>
#include <thread>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/property_tree/ptree.hpp>
#include <boost/property_tree/xml_parser.hpp>
#include <fmt/core.h>

#include "dbsnap/util/http_connection.hpp"
#include "dbsnap/util/interrupt.hpp"
#include "dbsnap/util/text.hpp"

namespace dbsnap::store::s3 {

namespace http = boost::beast::http;

namespace {

constexpr std::uint64_t answer_limit = 64 * 1024 * 1024;  // an XML answer or a small object read whole
constexpr std::size_t read_room = 256 * 1024;              // what one read(2) of an answer may fill

std::string amz_now() {
  std::time_t now = std::time(nullptr);
  std::tm utc{};
  ::gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y%m%dT%H%M%SZ", &utc);
  return text;
}

// A connection to the endpoint (util/http_connection.hpp).
using Connection = util::HttpConnection;

// Path style talks to the endpoint's host; virtual-hosted style to BUCKET.HOST
// (its address, and the name a TLS certificate must carry).
Expected<Connection> connect_to(const Location& location, std::chrono::milliseconds timeout) {
  const std::string host = location.path_style ? location.host : location.bucket + "." + location.host;
  return Connection::open(host, location.port, location.tls, timeout, "S3 endpoint");
}

bool retryable(unsigned status) { return status == 429 || status == 500 || status == 502 || status == 503 || status == 504; }

// Waits before try number `attempt` (1-based); false when dbsnap was told to stop meanwhile.
bool back_off(const Options& options, int attempt) {
  auto wait = options.first_backoff * (1 << std::min(attempt - 1, 6));
  const auto until = std::chrono::steady_clock::now() + wait;
  while (std::chrono::steady_clock::now() < until) {
    if (util::interrupt_signal() != 0) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return util::interrupt_signal() == 0;
}

Response to_response(const http::response_header<>& header) {
  Response r;
  r.status = header.result_int();
  for (const auto& field : header) {
    r.headers[util::ascii_lower(std::string(field.name_string()))] = std::string(field.value());
  }
  return r;
}

}  // namespace

std::string Response::header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

struct Client::Prepared {
  http::request<http::span_body<const char>> message;
  std::string what;
};

Client::Client(Location location, Credentials credentials, Options options)
    : location_(std::move(location)), credentials_(std::move(credentials)), options_(options) {}

std::string Client::locate(std::string_view key) const {
  return fmt::format("s3://{}/{}", location_.bucket, key);
}

Client::Prepared Client::prepare(const Request& request) const {
  const bool v6 = location_.host.find(':') != std::string::npos;  // an IPv6 literal: bracketed in Host
  std::string host = location_.path_style ? (v6 ? "[" + location_.host + "]" : location_.host)
                                          : location_.bucket + "." + location_.host;
  if (location_.port != (location_.tls ? 443 : 80)) host += ":" + std::to_string(location_.port);
  std::string path = location_.path_style ? "/" + location_.bucket : std::string();
  if (!request.key.empty() || path.empty()) path += "/" + uri_encode(request.key, false);
  const std::string date = amz_now();
  const std::string payload = sha256_hex(request.body);
  CanonicalInput input{.method = request.method, .path = path, .query = request.query, .payload_sha256 = payload};
  input.headers = {{"host", host}, {"x-amz-date", date}, {"x-amz-content-sha256", payload}};
  if (!credentials_.session_token.empty()) input.headers.emplace_back("x-amz-security-token", credentials_.session_token);
  for (const auto& h : request.headers) input.headers.push_back(h);
  const std::string query = canonical_query(request.query);
  Prepared p;
  p.message.method_string(request.method);
  p.message.target(query.empty() ? path : path + "?" + query);
  p.message.version(11);
  for (const auto& [name, value] : input.headers) p.message.set(name, value);
  p.message.set(http::field::authorization, authorization(credentials_, input, location_.region, date));
  p.message.set(http::field::connection, "close");
  p.message.body() = boost::beast::span<const char>(request.body.data(), request.body.size());
  p.message.prepare_payload();
  p.what = fmt::format("{} {}", request.method, locate(request.key));
  return p;
}

Expected<Response> Client::send(const Request& request) const {
  std::string last;
  for (int attempt = 1; attempt <= options_.attempts; ++attempt) {
    if (attempt > 1 && !back_off(options_, attempt - 1)) break;
    auto prepared = prepare(request);
    auto connection = connect_to(location_, options_.timeout);
    if (!connection) {
      // A certificate that is not trusted stays so: said at once, not after five tries.
      if (connection.error().kind == ErrorKind::config) return std::unexpected(connection.error());
      last = connection.error().message;
      continue;
    }
    Connection& stream = *connection;
    boost::system::error_code ec;
    http::write(stream, prepared.message, ec);
    boost::beast::flat_buffer buffer;
    buffer.reserve(read_room);
    http::response_parser<http::string_body> parser;
    parser.body_limit(answer_limit);
    if (request.method == "HEAD") parser.skip(true);
    if (!ec) http::read(stream, buffer, parser, ec);
    if (ec) {
      last = fmt::format("{}: {}", prepared.what, ec.message());
      continue;
    }
    Response response = to_response(parser.get().base());
    response.body = std::move(parser.get().body());
    if (retryable(response.status) && attempt < options_.attempts) {
      last = error_of(response, prepared.what).message;
      continue;
    }
    return response;
  }
  if (util::interrupt_signal() != 0) return make_error(ErrorKind::interrupted, "interrupted");
  return make_error(ErrorKind::failure, "S3 request failed after {} tries: {}", options_.attempts, last);
}

namespace detail {

// A GET's body as it arrives; when the connection drops, the rest is asked
// for again (Range from where it stopped, If-Match the first answer's ETag, so
// a replaced object is never spliced into the old one's bytes).
class GetStream final : public BodyStream {
 public:
  GetStream(const Client& client, Request request, std::uint64_t first, std::optional<std::uint64_t> end,
            int attempts)
      : client_(client), request_(std::move(request)), next_(first), end_(end), attempts_(attempts) {}

  Expected<void> start() {
    for (int attempt = 1;; ++attempt) {
      auto opened = open_once();
      if (opened || attempt >= attempts_ || opened.error().kind != ErrorKind::failure || retry_stop_) {
        return opened;
      }
      if (!back_off(client_.options_, attempt)) return make_error(ErrorKind::interrupted, "interrupted");
    }
  }

  const Response& head() const override { return head_; }

  Expected<std::size_t> read(pipeline::MutableBytes out) override {
    if (done_ || out.empty()) return std::size_t{0};
    for (int attempt = 1;; ++attempt) {
      boost::system::error_code ec;
      std::size_t got = 0;
      if (!reopen_error_.empty()) {
        // The last reopen failed: there is no answer to read (its parser may
        // hold a 503's error document), only another try to make.
        ec = boost::asio::error::not_connected;
      } else {
        auto& body = parser_->get().body();
        body.data = out.data();
        body.size = out.size();
        http::read(stream_(), buffer_, *parser_, ec);
        if (ec == http::error::need_buffer) ec = {};
        got = out.size() - body.size;
      }
      if (!ec) {
        next_ += got;
        if (parser_->is_done()) done_ = true;
        if (got > 0 || done_) return got;
        continue;
      }
      next_ += got;
      if (got > 0) return got;  // deliver what came; the error comes back on the next read
      if (attempt >= attempts_ || util::interrupt_signal() != 0) {
        if (util::interrupt_signal() != 0) return make_error(ErrorKind::interrupted, "interrupted");
        return make_error(ErrorKind::failure, "reading {}: {} (after {} tries)", client_.locate(request_.key),
                          reopen_error_.empty() ? ec.message() : reopen_error_, attempts_);
      }
      if (!back_off(client_.options_, attempt)) return make_error(ErrorKind::interrupted, "interrupted");
      if (end_ && next_ >= *end_) {
        done_ = true;
        return std::size_t{0};
      }
      reopen_error_.clear();
      if (auto again = open_once(); !again) {
        // A server that is restarting refuses connections for a moment: that
        // is a try too. The next pass reads the broken connection, fails at
        // once and backs off again; another answer (412: the object was
        // replaced) or the last try ends it.
        if (again.error().kind != ErrorKind::failure || retry_stop_) return std::unexpected(again.error());
        reopen_error_ = again.error().message;
      }
    }
  }

 private:
  Connection& stream_() { return connection_; }

  Expected<void> open_once() {
    Request r = request_;
    if (next_ > 0 || end_) {
      r.headers.emplace_back("range", end_ ? fmt::format("bytes={}-{}", next_, *end_ - 1)
                                           : fmt::format("bytes={}-", next_));
    }
    if (!etag_.empty()) r.headers.emplace_back("if-match", etag_);
    auto connection = connect_to(client_.location(), client_.options_.timeout);
    if (!connection) return std::unexpected(connection.error());
    connection_ = std::move(*connection);
    buffer_.clear();
    // Beast reads at most the buffer's free capacity (512 bytes at least): without room a GET's
    // body arrived in reads of a few hundred bytes (84,000 read(2) calls for 58 MB).
    buffer_.reserve(read_room);
    parser_ = std::make_unique<http::response_parser<http::buffer_body>>();
    parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    boost::system::error_code ec;
    auto prepared = client_.prepare(r);
    http::write(connection_, prepared.message, ec);
    if (!ec) http::read_header(connection_, buffer_, *parser_, ec);
    if (ec) return make_error(ErrorKind::failure, "GET {}: {}", client_.locate(request_.key), ec.message());
    head_ = to_response(parser_->get().base());
    if (head_.status >= 300) {
      // Read the (small) error document, then judge it.
      std::string text;
      char chunk[4096];
      while (!parser_->is_done() && text.size() < 65536) {
        parser_->get().body().data = chunk;
        parser_->get().body().size = sizeof chunk;
        http::read(connection_, buffer_, *parser_, ec);
        if (ec == http::error::need_buffer) ec = {};
        text.append(chunk, sizeof chunk - parser_->get().body().size);
        if (ec) break;
      }
      head_.body = std::move(text);
      Error error = client_.error_of(head_, "GET " + client_.locate(request_.key));
      if (retryable(head_.status)) return std::unexpected(error);
      retry_stop_ = true;
      return std::unexpected(error);
    }
    if (etag_.empty()) etag_ = head_.header("etag");
    if (parser_->is_done()) done_ = true;
    return {};
  }

  const Client& client_;
  Request request_;
  std::uint64_t next_;
  std::optional<std::uint64_t> end_;
  int attempts_;
  std::string etag_;
  Response head_;
  Connection connection_;
  boost::beast::flat_buffer buffer_;
  std::unique_ptr<http::response_parser<http::buffer_body>> parser_;
  bool done_ = false;
  bool retry_stop_ = false;
  std::string reopen_error_;  // why the last reopen failed, for the final message
};

}  // namespace detail

Expected<std::unique_ptr<BodyStream>> Client::get(const Request& request) const {
  std::uint64_t first = 0;
  std::optional<std::uint64_t> end;
  for (const auto& [name, value] : request.headers) {
    if (name == "range") {  // "bytes=A-B" as the backend builds it
      std::sscanf(value.c_str(), "bytes=%lu-", &first);
      if (auto dash = value.find('-'); dash != std::string::npos && dash + 1 < value.size()) {
        end = std::strtoull(value.c_str() + dash + 1, nullptr, 10) + 1;
      }
    }
  }
  Request plain = request;
  std::erase_if(plain.headers, [](const auto& h) { return h.first == "range"; });
  auto stream = std::make_unique<detail::GetStream>(*this, std::move(plain), first, end, options_.attempts);
  if (auto started = stream->start(); !started) return std::unexpected(started.error());
  return stream;
}

Error Client::error_of(const Response& response, std::string_view what) const {
  const std::string code = xml_text(response.body, "Code");
  const std::string message = xml_text(response.body, "Message");
  const std::string said = code.empty() ? fmt::format("HTTP {}", response.status)
                                        : fmt::format("HTTP {} {}{}", response.status, code,
                                                      message.empty() ? "" : ": " + message);
  const std::string endpoint = fmt::format("{}:{}", location_.host, location_.port);
  if (code == "NoSuchBucket") {
    return {ErrorKind::config, fmt::format("bucket '{}' does not exist at {} ({})", location_.bucket, endpoint, what)};
  }
  if (code == "InvalidAccessKeyId") {
    return {ErrorKind::config, fmt::format("the S3 server at {} does not know access key {} (AWS_ACCESS_KEY_ID)",
                                           endpoint, credentials_.access_key)};
  }
  if (code == "SignatureDoesNotMatch") {
    return {ErrorKind::config, fmt::format("the S3 server at {} refused the request's signature: the secret key "
                                           "(AWS_SECRET_ACCESS_KEY) does not match access key {}",
                                           endpoint, credentials_.access_key)};
  }
  if (code == "RequestTimeTooSkewed") {
    return {ErrorKind::config, fmt::format("this machine's clock is too far from the S3 server's at {}: set the "
                                           "time right (NTP) and try again", endpoint)};
  }
  if (code == "QuotaExceeded") {
    return {ErrorKind::failure, fmt::format("the bucket '{}' at {} is over its quota ({}): make room in it (dbsnap "
                                            "prune, delete) or raise the quota ({})", location_.bucket, endpoint, said,
                                            what)};
  }
  if (response.status == 403) return {ErrorKind::config, fmt::format("{}: access denied ({})", what, said)};
  if (response.status == 404) return {ErrorKind::not_found, fmt::format("{}: no such object", what)};
  if (response.status == 412) return {ErrorKind::refused, fmt::format("{}: the object changed ({})", what, said)};
  if (response.status == 416) return {ErrorKind::corrupt, fmt::format("{}: the range is past its end", what)};
  return {ErrorKind::failure, fmt::format("{}: {}", what, said)};
}

namespace {

// The [profile] section's key from an INI-like credentials file.
std::string ini_value(const std::string& path, const std::string& profile, const std::string& key) {
  std::ifstream in(path);
  std::string line, section;
  while (std::getline(in, line)) {
    auto trimmed = std::string(util::trim(line));
    if (trimmed.empty() || trimmed.front() == '#' || trimmed.front() == ';') continue;
    if (trimmed.front() == '[' && trimmed.back() == ']') {
      section = std::string(util::trim(std::string_view(trimmed).substr(1, trimmed.size() - 2)));
      continue;
    }
    const auto eq = trimmed.find('=');
    if (section != profile || eq == std::string::npos) continue;
    if (std::string(util::trim(std::string_view(trimmed).substr(0, eq))) == key) {
      return std::string(util::trim(std::string_view(trimmed).substr(eq + 1)));
    }
  }
  return {};
}

}  // namespace

Expected<Credentials> find_credentials() {
  using util::env_or_empty;
  Credentials c{env_or_empty("AWS_ACCESS_KEY_ID"), env_or_empty("AWS_SECRET_ACCESS_KEY"),
                env_or_empty("AWS_SESSION_TOKEN")};
  if (!c.access_key.empty() && !c.secret_key.empty()) return c;
  std::string file = env_or_empty("AWS_SHARED_CREDENTIALS_FILE");
  if (file.empty() && !env_or_empty("HOME").empty()) file = env_or_empty("HOME") + "/.aws/credentials";
  std::string profile = env_or_empty("AWS_PROFILE");
  if (profile.empty()) profile = "default";
  if (!file.empty()) {
    c = {ini_value(file, profile, "aws_access_key_id"), ini_value(file, profile, "aws_secret_access_key"),
         ini_value(file, profile, "aws_session_token")};
    if (!c.access_key.empty() && !c.secret_key.empty()) return c;
  }
  return make_error(ErrorKind::config, "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
                    "profile '{}' in {}", profile, file.empty() ? std::string("~/.aws/credentials") : file);
}

namespace {

const boost::property_tree::ptree* find_node(const boost::property_tree::ptree& tree, std::string_view name) {
  for (const auto& [key, child] : tree) {
    if (key == name) return &child;
    if (auto* found = find_node(child, name)) return found;
  }
  return nullptr;
}

}  // namespace

std::string xml_text(std::string_view xml, std::string_view name) {
  if (xml.empty()) return {};
  try {
    std::istringstream in{std::string(xml)};
    boost::property_tree::ptree tree;
    boost::property_tree::read_xml(in, tree);
    auto* node = find_node(tree, name);
    return node == nullptr ? std::string() : node->get_value<std::string>();
  } catch (const std::exception&) {
    return {};  // not XML: the caller says the HTTP status instead
  }
}

}  // namespace dbsnap::store::s3
