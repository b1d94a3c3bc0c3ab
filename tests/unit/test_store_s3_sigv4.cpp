// Signature V4 against signatures botocore (python3-botocore 1.29, Debian 12)
// computes for the same requests at 2013-05-24T00:00:00Z; the first is also
// the example in AWS's S3 documentation ("GET Object" with a Range header).
#include "dbsnap/store/s3/sigv4.hpp"
#include "helpers.hpp"

using namespace dbsnap::store::s3;

namespace {

const Credentials example{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""};
constexpr const char* empty_sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

}  // namespace

TEST_CASE("s3 sigv4: AWS's GET Object example") {
  CanonicalInput input{.method = "GET",
                       .path = "/test.txt",
                       .headers = {{"Host", "examplebucket.s3.amazonaws.com"},
                                   {"Range", "bytes=0-9"},
                                   {"x-amz-content-sha256", empty_sha256},
                                   {"x-amz-date", "20130524T000000Z"}},
                       .payload_sha256 = empty_sha256};
  CHECK(authorization(example, input, "us-east-1", "20130524T000000Z") ==
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST_CASE("s3 sigv4: a path-style PUT with a body and an encoded key, and a listing with a query") {
  const std::string body = "Welcome to Amazon S3.";
  CHECK(sha256_hex(body) == "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  CHECK(uri_encode("/test-bucket/dir/a b.txt", false) == "/test-bucket/dir/a%20b.txt");
  CanonicalInput put{.method = "PUT",
                     .path = uri_encode("/test-bucket/dir/a b.txt", false),
                     .headers = {{"host", "127.0.0.1:7480"},
                                 {"x-amz-content-sha256", sha256_hex(body)},
                                 {"x-amz-date", "20130524T000000Z"}},
                     .payload_sha256 = sha256_hex(body)};
  CHECK(authorization(example, put, "us-east-1", "20130524T000000Z").ends_with(
      "SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
      "Signature=ba74f0c54ebd4a149d96a0fc632c0322463764aff65a74313c556b0a390d64ab"));

  CanonicalInput list{.method = "GET",
                      .path = "/test-bucket",
                      .query = {{"prefix", "data/0"}, {"list-type", "2"}, {"continuation-token", "a+b="}},
                      .headers = {{"host", "127.0.0.1:7480"},
                                  {"x-amz-content-sha256", empty_sha256},
                                  {"x-amz-date", "20130524T000000Z"}},
                      .payload_sha256 = empty_sha256};
  CHECK(canonical_query(list.query) == "continuation-token=a%2Bb%3D&list-type=2&prefix=data%2F0");
  CHECK(authorization(example, list, "us-east-1", "20130524T000000Z").ends_with(
      "Signature=4820f5ad12a1db0e8cc2e24e237f9edfa772d0ea5adf0e5a8f732f4ac265e43c"));
  // A wrong secret signs differently (what the server's 403 SignatureDoesNotMatch is about).
  Credentials wrong = example;
  wrong.secret_key.back() = 'X';
  CHECK_FALSE(authorization(wrong, list, "us-east-1", "20130524T000000Z").ends_with(
      "Signature=4820f5ad12a1db0e8cc2e24e237f9edfa772d0ea5adf0e5a8f732f4ac265e43c"));
}
