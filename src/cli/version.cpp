#include "dbsnap/cli/version.hpp"

#include <openssl/crypto.h>
#include <sqlite3.h>
#include <zstd.h>

#include <fmt/format.h>

#include "dbsnap/git_commit.hpp"  // generated into the build tree: DBSNAP_GIT_COMMIT

namespace dbsnap::cli {

std::string git_commit() { return DBSNAP_GIT_COMMIT; }

std::string version_text() {
  return fmt::format("dbsnap {} (commit {})\nzstd {}, {}, SQLite {}", DBSNAP_VERSION, git_commit(),
                     ZSTD_versionString(), OpenSSL_version(OPENSSL_VERSION), sqlite3_libversion());
}

}  // namespace dbsnap::cli
