# Shared helpers for tests/bench/bench_*.sh (sourced). Callers set DBSNAP, WORK and RUNS first.
# Times are wall-clock seconds from `date +%s.%N`; medians of the interleaved runs are compared.

log() { printf '%s\n' "$*" >&2; }
now() { date +%s.%N; }
elapsed() { echo "$(now) - $1" | bc -l; }
median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
# rotated R ITEMS...: the items, one per line, starting at item R mod N. Each run starts its
# interleaved variants one place further on, so no variant always runs right after the same one
# and inherits whatever it left behind in the server and the page cache.
rotated() { local r=$1; shift; local n=$#; local i; for ((i = 0; i < n; i++)); do local k=$(((r + i) % n + 1)); echo "${!k}"; done; }
ratio() { echo "scale=3; $1 / $2" | bc -l; }

# timed_dbsnap ARGS... -> prints the run's seconds; keeps the peak RSS of all runs in rss_max (KiB).
rss_max=0
timed_dbsnap() {
    local t rss
    t=$(now)
    /usr/bin/time -f %M -o "$WORK/rss" "$DBSNAP" --config "$WORK/proj/dbsnap.toml" "$@" >"$WORK/out" 2>"$WORK/err" ||
        { cat "$WORK/err" >&2; exit 1; }
    elapsed "$t"
    rss=$(tail -n 1 "$WORK/rss")
    ((rss > rss_max)) && rss_max=$rss
    return 0
}

# timed_dbsnap_variant backup|restore VARIANT [SNAPSHOT]: one timed dbsnap run of the variants both
# benchmarks share (targets bench and bench_cli), its seconds appended to $WORK/b_VARIANT or
# $WORK/r_VARIANT. Backups: dbsnap, dbsnap3 (--level 3), dbsnap_cli, dbsnap_enc (an encrypted
# store: BENCH_STORE=s3 only); restores: dbsnap, dbsnap_cli.
# Every backup starts from an empty store (removed untimed, or a fresh prefix of the bucket): with
# chunks, each one stores every chunk, the most work a backup does (a later one of the same data
# stores almost nothing).
timed_dbsnap_variant() {
    local kind=$1 variant=$2 snapshot=${3:-}
    if [[ $kind == backup ]]; then
        rm -rf "$WORK/proj/snapshots"
        [[ $STORE_KIND == s3 ]] && export DBSNAP_STORE="s3://$bucket/$(fresh_prefix "$variant")"
    elif [[ $STORE_KIND == s3 ]]; then
        export DBSNAP_STORE=$snapshot_store
    fi
    case $kind/$variant in
    backup/dbsnap) timed_dbsnap backup bench ;;
    backup/dbsnap_enc) DBSNAP_KEY_FILE=$WORK/user.key timed_dbsnap backup bench ;;
    backup/dbsnap3) timed_dbsnap backup bench --level 3 ;;
    backup/dbsnap_cli) timed_dbsnap backup bench_cli ;;
    restore/dbsnap) timed_dbsnap restore "$snapshot" --yes --no-safety-snapshot ;;
    restore/dbsnap_cli) timed_dbsnap restore "$snapshot" --to bench_cli --yes --no-safety-snapshot ;;
    *) log "timed_dbsnap_variant: no variant $kind/$variant"; exit 2 ;;
    esac >>"$WORK/${kind:0:1}_$variant"
}

# fresh_snapshot: takes the snapshot the restores read, untimed, into an empty store at the default
# level; logs its layout and stored size, prints its id.
fresh_snapshot() {
    local id
    rm -rf "$WORK/proj/snapshots"
    [[ $STORE_KIND == s3 ]] && export DBSNAP_STORE=$snapshot_store
    "$DBSNAP" --quiet --config "$WORK/proj/dbsnap.toml" backup bench >/dev/null
    id=$("$DBSNAP" --config "$WORK/proj/dbsnap.toml" list --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
    "$DBSNAP" --config "$WORK/proj/dbsnap.toml" show "$id" --json | python3 -c '
import json, sys
s = json.load(sys.stdin)
d = s.get("data") or s["blob"]
print("   stored: %s layout, level %d: %.1f MB" % (d.get("layout", "blob"), d["level"],
                                                  d.get("added_bytes", d.get("stored_bytes", 0)) / 1e6))' >&2
    echo "$id"
}

# spreads: min-max of every timed variant (for the figures' spread).
spreads() {
    local f
    for f in "$WORK"/b_* "$WORK"/r_*; do
        [[ -s $f ]] && printf '  %-44s %s\n' "spread of $(basename "$f")" "$(sort -g "$f" | awk 'NR == 1 {lo = $1} {hi = $1} END {printf "%.2f-%.2f s", lo, hi}')"
    done
}

# report TITLE DUMP_LABEL RESTORE_LABEL: prints the medians of
# $WORK/{b_dbsnap,b_dbsnap3,b_dbsnap_cli,b_dump,b_zstd,r_dbsnap,r_dbsnap_cli,r_plain},
# the three ratios with their targets, and the peak RSS.
report() {
    local title=$1 dump=$2 restore=$3
    local b_dbsnap b_dbsnap3 b_dbsnap_cli b_dump b_zstd r_dbsnap r_dbsnap_cli r_plain
    b_dbsnap=$(median <"$WORK/b_dbsnap"); b_dbsnap3=$(median <"$WORK/b_dbsnap3"); b_dbsnap_cli=$(median <"$WORK/b_dbsnap_cli"); b_dump=$(median <"$WORK/b_dump"); b_zstd=$(median <"$WORK/b_zstd")
    r_dbsnap=$(median <"$WORK/r_dbsnap"); r_dbsnap_cli=$(median <"$WORK/r_dbsnap_cli"); r_plain=$(median <"$WORK/r_plain")
    local zlabel="$dump | zstd -3 -T0 > f && sha256sum f" zshort="dump|zstd|sha256sum" rtarget=1.05 where="local store"
    if [[ $STORE_KIND == s3 ]]; then
        zlabel="$dump | zstd -3 -T0 | aws s3 cp -" zshort="dump|zstd|aws s3 cp" rtarget=1.10 where="S3 store (radosgw)"
        restore="aws s3 cp - | ${restore/zstd -dc f/zstd -dc}"
    fi
    printf '\n%s, %s MB dump, %s layout, %s, medians of %s runs\n' "$title" "$(echo "$dump_bytes / 1000000" | bc)" "$LAYOUT" "$where" "$RUNS"
    printf '  %-44s %8.2f s\n' "dbsnap backup (level 1, the default)" "$b_dbsnap" "dbsnap backup --level 3" "$b_dbsnap3" \
        "dbsnap backup, docker_api = false" "$b_dbsnap_cli" "$dump > /dev/null" "$b_dump" \
        "$zlabel" "$b_zstd" "dbsnap restore --no-safety-snapshot" "$r_dbsnap" \
        "dbsnap restore, docker_api = false" "$r_dbsnap_cli" \
        "$restore" "$r_plain"
    printf '  %-44s %8s x   (target <= 1.10)\n' "backup / plain dump" "$(ratio "$b_dbsnap" "$b_dump")"
    printf '  %-44s %8s x   (target <= 1.00)\n' "backup / $zshort" "$(ratio "$b_dbsnap" "$b_zstd")"
    printf '  %-44s %8s x\n' "backup --level 3 / plain dump" "$(ratio "$b_dbsnap3" "$b_dump")"
    printf '  %-44s %8s x\n' "backup docker_api = false / plain dump" "$(ratio "$b_dbsnap_cli" "$b_dump")"
    printf '  %-44s %8s x\n' "backup --level 3 / $zshort" "$(ratio "$b_dbsnap3" "$b_zstd")"
    printf '  %-44s %8s x   (target <= %s)\n' "restore / $restore" "$(ratio "$r_dbsnap" "$r_plain")" "$rtarget"
    printf '  %-44s %8s x\n' "restore docker_api = false / $restore" "$(ratio "$r_dbsnap_cli" "$r_plain")"
    if [[ $STORE_KIND == s3 ]]; then
        local b_enc
        b_enc=$(median <"$WORK/b_dbsnap_enc")
        printf '  %-44s %8.2f s\n' "dbsnap backup into an encrypted store" "$b_enc"
        printf '  %-44s %8s x   (target <= 1.05)\n' "encrypted / in the clear" "$(ratio "$b_enc" "$b_dbsnap")"
        spreads
    fi
    printf '  %-44s %8s MB  (target <= 64)\n' "dbsnap peak RSS" "$(echo "scale=1; $rss_max / 1024" | bc -l)"
}

# make_sqlite_db FILE MEGABYTES: a database of about MEGABYTES MB with an Alembic version table: one
# row per ~230 bytes, half compressible text, half random bytes.
make_sqlite_db() {
    local file=$1 megabytes=$2
    local rows=$((megabytes * 1024 * 1024 / 230))
    sqlite3 "$file" "PRAGMA journal_mode=WAL;
      CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY);
      INSERT INTO alembic_version VALUES ('c61e04d2f9b8');
      CREATE TABLE estimate (id INTEGER PRIMARY KEY, title TEXT, notes TEXT, payload BLOB);
      WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < $rows)
      INSERT INTO estimate SELECT x, printf('estimate %d for group %d', x, x % 97),
        'lorem ipsum dolor sit amet, consectetur adipiscing elit ' || (x % 1000), randomblob(100) FROM c;" >/dev/null
}

# What bench_mysql.sh and bench_postgres.sh share: the dbsnap.toml of a server in a container,
# the interleaved backups and restores against the shell pipelines, and the report. A server
# benchmark sets NAME (the container), DOCKER, WORK, RUNS and LAYOUT, and defines:
#   plain_dump               the dump tool's output on stdout (docker exec ... DUMP_TOOL ...)
#   plain_restore            loads a dump read on stdin into the server (docker exec -i ... CLIENT)
#   before_restore VARIANT   an untimed step before each timed restore (may do nothing)

# write_server_config ENGINE [KEY_LINE...]: targets `bench` (the docker API) and `bench_cli` (the
# docker CLI relaying the stream) of database `app` in container $NAME, each with the key lines.
write_server_config() {
    local engine=$1; shift
    local keys
    keys=$(printf '%s\n' "$@")
    mkdir -p "$WORK/proj"
    cat >"$WORK/proj/dbsnap.toml" <<CONF
snapshot_layout = "$LAYOUT"

[targets.bench]
engine = "$engine"
container = "$NAME"
database = "app"
$keys

# The same database through the docker CLI (a docker exec -i client relaying the dump).
[targets.bench_cli]
engine = "$engine"
container = "$NAME"
database = "app"
$keys
docker_cli = "$DOCKER"
docker_api = false
CONF
}

# run_server_backups DUMP_LABEL: RUNS interleaved rounds of dbsnap backup (level 1, level 3, the
# docker CLI), plain_dump > /dev/null and plain_dump | zstd -3 -T0 > f && sha256sum f (which
# leaves f for the restores).
run_server_backups() {
    local label=$1 r variant t
    log "== backups ($RUNS runs each, interleaved)"
    : >"$WORK/b_dbsnap"; : >"$WORK/b_dbsnap3"; : >"$WORK/b_dbsnap_cli"; : >"$WORK/b_dump"; : >"$WORK/b_zstd"
    local variants=(dbsnap dbsnap3 dbsnap_cli dump zstd)
    [[ $STORE_KIND == s3 ]] && { variants+=(dbsnap_enc); : >"$WORK/b_dbsnap_enc"; }
    for ((r = 1; r <= RUNS; r++)); do
        for variant in $(rotated "$r" "${variants[@]}"); do
            case $variant in
            dbsnap*) timed_dbsnap_variant backup "$variant" ;;
            dump)
                t=$(now)
                plain_dump >/dev/null
                elapsed "$t" >>"$WORK/b_dump" ;;
            zstd)
                if [[ $STORE_KIND == s3 ]]; then
                    local key
                    key="$(fresh_prefix zstd)/f.sql.zst"
                    t=$(now)
                    plain_dump | zstd -q -3 -T0 | aws_s3 cp - "s3://$bucket/$key"
                    elapsed "$t" >>"$WORK/b_zstd"
                    echo "$key" >"$WORK/plain_key"
                else
                    t=$(now)
                    plain_dump | zstd -q -3 -T0 >"$WORK/f.sql.zst"
                    sha256sum "$WORK/f.sql.zst" >/dev/null
                    elapsed "$t" >>"$WORK/b_zstd"
                fi ;;
            esac
        done
        log "   run $r: dbsnap $(tail -n 1 "$WORK/b_dbsnap") s (--level 3: $(tail -n 1 "$WORK/b_dbsnap3") s, docker CLI: $(tail -n 1 "$WORK/b_dbsnap_cli") s$([[ $STORE_KIND == s3 ]] && echo ", encrypted: $(tail -n 1 "$WORK/b_dbsnap_enc") s")), $label $(tail -n 1 "$WORK/b_dump") s, $label|zstd|$([[ $STORE_KIND == s3 ]] && echo "aws s3 cp" || echo sha256sum) $(tail -n 1 "$WORK/b_zstd") s"
    done
}

# run_server_restores RESTORE_LABEL SNAPSHOT: RUNS interleaved rounds of dbsnap restore
# --no-safety-snapshot (the docker API, the docker CLI) and zstd -dc f | plain_restore, each
# after before_restore.
run_server_restores() {
    local label=$1 snapshot=$2 r variant t
    log "== restores ($RUNS runs each, interleaved; dbsnap with --no-safety-snapshot)"
    : >"$WORK/r_dbsnap"; : >"$WORK/r_dbsnap_cli"; : >"$WORK/r_plain"
    for ((r = 1; r <= RUNS; r++)); do
        for variant in $(rotated "$r" dbsnap dbsnap_cli plain); do
            before_restore "$variant"
            case $variant in
            dbsnap*) timed_dbsnap_variant restore "$variant" "$snapshot" ;;
            plain)
                t=$(now)
                if [[ $STORE_KIND == s3 ]]; then
                    aws_s3 cp "s3://$bucket/$(cat "$WORK/plain_key")" - | zstd -dc | plain_restore
                else
                    zstd -dc "$WORK/f.sql.zst" | plain_restore
                fi
                elapsed "$t" >>"$WORK/r_plain" ;;
            esac
        done
        log "   run $r: dbsnap $(tail -n 1 "$WORK/r_dbsnap") s (docker CLI: $(tail -n 1 "$WORK/r_dbsnap_cli") s), $label $(tail -n 1 "$WORK/r_plain") s"
    done
}

# added_mb SNAPSHOT: the bytes a snapshot added to the store (packs and list; a blob's size), in MB.
added_mb() {
    "$DBSNAP" --config "$WORK/proj/dbsnap.toml" show "$1" --json | python3 -c '
import json, sys
s = json.load(sys.stdin)
d = s.get("data") or s["blob"]
print("%.3f" % (d.get("added_bytes", d.get("stored_bytes", 0)) / 1e6))'
}

# small_changes FIRST LABEL:FUNCTION...: after the first snapshot FIRST (in the store of
# fresh_snapshot), for each LABEL:FUNCTION the function changes a little of the database and
# dbsnap backs up again; prints what each second backup added to the store against what FIRST
# added (target <= 10 %).
small_changes() {
    local first=$1 first_mb; shift
    [[ $STORE_KIND == s3 ]] && export DBSNAP_STORE=$snapshot_store
    first_mb=$(added_mb "$first")
    printf '\n  %-44s %8.1f MB\n' "first backup added" "$first_mb"
    local change label fn id mb
    for change in "$@"; do
        label=${change%%:*} fn=${change#*:}
        "$fn"
        "$DBSNAP" --quiet --config "$WORK/proj/dbsnap.toml" backup bench >/dev/null
        id=$("$DBSNAP" --config "$WORK/proj/dbsnap.toml" list --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
        mb=$(added_mb "$id")
        printf '  %-44s %8.2f MB = %5.2f %% of the first (target <= 10 %%)\n' "then $label" "$mb" \
            "$(echo "100 * $mb / $first_mb" | bc -l)"
    done
}

# start_bench_container KIND: (re)starts container $NAME with tests/harness/dbctl start-KIND and
# removes it, with $WORK, when the benchmark exits.
start_bench_container() {
    local kind=$1
    trap '"$HARNESS/dbctl" rm "$NAME" >/dev/null 2>&1 || true; [[ $STORE_KIND == s3 ]] && "$HARNESS/s3.sh" stop "$S3_DIR"; rm -rf "$WORK"' EXIT
    log "== starting $NAME"
    "$HARNESS/dbctl" rm "$NAME" >/dev/null 2>&1 || true
    "$HARNESS/dbctl" start-"$kind" "$NAME" >/dev/null
    if [[ $STORE_KIND == s3 ]]; then
        log "== starting the S3 server (Ceph radosgw on loopback) in $S3_DIR"
        start_bench_s3 "$S3_DIR" 17680
        export DBSNAP_CACHE_DIR=$WORK/cache AWS_DEFAULT_REGION=us-east-1
        snapshot_store="s3://$bucket/bench-snapshot-$$"
        age-keygen -o "$WORK/user.key" 2>/dev/null
    fi
}

# BENCH_STORE=s3 (bench_mysql.sh, bench_postgres.sh): the store is the test harness's Ceph radosgw
# on loopback, every backup into a fresh prefix (DBSNAP_STORE), plus an encrypted variant; the
# pipelines upload with `dump | zstd -3 -T0 | aws s3 cp - s3://...` (Debian's awscli, a streamed
# multipart upload) and restore with `aws s3 cp s3://... - | zstd -dc | client`.
STORE_KIND=${BENCH_STORE:-local}
S3_DIR=${BENCH_S3_DIR:-/tmp/dbsnap-bench-s3-servers}
prefix_n=0
# fresh_prefix LABEL: a prefix of the bucket no run used.
fresh_prefix() { prefix_n=$((prefix_n + 1)); echo "bench-$1-$$-$prefix_n-$RANDOM"; }
# aws_s3 ARGS...: Debian's aws s3 (awscli 2.9 reads no endpoint from the environment).
aws_s3() { /usr/bin/aws --endpoint-url "$AWS_ENDPOINT_URL" s3 --only-show-errors "$@"; }

# start_bench_s3 DIR PORT: (re)starts the test harness's Ceph radosgw on loopback in DIR (stop it
# with tests/harness/s3.sh stop DIR in the caller's EXIT trap), exports its endpoint and keys as
# the AWS_* variables dbsnap, restic and curl_s3 read, and sets $bucket.
start_bench_s3() {
    local s3
    [[ -x /usr/bin/aws ]] || { echo "bench: BENCH_STORE=s3 compares with Debian's aws CLI: apt-get install awscli" >&2; exit 2; }
    s3=$(dirname "${BASH_SOURCE[0]}")/../harness/s3.sh
    "$s3" stop "$1"
    eval "$("$s3" start "$1" "$2" | sed 's/^/export /')"
    export AWS_ENDPOINT_URL=$DBSNAP_TEST_S3_ENDPOINT AWS_ACCESS_KEY_ID=$DBSNAP_TEST_S3_ACCESS_KEY
    export AWS_SECRET_ACCESS_KEY=$DBSNAP_TEST_S3_SECRET_KEY
    bucket=$DBSNAP_TEST_S3_BUCKET
}

# curl_s3 ARGS...: curl with the requests signed for that server.
curl_s3() {
    curl -sS --fail-with-body --aws-sigv4 "aws:amz:us-east-1:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
        -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$@"
}

# bucket_bytes PREFIX: the bytes stored under PREFIX/, from the bucket's own listing (one page, at
# most 1,000 objects: more fails).
bucket_bytes() {
    curl_s3 "$AWS_ENDPOINT_URL/$bucket?list-type=2&prefix=$1%2F" | python3 -c '
import re, sys
text = sys.stdin.read()
assert "<IsTruncated>true</IsTruncated>" not in text, "more than one page of objects"
print(sum(int(s) for s in re.findall(r"<Size>(\d+)</Size>", text)))'
}
