#!/usr/bin/python3
"""The docker runtime as users configure it: a compose service resolved through the
com.docker.compose.* labels (zero or several matches are clear errors, compose_project
disambiguates), DOCKER_HOST and docker_context honoured, a missing CLI, and the exec itself
failing (no such container) told apart from the tool failing. The dump's stream is read from the
docker daemon's socket when the CLI would use that socket, and through the CLI otherwise
(docker_api = false, docker_cli, a tcp:// DOCKER_HOST, a current context in the CLI's config):
both give the same bytes. Restores write into the container the same two ways."""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import data_of, Test, EXIT_RUNTIME, EXIT_CONFIG  # noqa: E402

HARNESS = os.environ.get("DBSNAP_HARNESS") or os.path.join(os.path.dirname(__file__), "..", "harness")
DBCTL = os.path.join(HARNESS, "dbctl")
DOCKER = "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else "docker"
NAMES = ["dbsnap-container-rt-a", "dbsnap-container-rt-b", "dbsnap-container-rt-c"]


def start(t, name, service, project):
    p = subprocess.run([DBCTL, "start-shell", name, "--", "--label", "com.docker.compose.service=" + service,
                        "--label", "com.docker.compose.project=" + project], capture_output=True, timeout=120)
    t.require(p.returncode == 0, "start " + name, p.stderr.decode())
    subprocess.run([DOCKER, "exec", name, "sh", "-c",
                    "mkdir -p /data && sqlite3 /data/app.db \"CREATE TABLE alembic_version (version_num TEXT); "
                    "INSERT INTO alembic_version VALUES ('{}')\"".format(name[-1] * 6)], check=True, timeout=60)


def write_config(proj, body):
    with open(os.path.join(proj, "dbsnap.toml"), "w") as f:
        f.write(body)


def body(t):
    for n in NAMES:
        subprocess.run([DBCTL, "rm", n], capture_output=True)
    try:
        start(t, NAMES[0], "db", "shop")
        start(t, NAMES[1], "db", "blog")
        start(t, NAMES[2], "cache", "shop")
        proj = t.project(targets={})

        t.section("compose_service with compose_project resolves to one container")
        write_config(proj, '[targets.shop]\nengine = "sqlite"\ncompose_service = "db"\ncompose_project = "shop"\n'
                           'file = "/data/app.db"\n')
        r = t.dbsnap(proj, "backup", "shop", "--json")
        t.require_eq(r.rc, 0, "backup through a compose service", r.errtext)
        t.check_eq(r.json()["revisions"], ["aaaaaa"], "the revision of the shop project's db container")
        t.check(NAMES[0] in r.json()["source"], "source names the resolved container", r.json()["source"])

        t.section("several matches and no match are clear errors")
        write_config(proj, '[targets.any]\nengine = "sqlite"\ncompose_service = "db"\nfile = "/data/app.db"\n'
                           '[targets.none]\nengine = "sqlite"\ncompose_service = "web"\nfile = "/data/app.db"\n')
        r = t.dbsnap(proj, "backup", "any")
        t.check_error(r, EXIT_RUNTIME, "two containers run service db",
                      contains=("several containers", NAMES[0], NAMES[1], "compose_project"))
        r = t.dbsnap(proj, "backup", "none")
        t.check_error(r, EXIT_RUNTIME, "no container runs service web", contains=("no container runs", "'web'"))

        t.section("DOCKER_HOST and docker_context are honoured")
        write_config(proj, '[targets.c]\nengine = "sqlite"\ncontainer = "{}"\nfile = "/data/app.db"\n'
                           '[targets.ctx]\nengine = "sqlite"\ncontainer = "{}"\nfile = "/data/app.db"\n'
                           'docker_context = "dbsnap-test-ctx"\n'
                           '[targets.podman]\nengine = "sqlite"\ncontainer = "{}"\nfile = "/data/app.db"\n'
                           'runtime = "podman"\ndocker_cli = "/nonexistent/podman"\n'.format(NAMES[2], NAMES[2], NAMES[2]))
        r = t.dbsnap(proj, "backup", "c", env={"DOCKER_HOST": "unix:///var/run/docker.sock"})
        t.check_eq(r.rc, 0, "DOCKER_HOST pointing at the daemon works", r.errtext)
        r = t.dbsnap(proj, "backup", "c", env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
        t.check_error(r, EXIT_RUNTIME, "DOCKER_HOST pointing nowhere", contains=("unreachable",))
        subprocess.run([DOCKER, "context", "rm", "-f", "dbsnap-test-ctx"], capture_output=True)
        p = subprocess.run([DOCKER, "context", "create", "dbsnap-test-ctx", "--docker",
                            "host=unix:///var/run/docker.sock"], capture_output=True)
        t.require(p.returncode == 0, "docker context create", p.stderr.decode())
        try:
            r = t.dbsnap(proj, "backup", "ctx", "--json")
            t.check_eq(r.rc, 0, "a target with docker_context backs up", r.errtext)
            t.check_eq(r.json()["revisions"] if r.rc == 0 else None, ["cccccc"], "through the context")
        finally:
            subprocess.run([DOCKER, "context", "rm", "-f", "dbsnap-test-ctx"], capture_output=True)
        r = t.dbsnap(proj, "backup", "podman")
        t.check_error(r, EXIT_RUNTIME, "a runtime CLI that is not installed", contains=("/nonexistent/podman",))

        t.section("the dump is read from the daemon's socket, or through the CLI when that is what the CLI would do")
        write_config(proj, '[targets.c]\nengine = "sqlite"\ncontainer = "{0}"\nfile = "/data/app.db"\n'
                           '[targets.cli]\nengine = "sqlite"\ncontainer = "{0}"\nfile = "/data/app.db"\n'
                           'docker_api = false\n'
                           '[targets.named_cli]\nengine = "sqlite"\ncontainer = "{0}"\nfile = "/data/app.db"\n'
                           'docker_cli = "{1}"\n'.format(NAMES[2], DOCKER))
        via = "dbsnap: run via docker API unix:///var/run/docker.sock: "

        def dump_lines(r):
            return [l for l in r.errtext.splitlines() if l.startswith("dbsnap: run") and "exec -i" in l]

        r = t.dbsnap(proj, "-v", "backup", "c", "--json")
        t.require_eq(r.rc, 0, "backup through the daemon's socket", r.errtext)
        api_sha = data_of(r.json())["raw_sha256"]
        t.check(any(l.startswith(via) for l in dump_lines(r)), "the dump's exec goes through the API", r.errtext)
        r = t.dbsnap(proj, "-v", "backup", "c", "--json", env={"DOCKER_HOST": "unix:///var/run/docker.sock"})
        t.check(r.rc == 0 and any(l.startswith(via) for l in dump_lines(r)),
                "DOCKER_HOST=unix://... names the socket the API uses", r.errtext)
        for target, env, what in (("cli", {}, "docker_api = false"), ("named_cli", {}, "docker_cli set")):
            r = t.dbsnap(proj, "-v", "backup", target, "--json", env=env)
            t.require_eq(r.rc, 0, "backup with " + what, r.errtext)
            lines = dump_lines(r)
            t.check(bool(lines) and all(l.startswith("dbsnap: run: ") for l in lines),
                    what + ": the dump runs as a docker exec -i process", r.errtext)
            t.check_eq(data_of(r.json())["raw_sha256"], api_sha, what + ": the same dump bytes as through the API")
        snapshot = t.list_json(proj)[0]["id"]
        for target, prefix, what in (("c", via, "through the API"), ("cli", "dbsnap: run: ", "through the CLI")):
            r = t.dbsnap(proj, "-v", "restore", snapshot, "--to", target, "--yes", "--no-safety-snapshot")
            t.check_eq(r.rc, 0, "restore " + what, r.errtext)
            # The file streams into a shell's `cat`; short commands (the swap) run the CLI either way.
            lines = [l for l in dump_lines(r) if 'cat > "$t"' in l]
            t.check(len(lines) == 1 and lines[0].startswith(prefix),
                    "restore {}: the file is written into a docker exec -i {}".format(target, what), r.errtext)
        r = t.dbsnap(proj, "backup", "c", "--json")
        t.check_eq(data_of(r.json())["raw_sha256"] if r.rc == 0 else r.errtext, api_sha,
                   "after both restores the database is the same")
        # Where the CLI would talk to another daemon, the CLI runs (and here, finds none).
        r = t.dbsnap(proj, "backup", "c", env={"DOCKER_HOST": "tcp://127.0.0.1:9"})
        t.check_error(r, EXIT_RUNTIME, "a tcp:// DOCKER_HOST is left to the CLI", contains=("unreachable",))
        r = t.dbsnap(proj, "-v", "backup", "c", env={"DOCKER_HOST": "tcp://127.0.0.1:9"})
        t.check("via docker API" not in r.errtext and "dbsnap: run: docker inspect" in r.errtext,
                "tcp:// DOCKER_HOST: the CLI runs, the API is not used", r.errtext)
        config_dir = t.path("docker-config")
        os.makedirs(config_dir, exist_ok=True)
        with open(os.path.join(config_dir, "config.json"), "w") as f:
            json.dump({"currentContext": "dbsnap-test-elsewhere"}, f)
        r = t.dbsnap(proj, "-v", "backup", "c", env={"DOCKER_CONFIG": config_dir})
        t.check(r.rc != 0 and "via docker API" not in r.errtext,
                "a current context in the CLI's config.json is left to the CLI (which does not know it)", r.errtext)
        t.check("dbsnap-test-elsewhere" in r.errtext and "unreachable" in r.errtext,
                "the CLI's error names the context (not a missing container)", r.errtext)

        t.section("the exec failing is told apart from the tool failing")
        subprocess.run([DBCTL, "rm", NAMES[2]], capture_output=True)
        r = t.dbsnap(proj, "backup", "c")
        t.check_error(r, EXIT_RUNTIME, "a container that does not exist", contains=(NAMES[2], "does not exist"))
        write_config(proj, '[targets.bad]\nengine = "sqlite"\ncontainer = "x"\nruntime = "lxc"\nfile = "/a.db"\n')
        r = t.dbsnap(proj, "backup", "bad")
        t.check_error(r, EXIT_CONFIG, "an unknown runtime", contains=("unknown runtime 'lxc'",))
        t.check_eq(len(t.list_json(proj)), 8, "only the eight successful backups are listed")
    finally:
        for n in NAMES:
            subprocess.run([DBCTL, "rm", n], capture_output=True)


Test("container_runtime").run(body)
