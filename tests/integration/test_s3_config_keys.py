#!/usr/bin/python3
"""Scenario: the S3 endpoint, region and addressing as keys of dbsnap.toml's [s3] table, and
virtual-hosted addressing against the real server (CTest's s3 fixture).

- With no AWS_ENDPOINT_URL in the environment, [s3] endpoint and region reach the server: backup,
  list and restore work; AWS_ENDPOINT_URL, when set, wins over the file (a file naming a port
  where nothing listens still works).
- addressing = "virtual": requests go to BUCKET.HOST. The server knows its DNS name
  (tests/harness/s3.sh sets rgw dns name = localhost) and the runs get a private /etc/hosts
  (unshare --mount, a bind mount) that resolves only BUCKET.localhost, so a path-style
  request could not even connect: backup, list and restore work, and the objects are the same as
  path style writes (the path-style store lists the snapshot too). The same over https: the
  harness's certificate names BUCKET.localhost, which is checked (without its CA: one line).
- Bad input, one line and exit 3: an unknown key in [s3] (credentials are refused there), an
  addressing that is neither path nor virtual, [s3] that is not a table, a bucket with dots with
  virtual addressing.
"""
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import EXIT_CONFIG, Test, clean_env, db_state, fill_items  # noqa: E402
from s3_fixture import S3  # noqa: E402

DNS_NAME = "localhost"


def project(t, name, header):
    proj = t.path(name)
    os.makedirs(proj, exist_ok=True)
    if not os.path.exists(os.path.join(proj, "app.db")):
        fill_items(os.path.join(proj, "app.db"), ["a1a1a1a1"], 200)
    with open(os.path.join(proj, "dbsnap.toml"), "w") as fh:
        fh.write(header + '\n[targets.dev]\nengine = "sqlite"\nfile = "app.db"\n')
    return proj


def body(t):
    s3 = S3(t)
    port = s3.endpoint.rsplit(":", 1)[1]
    keys = {"AWS_ACCESS_KEY_ID": s3.access_key, "AWS_SECRET_ACCESS_KEY": s3.secret_key,
            "DBSNAP_CACHE_DIR": t.path("cache")}
    t.require("AWS_ENDPOINT_URL" not in os.environ and "AWS_ENDPOINT_URL_S3" not in os.environ,
              "no endpoint in the test's own environment")

    t.section("[s3] endpoint and region in dbsnap.toml")
    proj = project(t, "proj", 'store = "{}"\n[s3]\nendpoint = "{}"\nregion = "us-east-1"\n'.format(
        s3.location(s3.prefix + "/path"), s3.endpoint))
    state_1 = db_state(os.path.join(proj, "app.db"))
    snap = t.dbsnap_ok(proj, "backup", "dev", "--json", env=keys).json()
    t.check(any(n.startswith("path/") for n in s3.objects()), "the snapshot's objects are in the bucket")
    fill_items(os.path.join(proj, "app.db"), ["b2b2b2b2"], 10, prefix="later ")
    t.dbsnap_ok(proj, "restore", snap["id"], "--yes", "--no-safety-snapshot", env=keys)
    t.check_eq(db_state(os.path.join(proj, "app.db")), state_1, "restored through the [s3] endpoint")

    t.section("AWS_ENDPOINT_URL wins over the file")
    project(t, "proj", 'store = "{}"\n[s3]\nendpoint = "http://127.0.0.1:9"\n'.format(
        s3.location(s3.prefix + "/path")))
    r = t.dbsnap(proj, "list", "--json", env=dict(keys, AWS_ENDPOINT_URL=s3.endpoint))
    t.check(r.rc == 0 and snap["id"] in r.text, "the environment's endpoint was used", r.errtext)
    r = t.dbsnap(proj, "list", env=keys)
    t.check(r.rc != 0 and "127.0.0.1:9" in r.errtext, "without it, the file's (dead) endpoint is", r.errtext)

    t.section("addressing = \"virtual\": BUCKET.HOST, which is all the run can resolve")
    hosts = t.path("hosts")
    with open(hosts, "w") as fh:
        fh.write("127.0.0.1 {}.{}\n".format(s3.bucket, DNS_NAME))
    vproj = project(t, "virtual", 'store = "{}"\n[s3]\nendpoint = "http://{}:{}"\naddressing = "virtual"\n'.format(
        s3.location(s3.prefix + "/virtual"), DNS_NAME, port))

    def virtual(*args, proj=vproj, env=None):
        argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                'mount --bind "$0" /etc/hosts && exec "$@"', hosts, t.binary,
                "--config", os.path.join(proj, "dbsnap.toml")] + list(args)
        p = subprocess.run(argv, cwd=proj, stdin=subprocess.DEVNULL, capture_output=True,
                           env=clean_env(dict(keys, **(env or {}))), timeout=240)
        return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")

    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                            'mount --bind "$0" /etc/hosts && getent hosts "$1"', hosts, DNS_NAME],
                           capture_output=True)
    t.check(probe.returncode != 0, "in the runs' namespace the endpoint's own name does not resolve")
    state_v = db_state(os.path.join(vproj, "app.db"))
    rc, out, err = virtual("backup", "dev", "--json")
    t.require(rc == 0, "backup with virtual-hosted addressing", err)
    vid = __import__("json").loads(out)["id"]
    t.check(any(n.startswith("virtual/dev/" + vid) for n in s3.objects()),
            "its objects are in the bucket where path style puts them")
    fill_items(os.path.join(vproj, "app.db"), ["b2b2b2b2"], 10, prefix="later ")
    rc, out, err = virtual("restore", vid, "--yes", "--no-safety-snapshot")
    t.check(rc == 0, "restore with virtual-hosted addressing", err)
    t.check_eq(db_state(os.path.join(vproj, "app.db")), state_v, "the database is back")
    elsewhere = t.path("elsewhere")  # no dbsnap.toml here or above: path style, the default
    os.makedirs(elsewhere)
    r = t.dbsnap(elsewhere, "--store", s3.location(s3.prefix + "/virtual"), "list", "--json",
                 env=dict(keys, AWS_ENDPOINT_URL=s3.endpoint, DBSNAP_CACHE_DIR=t.path("cache2")), config=False)
    t.check(r.rc == 0 and vid in r.text, "path style reads the same store", r.errtext)

    t.section("addressing = \"virtual\" over https: the certificate checked against BUCKET.localhost")
    tls_port = os.environ["DBSNAP_TEST_S3_TLS_ENDPOINT"].rsplit(":", 1)[1]
    tproj = project(t, "virtual-tls", 'store = "{}"\n[s3]\nendpoint = "https://{}:{}"\naddressing = "virtual"\n'
                    .format(s3.location(s3.prefix + "/virtual"), DNS_NAME, tls_port))
    shutil.copyfile(os.path.join(vproj, "app.db"), os.path.join(tproj, "app.db"))
    trusted = {"AWS_CA_BUNDLE": os.environ["DBSNAP_TEST_S3_CA"], "DBSNAP_CACHE_DIR": t.path("cache-tls")}
    rc, out, err = virtual("backup", "dev", "--json", proj=tproj, env=trusted)
    t.require(rc == 0, "backup with virtual-hosted addressing over https", err)
    tid = __import__("json").loads(out)["id"]
    rc, out, err = virtual("list", "--json", proj=tproj, env=trusted)
    t.check(rc == 0 and vid in out and tid in out, "list over https sees both snapshots", err)
    rc, out, err = virtual("verify", tid, proj=tproj, env=trusted)
    t.check(rc == 0, "verify over https", err)
    rc, out, err = virtual("list", proj=tproj, env={"DBSNAP_CACHE_DIR": t.path("cache-untrusted")})
    t.check(rc != 0 and len(err.strip().splitlines()) == 1 and "certificate" in err,
            "without the private CA: one line about the certificate", err)

    t.section("bad input: one line, exit 3")
    bad = [("unknown key", '[s3]\nsecret_access_key = "x"\n', "unknown key 's3.secret_access_key'"),
           ("bad addressing", '[s3]\naddressing = "dns"\n', "must be \"path\" or \"virtual\""),
           ("not a table", 's3 = "http://x"\n', "must be a table"),
           ("a bucket with dots, virtual", 'store = "s3://a.b.c/p"\n[s3]\nendpoint = "{}"\naddressing = "virtual"\n'
            .format(s3.endpoint), "needs addressing = \"path\"")]
    for what, header, needle in bad:
        bproj = project(t, "bad", header)
        t.check_error(t.dbsnap(bproj, "list", env=keys), EXIT_CONFIG, what, [needle])
    shutil.rmtree(t.path("bad"))


if __name__ == "__main__":
    Test("s3_config_keys").run(body)
