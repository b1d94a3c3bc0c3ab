#!/usr/bin/env bash
# Benchmark: the repository v2 layer (store/repo/: chunks, packs, index.db) against Debian's
# restic and a plain `zstd -3` copy, on the same successive SQLite files (issue: Repository v2).
# Not part of the test suite; prints figures, asserts nothing.
#
# Per snapshot, each tool run three times on the same file (a fresh repository copy each time,
# so every run stores the same new chunks); reported: the median and the spread (min-max) of
# the wall time, the peak RSS, and the store size after the snapshot.
#   put:     dbsnap_repo put   | restic backup --stdin   | zstd -3 -c FILE > copy
#   restore: dbsnap_repo cat   | restic dump             | zstd -dc copy      (into /dev/null)
#
#   tests/bench/bench_repo.sh [BUILD_DIR] [recent|scattered] [ROWS] [SNAPS]
set -euo pipefail
build=${1:-build}
workload=${2:-recent}
rows=${3:-1000000}
snaps=${4:-6}
repo_tool=$(realpath "$build/tests/dbsnap_repo")
for tool in restic python3 zstd /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is missing" >&2; exit 1; }
done
here=$(dirname "$(realpath "$0")")
work=$(mktemp -d /var/tmp/dbsnap-bench-repo.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"
source "$here/sqlite_workload.sh"
make_db "$rows"

export RESTIC_PASSWORD=bench RESTIC_CACHE_DIR=$work/restic-cache
restic init -q --repository-version 2 --repo restic >/dev/null
mkdir repo zcopies
du_bytes() { du -sb "$1" | cut -f1; }

printf '%-5s %11s %13s %13s %13s\n' snap db_bytes dbsnap_repo restic_repo zstd_copies
for ((s = 1; s <= snaps; s++)); do
  ((s > 1)) && change "$workload" "$s"
  cp app.db "snap$s.db"
  for run in 1 2 3; do
    rm -rf repo.try restic.try && cp -a repo repo.try && cp -a restic restic.try
    rm -f put.*.one
    measure "put.repo.$s" "$repo_tool" put repo.try "snap$s.db" "lists/snap$s.chunks"
    measure "put.restic.$s" restic backup -q --repo restic.try --stdin --stdin-filename app.db --stdin < "snap$s.db"
    measure "put.zstd.$s" sh -c "zstd -q -3 -c snap$s.db > zcopies/snap$s.db.zst"
  done
  rm -rf repo restic && mv repo.try repo && mv restic.try restic
  for run in 1 2 3; do
    measure "cat.repo.$s" "$repo_tool" cat repo "lists/snap$s.chunks"
    measure "cat.restic.$s" restic dump -q --repo restic latest app.db
    measure "cat.zstd.$s" zstd -q -dc "zcopies/snap$s.db.zst"
  done
  "$repo_tool" cat repo "lists/snap$s.chunks" | cmp - "snap$s.db"
  printf '%-5s %11s %13s %13s %13s\n' "$s" "$(stat -c %s "snap$s.db")" "$(du_bytes repo)" "$(du_bytes restic)" \
    "$(du_bytes zcopies)"
done
echo
echo "times over snapshots 2..$snaps (3 runs each): median (min-max), peak RSS median"
for op in put cat; do
  for tool in repo restic zstd; do
    cat $(for ((s = 2; s <= snaps; s++)); do echo "$op.$tool.$s.times"; done) > "$op.$tool.all.times"
    printf '%-4s %-7s %s\n' "$op" "$tool" "$(summary "$op.$tool.all")"
  done
done
