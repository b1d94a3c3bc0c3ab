#!/usr/bin/env bash
# Installs what dbsnap needs on Debian 12 (run as root). Idempotent, and fast
# when everything is already there: apt runs only for missing packages.
#   packaging/install-deps.sh          build dependencies (and what `dbsnap demo` uses)
#   packaging/install-deps.sh --test   also what the test suite needs (Alembic, zstd, strace, docker.io, debootstrap,
#                                      podman and catatonit (its --init) for the podman scenario,
#                                      groff for the man page check, dpkg-dev and file for cpack's .deb,
#                                      clang 19 with libFuzzer for tests/fuzz,
#                                      Ceph's monitor, OSD and radosgw for the real S3 server of tests/harness/s3.sh
#                                      (openssl makes its https certificates), restic for the benchmarks,
#                                      age for the encryption interop tests, faketime for a radosgw
#                                      whose clock is an hour off)
set -euo pipefail

build_packages=(
  g++ cmake make pkg-config
  libboost-dev libboost-filesystem-dev libzstd-dev libssl-dev libcli11-dev
  libsqlitecpp-dev libsqlite3-dev libfmt-dev doctest-dev nlohmann-json3-dev libtomlplusplus-dev
)
test_packages=(
  python3 python3-alembic python3-sqlalchemy sqlite3 zstd time procps strace
  docker.io debootstrap podman catatonit
  groff-base dpkg-dev file
  clang-19 libclang-rt-19-dev
  ceph-mon ceph-osd radosgw curl openssl age restic faketime
)

packages=("${build_packages[@]}")
case "${1:-}" in
  --test) packages+=("${test_packages[@]}") ;;
  "") ;;
  *) echo "usage: $0 [--test]" >&2; exit 2 ;;
esac

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: missing ${missing[*]}; run this script as root" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
