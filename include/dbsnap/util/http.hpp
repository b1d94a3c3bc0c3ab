#pragma once

// A single HTTP request to a URL the user configured (a hook's ping):
// http:// or https:// (the peer verified against `ca_file` when given, else
// the system's CAs, and against the URL's host), one connection per request,
// a bounded answer. Not a general client: no redirects, no cookies, no
// proxies; the S3 backend has its own (store/s3/client.hpp) on the same
// connection (util/http_connection.hpp).

#include <chrono>
#include <string>
#include <string_view>

#include "dbsnap/util/error.hpp"

namespace dbsnap::util {

// An http(s) URL taken apart.
struct Url {
  bool https = false;
  std::string host;  // a name, an IPv4 address or an IPv6 one without its brackets
  int port = 80;
  std::string target = "/";  // path and query, as sent on the request line
  // For messages: scheme, host and port only (the path and query of a ping
  // URL are often its secret: a check's UUID, a push token).
  std::string shown() const;
};

// Parses an http:// or https:// URL. Errors: `config` naming what is wrong
// (another scheme, no host, a bad port, whitespace or control characters).
Expected<Url> parse_url(std::string_view text);

struct HttpAnswer {
  unsigned status = 0;
  std::string body;  // at most 64 KiB of it
};

// Sends `method` (GET or POST, with `body` as text/plain) to `url`, with
// `timeout` bounding the connect and each read and write. Errors: `failure`
// (cannot connect, the connection broke, not HTTP), `config` (an https peer
// that is not trusted). An answer of any status is a value.
Expected<HttpAnswer> http_request(const Url& url, std::string_view method, std::string_view body,
                                  std::chrono::milliseconds timeout, const std::string& ca_file = {});

}  // namespace dbsnap::util
