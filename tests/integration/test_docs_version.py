#!/usr/bin/python3
"""`dbsnap --version`: two lines, "dbsnap X.Y.Z (commit C)" and "zstd A, OpenSSL B, SQLite D".
The version is the project's (CMakeLists.txt), the commit is the source checkout's HEAD (or
"unknown" outside a git checkout), and each library version is what the shared library dbsnap
loads (found with ldd) reports about itself when called through ctypes: the run-time versions,
independently of dbsnap's own code."""

import ctypes
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import Test, clean_env  # noqa: E402

SOURCE = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def linked_libraries(binary):
    """soname -> path, as the dynamic loader resolves them for `binary`."""
    out = subprocess.run(["ldd", binary], stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True).stdout.decode()
    return dict(re.findall(r"^\s*(\S+) => (/\S+)", out, re.M))


def body(t):
    r = t.dbsnap(t.tmp, "--version", config=False)
    t.require_eq(r.rc, 0, "dbsnap --version", r.describe())
    lines = r.text.rstrip("\n").split("\n")
    t.require_eq(len(lines), 2, "--version prints two lines", r.text)
    first = re.fullmatch(r"dbsnap (\d+\.\d+\.\d+) \(commit ([0-9a-f]{12}(?:-dirty)?|unknown)\)", lines[0])
    t.require(first is not None, "line 1 is 'dbsnap X.Y.Z (commit C)'", lines[0])
    second = re.fullmatch(r"zstd (\S+), (OpenSSL .+), SQLite (\S+)", lines[1])
    t.require(second is not None, "line 2 is 'zstd A, OpenSSL B, SQLite D'", lines[1])

    with open(os.path.join(SOURCE, "CMakeLists.txt")) as f:
        project = re.search(r"project\(dbsnap VERSION (\S+)", f.read()).group(1)
    t.check_eq(first.group(1), project, "the version is CMakeLists.txt's project version")

    git = subprocess.run(["git", "-C", SOURCE, "rev-parse", "--show-toplevel"], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, env=clean_env())
    if git.returncode == 0 and os.path.realpath(git.stdout.decode().strip()) == os.path.realpath(SOURCE):
        head = subprocess.run(["git", "-C", SOURCE, "rev-parse", "--short=12", "HEAD"], stdout=subprocess.PIPE,
                              check=True, env=clean_env()).stdout.decode().strip()
        t.check_eq(first.group(2).removesuffix("-dirty"), head, "the commit is the checkout's HEAD")
    else:
        t.check_eq(first.group(2), "unknown", "outside a git checkout the commit is 'unknown'")

    libs = linked_libraries(t.binary)
    for soname in ("libzstd.so.1", "libcrypto.so.3", "libsqlite3.so.0"):
        t.require(soname in libs, "dbsnap links {}".format(soname), sorted(libs))
    zstd = ctypes.CDLL(libs["libzstd.so.1"])
    zstd.ZSTD_versionString.restype = ctypes.c_char_p
    t.check_eq(second.group(1), zstd.ZSTD_versionString().decode(), "zstd: the loaded libzstd's ZSTD_versionString()")
    crypto = ctypes.CDLL(libs["libcrypto.so.3"])
    crypto.OpenSSL_version.restype = ctypes.c_char_p
    crypto.OpenSSL_version.argtypes = [ctypes.c_int]
    t.check_eq(second.group(2), crypto.OpenSSL_version(0).decode(),
               "OpenSSL: the loaded libcrypto's OpenSSL_version(OPENSSL_VERSION)")
    sqlite = ctypes.CDLL(libs["libsqlite3.so.0"])
    sqlite.sqlite3_libversion.restype = ctypes.c_char_p
    t.check_eq(second.group(3), sqlite.sqlite3_libversion().decode(), "SQLite: the loaded libsqlite3's sqlite3_libversion()")


if __name__ == "__main__":
    Test("docs_version").run(body)
