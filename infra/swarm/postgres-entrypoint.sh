#!/bin/sh
# Entrypoint of the PostgreSQL stand-in image (stand-in-images.sh): what the official image's
# entrypoint does for the variables the stack sets. On the first start (no PG_VERSION in PGDATA)
# it makes the cluster with POSTGRES_USER as superuser and the password from
# POSTGRES_PASSWORD_FILE, allows password (SCRAM) logins from the network, creates POSTGRES_DB;
# then it runs postgres, listening on every address.
set -eu
: "${PGDATA:=/var/lib/postgresql/data}"
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
if [ "${1:-postgres}" != postgres ]; then
  exec "$@"
fi
[ $# -gt 0 ] && shift
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "${POSTGRES_PASSWORD_FILE:-}" ] || [ ! -r "$POSTGRES_PASSWORD_FILE" ]; then
    echo "postgres-entrypoint: POSTGRES_PASSWORD_FILE must name a readable file" >&2
    exit 1
  fi
  mkdir -p "$PGDATA"
  chmod 0700 "$PGDATA"
  initdb --pgdata="$PGDATA" --username="$POSTGRES_USER" --pwfile="$POSTGRES_PASSWORD_FILE" \
    --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  printf 'host all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
  if [ "$POSTGRES_DB" != postgres ]; then
    echo "CREATE DATABASE \"$POSTGRES_DB\" OWNER \"$POSTGRES_USER\";" |
      postgres --single -D "$PGDATA" -j postgres >/dev/null
  fi
  echo "postgres-entrypoint: cluster made in $PGDATA, database $POSTGRES_DB" >&2
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' "$@"
