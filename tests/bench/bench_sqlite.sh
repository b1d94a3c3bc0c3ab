#!/usr/bin/env bash
# Benchmark: dbsnap backup of a SQLite database vs the obvious shell pipeline
#   sqlite3 DB ".backup T" && zstd -3 -T0 T && sha256sum T.zst
# in the same run, medians of N (default 5), and dbsnap's peak RSS for a 50 MB
# and a 500 MB database. Not part of the test suite; prints ratios, asserts nothing.
#   tests/bench/bench_sqlite.sh [BUILD_DIR] [RUNS]
set -euo pipefail
build=${1:-build}
runs=${2:-5}
dbsnap=$(realpath "$build/dbsnap")
for tool in sqlite3 zstd sha256sum /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is missing (packaging/install-deps.sh --test)" >&2; exit 1; }
done
work=$(mktemp -d /var/tmp/dbsnap-bench-sqlite.XXXXXX)
source "$(dirname "$(realpath "$0")")/lib.sh"
trap 'rm -rf "$work"' EXIT


cat > "$work/dbsnap.toml" <<TOML
[targets.big]
engine = "sqlite"
file = "big.db"
[targets.small]
engine = "sqlite"
file = "small.db"
TOML

echo "bench: creating databases in $work"
make_sqlite_db "$work/big.db" 500
make_sqlite_db "$work/small.db" 50
ls -l "$work/big.db" "$work/small.db" | awk '{printf "bench: %s %.0f MB\n", $9, $5 / 1048576}'
cd "$work"

dbsnap_backup() {
  "$dbsnap" backup big --json > last.json
  local id
  id=$(sed -n 's/^  "id": "\(.*\)",$/\1/p' last.json)
  "$dbsnap" delete "$id" --yes >/dev/null
}
shell_backup() {
  sqlite3 big.db ".backup T" && zstd -q -3 -T0 T -o T.zst && sha256sum T.zst >/dev/null
  rm -f T T.zst
}

: > dbsnap.times
: > shell.times
for ((i = 1; i <= runs; i++)); do
  # Alternate the order so that neither always runs on a warmer cache.
  for which in $( ((i % 2)) && echo "dbsnap shell" || echo "shell dbsnap"); do
    t0=$(now)
    "${which}_backup"
    t1=$(now)
    echo "$t1 - $t0" | bc -l >> "$which.times"
  done
done
d=$(median < dbsnap.times)
s=$(median < shell.times)
printf 'backup 500 MB: dbsnap median %.3f s, shell pipeline median %.3f s, ratio %.3f (target <= 1.00)\n' "$d" "$s" "$(echo "$d / $s" | bc -l)"
printf '  dbsnap runs: %s\n  shell runs:  %s\n' "$(tr '\n' ' ' < dbsnap.times)" "$(tr '\n' ' ' < shell.times)"

for target in small big; do
  /usr/bin/time -f %M -o rss.txt "$dbsnap" backup "$target" >/dev/null
  printf 'peak RSS, backup of %s (%s): %d MB (target <= 64 MB)\n' "$target" \
    "$(ls -l "$target.db" | awk '{printf "%.0f MB", $5 / 1048576}')" "$(( $(cat rss.txt) / 1024 ))"
done
id=$("$dbsnap" list big --json | sed -n 's/^    "id": "\(.*\)",$/\1/p' | head -1)
/usr/bin/time -f %M -o rss.txt "$dbsnap" restore "$id" --yes --no-safety-snapshot >/dev/null
printf 'peak RSS, restore of big: %d MB\n' "$(( $(cat rss.txt) / 1024 ))"
