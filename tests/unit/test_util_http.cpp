#include "dbsnap/util/http.hpp"
#include "helpers.hpp"

using namespace dbsnap;

TEST_CASE("parse_url takes http(s) URLs apart, and refuses what it cannot send") {
  auto a = util::parse_url("https://hc-ping.com/0b1c-uuid");
  REQUIRE(a);
  CHECK(a->https);
  CHECK(a->host == "hc-ping.com");
  CHECK(a->port == 443);
  CHECK(a->target == "/0b1c-uuid");
  CHECK(a->shown() == "https://hc-ping.com");  // never the path: it is the check's secret
  auto b = util::parse_url("http://127.0.0.1:3001/api/push/tok?status=up&msg=OK#frag");
  REQUIRE(b);
  CHECK(b->port == 3001);
  CHECK(b->target == "/api/push/tok?status=up&msg=OK");
  CHECK(b->shown() == "http://127.0.0.1:3001");
  auto c = util::parse_url("http://[::1]:8080?x=1");
  REQUIRE(c);
  CHECK(c->host == "::1");
  CHECK(c->target == "/?x=1");
  CHECK(c->shown() == "http://[::1]:8080");
  auto d = util::parse_url("http://example.org");
  REQUIRE(d);
  CHECK(d->target == "/");
  for (const char* bad : {"ftp://x/y", "http://", "http://:80/", "http://host:0/", "http://host:70000/",
                          "http://host:x/", "http://host/a b", "http://user:pw@host/", "http://[::1/", "host/x"}) {
    CAPTURE(bad);
    auto r = util::parse_url(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == ErrorKind::config);
  }
}
