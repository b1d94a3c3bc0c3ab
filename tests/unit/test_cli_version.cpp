#include <openssl/crypto.h>
#include <sqlite3.h>
#include <zstd.h>

#include <regex>

#include "dbsnap/cli/version.hpp"
#include "helpers.hpp"

using namespace dbsnap;

TEST_CASE("--version names dbsnap's version, its git commit and the linked library versions") {
  const std::string text = cli::version_text();
  const auto newline = text.find('\n');
  REQUIRE(newline != std::string::npos);
  const std::string first = text.substr(0, newline);
  const std::string second = text.substr(newline + 1);
  CHECK(first == fmt::format("dbsnap {} (commit {})", DBSNAP_VERSION, cli::git_commit()));
  CHECK(std::regex_match(cli::git_commit(), std::regex("[0-9a-f]{12}(-dirty)?|unknown")));
  // The run-time versions of the shared libraries, each as the library reports itself.
  CHECK(second == fmt::format("zstd {}, {}, SQLite {}", ZSTD_versionString(), OpenSSL_version(OPENSSL_VERSION),
                              sqlite3_libversion()));
  CHECK(std::regex_match(second, std::regex(R"(zstd \d+\.\d+\.\d+, OpenSSL \d+\.\d+\.\d+\S* .*, SQLite \d+\.\d+\.\d+)")));
  CHECK(text.find('\n', newline + 1) == std::string::npos);
}
