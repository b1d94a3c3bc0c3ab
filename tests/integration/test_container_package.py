#!/usr/bin/python3
"""The Debian package, for real: cpack builds the .deb from the build tree; its Depends come from
dpkg-shlibdeps (a versioned package for every library the binary needs) and it holds the binary,
the gzipped man page, the bash completion and the docs. A fresh container of the test image, which
has no compiler, installs it with dpkg (offline), runs `dbsnap --version`, backs up and restores a
real SQLite file, completes snapshot ids with the installed completion, and removes the package.
Then packaging/Dockerfile is built with --network none on the local test image and its
`dbsnap --version` runs, and the image backs up a host project mounted as a volume (a sidecar)."""

import glob
import gzip
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import Test, fill_items  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.abspath(os.path.join(HERE, "..", ".."))
HARNESS = os.environ.get("DBSNAP_HARNESS") or os.path.join(HERE, "..", "harness")
DOCKER = "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else "docker"
BOX = "dbsnap-package-install"
VERSION_RE = r"dbsnap (\d+\.\d+\.\d+) \(commit (?:[0-9a-f]{12}(?:-dirty)?|unknown)\)\nzstd \S+, OpenSSL .+, SQLite (\S+)"


def run(argv, timeout=600, **kw):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                          timeout=timeout, **kw)


def describe(p):
    return "$ {}\n  exit {}\n  stdout: {}\n  stderr: {}".format(
        " ".join(p.args), p.returncode, p.stdout.decode(errors="replace")[-2000:],
        p.stderr.decode(errors="replace")[-2000:])


def body(t):
    build_dir = os.path.dirname(t.binary)
    cpack_config = os.path.join(build_dir, "CPackConfig.cmake")
    t.require(os.path.exists(cpack_config), "the build tree has CPackConfig.cmake", cpack_config)
    host_version = run([t.binary, "--version"]).stdout.decode()
    t.require(re.fullmatch(VERSION_RE + r"\n", host_version) is not None, "the built dbsnap --version", host_version)
    version = re.match(VERSION_RE, host_version).group(1)

    t.section("cpack -G DEB")
    out = t.path("deb")
    p = run(["cpack", "-G", "DEB", "--config", cpack_config, "-B", out])
    t.require(p.returncode == 0, "cpack -G DEB", describe(p))
    debs = glob.glob(os.path.join(out, "*.deb"))
    t.require_eq([os.path.basename(d) for d in debs], ["dbsnap_{}_amd64.deb".format(version)], "one .deb, named by version")
    deb = debs[0]

    def field(name):
        return run(["dpkg-deb", "-f", deb, name]).stdout.decode().strip()

    t.check_eq(field("Package"), "dbsnap", "Package")
    t.check_eq(field("Version"), version, "Version is dbsnap --version's")
    t.check_eq(field("Architecture"), "amd64", "Architecture")
    depends = field("Depends")
    print("  Depends: " + depends)
    depends_packages = {d.split()[0] for d in re.split(r"\s*[,|]\s*", depends) if d}
    # Every shared library the binary needs (NEEDED), by the package that ships it on this machine,
    # must be a versioned dependency: that is what dpkg-shlibdeps writes (a hand-written list would not
    # follow the binary).
    needed = re.findall(r"NEEDED\s+(\S+)", run(["objdump", "-p", t.binary]).stdout.decode())
    resolved = dict(re.findall(r"^\s*(\S+) => (/\S+)", run(["ldd", t.binary]).stdout.decode(), re.M))
    t.require(len(needed) >= 5, "objdump lists the binary's NEEDED libraries", needed)
    for soname in needed:
        owner = run(["dpkg", "-S", os.path.realpath(resolved.get(soname, soname))])
        if owner.returncode != 0:  # merged /usr: dpkg knows /lib/..., the loader gives /usr/lib/... or back
            owner = run(["dpkg", "-S", resolved.get(soname, soname)])
        package = owner.stdout.decode().split(":")[0].strip()
        t.check(package in depends_packages, "{} ({}) is in Depends".format(soname, package or "?"), depends)
        t.check(re.search(re.escape(package) + r" \(>= [^)]+\)", depends) is not None,
                "{} is a versioned dependency, as dpkg-shlibdeps writes it".format(package), depends)

    contents = run(["dpkg-deb", "-c", deb]).stdout.decode()
    files = set(re.findall(r"\s\.(/\S+)$", contents, re.M))
    for path in ("/usr/bin/dbsnap", "/usr/bin/dbsnap-recover", "/usr/share/man/man1/dbsnap.1.gz",
                 "/usr/share/bash-completion/completions/dbsnap",
                 "/usr/share/doc/dbsnap/README.md", "/usr/share/doc/dbsnap/FORMAT.md"):
        t.check(path in files, "the package holds {}".format(path), contents)
    unpacked = t.path("unpacked")
    t.require(run(["dpkg-deb", "-x", deb, unpacked]).returncode == 0, "dpkg-deb -x")
    with gzip.open(os.path.join(unpacked, "usr/share/man/man1/dbsnap.1.gz")) as f, \
            open(os.path.join(SOURCE, "man", "dbsnap.1"), "rb") as g:
        t.check(f.read() == g.read(), "the packaged man page is man/dbsnap.1")
    with open(os.path.join(unpacked, "usr/share/bash-completion/completions/dbsnap"), "rb") as f, \
            open(os.path.join(SOURCE, "packaging", "completion", "dbsnap.bash"), "rb") as g:
        t.check(f.read() == g.read(), "the packaged completion is packaging/completion/dbsnap.bash")
    t.check(b"not stripped" not in run(["file", os.path.join(unpacked, "usr/bin/dbsnap")]).stdout,
            "the packaged binary is stripped")
    t.check(os.access(os.path.join(unpacked, "usr/bin/dbsnap-recover"), os.X_OK),
            "the packaged dbsnap-recover is executable")

    t.section("a fresh container of the test image, without build tools")
    image = run([os.path.join(HARNESS, "dbctl"), "image"]).stdout.decode().strip().splitlines()[-1]
    t.require(image.startswith("dbsnap-test:"), "the harness image tag", image)
    run([os.path.join(HARNESS, "dbctl"), "rm", BOX])
    p = run([os.path.join(HARNESS, "dbctl"), "start-shell", BOX])
    t.require(p.returncode == 0, "dbctl start-shell " + BOX, describe(p))

    def sh(script, check=True, what=None):
        p = run([DOCKER, "exec", "-i", "-w", "/", BOX, "sh", "-c", script], timeout=300)
        if check:
            t.require(p.returncode == 0, what or script, describe(p))
        return p

    try:
        tools = sh("for c in cc gcc g++ c++ clang make cmake cpack; do command -v $c; done; true").stdout.decode().split()
        t.check_eq(tools, [], "the container has no compiler or build tools")
        t.check(sh("command -v dbsnap", check=False).returncode != 0, "dbsnap is not installed before the .deb")
        p = run([DOCKER, "cp", deb, "{}:/tmp/dbsnap.deb".format(BOX)])
        t.require(p.returncode == 0, "docker cp the .deb", describe(p))
        p = sh("dpkg -i /tmp/dbsnap.deb", check=False)
        t.require(p.returncode == 0, "dpkg -i installs the .deb offline (every dependency is in the image)", describe(p))
        t.check_eq(sh("dpkg-query -W -f '${Status} ${Version}' dbsnap").stdout.decode(),
                   "install ok installed " + version, "dpkg knows the package")

        p = sh("dbsnap --version")
        text = p.stdout.decode()
        m = re.fullmatch(VERSION_RE + r"\n", text)
        t.check(m is not None, "dbsnap --version in the container", text)
        t.check_eq(text.split("\n")[0], host_version.split("\n")[0], "the same version and commit as the build")
        if m:
            sqlite_cli = sh("sqlite3 --version").stdout.decode().split()[0]
            t.check_eq(m.group(2), sqlite_cli, "it reports the container's SQLite library")
        for path in ("/usr/share/man/man1/dbsnap.1.gz", "/usr/share/doc/dbsnap/README.md",
                     "/usr/share/bash-completion/completions/dbsnap", "/usr/lib/systemd/system/dbsnap-backup@.service",
                     "/usr/lib/systemd/system/dbsnap-backup@.timer",
                     "/usr/lib/systemd/system-generators/dbsnap-schedule-generator"):
            t.check(sh("test -s " + path, check=False).returncode == 0, "installed: " + path)
        t.check(sh("test -x /usr/lib/systemd/system-generators/dbsnap-schedule-generator", check=False).returncode
                == 0, "the schedule generator is executable")

        t.section("a SQLite backup and restore with the installed dbsnap")
        sh("""mkdir -p /work/proj && cd /work/proj &&
              printf '[targets.dev]\\nengine = "sqlite"\\nfile = "app.db"\\n' > dbsnap.toml &&
              sqlite3 app.db "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY);
                INSERT INTO alembic_version VALUES ('c0ffee123456');
                CREATE TABLE item (id INTEGER PRIMARY KEY, v TEXT, b BLOB);
                WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 5000)
                INSERT INTO item (v, b) SELECT 'row ' || x, randomblob(100) FROM c;" """, what="a SQLite database")
        state = "cd /work/proj && sqlite3 app.db .dump | sha256sum"  # every row and the schema, in order
        before = sh(state).stdout.decode()
        p = sh("cd /work/proj && dbsnap backup dev --label in-container --json")
        snapshot = re.search(r'"id": "(\w+)"', p.stdout.decode())
        t.require(snapshot is not None, "backup prints the snapshot's id", p.stdout.decode())
        snapshot = snapshot.group(1)
        t.check("c0ffee123456" in p.stdout.decode(), "the snapshot records the Alembic revision")
        sh("cd /work/proj && sqlite3 app.db \"DELETE FROM item WHERE id % 2 = 0; UPDATE alembic_version SET version_num = 'bad000000000'\"")
        t.check(sh(state).stdout.decode() != before, "the database changed after the backup")
        p = sh("cd /work/proj && dbsnap restore {} --yes".format(snapshot), check=False)
        t.check(p.returncode == 0, "dbsnap restore --yes", describe(p))
        t.check_eq(sh(state).stdout.decode(), before, "the restored database is the backed-up one")
        p = sh("cd /work/proj && dbsnap verify --all", check=False)
        t.check(p.returncode == 0, "dbsnap verify --all", describe(p))
        listing = sh("cd /work/proj && dbsnap list dev").stdout.decode()
        t.check(snapshot in listing and "pre-restore" in listing, "list shows the snapshot and the safety snapshot",
                listing)

        t.section("the installed bash completion")
        p = sh("cd /work/proj && bash --norc -c 'source /usr/share/bash-completion/completions/dbsnap && "
               "COMP_WORDS=(dbsnap restore \"\") && COMP_CWORD=2 && _dbsnap && printf \"%s\\n\" \"${COMPREPLY[@]}\"'",
               check=False)
        offered = p.stdout.decode().split()
        t.check(snapshot in offered and "latest" in offered and "@c0ffee123456" in offered,
                "completing `dbsnap restore ` offers the snapshot ids, latest and @REV", describe(p))

        t.section("dpkg -r")
        p = sh("dpkg -r dbsnap", check=False)
        t.check(p.returncode == 0, "dpkg -r dbsnap", describe(p))
        left = sh("ls /usr/bin/dbsnap /usr/bin/dbsnap-recover /usr/share/man/man1/dbsnap.1.gz "
                  "/usr/share/bash-completion/completions/dbsnap "
                  "2>/dev/null; true").stdout.decode().split()
        t.check_eq(left, [], "removing the package removes its files")
    finally:
        run([os.path.join(HARNESS, "dbctl"), "rm", BOX])

    t.section("packaging/Dockerfile on the local test image, offline")
    context = t.path("context")
    os.makedirs(context)
    shutil.copy(deb, context)
    tag = "dbsnap-package-sidecar:test-{}".format(os.getpid())
    p = run([DOCKER, "build", "--network", "none", "--build-arg", "BASE=" + image, "--label", "dbsnap-test=1",
             "-f", os.path.join(SOURCE, "packaging", "Dockerfile"), "-t", tag, context], timeout=900,
            env=dict(os.environ, DOCKER_BUILDKIT="0"))
    t.require(p.returncode == 0, "docker build --network none --build-arg BASE={}".format(image), describe(p))
    try:
        p = run([DOCKER, "run", "--rm", "--network", "none", tag, "--version"])
        t.check(p.returncode == 0 and re.fullmatch(VERSION_RE + r"\n", p.stdout.decode()) is not None,
                "docker run IMAGE --version", describe(p))
        p = run([DOCKER, "run", "--rm", "--network", "none", tag])
        t.check(p.returncode == 0 and b"Subcommands:" in p.stdout, "the default command prints the usage", describe(p))

        # As a sidecar: the project (dbsnap.toml, the database, the store) is a volume.
        proj = t.project(targets={"dev": "app.db"})
        fill_items(os.path.join(proj, "app.db"), ["5ca1ab1e0000"], 200)
        p = run([DOCKER, "run", "--rm", "--network", "none", "-v", proj + ":/work", tag, "backup", "dev", "--json"])
        t.check(p.returncode == 0, "the image backs up a project mounted at /work", describe(p))
        r = t.dbsnap(proj, "verify", "--all")
        t.check(r.rc == 0 and "5ca1ab1e0000" in str(t.list_json(proj)), "the host's dbsnap verifies that snapshot",
                r.describe())
    finally:
        run([DOCKER, "rmi", "-f", tag])


if __name__ == "__main__":
    Test("container_package").run(body)
