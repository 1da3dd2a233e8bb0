#!/usr/bin/env bash
# Start a local PostgreSQL for mediaguard's store tests and print its URL on stdout.
#
#   export MEDIAGUARD_TEST_POSTGRES_URL="$(.ci/postgres.sh)"
#
# Idempotent: installs PostgreSQL from Debian's packages only if it is missing, creates
# a cluster only if there is none, starts it only if it is down, and creates or updates
# the role and database. Works as root in a CI container without systemd (pg_ctlcluster
# starts the server directly); as another user it needs sudo. Progress goes to stderr so
# that stdout is only the URL.
#
# Settings (environment):
#   MEDIAGUARD_PG_USER      role to create          (default: mediaguard)
#   MEDIAGUARD_PG_PASSWORD  its password            (default: mediaguard)
#   MEDIAGUARD_PG_DB        database to create      (default: mediaguard_test)
#   MEDIAGUARD_PG_PORT      port of a new cluster   (default: 5432)
set -euo pipefail

user="${MEDIAGUARD_PG_USER:-mediaguard}"
password="${MEDIAGUARD_PG_PASSWORD:-mediaguard}"
db="${MEDIAGUARD_PG_DB:-mediaguard_test}"
port="${MEDIAGUARD_PG_PORT:-5432}"

log() { printf 'postgres.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# The URL is printed without escaping, so keep the parts URL-safe.
for part in "$user" "$password" "$db"; do
    [[ "$part" =~ ^[A-Za-z0-9_]+$ ]] || die "user, password and database must match [A-Za-z0-9_]+"
done

as_root() {
    if [[ "$(id -u)" == 0 ]]; then "$@"; else sudo "$@"; fi
}

as_postgres() {
    if [[ "$(id -u)" == 0 ]]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}

if ! command -v pg_lsclusters >/dev/null || ! compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null; then
    log "installing PostgreSQL from Debian's packages"
    as_root apt-get update -qq >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        postgresql >&2
fi

version="$(ls /usr/lib/postgresql | sort -V | tail -n 1)"
[[ -n "$version" ]] || die "no PostgreSQL server found under /usr/lib/postgresql"

# pg_lsclusters -h: version cluster port status owner datadir logfile
cluster_line() { pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main"'; }

if [[ -z "$(cluster_line)" ]]; then
    log "creating cluster $version/main on port $port"
    as_root pg_createcluster "$version" main --port "$port" >&2
fi

read -r _ _ port status _ < <(cluster_line)
if [[ "$status" != online* ]]; then
    log "starting cluster $version/main on port $port"
    as_root pg_ctlcluster "$version" main start >&2
fi

for _ in $(seq 1 60); do
    pg_isready -q -h 127.0.0.1 -p "$port" && break
    sleep 0.5
done
pg_isready -q -h 127.0.0.1 -p "$port" || die "PostgreSQL did not accept connections on 127.0.0.1:$port"

# psql variables (:'name', :"name") quote the values; \gexec runs the generated
# statement only when the role or database is missing, which makes this re-runnable.
as_postgres psql -X -q -v ON_ERROR_STOP=1 -p "$port" -d postgres \
    -v user="$user" -v password="$password" -v db="$db" >&2 <<'SQL'
SELECT format('CREATE ROLE %I LOGIN', :'user')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'user') \gexec
SELECT format('ALTER ROLE %I WITH LOGIN PASSWORD %L', :'user', :'password') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'user')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
SELECT format('ALTER DATABASE %I OWNER TO %I', :'db', :'user') \gexec
SQL

log "ready: PostgreSQL $version on 127.0.0.1:$port, database $db, role $user"
printf 'postgresql://%s:%s@127.0.0.1:%s/%s\n' "$user" "$password" "$port" "$db"
