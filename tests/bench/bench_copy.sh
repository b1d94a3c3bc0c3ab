#!/usr/bin/env bash
# Benchmark: `dbsnap copy` of snapshots from a local store into a store in an S3 bucket (the test
# harness's Ceph radosgw on loopback) against `restic copy` of the same database between a local
# restic repository and one in the same bucket, in one run:
#   first copy   the database's first snapshot into a fresh prefix
#   second copy  its second snapshot, after a day's work (500 rows changed, 2,000 added)
# for three variants, interleaved, each into a fresh prefix per run:
#   clear    dbsnap copy into a store in the clear (both stores key chunk ids alike: the copy goes
#            by the chunk list and reads only the chunks the bucket lacks)
#   enc      dbsnap copy into a new encrypted store (DBSNAP_COPY_KEY_FILE: keys differ, so the dump
#            is read and cut again)
#   restic   restic copy --from-repo (destination made with --copy-chunker-params, as restic's
#            manual says for deduplicating copies); restic encrypts both repositories
# Prints medians, min-max and what each copy uploaded (from the bucket's own listing). Not part of
# the test suite: prints figures, asserts nothing.
#   tests/bench/bench_copy.sh [BUILD_DIR] [RUNS] [MEGABYTES]
set -euo pipefail
build=${1:-build}
RUNS=${2:-3}
megabytes=${3:-300}
DBSNAP=$(realpath "$build/dbsnap")
here=$(dirname "$(realpath "$0")")
for tool in sqlite3 curl restic age-keygen /usr/bin/time bc python3; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is missing (packaging/install-deps.sh --test; apt-get install restic)" >&2; exit 1; }
done
WORK=$(mktemp -d /var/tmp/dbsnap-bench-copy.XXXXXX)
s3dir=/tmp/dbsnap-bench-copy-s3
trap '"$here/../harness/s3.sh" stop "$s3dir"; rm -rf "$WORK"' EXIT
source "$here/lib.sh"

start_bench_s3 "$s3dir" 17680
export DBSNAP_CACHE_DIR=$WORK/cache

mkdir -p "$WORK/proj"
cd "$WORK/proj"
log "bench: a ${megabytes} MB database, two snapshots in a local dbsnap store and a local restic repository"
make_sqlite_db app.db "$megabytes"
printf 'store = "%s"\n[targets.bench]\nengine = "sqlite"\nfile = "app.db"\n' "$WORK/store" > dbsnap.toml
age-keygen -o "$WORK/copy.key" 2>/dev/null
export RESTIC_PASSWORD=bench RESTIC_FROM_PASSWORD=bench RESTIC_CACHE_DIR=$WORK/restic-cache
src_repo=$WORK/restic-src
restic -q -r "$src_repo" init --repository-version 2 >/dev/null
snapshot_pair() {  # -> the new dbsnap snapshot's id and restic's
  local id
  id=$("$DBSNAP" --config dbsnap.toml -q backup bench --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
  sqlite3 app.db ".backup $WORK/app.copy"
  restic -q -r "$src_repo" backup --stdin --stdin-filename app.db < "$WORK/app.copy" >/dev/null
  rm -f "$WORK/app.copy"
  echo "$id $(restic -r "$src_repo" snapshots --latest 1 --json | python3 -c 'import json, sys; print(json.load(sys.stdin)[-1]["id"])')"
}
read -r first_id first_restic < <(snapshot_pair)
sqlite3 app.db "UPDATE estimate SET notes = 'changed' WHERE id BETWEEN 5000 AND 5500;
  WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000)
  INSERT INTO estimate (title, notes, payload) SELECT 'new ' || x, 'added today', randomblob(100) FROM c;" >/dev/null
read -r second_id second_restic < <(snapshot_pair)

copy_once() {  # VARIANT PREFIX SNAPSHOT RESTIC_SNAPSHOT -> seconds
  local v=$1 prefix=$2 t0
  case $v in
  clear) timed_dbsnap copy "$3" --to "s3://$bucket/$prefix" ;;
  enc) DBSNAP_COPY_KEY_FILE=$WORK/copy.key timed_dbsnap copy "$3" --to "s3://$bucket/$prefix" ;;
  restic)
    t0=$(now)
    restic -q -r "s3:$AWS_ENDPOINT_URL/$bucket/$prefix" copy --from-repo "$src_repo" "$4" >/dev/null
    elapsed "$t0" ;;
  esac
}
n=0
run_variant() {  # VARIANT: both copies into a fresh prefix; seconds and uploaded bytes to $WORK/{c1,c2,u1,u2}_VARIANT
  local v=$1 prefix before after
  n=$((n + 1)); prefix="copy-$v-$n"
  if [[ $v == restic ]]; then
    restic -q -r "s3:$AWS_ENDPOINT_URL/$bucket/$prefix" init --repository-version 2 --from-repo "$src_repo" \
      --copy-chunker-params >/dev/null
  fi
  before=$(bucket_bytes "$prefix")
  copy_once "$v" "$prefix" "$first_id" "$first_restic" >> "$WORK/c1_$v"  # not in $(...): rss_max is kept
  after=$(bucket_bytes "$prefix"); echo "$((after - before))" >> "$WORK/u1_$v"
  before=$after
  copy_once "$v" "$prefix" "$second_id" "$second_restic" >> "$WORK/c2_$v"
  after=$(bucket_bytes "$prefix"); echo "$((after - before))" >> "$WORK/u2_$v"
  log "   run $n: $v: first $(tail -n 1 "$WORK/c1_$v") s, second $(tail -n 1 "$WORK/c2_$v") s"
}

variants=(clear enc restic)
log "== copies ($RUNS runs each, interleaved)"
for ((r = 0; r < RUNS; r++)); do
  for v in $(rotated "$r" "${variants[@]}"); do run_variant "$v"; done
done

spread() { sort -g "$1" | awk 'NR == 1 {lo = $1} {hi = $1} END {printf "%.2f-%.2f", lo, hi}'; }
m() { median < "$WORK/$1"; }
printf '\nCopies into an S3 store (Ceph radosgw on loopback), %s MB SQLite database, medians of %s runs (min-max)\n' \
  "$(du -m app.db | cut -f1)" "$RUNS"
for v in "${variants[@]}"; do
  printf '  %-7s first copy %7.2f s (%s), %6.1f MB up;  second copy %6.2f s (%s), %7.1f KB up\n' "$v" \
    "$(m "c1_$v")" "$(spread "$WORK/c1_$v")" "$(echo "$(m "u1_$v") / 1000000" | bc -l)" \
    "$(m "c2_$v")" "$(spread "$WORK/c2_$v")" "$(echo "$(m "u2_$v") / 1000" | bc -l)"
done
printf '  %-48s %8s x\n' "first copy: clear / restic" "$(ratio "$(m c1_clear)" "$(m c1_restic)")"
printf '  %-48s %8s x\n' "first copy: enc / restic" "$(ratio "$(m c1_enc)" "$(m c1_restic)")"
printf '  %-48s %8s x\n' "second copy: clear / restic" "$(ratio "$(m c2_clear)" "$(m c2_restic)")"
printf '  %-48s %8s x\n' "second copy: enc / restic" "$(ratio "$(m c2_enc)" "$(m c2_restic)")"
printf '  %-48s %8s x\n' "second copy: clear (by chunk list) / enc (dump)" "$(ratio "$(m c2_clear)" "$(m c2_enc)")"
printf '  dbsnap peak RSS %s MB\n' "$((rss_max / 1024))"
