#!/bin/bash
# Entry point of a `dbctl start-mariadb` container (copied to /usr/local/sbin/dbsnap-test-entry).
# First start: set root's password from MYSQL_ROOT_PASSWORD (root@localhost and root@'%', password
# only, like the official image) and create database `app`, using a socket-only temporary server.
# Then exec mariadbd in the foreground: TCP on 127.0.0.1:3306 + /run/mysqld/mysqld.sock.
set -euo pipefail
: "${MYSQL_ROOT_PASSWORD:?MYSQL_ROOT_PASSWORD is not set}"

datadir=/var/lib/mysql
sock=/run/mysqld/mysqld.sock
marker=$datadir/.dbsnap-test-initialized
log() { echo "dbsnap-test-entry: $*" >&2; }

install -d -o mysql -g mysql -m 755 /run/mysqld
chown mysql:mysql "$datadir"
cat >/etc/mysql/mariadb.conf.d/99-dbsnap-test.cnf <<'CNF'
[mysqld]
bind-address = 127.0.0.1
port = 3306
socket = /run/mysqld/mysqld.sock
skip-name-resolve
CNF

if [[ ! -d $datadir/mysql ]]; then
    log "empty data directory: running mariadb-install-db"
    mariadb-install-db --user=mysql --datadir="$datadir" --skip-test-db >/dev/null
fi

if [[ ! -e $marker ]]; then
    log "first start: setting root password, creating database app"
    mariadbd --user=mysql --skip-networking --socket="$sock" &
    pid=$!
    for _ in $(seq 600); do
        mariadb-admin --socket="$sock" -uroot ping >/dev/null 2>&1 && break
        kill -0 "$pid" 2>/dev/null || { log "temporary server died"; exit 1; }
        sleep 0.1
    done
    pw=${MYSQL_ROOT_PASSWORD//\\/\\\\}
    pw=${pw//\'/\\\'}
    mariadb --socket="$sock" -uroot <<SQL
ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD('$pw');
CREATE USER IF NOT EXISTS 'root'@'%' IDENTIFIED BY '$pw';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION;
CREATE DATABASE IF NOT EXISTS app;
SQL
    MYSQL_PWD=$MYSQL_ROOT_PASSWORD mariadb-admin --socket="$sock" -uroot shutdown
    wait "$pid"
    touch "$marker"
fi

log "starting mariadbd"
exec mariadbd --user=mysql
