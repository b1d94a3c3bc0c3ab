#!/usr/bin/env bash
# Build the dbsnap test image from Debian packages only (no registry needed).
#
#   build-image.sh TAG MIRROR DOCKER_CLIENT
#
# Called by ../docker-env.sh ensure, which holds the build lock and logs our output.
# This file and packages.txt make up the image's content hash: editing either one
# changes the tag, so the next `ensure` rebuilds.
set -euo pipefail

tag=$1
mirror=$2
docker=$3
suite=bookworm
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${DBSNAP_TEST_CACHE:-/var/cache/dbsnap-test}

pkgs=$(sed -e 's/#.*//' "$here/packages.txt" | tr -s ' \t' '\n' | grep -v '^$' | paste -sd, -)
[[ -n $pkgs ]] || { echo "build-image.sh: empty package list" >&2; exit 1; }
[[ -r $keyring ]] || { echo "build-image.sh: $keyring missing (apt-get install debian-archive-keyring)" >&2; exit 1; }

mkdir -p "$cache"
work=$(mktemp -d "$cache/build.XXXXXX")
root=$work/rootfs

cleanup() {
    # debootstrap unmounts proc/sys itself, but not always after a failure:
    # unmount whatever is still mounted under the rootfs (deepest first) before deleting it.
    local m
    awk -v r="$root/" 'index($2, r) == 1 { print $2 }' /proc/mounts | sort -r |
        while read -r m; do umount -l "$m" || true; done
    rm -rf --one-file-system "$work"
}
trap cleanup EXIT

echo "== debootstrap $suite from $mirror: $pkgs"
# C.UTF-8 so that postgresql-common's postinst creates the 15/main cluster as UTF8 / C.UTF-8
# (with LANG unset it would be SQL_ASCII).
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 LC_ALL=C.UTF-8 \
    debootstrap --variant=minbase --keyring="$keyring" --include="$pkgs" \
    "$suite" "$root" "$mirror"

echo "== checking the rootfs"
for f in usr/sbin/mariadbd usr/bin/mariadb-dump usr/lib/postgresql/15/bin/postgres usr/bin/pg_dump \
         usr/bin/sqlite3 usr/bin/python3 usr/bin/zstd usr/bin/setpriv; do
    [[ -e $root/$f ]] || { echo "build-image.sh: /$f missing from the rootfs" >&2; exit 1; }
done
# Debian's postinsts initialise both data directories under debootstrap (checked with 12.11):
# MariaDB in /var/lib/mysql, PostgreSQL's cluster 15/main (config in /etc/postgresql/15/main).
# The container entry scripts re-create either one if it is missing (e.g. an empty volume).
[[ -d $root/var/lib/mysql/mysql ]] && echo "mariadb datadir: initialised" || echo "mariadb datadir: empty"
[[ -s $root/var/lib/postgresql/15/main/PG_VERSION ]] && echo "postgres 15/main: created" || echo "postgres 15/main: missing"

echo "== trimming"
find "$root/var/cache/apt" -type f -delete
find "$root/var/lib/apt/lists" -mindepth 1 -not -name partial -not -name lock -delete
rm -rf "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/*
: >"$root/etc/resolv.conf"   # debootstrap copied the host's; docker supplies its own anyway
du -sh "$root"

echo "== docker import $tag"
tar --numeric-owner -C "$root" -c . |
    "$docker" import \
        --change 'ENV LANG=C.UTF-8' \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'LABEL dbsnap-test.image=1' \
        --change 'CMD ["sleep", "infinity"]' \
        --message "dbsnap test image: debootstrap $suite $pkgs" \
        - "$tag"
echo "== done"
