#!/bin/bash
# Entry point of a `dbctl start-postgres` container (copied to /usr/local/sbin/dbsnap-test-entry).
# Debian's cluster 15/main (config in /etc/postgresql/15/main, data in /var/lib/postgresql/15/main).
# Auth: trust over the unix socket, scram-sha-256 over TCP 127.0.0.1:5432 (like the official image).
# First start: set postgres's password from POSTGRES_PASSWORD and create database `app`, using a
# socket-only temporary server. Then exec postgres in the foreground as user postgres.
set -euo pipefail
: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is not set}"

ver=15
conf=/etc/postgresql/$ver/main
data=/var/lib/postgresql/$ver/main
bin=/usr/lib/postgresql/$ver/bin
marker=/var/lib/postgresql/.dbsnap-test-initialized
log() { echo "dbsnap-test-entry: $*" >&2; }
as_pg() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }

install -d -o postgres -g postgres -m 2775 /run/postgresql
cat >"$conf/conf.d/99-dbsnap-test.conf" <<'CONF'
listen_addresses = '127.0.0.1'
port = 5432
unix_socket_directories = '/var/run/postgresql'
CONF
cat >"$conf/pg_hba.conf" <<'HBA'
# written by the dbsnap test harness
local   all             all                                     trust
host    all             all             127.0.0.1/32            scram-sha-256
host    all             all             ::1/128                 scram-sha-256
local   replication     all                                     trust
host    replication     all             127.0.0.1/32            scram-sha-256
HBA
chown postgres:postgres "$conf/conf.d/99-dbsnap-test.conf" "$conf/pg_hba.conf"

if [[ ! -s $data/PG_VERSION ]]; then
    log "no cluster in $data: running initdb"
    install -d -o postgres -g postgres -m 755 /var/lib/postgresql /var/lib/postgresql/$ver
    install -d -o postgres -g postgres -m 700 "$data"
    as_pg "$bin/initdb" -D "$data" --username=postgres --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    # Debian keeps the configuration in /etc; drop initdb's copies (postgresql.auto.conf stays).
    rm -f "$data/postgresql.conf" "$data/pg_hba.conf" "$data/pg_ident.conf"
fi

if [[ ! -e $marker ]]; then
    log "first start: setting postgres password, creating database app"
    as_pg "$bin/pg_ctl" -D "$data" -w -t 60 -l /var/log/postgresql/dbsnap-test-init.log \
        -o "-c config_file=$conf/postgresql.conf -c listen_addresses=''" start >/dev/null
    pw=${POSTGRES_PASSWORD//\'/\'\'}
    psql -X -q -v ON_ERROR_STOP=1 -h /run/postgresql -U postgres -d postgres <<SQL
ALTER USER postgres PASSWORD '$pw';
SELECT 'CREATE DATABASE app TEMPLATE template0 ENCODING ''UTF8'' LOCALE ''C.UTF-8'''
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'app')
\gexec
SQL
    as_pg "$bin/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null
    touch "$marker"
fi

log "starting postgres"
exec setpriv --reuid=postgres --regid=postgres --init-groups \
    "$bin/postgres" -D "$data" -c "config_file=$conf/postgresql.conf"
