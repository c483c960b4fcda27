#!/usr/bin/env bash
# Entry point with the official postgres image's contract (see the Dockerfile).
set -Eeuo pipefail
shopt -s nullglob

if [ "${1:0:1}" = '-' ]; then set -- postgres "$@"; fi
if [ "$1" != postgres ] || [ "${_PG_DONE:-}" = 1 ]; then exec "$@"; fi

as_postgres() {
  if [ "$(id -u)" = 0 ]; then setpriv --reuid=postgres --regid=postgres --init-groups "$@"; else "$@"; fi
}

mkdir -p "$PGDATA" /var/run/postgresql
if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$PGDATA" /var/run/postgresql; chmod 700 "$PGDATA"; fi

first_run=
if [ -f "$PGDATA/.readiness-template" ]; then first_run=template
elif [ ! -s "$PGDATA/PG_VERSION" ]; then first_run=initdb; fi

if [ -n "$first_run" ]; then
  : "${POSTGRES_USER:=postgres}"
  : "${POSTGRES_DB:=$POSTGRES_USER}"
  : "${POSTGRES_HOST_AUTH_METHOD:=scram-sha-256}"
  if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != trust ]; then
    cat >&2 <<'MSG'
Error: Database is uninitialized and superuser password is not specified.
       You must specify POSTGRES_PASSWORD to a non-empty value for the
       superuser. For example, "-e POSTGRES_PASSWORD=password" on "docker run".
       Or set POSTGRES_HOST_AUTH_METHOD=trust to allow all connections without a password.
MSG
    exit 1
  fi
  # The build-time cluster has superuser "postgres" and default initdb settings; anything
  # else needs a real initdb, exactly as the official image does it.
  if [ "$first_run" = template ] && { [ "$POSTGRES_USER" != postgres ] || [ -n "${POSTGRES_INITDB_ARGS:-}" ]; }; then
    find "$PGDATA" -mindepth 1 -delete
    first_run=initdb
  fi
  if [ "$first_run" = initdb ]; then
    # shellcheck disable=SC2086
    as_postgres initdb -D "$PGDATA" --username="$POSTGRES_USER" --auth-local=trust \
      --encoding=UTF8 --locale=C.UTF-8 ${POSTGRES_INITDB_ARGS:-}
    printf "listen_addresses = '*'\njit = off\n" >> "$PGDATA/postgresql.conf"
  fi
  echo "host all all all $POSTGRES_HOST_AUTH_METHOD" >> "$PGDATA/pg_hba.conf"

  # Temporary server on the unix socket only; its log goes to stdout (as in the official image).
  as_postgres pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p 5432" -w start
  psql=(psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc --quiet)
  as_postgres "${psql[@]}" --dbname postgres -v pw="${POSTGRES_PASSWORD:-}" -v db="$POSTGRES_DB" \
    -v user="$POSTGRES_USER" <<'SQL'
SELECT format('ALTER ROLE %I WITH PASSWORD %L', :'user', :'pw') WHERE :'pw' <> '' \gexec
SELECT format('CREATE DATABASE %I', :'db') WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \gexec
SQL
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in
      *.sh) echo "running $f"; if [ -x "$f" ]; then "$f"; else . "$f"; fi ;;
      *.sql) echo "running $f"; as_postgres "${psql[@]}" --dbname "$POSTGRES_DB" -f "$f" ;;
      *.sql.gz) echo "running $f"; gunzip -c "$f" | as_postgres "${psql[@]}" --dbname "$POSTGRES_DB" ;;
      *) echo "ignoring $f" ;;
    esac
  done
  as_postgres pg_ctl -D "$PGDATA" -m fast -w stop
  rm -f "$PGDATA/.readiness-template"
  echo
  echo 'PostgreSQL init process complete; ready for start up.'
  echo
fi

export _PG_DONE=1
if [ "$(id -u)" = 0 ]; then exec setpriv --reuid=postgres --regid=postgres --init-groups "$@"; fi
exec "$@"
