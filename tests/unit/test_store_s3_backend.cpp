// The S3 backend against a real S3 server (Ceph radosgw, started by
// tests/harness/s3.sh; CTest's s3_backend test runs these cases with
// DBSNAP_TEST_S3_* set). Each case needs that server: without it they fail,
// and the plain unit test run leaves them out (-tce="s3 backend*").
#include <atomic>
#include <cstdlib>

#include <unistd.h>

#include "backend_conformance.hpp"
#include "dbsnap/store/s3/s3_backend.hpp"
#include "s3_relay.hpp"

using namespace dbsnap;

namespace {

std::string env_or_fail(const char* name) {
  const char* value = std::getenv(name);
  REQUIRE_MESSAGE(value != nullptr, name << " is not set: run through CTest's s3_backend test");
  return value;
}

// The harness's server as a Location (bucket: `bucket`, or the harness's).
store::s3::Location server(const std::string& bucket = {}) {
  const std::string endpoint = env_or_fail("DBSNAP_TEST_S3_ENDPOINT");  // http://127.0.0.1:PORT
  const auto colon = endpoint.rfind(':');
  return {.host = endpoint.substr(7, colon - 7),
          .port = std::stoi(endpoint.substr(colon + 1)),
          .bucket = bucket.empty() ? env_or_fail("DBSNAP_TEST_S3_BUCKET") : bucket};
}

store::s3::Credentials keys() {
  return {env_or_fail("DBSNAP_TEST_S3_ACCESS_KEY"), env_or_fail("DBSNAP_TEST_S3_SECRET_KEY"), ""};
}

// A new, empty bucket for each backend: the conformance suite starts from nothing.
std::string fresh_bucket() {
  static std::atomic<int> n{0};
  const std::string name = fmt::format("t-{}-{}", ::getpid(), n++);
  store::s3::Client client(server(name), keys());
  auto r = client.send({.method = "PUT", .key = ""});
  REQUIRE_MESSAGE(r.has_value(), r.error().message);
  REQUIRE_MESSAGE(r->status == 200, "creating bucket " << name << ": HTTP " << r->status << " " << r->body);
  return name;
}

}  // namespace

TEST_CASE("s3 backend: the backend conformance suite, on a real S3 server") {
  test::check_backend_conformance([] {
    return store::s3::make_s3_backend(store::s3::Client(server(fresh_bucket()), keys()), store::BackendAccess::write);
  });
}

TEST_CASE("s3 backend: the backend conformance suite over https (the harness's private CA)") {
  const std::string tls = env_or_fail("DBSNAP_TEST_S3_TLS_ENDPOINT");  // https://localhost:PORT
  auto context = util::TlsContext::client(env_or_fail("DBSNAP_TEST_S3_CA"));
  REQUIRE_MESSAGE(context.has_value(), context.error().message);
  test::check_backend_conformance([&] {
    auto at = server(fresh_bucket());
    at.host = "localhost";
    at.port = std::stoi(tls.substr(tls.rfind(':') + 1));
    at.tls = *context;
    return store::s3::make_s3_backend(store::s3::Client(at, keys()), store::BackendAccess::write);
  });
}

TEST_CASE("s3 backend: objects above one part go up as a multipart upload, and read back whole or in ranges") {
  const std::size_t part = 5 * 1024 * 1024;  // S3's smallest part
  auto backend = store::s3::make_s3_backend(store::s3::Client(server(fresh_bucket()), keys()),
                                            store::BackendAccess::write, part);
  const std::string big = test::pattern_bytes(2 * part + 12345, 7);
  {
    auto writer = backend->create("data/00/pack");
    REQUIRE(writer.has_value());
    test::write_in_pieces(**writer, big, 1 << 20);  // two parts go out while it is written
    CHECK(test::names(*backend).empty());           // invisible until completed
  }  // dropped: the upload is aborted
  CHECK(test::names(*backend).empty());
  auto writer = backend->create("data/00/pack");
  REQUIRE(writer.has_value());
  test::write_in_pieces(**writer, big, 3 << 20);
  REQUIRE((*writer)->commit().has_value());
  CHECK(backend->stat("data/00/pack")->size == big.size());
  CHECK(test::read_object_text(*backend, "data/00/pack") == big);
  CHECK(test::read_object_text(*backend, "data/00/pack", part - 10, 20) == big.substr(part - 10, 20));
  // Fail-if-exists holds for a multipart upload too.
  auto again = backend->create("data/00/pack", store::IfExists::fail);
  REQUIRE(again.has_value());
  test::write_in_pieces(**again, big, 1 << 20);
  auto refused = (*again)->commit();
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error().kind == ErrorKind::refused);
  CHECK(test::read_object_text(*backend, "data/00/pack") == big);
}

TEST_CASE("s3 backend: a wrong secret key, an unknown access key and a missing bucket are one clear line each") {
  auto wrong = keys();
  wrong.secret_key.back() = wrong.secret_key.back() == 'x' ? 'y' : 'x';
  auto backend = store::s3::make_s3_backend(store::s3::Client(server(), wrong), store::BackendAccess::write);
  auto listed = backend->list("");
  REQUIRE_FALSE(listed.has_value());
  CHECK(listed.error().kind == ErrorKind::config);
  CHECK(listed.error().message.find("secret key (AWS_SECRET_ACCESS_KEY) does not match") != std::string::npos);
  CHECK(listed.error().message.find(wrong.secret_key) == std::string::npos);  // never the secret itself

  auto unknown = keys();
  unknown.access_key = "NOSUCHKEY00000000000";
  auto stranger = store::s3::make_s3_backend(store::s3::Client(server(), unknown), store::BackendAccess::write);
  auto refused = store::write_object(*stranger, "x", "y");
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error().kind == ErrorKind::config);
  CHECK(refused.error().message.find("does not know access key NOSUCHKEY") != std::string::npos);

  auto nowhere = store::s3::make_s3_backend(store::s3::Client(server("no-such-bucket-here"), keys()),
                                            store::BackendAccess::write);
  auto missing = nowhere->list("");
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().kind == ErrorKind::config);
  CHECK(missing.error().message.find("bucket 'no-such-bucket-here' does not exist") != std::string::npos);
}

TEST_CASE("s3 backend: open_backend finds the server from the environment, and checks the bucket") {
  ::setenv("AWS_ENDPOINT_URL_S3", env_or_fail("DBSNAP_TEST_S3_ENDPOINT").c_str(), 1);
  ::setenv("AWS_ACCESS_KEY_ID", env_or_fail("DBSNAP_TEST_S3_ACCESS_KEY").c_str(), 1);
  ::setenv("AWS_SECRET_ACCESS_KEY", env_or_fail("DBSNAP_TEST_S3_SECRET_KEY").c_str(), 1);
  const std::string bucket = fresh_bucket();
  auto opened = store::open_backend("s3://" + bucket + "/team/prod", store::BackendAccess::write);
  REQUIRE_MESSAGE(opened.has_value(), opened.error().message);
  CHECK((*opened)->scheme() == "s3");
  REQUIRE(store::write_object(**opened, "manifests/a.json", "{}").has_value());
  CHECK((*opened)->locate("manifests/a.json") == "s3://" + bucket + "/team/prod/manifests/a.json");
  // The prefix is a folder of the bucket: seen from the bucket's root the key carries it.
  auto root = store::open_backend("s3://" + bucket, store::BackendAccess::read);
  REQUIRE(root.has_value());
  CHECK(test::names(**root) == std::vector<std::string>{"team/prod/manifests/a.json"});
  CHECK((*root)->create("x").error().kind == ErrorKind::failure);  // opened for reading

  auto missing = store::open_backend("s3://no-such-bucket-here/p", store::BackendAccess::read);
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().kind == ErrorKind::config);
  CHECK(store::open_backend("s3://Bad_Bucket/p", store::BackendAccess::read).error().kind == ErrorKind::config);
  ::setenv("AWS_ENDPOINT_URL_S3", "ftp://127.0.0.1:1", 1);
  CHECK(store::open_backend("s3://" + bucket, store::BackendAccess::read).error().message.find("https://") !=
        std::string::npos);
  ::unsetenv("AWS_ENDPOINT_URL_S3");
  ::unsetenv("AWS_ENDPOINT_URL");
  auto nothing = store::open_backend("s3://" + bucket, store::BackendAccess::read);  // no default server
  REQUIRE_FALSE(nothing.has_value());
  CHECK(nothing.error().kind == ErrorKind::config);
  CHECK(nothing.error().message.find("no S3 endpoint") != std::string::npos);

  // https: the harness's private CA through AWS_CA_BUNDLE; without it, or for a name the
  // certificate does not hold (it is for localhost only), a one-line config error at once.
  const std::string tls = env_or_fail("DBSNAP_TEST_S3_TLS_ENDPOINT");  // https://localhost:PORT
  ::setenv("AWS_ENDPOINT_URL_S3", tls.c_str(), 1);
  auto untrusted = store::open_backend("s3://" + bucket, store::BackendAccess::read);
  REQUIRE_FALSE(untrusted.has_value());
  CHECK(untrusted.error().kind == ErrorKind::config);
  CHECK(untrusted.error().message.find("is not trusted") != std::string::npos);
  ::setenv("AWS_CA_BUNDLE", env_or_fail("DBSNAP_TEST_S3_CA").c_str(), 1);
  auto over_tls = store::open_backend("s3://" + bucket + "/team/prod", store::BackendAccess::read);
  REQUIRE_MESSAGE(over_tls.has_value(), over_tls.error().message);
  CHECK(test::read_object_text(**over_tls, "manifests/a.json") == "{}");
  const std::string by_ip = "https://127.0.0.1:" + tls.substr(tls.rfind(':') + 1);
  ::setenv("AWS_ENDPOINT_URL_S3", by_ip.c_str(), 1);
  auto mismatch = store::open_backend("s3://" + bucket, store::BackendAccess::read);
  REQUIRE_FALSE(mismatch.has_value());
  CHECK(mismatch.error().kind == ErrorKind::config);
  CHECK(mismatch.error().message.find("mismatch") != std::string::npos);
  ::setenv("AWS_CA_BUNDLE", "/nonexistent/ca.pem", 1);
  auto no_bundle = store::open_backend("s3://" + bucket, store::BackendAccess::read);
  REQUIRE_FALSE(no_bundle.has_value());
  CHECK(no_bundle.error().message.find("/nonexistent/ca.pem") != std::string::npos);
  ::unsetenv("AWS_CA_BUNDLE");
  ::unsetenv("AWS_ENDPOINT_URL_S3");
  ::unsetenv("AWS_ACCESS_KEY_ID");
  ::unsetenv("AWS_SECRET_ACCESS_KEY");
}

TEST_CASE("s3 backend: a connection cut mid-answer is resumed where it broke, never spliced onto a new object") {
  const std::string bucket = fresh_bucket();
  auto direct = store::s3::make_s3_backend(store::s3::Client(server(bucket), keys()), store::BackendAccess::write);
  const std::string text = test::pattern_bytes(3 * 1024 * 1024 + 5, 11);
  REQUIRE(store::write_object(*direct, "data/01/pack", text).has_value());
  auto through = [&](const test::Relay& relay) {
    auto at = server(bucket);
    at.port = relay.port();
    return store::s3::make_s3_backend(store::s3::Client(at, keys(), {.first_backoff = std::chrono::milliseconds(10)}),
                                      store::BackendAccess::write);
  };
  {
    // Connection 0 is the HEAD of open(); connection 1, the GET, drops after 1 MiB of its answer.
    test::Relay relay(server().host, server().port, {.cut_connection = 1, .cut_after_bytes = 1024 * 1024});
    auto backend = through(relay);
    CHECK(test::read_object_text(*backend, "data/01/pack") == text);
    CHECK(relay.connections() == 3);  // HEAD, the cut GET, the GET of the rest
  }
  {
    test::Relay relay(server().host, server().port, {.cut_connection = 1, .cut_after_bytes = 1024 * 1024});
    auto backend = through(relay);
    auto source = backend->open("data/01/pack");
    REQUIRE(source.has_value());
    // Replaced while the first GET is under way: the rest of the old object is gone, and must not
    // be made up from the new one.
    REQUIRE(store::write_object(*direct, "data/01/pack", test::pattern_bytes(text.size(), 12)).has_value());
    std::string got;
    std::array<std::byte, 65536> buffer;
    Expected<std::size_t> n = std::size_t{1};
    while (n && *n > 0) {
      n = (*source)->read(buffer);
      if (n) got.append(reinterpret_cast<const char*>(buffer.data()), *n);
    }
    REQUIRE_FALSE(n.has_value());
    CHECK(n.error().kind == ErrorKind::refused);  // 412: the ETag no longer matches
    CHECK(got.size() < text.size());
    CHECK(text.starts_with(got));  // what came is the old object's, and nothing else
  }
}

TEST_CASE("s3 backend: 503 Slow Down is waited out, up to the tries there are") {
  const std::string bucket = fresh_bucket();
  auto through = [&](const test::Relay& relay, int attempts) {
    auto at = server(bucket);
    at.port = relay.port();
    return store::s3::make_s3_backend(
        store::s3::Client(at, keys(), {.attempts = attempts, .first_backoff = std::chrono::milliseconds(10)}),
        store::BackendAccess::write);
  };
  {
    test::Relay relay(server().host, server().port, {.slow_down_first = 3});
    auto backend = through(relay, 5);
    REQUIRE(store::write_object(*backend, "m/a.json", "{\"a\": 1}").has_value());
    CHECK(test::read_object_text(*backend, "m/a.json") == "{\"a\": 1}");
    CHECK(relay.connections() == 6);  // three refused, the PUT, then the HEAD and the GET of the read
  }
  {
    test::Relay relay(server().host, server().port, {.slow_down_first = 100});
    auto backend = through(relay, 4);
    auto failed = store::write_object(*backend, "m/b.json", "{}");
    REQUIRE_FALSE(failed.has_value());
    CHECK(failed.error().kind == ErrorKind::failure);
    CHECK(failed.error().message.find("SlowDown") != std::string::npos);
    CHECK(relay.connections() == 4);
  }
  auto direct = store::s3::make_s3_backend(store::s3::Client(server(bucket), keys()), store::BackendAccess::read);
  CHECK(test::names(*direct) == std::vector<std::string>{"m/a.json"});
}
