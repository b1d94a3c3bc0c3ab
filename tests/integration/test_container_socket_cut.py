#!/usr/bin/python3
"""Scenario: the docker daemon's connection is cut in the middle of a stream.

dbsnap streams dumps and restores through the daemon's unix socket. Here DOCKER_HOST names a relay
in front of that socket (a unix socket this test serves and forwards byte for byte), which cuts one
exec's connection mid-stream the way a daemon restart or crash does: the relay closes both ends.

  backup, cut inside a stream frame: dbsnap exits 6 with one line naming the broken connection,
          publishes nothing, leaves no temp file and no pg_dump in the container;
  backup, cut at a frame boundary (the demultiplexer sees a clean end, and the daemon records
          exit 126 for pg_dump, which did run): the same, and pg_dump is not blamed;
  backup, cut at a frame boundary after which the daemon answers nothing (it went away with the
          stream, so pg_dump's exit status cannot be asked): the same;
  restore, cut while dbsnap writes the script: the database is exactly as before, no restore
          session and no psql is left in the container;
and through the same relay, untouched, a backup and a restore work (the relay is transparent, so
the faults above are the cuts' doing).
"""
import os
import shutil
import socket
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import data_of, EXIT_RUNTIME, Test, temp_files, wait_for  # noqa: E402
from postgres_fixture import PgContainer, pg_project, published, store_dir, fill_big_table  # noqa: E402

DAEMON = "/var/run/docker.sock"


class Relay:
    """Forwards every connection on `path` to the daemon's socket. cut(direction, threshold, where)
    arms it to close one connection, both ends, once that many bytes went that way: "down" is the
    daemon's output to dbsnap (cut "inside" a multiplexed frame or at a frame "boundary"), "up" is
    dbsnap's input to the daemon."""

    def __init__(self, path):
        self.path = path
        self.refusing = False  # set by a cut armed with then_refuse: every later connection is closed at once
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(path)
        self.server.listen(64)
        self.lock = threading.Lock()
        self.armed = None
        self.fired = None
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self, direction, threshold, where="inside", then_refuse=False):
        with self.lock:
            self.armed = (direction, threshold, where, then_refuse)
            self.fired = None

    def disarm(self):
        with self.lock:
            self.armed = None
            self.fired = None
            self.refusing = False

    def close(self):
        self.server.close()

    def _take(self, direction, count):
        with self.lock:
            if self.armed and self.armed[0] == direction and count >= self.armed[1]:
                where = self.armed[2]
                self.refusing = self.armed[3]
                self.armed = None
                self.fired = (direction, count, where)
                return where
        return None

    def _accept(self):
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            with self.lock:
                refusing = self.refusing
                if not refusing:
                    self.connections += 1
            if refusing:
                client.close()
                continue
            daemon = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            daemon.connect(DAEMON)
            threading.Thread(target=self._up, args=(client, daemon), daemon=True).start()
            threading.Thread(target=self._down, args=(client, daemon), daemon=True).start()

    @staticmethod
    def _kill(client, daemon):
        for s in (client, daemon):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def _up(self, client, daemon):
        sent = 0
        try:
            while True:
                data = client.recv(65536)
                if not data:
                    daemon.shutdown(socket.SHUT_WR)
                    return
                daemon.sendall(data)
                sent += len(data)
                if self._take("up", sent):
                    self._kill(client, daemon)
                    return
        except OSError:
            return

    def _down(self, client, daemon):
        """Relays the daemon's bytes; after a 101 response, frame by frame (8-byte headers)."""
        pending = b""
        framed = None  # None: still in the HTTP head; True: a hijacked exec stream; False: plain HTTP
        sent = 0
        try:
            while True:
                data = daemon.recv(65536)
                if not data:
                    if pending:
                        client.sendall(pending)
                    client.shutdown(socket.SHUT_WR)
                    return
                pending += data
                if framed is None:
                    end = pending.find(b"\r\n\r\n")
                    if end < 0:
                        continue
                    framed = pending.startswith(b"HTTP/1.1 101")
                    client.sendall(pending[:end + 4])
                    pending = pending[end + 4:]
                if not framed:
                    client.sendall(pending)
                    pending = b""
                    continue
                while len(pending) >= 8:
                    size = int.from_bytes(pending[4:8], "big")
                    if len(pending) < 8 + size:
                        break
                    frame, pending = pending[:8 + size], pending[8 + size:]
                    where = self._take("down", sent + len(frame))
                    if where == "inside":
                        client.sendall(frame[:8 + size // 2])
                    else:
                        client.sendall(frame)
                    sent += len(frame)
                    if where:
                        self._kill(client, daemon)
                        return
        except OSError:
            return


def body(t):
    sockdir = tempfile.mkdtemp(prefix="dbsnap-relay-")  # short: a unix socket path has 108 bytes at most
    relay = Relay(os.path.join(sockdir, "docker.sock"))
    env = {"DOCKER_HOST": "unix://" + relay.path}
    try:
        with PgContainer(t, "socket_cut") as pg:
            scenario(t, pg, relay, env)
    finally:
        relay.close()
        shutil.rmtree(sockdir, ignore_errors=True)


def one_error_line(t, rc, err, what):
    t.check(rc not in (0, None) and rc > 0, "{}: dbsnap exits non-zero".format(what), "exit {}: {}".format(rc, err))
    lines = err.strip().splitlines()
    t.check(len(lines) == 1 and lines[0].startswith("dbsnap: error: "), "{}: one error line".format(what), err)


def scenario(t, pg, relay, env):
    pg.sql("CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY);"
           "INSERT INTO alembic_version VALUES ('aaaa0001');"
           "CREATE TABLE small (id serial PRIMARY KEY, v text);"
           "INSERT INTO small (v) SELECT 'row ' || g FROM generate_series(1, 300) g;")
    fill_big_table(pg, "big", 60)
    proj = pg_project(t, {"pg": pg.target()})
    store = store_dir(proj)

    t.section("through the relay, untouched: a backup works and streams through it")
    r = t.dbsnap(proj, "-v", "backup", "pg", "--json", env=env)
    t.require_rc(r, 0, "backup through the relay")
    t.require("run via docker API unix://" + relay.path in r.errtext, "the dump streamed through the relay's socket",
              r.errtext)
    s1 = r.json()
    state_1 = pg.state()
    t.check(data_of(s1)["raw_bytes"] > 50 * 1000 * 1000, "the whole dump is stored", data_of(s1)["raw_bytes"])

    for where, cut_at, then_refuse in (("inside", "inside", False), ("boundary", "boundary", False),
                                       ("boundary, then unreachable", "boundary", True)):
        t.section("backup: the connection cut {} a frame after 8 MB{}".format(
            "inside" if cut_at == "inside" else "at the end of",
            ", and the daemon answers nothing after it" if then_refuse else ""))
        before = published(proj)
        relay.cut("down", 8 << 20, cut_at, then_refuse)
        t0 = time.monotonic()
        r = t.dbsnap(proj, "backup", "pg", env=env, timeout=300)
        took = time.monotonic() - t0
        print("  {:.1f} s, exit {}: {}".format(took, r.rc, r.errtext.strip()))
        t.require(relay.fired is not None, "the relay cut the dump's connection", r.errtext)
        one_error_line(t, r.rc, r.errtext, where)
        t.check_eq(r.rc, EXIT_RUNTIME, "{}: exit 6, a runtime failure".format(where), r.errtext)
        t.check("nothing was published" in r.errtext, "{}: it says nothing was published".format(where), r.errtext)
        if then_refuse:
            t.check("cannot say how the command ended" in r.errtext and relay.path in r.errtext,
                    "{}: it says the daemon at the relay's socket could not report pg_dump's exit status"
                    .format(where), r.errtext)
        else:
            t.check("connection" in r.errtext and relay.path in r.errtext,
                    "{}: it names the broken connection to the daemon's socket".format(where), r.errtext)
        t.check("cannot be run" not in r.errtext and "not installed" not in r.errtext,
                "{}: it does not blame the dump tool".format(where), r.errtext)
        t.check_eq(published(proj), before, "{}: no blob or manifest was published".format(where))
        t.check_eq(temp_files(store), [], "{}: no temp file is left".format(where))
        t.check_eq(len(t.list_json(proj)), 1, "{}: list still shows only the first snapshot".format(where))
        t.check(wait_for(lambda: not pg.processes("pg_dump"), 10, 0.1), "{}: no pg_dump is left in the container"
                .format(where), pg.processes("pg_dump"))
        relay.disarm()

    t.section("restore: the connection cut after dbsnap wrote 8 MB of the script")
    pg.sql("UPDATE alembic_version SET version_num = 'bbbb0002';"
           "UPDATE small SET v = v || ' changed' WHERE id % 3 = 0;"
           "DELETE FROM big WHERE id % 5 = 0;"
           "CREATE TABLE added (id int PRIMARY KEY);")
    state_2 = pg.state()
    t.require(state_2 != state_1, "the database moved on from the snapshot")
    relay.cut("up", 8 << 20)
    r = t.dbsnap(proj, "restore", s1["id"], "--yes", "--no-safety-snapshot", env=env, timeout=300)
    print("  exit {}: {}".format(r.rc, r.errtext.strip()))
    t.require(relay.fired is not None, "the relay cut the restore's connection", r.errtext)
    one_error_line(t, r.rc, r.errtext, "restore")
    t.check("unchanged" in r.errtext and "rolled back" in r.errtext, "it says the target is unchanged", r.errtext)
    t.check("cannot be run" not in r.errtext, "it does not say psql cannot be run", r.errtext)
    t.check(wait_for(lambda: not pg.restore_backends(), 30, 0.1), "no restore session is left in the server",
            pg.restore_backends())
    t.check(wait_for(lambda: not pg.processes("psql"), 10, 0.1), "no psql is left in the container",
            pg.processes("psql"))
    t.check_eq(pg.state(), state_2, "the database is exactly as it was before the restore")

    t.section("through the relay, untouched: the restore works")
    relay.disarm()
    r = t.dbsnap(proj, "restore", s1["id"], "--yes", "--no-safety-snapshot", env=env, timeout=300)
    t.check_eq(r.rc, 0, "the restore through the relay succeeds", r.errtext)
    t.check(relay.fired is None, "the relay cut nothing this time")
    t.check_eq(pg.state(), state_1, "the database is back at the snapshot's state and revision")


if __name__ == "__main__":
    Test("container_socket_cut").run(body)
