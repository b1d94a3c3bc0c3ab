#pragma once

// A small S3 client: signed HTTP/1.1 requests to one bucket of one endpoint.
// Each request opens its own TCP connection (Boost.Beast over util::FdStream,
// or util::TlsStream for https, with send/receive timeouts), is signed with SigV4 (sigv4.hpp), and is tried
// again with exponential backoff when the connection drops or the server
// answers 500, 502, 503, 504 or 429: every request dbsnap sends to S3 is
// idempotent (whole-body PUTs, GETs, HEADs, DELETEs, multipart steps).
// Responses' XML (errors, listings, multipart) is read by Boost.PropertyTree.
// Secrets stay in memory: the Authorization header is never logged, and
// error messages carry the server's code and message, never a header.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dbsnap/pipeline/stream.hpp"
#include "dbsnap/store/s3/sigv4.hpp"
#include "dbsnap/util/error.hpp"
#include "dbsnap/util/tls.hpp"

namespace dbsnap::store::s3 {

// Where the bucket is and how to talk to it.
struct Location {
  std::string host;        // "127.0.0.1", "s3.eu-west-1.amazonaws.com"
  int port = 80;
  // https: TLS with this context (util/tls.hpp: the peer verified against
  // its CA bundle and the host name); null for plain http.
  std::shared_ptr<util::TlsContext> tls;
  std::string bucket;
  std::string prefix;      // every object's name is prefixed with this ("" or ending in '/')
  std::string region = "us-east-1";
  bool path_style = true;  // /bucket/key (custom endpoints) instead of bucket.host/key
};

struct Options {
  std::chrono::milliseconds timeout{60000};  // per socket read or write
  int attempts = 5;                          // tries per request, with backoff between them
  std::chrono::milliseconds first_backoff{200};
};

struct Response {
  unsigned status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string header(const std::string& name) const;
};

struct Request {
  std::string method;                                        // GET PUT POST HEAD DELETE
  std::string key;                                           // object key (prefix included); "" for the bucket
  std::vector<std::pair<std::string, std::string>> query;    // decoded
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers, all signed
  std::string_view body;                                     // sent whole (its SHA-256 signed)
};

// A GET's body, read as it arrives (bounded memory).
class BodyStream : public pipeline::Source {
 public:
  virtual const Response& head() const = 0;  // status and headers; body empty
};

namespace detail {
class GetStream;
}

class Client {
 public:
  Client(Location location, Credentials credentials, Options options = {});

  // Sends the request (again, on the failures above) and reads the whole
  // answer. Errors: `failure` when the endpoint cannot be reached or keeps
  // failing (the last reason said), `interrupted` on SIGINT/SIGTERM. An HTTP
  // error status is not an Error here: the caller judges it (error_of).
  Expected<Response> send(const Request& request) const;

  // Starts a GET and returns once the status and headers have arrived; the
  // body is then read from the stream. A non-2xx answer is read whole and
  // turned into an Error by error_of.
  Expected<std::unique_ptr<BodyStream>> get(const Request& request) const;

  // The Error an HTTP error answer means: not_found (NoSuchKey, 404 of an
  // object), config (NoSuchBucket, a refused key or signature, a clock too far
  // off: each with a one-line hint), refused (412 Precondition Failed),
  // failure otherwise; `what` names the request ("PUT data/ab/x").
  Error error_of(const Response& response, std::string_view what) const;

  const Location& location() const { return location_; }
  // "s3://bucket/prefix" + name, for messages.
  std::string locate(std::string_view key) const;

 private:
  friend class detail::GetStream;
  struct Prepared;
  Prepared prepare(const Request& request) const;
  Location location_;
  Credentials credentials_;
  Options options_;
};

// Credentials as the AWS CLI and restic find them: AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN) from the environment, else the
// profile AWS_PROFILE (default "default") of AWS_SHARED_CREDENTIALS_FILE
// (default ~/.aws/credentials). Errors: `config` saying what is missing.
Expected<Credentials> find_credentials();

// Text of the first element named `name` anywhere in an XML document ("" if none).
std::string xml_text(std::string_view xml, std::string_view name);

}  // namespace dbsnap::store::s3
