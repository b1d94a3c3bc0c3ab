#!/usr/bin/env bash
# Benchmark: backups and restores of a SQLite database into a store in an S3 bucket (the test
# harness's Ceph radosgw on loopback), against the obvious pipelines and restic, in one run:
#   dbsnap backup into a local folder store              (the same work without the network)
#   dbsnap backup into s3://BUCKET/PREFIX                 (and with key_file: encrypted)
#   sqlite3 .backup T && zstd -3 -T0 T && curl -T T.zst   (S3 refuses a PUT without a length)
#   restic backup --stdin of the database file, repository on the same server (encrypted)
#   a second backup after a small change: what each one uploads
#   dbsnap restore from S3 vs curl GET | zstd -d > file
# Each variant runs RUNS times (default 3), interleaved, each into a fresh prefix; medians, min-max
# and dbsnap's peak RSS. Not part of the test suite: prints figures, asserts nothing.
#   tests/bench/bench_s3.sh [BUILD_DIR] [RUNS] [MEGABYTES]
set -euo pipefail
build=${1:-build}
RUNS=${2:-3}
megabytes=${3:-300}
DBSNAP=$(realpath "$build/dbsnap")
here=$(dirname "$(realpath "$0")")
for tool in sqlite3 zstd curl restic age-keygen /usr/bin/time bc python3; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is missing (packaging/install-deps.sh --test; apt-get install restic)" >&2; exit 1; }
done
WORK=$(mktemp -d /var/tmp/dbsnap-bench-s3.XXXXXX)
s3dir=/tmp/dbsnap-bench-s3
trap '"$here/../harness/s3.sh" stop "$s3dir"; rm -rf "$WORK"' EXIT
source "$here/lib.sh"

start_bench_s3 "$s3dir" 17580
export DBSNAP_CACHE_DIR=$WORK/cache

mkdir -p "$WORK/proj"
cd "$WORK/proj"
log "bench: a ${megabytes} MB database"
make_sqlite_db app.db "$megabytes"
age-keygen -o "$WORK/user.key" 2>/dev/null
export RESTIC_PASSWORD=bench RESTIC_CACHE_DIR=$WORK/restic-cache

config() {  # STORE [KEYFILE]
  { [[ -n ${2:-} ]] && echo "key_file = \"$2\""; echo "store = \"$1\""
    printf '[targets.bench]\nengine = "sqlite"\nfile = "app.db"\n'; } > dbsnap.toml
}
n=0
run_variant() {  # VARIANT -> seconds appended to $WORK/b_VARIANT; uploaded bytes to $WORK/u_VARIANT
  local v=$1 t prefix
  n=$((n + 1)); prefix="bench-$v-$n"
  case $v in
  local) rm -rf "$WORK/store"; config "$WORK/store"; timed_dbsnap backup bench > "$WORK/t"; t=$(cat "$WORK/t") ;;
  s3) config "s3://$bucket/$prefix"; timed_dbsnap backup bench > "$WORK/t"; t=$(cat "$WORK/t") ;;
  s3enc) config "s3://$bucket/$prefix" "$WORK/user.key"; timed_dbsnap backup bench > "$WORK/t"; t=$(cat "$WORK/t") ;;
  shell)
    local t0; t0=$(now)
    sqlite3 app.db ".backup T" && zstd -q -3 -T0 T -o T.zst && curl_s3 -T T.zst "$AWS_ENDPOINT_URL/$bucket/$prefix/db.zst" >/dev/null
    rm -f T T.zst; t=$(elapsed "$t0") ;;
  restic)
    local t0; t0=$(now)
    restic -q -r "s3:$AWS_ENDPOINT_URL/$bucket/$prefix" init --repository-version 2 >/dev/null
    restic -q -r "s3:$AWS_ENDPOINT_URL/$bucket/$prefix" backup --stdin --stdin-filename app.db < app.db >/dev/null
    t=$(elapsed "$t0") ;;
  esac
  echo "$t" >> "$WORK/b_$v"
  [[ $v == local ]] || echo "$(bucket_bytes "$prefix")" >> "$WORK/u_$v"
  echo "$prefix"
}

variants=(local s3 s3enc shell restic)
for ((r = 0; r < RUNS; r++)); do
  for v in $(rotated "$r" "${variants[@]}"); do run_variant "$v" > "$WORK/last_$v"; done
done

# A second backup after a small change, into the last prefix of each: what it uploads.
log "bench: second backups after a day's work: 500 rows changed, 2,000 added (about 0.6 MB)"
sqlite3 app.db "UPDATE estimate SET notes = 'changed' WHERE id BETWEEN 5000 AND 5500;
  WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000)
  INSERT INTO estimate (title, notes, payload) SELECT 'new ' || x, 'added today', randomblob(100) FROM c;" >/dev/null
second() {  # VARIANT
  local v=$1 prefix before after
  prefix=$(cat "$WORK/last_$v"); before=$(bucket_bytes "$prefix")
  case $v in
  s3) config "s3://$bucket/$prefix"; "$DBSNAP" -q backup bench >/dev/null ;;
  s3enc) config "s3://$bucket/$prefix" "$WORK/user.key"; "$DBSNAP" -q backup bench >/dev/null ;;
  restic) restic -q -r "s3:$AWS_ENDPOINT_URL/$bucket/$prefix" backup --stdin --stdin-filename app.db < app.db >/dev/null ;;
  esac
  after=$(bucket_bytes "$prefix")
  echo "$((after - before)) $before"
}
read -r s3_added s3_first < <(second s3)
read -r enc_added enc_first < <(second s3enc)
read -r restic_added restic_first < <(second restic)

# Restores: dbsnap from the local folder store and from S3 (the second snapshot) vs curl GET | zstd -d.
config "$WORK/store"; "$DBSNAP" -q backup bench >/dev/null
for ((r = 0; r < RUNS; r++)); do
  config "$WORK/store"
  timed_dbsnap restore latest --target bench --yes --no-safety-snapshot >> "$WORK/r_local"
  config "s3://$bucket/$(cat "$WORK/last_s3")"
  timed_dbsnap restore latest --target bench --yes --no-safety-snapshot >> "$WORK/r_s3"
  t0=$(now)
  curl_s3 "$AWS_ENDPOINT_URL/$bucket/$(cat "$WORK/last_shell")/db.zst" | zstd -q -d -o restored.db -f
  echo "$(elapsed "$t0")" >> "$WORK/r_shell"; rm -f restored.db
done

spread() { sort -g "$1" | awk 'NR == 1 {lo = $1} {hi = $1} END {printf "%.2f-%.2f", lo, hi}'; }
printf '\nS3 store (Ceph radosgw on loopback), %s MB SQLite database, medians of %s runs (min-max)\n' \
  "$(du -m app.db | cut -f1)" "$RUNS"
for v in local s3 s3enc shell restic; do
  printf '  backup %-8s %8.2f s  (%s)\n' "$v" "$(median < "$WORK/b_$v")" "$(spread "$WORK/b_$v")"
done
m() { median < "$WORK/$1"; }
printf '  %-44s %8s x\n' "s3 / local folder store" "$(ratio "$(m b_s3)" "$(m b_local)")"
printf '  %-44s %8s x   (target <= 1.00)\n' "s3 / sqlite3 .backup + zstd + curl -T" "$(ratio "$(m b_s3)" "$(m b_shell)")"
printf '  %-44s %8s x   (target <= 1.05)\n' "s3 encrypted / s3" "$(ratio "$(m b_s3enc)" "$(m b_s3)")"
printf '  %-44s %8s x\n' "s3 encrypted / restic" "$(ratio "$(m b_s3enc)" "$(m b_restic)")"
printf '  uploaded by the first backup: s3 %s MB, s3enc %s MB, shell %s MB, restic %s MB\n' \
  "$(echo "$s3_first / 1000000" | bc)" "$(echo "$enc_first / 1000000" | bc)" "$(echo "$(m u_shell) / 1000000" | bc)" \
  "$(echo "$restic_first / 1000000" | bc)"
printf '  second backup uploads: s3 %s KB (%.1f %%), s3enc %s KB (%.1f %%), restic %s KB (%.1f %%)  (target <= 10 %%)\n' \
  "$((s3_added / 1000))" "$(echo "100 * $s3_added / $s3_first" | bc -l)" "$((enc_added / 1000))" \
  "$(echo "100 * $enc_added / $enc_first" | bc -l)" "$((restic_added / 1000))" "$(echo "100 * $restic_added / $restic_first" | bc -l)"
printf '  restore from s3 %.2f s (%s), from a local folder store %.2f s (%s), curl | zstd -d %.2f s (%s)\n' \
  "$(m r_s3)" "$(spread "$WORK/r_s3")" "$(m r_local)" "$(spread "$WORK/r_local")" "$(m r_shell)" "$(spread "$WORK/r_shell")"
printf '  %-44s %8s x   (target <= 1.10)\n' "restore from s3 / curl | zstd -d" "$(ratio "$(m r_s3)" "$(m r_shell)")"
printf '  %-44s %8s x\n' "restore from s3 / from a local folder store" "$(ratio "$(m r_s3)" "$(m r_local)")"
printf '  dbsnap peak RSS %s MB  (target <= 64)\n' "$((rss_max / 1024))"
