#!/usr/bin/python3
"""Scenario: a target's monitoring hooks (ping_url, ping_*_url, ping_method, on_failure_command).

A local HTTP server on loopback records every request, as healthchecks.io or Uptime Kuma would:
- ping_url (healthchecks style): a backup that succeeds pings <url>/start then <url>; one that
  fails (the database file unreadable) pings <url>/start then <url>/fail, exits with its own
  code, and on_failure_command runs with DBSNAP_TARGET, DBSNAP_EXIT_CODE, DBSNAP_ERROR;
- ping_method = "POST": the success body is the backup's summary, the failure body its error;
- explicit ping_start/success/failure_url (Uptime Kuma's push with ?status=up / ?status=down)
  are used as given, query and all;
- a hook server that answers 500 twice, then 200: the ping is retried and the backup is quiet
  about it; one that is down (nothing listens): a warning naming the key and the host, never
  the URL's token, and the backup still exits 0; a 404 is not retried;
- dbsnap metrics: dbsnap_last_backup_failure_timestamp_seconds is the failure's time (0 before);
- a bad URL, a bad method, an empty on_failure_command: exit 3 before anything runs.
"""
import http.server
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import EXIT_CONFIG, EXIT_OK, Test, fill_items  # noqa: E402

TOKEN = "a8f3c1d2-secret-check-uuid"


class Recorder:
    """An HTTP server on 127.0.0.1 that records (method, path, body) and answers `codes` in turn
    (then 200)."""

    def __init__(self):
        self.requests = []
        self.codes = []
        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def handle_one(self, method):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                recorder.requests.append((method, self.path, body))
                code = recorder.codes.pop(0) if recorder.codes else 200
                self.send_response(code)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"OK")

            def do_GET(self):
                self.handle_one("GET")

            def do_POST(self):
                self.handle_one("POST")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path):
        return "http://127.0.0.1:{}{}".format(self.port, path)

    def take(self):
        out, self.requests = self.requests, []
        return out


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def body(t):
    hc = Recorder()
    proj = t.path("proj")
    os.makedirs(proj)
    db_file = os.path.join(proj, "app.db")
    fill_items(db_file, ["a1a1a1a1"], 100)
    toml = os.path.join(proj, "dbsnap.toml")
    alert = os.path.join(proj, "alert.sh")
    with open(alert, "w") as fh:
        fh.write('#!/bin/sh\nprintf "%s|%s|%s" "$DBSNAP_TARGET" "$DBSNAP_EXIT_CODE" "$DBSNAP_ERROR" > alert.out\n'
                 'echo alert ran\n')
    os.chmod(alert, 0o755)

    def config(extra):
        with open(toml, "w") as fh:
            fh.write('[targets.dev]\nengine = "sqlite"\nfile = "app.db"\n' + extra)

    def metric_failure():
        r = t.dbsnap_ok(proj, "metrics")
        for line in r.text.splitlines():
            if line.startswith('dbsnap_last_backup_failure_timestamp_seconds{target="dev"}'):
                return float(line.split()[-1])
        return None

    t.section("ping_url: start then success")
    config('ping_url = "{}"\non_failure_command = ["./alert.sh"]\n'.format(hc.url("/ping/" + TOKEN)))
    t.check_eq(metric_failure(), 0.0, "no failure recorded yet")
    r = t.dbsnap(proj, "backup", "dev")
    t.check_rc(r, EXIT_OK, "backup")
    t.check_eq([(m, p) for m, p, _ in hc.take()], [("GET", "/ping/{}/start".format(TOKEN)), ("GET", "/ping/" + TOKEN)],
               "pinged /start, then the check itself")
    t.check(not os.path.exists(os.path.join(proj, "alert.out")), "on_failure_command did not run")

    t.section("a failing backup: start then fail, on_failure_command, the failure recorded")
    os.chmod(db_file, 0)
    os.rename(db_file, db_file + ".away")
    before = time.time()
    r = t.dbsnap(proj, "backup", "dev")
    t.check(r.rc not in (0,), "the backup failed", r.describe())
    t.check_eq([(m, p) for m, p, _ in hc.take()], [("GET", "/ping/{}/start".format(TOKEN)),
                                                    ("GET", "/ping/{}/fail".format(TOKEN))],
               "pinged /start, then /fail")
    out = os.path.join(proj, "alert.out")
    t.require(os.path.exists(out), "on_failure_command ran")
    with open(out) as fh:
        target, code, error = fh.read().split("|", 2)
    t.check_eq((target, code), ("dev", str(r.rc)), "with DBSNAP_TARGET and DBSNAP_EXIT_CODE")
    t.check(error and error in r.errtext, "and DBSNAP_ERROR, the error's line", error)
    t.check("alert ran" in r.errtext, "its output went to stderr", r.describe())
    failed_at = metric_failure()
    t.check(failed_at is not None and before - 2 <= failed_at <= time.time() + 2,
            "dbsnap metrics gives the failure's time ({})".format(failed_at))
    os.rename(db_file + ".away", db_file)
    os.chmod(db_file, 0o644)

    t.section("ping_method = POST: the summary, or the error, as the body")
    config('ping_url = "{}"\nping_method = "POST"\n'.format(hc.url("/p/" + TOKEN)))
    r = t.dbsnap(proj, "backup", "dev", "--json")
    t.check_rc(r, EXIT_OK, "backup")
    reqs = hc.take()
    t.check_eq([(m, p) for m, p, _ in reqs], [("POST", "/p/{}/start".format(TOKEN)), ("POST", "/p/" + TOKEN)],
               "POSTed")
    t.check(len(reqs) == 2 and r.json()["id"] in reqs[1][2], "the success body names the snapshot", str(reqs))
    os.rename(db_file, db_file + ".away")
    r = t.dbsnap(proj, "backup", "dev")
    reqs = hc.take()
    t.check(len(reqs) == 2 and reqs[1][1] == "/p/{}/fail".format(TOKEN) and reqs[1][2] and
            reqs[1][2] in r.errtext, "the failure body is the error's line", str(reqs))
    os.rename(db_file + ".away", db_file)

    t.section("explicit URLs (Uptime Kuma's push), query and all")
    config('ping_success_url = "{}"\nping_failure_url = "{}"\n'.format(
        hc.url("/api/push/{}?status=up&msg=OK".format(TOKEN)), hc.url("/api/push/{}?status=down".format(TOKEN))))
    t.check_rc(t.dbsnap(proj, "backup", "dev"), EXIT_OK, "backup")
    t.check_eq([(m, p) for m, p, _ in hc.take()], [("GET", "/api/push/{}?status=up&msg=OK".format(TOKEN))],
               "only the success URL, as given (no start URL set)")

    t.section("a hook server in trouble never fails the backup")
    config('ping_url = "{}"\n'.format(hc.url("/ping/" + TOKEN)))
    hc.codes = [500, 500]
    r = t.dbsnap(proj, "backup", "dev")
    t.check_rc(r, EXIT_OK, "backup while the server answers 500 twice")
    t.check_eq([p for _, p, _ in hc.take()], ["/ping/{}/start".format(TOKEN)] * 3 + ["/ping/" + TOKEN],
               "the start ping was tried again until it got through")
    t.check("warning" not in r.errtext, "and nothing was said", r.describe())
    hc.codes = [404] * 10
    r = t.dbsnap(proj, "backup", "dev")
    t.check_rc(r, EXIT_OK, "backup while the server answers 404")
    t.check_eq(len(hc.take()), 2, "a 404 is not retried")
    t.check("HTTP 404" in r.errtext and "ping_start_url" in r.errtext, "a warning names the key and the status",
            r.describe())
    hc.codes = []
    down = free_port()
    config('ping_url = "http://127.0.0.1:{}/ping/{}"\n'.format(down, TOKEN))
    r = t.dbsnap(proj, "backup", "dev")
    t.check_rc(r, EXIT_OK, "backup with nothing listening at the ping URL")
    warnings = [line for line in r.errtext.splitlines() if line.startswith("dbsnap: warning:")]
    t.check_eq(len(warnings), 2, "a warning for the start ping and one for the success ping", r.describe())
    t.check(all("127.0.0.1:{}".format(down) in w for w in warnings), "naming the host and port", r.describe())
    t.check(TOKEN not in r.errtext, "never the URL's token")

    t.section("bad hook keys: exit 3 before anything runs")
    for extra, needle in (('ping_url = "ftp://example/x"\n', "ping_url"),
                          ('ping_success_url = "http://host:99999/"\n', "ping_success_url"),
                          ('ping_url = "{}"\nping_method = "PUT"\n'.format(hc.url("/x")), "ping_method"),
                          ('on_failure_command = []\n', "on_failure_command")):
        config(extra)
        r = t.dbsnap(proj, "backup", "dev")
        t.check_error(r, EXIT_CONFIG, "backup with " + extra.strip(), contains=(needle,))
        t.check_eq(hc.take(), [], "nothing was pinged")


if __name__ == "__main__":
    Test("sqlite_hooks").run(body)
