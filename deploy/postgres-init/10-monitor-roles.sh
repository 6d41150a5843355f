#!/usr/bin/env bash
# Roles of the monitor's database, created once by the postgres image (docker-entrypoint-initdb.d) when it
# starts on an empty data directory, as the image's superuser (POSTGRES_USER). An existing volume never runs
# it again: run it by hand then (README, "Security").
#
# - MONITOR_DB_USER (default monitor): owns the database and its public schema and runs the migrations and
#   the daemon. Not a superuser, no CREATEROLE, CREATEDB or REPLICATION: whatever reaches the database
#   through the daemon can do no more than the monitor's own tables allow.
# - monitor_reader: what `monitor sql` runs as (SET LOCAL ROLE) and what analysts may log in as once an
#   operator gives it a password. Read-only by default, with timeouts; migration 0003 grants it SELECT.
#   Created here, by the superuser, so that the owner needs no CREATEROLE; the owner is made a member so it
#   may SET ROLE to it (the other way round would hand the reader the owner's rights).
# - EXECUTE on the large-object functions that create, write, delete, import or export is taken from
#   PUBLIC in this database: lo_create works even in a read-only transaction. Revoking needs a superuser,
#   which the migrations (run by the owner) are not.
set -euo pipefail

: "${MONITOR_DB_USER:=monitor}"
: "${MONITOR_DB_PASSWORD:?set MONITOR_DB_PASSWORD, the password of the database owner}"
if [ "$MONITOR_DB_USER" = "$POSTGRES_USER" ]; then
    # The owner is made NOSUPERUSER below: that must never be the superuser running this script.
    echo "MONITOR_DB_USER must differ from POSTGRES_USER ($POSTGRES_USER)" >&2
    exit 1
fi

psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
     -v owner="$MONITOR_DB_USER" -v owner_password="$MONITOR_DB_PASSWORD" -v db="$POSTGRES_DB" <<'EOSQL'
SELECT NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = :'owner') AS owner_missing \gset
\if :owner_missing
CREATE ROLE :"owner" LOGIN PASSWORD :'owner_password'
    NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
\else
ALTER ROLE :"owner" LOGIN PASSWORD :'owner_password'
    NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
\endif
ALTER DATABASE :"db" OWNER TO :"owner";
ALTER SCHEMA public OWNER TO :"owner";

SELECT NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'monitor_reader') AS reader_missing \gset
\if :reader_missing
CREATE ROLE monitor_reader LOGIN;
\endif
ALTER ROLE monitor_reader NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
ALTER ROLE monitor_reader SET default_transaction_read_only = on;
ALTER ROLE monitor_reader SET statement_timeout = '5min';
ALTER ROLE monitor_reader SET idle_in_transaction_session_timeout = '1min';
GRANT monitor_reader TO :"owner";

REVOKE EXECUTE ON FUNCTION
    lo_create(oid), lo_creat(integer), lo_from_bytea(oid, bytea), lowrite(integer, bytea),
    lo_put(oid, bigint, bytea), lo_truncate(integer, integer), lo_truncate64(integer, bigint), lo_unlink(oid),
    lo_import(text), lo_import(text, oid), lo_export(oid, text)
FROM PUBLIC;
EOSQL
