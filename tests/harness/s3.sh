#!/bin/bash
# A real S3 server for the tests: single-node Ceph (one monitor, one OSD on a
# sparse 10 GiB file, radosgw with the beast frontend) on 127.0.0.1, no cephx,
# no mgr. It checks SigV4 signatures for real. Debian's ceph-mon, ceph-osd and
# radosgw (packaging/install-deps.sh --test). The settings and their reasons:
# ../shared/research/object-storage.md (each one cost a session time once).
#
#   tests/harness/s3.sh start DIR PORT   # prints KEY=VALUE lines: endpoints (http on PORT, https on
#                                        # PORT+2 with a private CA), keys, bucket
#   tests/harness/s3.sh stop DIR         # kills only the daemons started with DIR/ceph.conf
#   tests/harness/s3.sh bucket DIR NAME  # creates another bucket (a signed PUT with curl)
#   tests/harness/s3.sh quota DIR NAME BYTES  # a bucket quota of BYTES on bucket NAME
#   tests/harness/s3.sh rgw-kill DIR     # SIGKILL radosgw (the cluster stays): a server that dies
#   tests/harness/s3.sh rgw-start DIR    # starts radosgw again, waits until it answers
#   tests/harness/s3.sh rgw-skewed DIR PORT  # a second radosgw (same cluster) on http PORT whose clock
#                                        # is an hour ahead (faketime); rgw-skewed-stop DIR ends it
set -euo pipefail

ACCESS_KEY=dbsnaptestaccess0000
SECRET_KEY=dbsnaptestsecret00000000000000000000000
BUCKET=dbsnap-test

log() { echo "s3.sh: $*" >&2; }

# A private CA and a certificate for the names localhost and $BUCKET.localhost (virtual-hosted
# requests; not for 127.0.0.1, so that https://127.0.0.1 tests a name that does not match)
# signed by it, for the https endpoint (beast's ssl_endpoint): clients trust it through
# AWS_CA_BUNDLE.
make_certificates() {  # DIR
  local tls=$1/tls
  mkdir -p "$tls"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=dbsnap test CA" \
    -keyout "$tls/ca.key" -out "$tls/ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout "$tls/server.key" \
    -out "$tls/server.csr" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,DNS:%s.localhost\nbasicConstraints=CA:FALSE\n' "$BUCKET" > "$tls/ext.cnf"
  openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" -CAcreateserial -days 2 \
    -extfile "$tls/ext.cnf" -out "$tls/server.pem" 2>/dev/null
}

create_bucket() {  # DIR NAME
  local port; port=$(cat "$1/port")
  local code
  for _ in $(seq 1 40); do
    code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT --aws-sigv4 "aws:amz:us-east-1:s3" \
           --user "$ACCESS_KEY:$SECRET_KEY" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
           "http://127.0.0.1:$port/$2") || true
    [[ "$code" == 200 || "$code" == 409 ]] && return 0
    sleep 0.25
  done
  log "creating bucket $2 failed: HTTP $code"
  return 1
}

start() {  # DIR PORT
  local dir port mon_port tls_port fsid osd_uuid
  dir=$(realpath -m "$1"); port=$2; mon_port=$((port + 1)); tls_port=$((port + 2))
  for tool in ceph-mon ceph-osd radosgw radosgw-admin monmaptool curl openssl; do
    command -v "$tool" >/dev/null || { log "$tool is missing: run packaging/install-deps.sh --test"; exit 1; }
  done
  [[ ${#dir} -lt 60 ]] || { log "$dir is too long (admin sockets must stay under 108 characters)"; exit 1; }
  [[ -e "$dir/ceph.conf" ]] && { log "$dir is in use; stop it first"; exit 1; }
  mkdir -p "$dir"/{run,log,mon/a,osd/0,rgw,crash}
  echo "$port" > "$dir/port"
  make_certificates "$dir"
  fsid=$(cat /proc/sys/kernel/random/uuid)
  cat > "$dir/ceph.conf" <<EOF
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:$mon_port]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind msgr1 = false
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
run dir = $dir/run
crash dir = $dir/crash
pid file = $dir/run/\$name.pid
admin socket = $dir/run/\$name.asok
log file = $dir/log/\$name.log
keyring = /dev/null
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon max pg per osd = 1000
mon data avail warn = 2
mon data avail crit = 1
mon warn on pool no redundancy = false
paxos propose interval = 0.05
paxos min wait = 0.01
[mon]
mon data = $dir/mon/\$id
[osd]
osd data = $dir/osd/\$id
osd objectstore = bluestore
bluestore block create = true
bluestore block size = 10737418240
bluestore fsck on mount = false
osd memory target = 1073741824
osd max object size = 134217728
[client]
ms mon client mode = crc
auth client required = none
rgw data = $dir/rgw
rgw frontends = beast endpoint=127.0.0.1:$port ssl_endpoint=127.0.0.1:$tls_port ssl_certificate=$dir/tls/server.pem ssl_private_key=$dir/tls/server.key
rgw thread pool size = 64
# Virtual-hosted requests (BUCKET.localhost) are known as such; path-style ones (Host: localhost or
# 127.0.0.1) still work.
rgw dns name = localhost
EOF
  export CEPH_CONF="$dir/ceph.conf"
  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_port]" "$dir/monmap" >/dev/null
  ceph-mon --mkfs -i a --monmap "$dir/monmap"
  ceph-mon -c "$CEPH_CONF" -i a
  osd_uuid=$(cat /proc/sys/kernel/random/uuid)
  [[ $(timeout 60 ceph osd new "$osd_uuid") == 0 ]] || { log "the OSD did not get id 0"; exit 1; }
  ceph-osd -i 0 --mkfs --osd-uuid "$osd_uuid" 2>>"$dir/log/osd-mkfs.log"
  ceph-osd -c "$CEPH_CONF" -i 0 2>>"$dir/log/osd-start.log"
  radosgw -c "$CEPH_CONF" -n client.rgw
  wait_for_rgw "$dir" || exit 1
  radosgw-admin user create --uid=dbsnap --display-name=dbsnap --access-key="$ACCESS_KEY" \
    --secret-key="$SECRET_KEY" >/dev/null
  create_bucket "$dir" "$BUCKET"
  echo "DBSNAP_TEST_S3_ENDPOINT=http://127.0.0.1:$port"
  echo "DBSNAP_TEST_S3_ACCESS_KEY=$ACCESS_KEY"
  echo "DBSNAP_TEST_S3_SECRET_KEY=$SECRET_KEY"
  echo "DBSNAP_TEST_S3_BUCKET=$BUCKET"
  echo "DBSNAP_TEST_S3_TLS_ENDPOINT=https://localhost:$tls_port"
  echo "DBSNAP_TEST_S3_CA=$dir/tls/ca.pem"
  echo "DBSNAP_TEST_S3_DIR=$dir"
}

wait_for_rgw() {  # DIR [PORT]: until a radosgw answers on PORT (default the main one), 60 s at most
  local port=${2:-$(cat "$1/port")}
  for _ in $(seq 1 240); do
    curl -s -o /dev/null "http://127.0.0.1:$port/" && return 0
    sleep 0.25
  done
  log "radosgw did not answer on port $port; see $1/log"
  return 1
}

rgw_kill() {  # DIR
  local dir; dir=$(realpath -m "$1")
  pkill -9 -f -- "^radosgw -c $dir/ceph.conf" || { log "no radosgw runs with $dir/ceph.conf"; return 1; }
  for _ in $(seq 1 50); do
    pgrep -f -- "^radosgw -c $dir/ceph.conf" >/dev/null || return 0
    sleep 0.1
  done
  log "radosgw did not die"
  return 1
}

rgw_start() {  # DIR
  local dir; dir=$(realpath -m "$1")
  CEPH_CONF="$dir/ceph.conf" radosgw -c "$dir/ceph.conf" -n client.rgw
  wait_for_rgw "$dir"
}

rgw_skewed() {  # DIR PORT
  local dir; dir=$(realpath -m "$1")
  # In the foreground (-f) of a background job, its streams in a file: a daemon would keep the
  # caller's pipes open.
  CEPH_CONF="$dir/ceph.conf" nohup faketime -f "+1h" radosgw -f -c "$dir/ceph.conf" -n client.rgwskew \
    --rgw-frontends "beast endpoint=127.0.0.1:$2" >>"$dir/log/rgwskew.out" 2>&1 </dev/null &
  wait_for_rgw "$dir" "$2"
}

rgw_skewed_stop() {  # DIR
  local dir; dir=$(realpath -m "$1")
  pkill -9 -f -- "-c $dir/ceph.conf -n client.rgwskew" || true
}

set_quota() {  # DIR BUCKET BYTES
  local dir; dir=$(realpath -m "$1")
  CEPH_CONF="$dir/ceph.conf" radosgw-admin quota set --quota-scope=bucket --bucket="$2" --max-size="$3" >/dev/null
  CEPH_CONF="$dir/ceph.conf" radosgw-admin quota enable --quota-scope=bucket --bucket="$2" >/dev/null
}

stop() {  # DIR
  local dir; dir=$(realpath -m "$1")
  [[ -e "$dir/ceph.conf" ]] || return 0
  local pids; pids=$(pgrep -f -- "-c $dir/ceph.conf" || true)
  [[ -n "$pids" ]] && kill $pids 2>/dev/null || true
  for _ in $(seq 1 50); do
    pgrep -f -- "-c $dir/ceph.conf" >/dev/null || break
    sleep 0.1
  done
  pids=$(pgrep -f -- "-c $dir/ceph.conf" || true)
  [[ -n "$pids" ]] && kill -9 $pids 2>/dev/null || true
  rm -rf "$dir"
}

case "${1:-}" in
  start) start "${2:?DIR}" "${3:?PORT}" ;;
  stop) stop "${2:?DIR}" ;;
  bucket) create_bucket "$(realpath -m "${2:?DIR}")" "${3:?NAME}" ;;
  quota) set_quota "${2:?DIR}" "${3:?NAME}" "${4:?BYTES}" ;;
  rgw-kill) rgw_kill "${2:?DIR}" ;;
  rgw-start) rgw_start "${2:?DIR}" ;;
  rgw-skewed) rgw_skewed "${2:?DIR}" "${3:?PORT}" ;;
  rgw-skewed-stop) rgw_skewed_stop "${2:?DIR}" ;;
  *) echo "usage: $0 start DIR PORT | stop DIR | bucket DIR NAME | quota DIR NAME BYTES | rgw-kill DIR |" \
          "rgw-start DIR | rgw-skewed DIR PORT | rgw-skewed-stop DIR" >&2; exit 2 ;;
esac
