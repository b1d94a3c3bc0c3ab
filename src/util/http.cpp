#include "dbsnap/util/http.hpp"

#include <cstdlib>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <fmt/core.h>

#include "dbsnap/util/http_connection.hpp"
#include "dbsnap/util/text.hpp"

namespace dbsnap::util {

namespace http = boost::beast::http;

std::string Url::shown() const {
  const bool v6 = host.find(':') != std::string::npos;
  const std::string h = v6 ? "[" + host + "]" : host;
  const bool usual = port == (https ? 443 : 80);
  return fmt::format("{}://{}{}", https ? "https" : "http", h, usual ? "" : ":" + std::to_string(port));
}

Expected<Url> parse_url(std::string_view text) {
  const std::string printable_text = util::printable(text);
  for (char c : text) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return make_error(ErrorKind::config, "URL '{}' holds a blank or a control character", printable_text);
    }
  }
  Url url;
  std::string_view rest;
  if (text.starts_with("https://")) {
    url.https = true;
    url.port = 443;
    rest = text.substr(8);
  } else if (text.starts_with("http://")) {
    rest = text.substr(7);
  } else {
    return make_error(ErrorKind::config, "URL '{}' is not an http:// or https:// URL", printable_text);
  }
  const auto slash = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) {
    std::string target(rest.substr(slash));
    if (auto hash = target.find('#'); hash != std::string::npos) target.resize(hash);  // never sent
    if (target.empty() || target.front() != '/') target.insert(0, "/");
    url.target = target;
  }
  if (authority.find('@') != std::string_view::npos) {
    return make_error(ErrorKind::config, "URL '{}': user:password@ is not supported (put a token in the path or "
                      "query)", printable_text);
  }
  std::string_view port_text;
  if (authority.starts_with("[")) {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return make_error(ErrorKind::config, "URL '{}': unclosed [", printable_text);
    url.host = std::string(authority.substr(1, close - 1));
    const auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return make_error(ErrorKind::config, "URL '{}': bad host", printable_text);
      port_text = after.substr(1);
    }
  } else {
    const auto colon = authority.rfind(':');
    url.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (url.host.empty()) return make_error(ErrorKind::config, "URL '{}' has no host", printable_text);
  if (!port_text.empty() || authority.ends_with(':')) {
    const std::string p(port_text);
    char* end = nullptr;
    const long port = std::strtol(p.c_str(), &end, 10);
    if (p.empty() || *end != '\0' || port <= 0 || port > 65535) {
      return make_error(ErrorKind::config, "URL '{}' has a bad port", printable_text);
    }
    url.port = static_cast<int>(port);
  }
  return url;
}

Expected<HttpAnswer> http_request(const Url& url, std::string_view method, std::string_view body,
                                  std::chrono::milliseconds timeout, const std::string& ca_file) {
  std::shared_ptr<TlsContext> tls;
  if (url.https) {
    auto context = TlsContext::client(ca_file);
    if (!context) return std::unexpected(context.error());
    tls = std::move(*context);
  }
  auto connection = HttpConnection::open(url.host, url.port, tls, timeout, "HTTP server");
  if (!connection) return std::unexpected(connection.error());
  http::request<http::string_body> request{method == "POST" ? http::verb::post : http::verb::get, url.target, 11};
  const bool usual = url.port == (url.https ? 443 : 80);
  const bool v6 = url.host.find(':') != std::string::npos;
  request.set(http::field::host, (v6 ? "[" + url.host + "]" : url.host) + (usual ? "" : ":" + std::to_string(url.port)));
  request.set(http::field::user_agent, "dbsnap/" DBSNAP_VERSION);
  request.set(http::field::connection, "close");
  if (method == "POST") {
    request.set(http::field::content_type, "text/plain; charset=utf-8");
    request.body() = std::string(body);
  }
  request.prepare_payload();
  boost::system::error_code ec;
  http::write(*connection, request, ec);
  boost::beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024);
  if (!ec) http::read(*connection, buffer, parser, ec);
  if (ec && ec != http::error::body_limit) {
    return make_error(ErrorKind::failure, "{} {}: {}", method, url.shown(), ec.message());
  }
  return HttpAnswer{.status = parser.get().result_int(), .body = parser.get().body()};
}

}  // namespace dbsnap::util
