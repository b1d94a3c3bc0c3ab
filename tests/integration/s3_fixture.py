"""The test S3 server (tests/harness/s3.sh, started by CTest's s3_setup) as the scenarios see it.

Its settings come from DBSNAP_TEST_S3_* (tests/harness/with-s3.sh run puts them in the
environment). The bucket is read and written with curl's own SigV4 signing (--aws-sigv4), not
with dbsnap's code, so that what a scenario sees in the bucket does not depend on what it tests.
"""
import os
import subprocess
import urllib.parse
import uuid
import xml.etree.ElementTree as ET

NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


class S3:
    def __init__(self, t):
        missing = [k for k in ("ENDPOINT", "ACCESS_KEY", "SECRET_KEY", "BUCKET")
                   if not os.environ.get("DBSNAP_TEST_S3_" + k)]
        t.require(not missing, "the test S3 server's settings are in the environment (run through "
                  "tests/harness/with-s3.sh run DIR ...)", ", ".join(missing))
        self.endpoint = os.environ["DBSNAP_TEST_S3_ENDPOINT"]
        self.access_key = os.environ["DBSNAP_TEST_S3_ACCESS_KEY"]
        self.secret_key = os.environ["DBSNAP_TEST_S3_SECRET_KEY"]
        self.bucket = os.environ["DBSNAP_TEST_S3_BUCKET"]
        # Each run its own prefix: scenarios never see each other's objects.
        self.prefix = "it-" + uuid.uuid4().hex[:12]

    def location(self, prefix=None):
        return "s3://{}/{}".format(self.bucket, prefix or self.prefix)

    def env(self, cache, secret=None, tls=False):
        """The environment a dbsnap run needs for this server, with its cache folder; `tls`: through
        the https endpoint, trusting the harness's private CA."""
        env = {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": self.access_key,
               "AWS_SECRET_ACCESS_KEY": secret or self.secret_key, "AWS_DEFAULT_REGION": "us-east-1",
               "DBSNAP_CACHE_DIR": cache}
        if tls:
            env["AWS_ENDPOINT_URL"] = os.environ["DBSNAP_TEST_S3_TLS_ENDPOINT"]
            env["AWS_CA_BUNDLE"] = os.environ["DBSNAP_TEST_S3_CA"]
        return env

    def _curl(self, *args, data=None):
        argv = ["curl", "-sS", "--fail-with-body", "--aws-sigv4", "aws:amz:us-east-1:s3",
                "--user", "{}:{}".format(self.access_key, self.secret_key),
                # radosgw wants the payload's hash header, which curl 7.88 does not send by itself.
                "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD"] + list(args)
        p = subprocess.run(argv, input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        if p.returncode != 0:
            raise RuntimeError("curl {} failed: {} {}".format(" ".join(args), p.stderr.decode(errors="replace"),
                                                              p.stdout[:300]))
        return p.stdout

    def url(self, name):
        return "{}/{}/{}/{}".format(self.endpoint, self.bucket, self.prefix, name)

    def objects(self, under=""):
        """{name under the prefix: size} of every object whose name starts with `under`."""
        out, token = {}, None
        while True:
            # Sorted and fully encoded: curl signs the query string as given.
            query = "list-type=2&prefix=" + urllib.parse.quote("{}/{}".format(self.prefix, under), safe="")
            if token:
                query = "continuation-token=" + urllib.parse.quote(token, safe="") + "&" + query
            root = ET.fromstring(self._curl("{}/{}?{}".format(self.endpoint, self.bucket, query)))
            for c in root.findall(NS + "Contents"):
                out[c.find(NS + "Key").text[len(self.prefix) + 1:]] = int(c.find(NS + "Size").text)
            if root.findtext(NS + "IsTruncated") != "true":
                return out
            token = root.findtext(NS + "NextContinuationToken")

    def get(self, name):
        return self._curl(self.url(name))

    def put(self, name, data):
        self._curl("-X", "PUT", "--data-binary", "@-", self.url(name), data=data)

    def delete(self, name):
        self._curl("-X", "DELETE", self.url(name))
