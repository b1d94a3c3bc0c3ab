#pragma once

// AWS Signature Version 4 for S3 requests (the public spec: "Signing AWS API
// requests", and "Authenticating Requests: Using the Authorization Header").
// A request is reduced to its canonical form (method, URI-encoded path,
// sorted query, sorted lower-case headers, the payload's SHA-256), hashed,
// and signed with a key derived from the secret by HMAC-SHA-256 over the
// date, region, service and "aws4_request". Pure functions over strings: the
// unit tests check them against signatures botocore computes for the same
// requests.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dbsnap::store::s3 {

struct Credentials {
  std::string access_key;
  std::string secret_key;
  std::string session_token;  // empty unless temporary credentials (sent as x-amz-security-token)
};

// The parts of a request that are signed.
struct CanonicalInput {
  std::string method;                                        // "GET"
  std::string path;                                          // already URI-encoded: "/bucket/a%20b"
  std::vector<std::pair<std::string, std::string>> query;    // decoded names and values
  std::vector<std::pair<std::string, std::string>> headers;  // every signed header, host included
  std::string payload_sha256;                                // hex, or "UNSIGNED-PAYLOAD"
};

// RFC 3986 percent-encoding as SigV4 wants it: everything but A-Z a-z 0-9 - _ . ~
// (and '/' unless `encode_slash`).
std::string uri_encode(std::string_view text, bool encode_slash);

// Lower-case hex SHA-256 / HMAC-SHA-256 (raw bytes out for HMAC: keys chain).
std::string sha256_hex(std::string_view data);
std::string hmac_sha256(std::string_view key, std::string_view data);

// The query string as sent and as signed: names and values encoded, sorted.
std::string canonical_query(const std::vector<std::pair<std::string, std::string>>& query);

// The Authorization header value for `input` at `amz_date` (YYYYMMDDTHHMMSSZ,
// the x-amz-date header's value, which must be among the headers).
std::string authorization(const Credentials& credentials, const CanonicalInput& input, std::string_view region,
                          std::string_view amz_date, std::string_view service = "s3");

}  // namespace dbsnap::store::s3
