#pragma once

#include <string>

namespace dbsnap::cli {

// The git commit dbsnap was built from: 12 hex digits, "-dirty" appended when
// the checkout had uncommitted changes, or "unknown" outside a git checkout
// (set at build time by cmake/GitCommit.cmake, or -DDBSNAP_GIT_COMMIT=...).
std::string git_commit();

// What `dbsnap --version` prints (without a trailing newline), two lines:
//   dbsnap 0.1.0 (commit 73a6940c1d2e)
//   zstd 1.5.4, OpenSSL 3.0.17 1 Jul 2025, SQLite 3.40.1
// The library versions are those of the libraries linked at run time
// (ZSTD_versionString, OpenSSL_version, sqlite3_libversion), not the headers'.
std::string version_text();

}  // namespace dbsnap::cli
