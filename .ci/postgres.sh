#!/usr/bin/env bash
# Starts a PostgreSQL server for Plumb's tests on 127.0.0.1 and prints the
# line that points the tests at it:
#
#   eval "$(bash .ci/postgres.sh)"      # install if needed, start, create role and database
#   bash .ci/postgres.sh restart        # pg_ctl restart -m fast (pgstore's restart test)
#   bash .ci/postgres.sh stop
#
# Idempotent: it installs PostgreSQL (apt, Debian) only when psql or pg_ctl
# is missing, starts the server only when nothing answers on the port, and
# creates the role and the database only when they do not exist. Progress
# goes to stderr; stdout carries only the export line, so eval is safe.
#
# As root it runs the server as the postgres user. It uses the Debian
# cluster on the port when there is one (pg_ctlcluster), and otherwise a
# data directory of its own (initdb + pg_ctl). Settings, all optional:
#   PLUMB_PG_PORT (5432), PLUMB_PG_USER (plumb), PLUMB_PG_PASSWORD (plumb),
#   PLUMB_PG_DB (plumb_test), PLUMB_PG_DATA (a data directory of its own).
set -euo pipefail

PORT=${PLUMB_PG_PORT:-5432}
HOST=127.0.0.1
ROLE=${PLUMB_PG_USER:-plumb}
PASS=${PLUMB_PG_PASSWORD:-plumb}
DB=${PLUMB_PG_DB:-plumb_test}
CMD=${1:-start}

log() { echo "postgres.sh: $*" >&2; }
die() { log "$*"; exit 1; }

# Names go into SQL unquoted and the password into a literal: keep them plain.
[[ $ROLE =~ ^[a-z_][a-z0-9_]*$ && $DB =~ ^[a-z_][a-z0-9_]*$ ]] || die "PLUMB_PG_USER and PLUMB_PG_DB must be lower-case SQL names"
[[ $PASS != *"'"* && $PASS != *"@"* && $PASS != *"/"* && $PASS != *":"* ]] || die "PLUMB_PG_PASSWORD must not contain ' @ / or :"

# bindir finds the server programs: Debian keeps them off PATH.
bindir() {
	local p
	if p=$(command -v pg_ctl 2>/dev/null); then
		dirname "$(readlink -f "$p")"
		return
	fi
	ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

BIN=$(bindir || true)
if ! command -v psql >/dev/null 2>&1 || [[ -z $BIN || ! -x $BIN/pg_ctl ]]; then
	[[ $(id -u) == 0 ]] || die "PostgreSQL is not installed and installing it needs root: apt-get install -y postgresql"
	log "installing PostgreSQL"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2
	apt-get install -y -qq postgresql >&2
	BIN=$(bindir)
fi
[[ -x $BIN/pg_ctl ]] || die "pg_ctl not found after installing PostgreSQL"

# The server runs as postgres when we are root (it refuses to run as root),
# as ourselves otherwise.
if [[ $(id -u) == 0 ]]; then
	OWNER=postgres
	as_owner() { runuser -u postgres -- "$@"; }
else
	OWNER=$(id -un)
	as_owner() { "$@"; }
fi

# The Debian cluster on this port, if any: "15 main".
CLUSTER=""
if command -v pg_lsclusters >/dev/null 2>&1; then
	CLUSTER=$(pg_lsclusters -h 2>/dev/null | awk -v port="$PORT" '$3 == port { print $1, $2; exit }' || true)
fi
if [[ -n $CLUSTER ]]; then
	SOCKDIR=/var/run/postgresql
elif [[ $(id -u) == 0 ]]; then
	DATA=${PLUMB_PG_DATA:-/var/lib/postgresql/plumb-$PORT}
	SOCKDIR=$DATA
else
	DATA=${PLUMB_PG_DATA:-${XDG_DATA_HOME:-$HOME/.local/share}/plumb-postgres-$PORT}
	SOCKDIR=$DATA
fi

ready() { "$BIN/pg_isready" -q -h "$HOST" -p "$PORT" -t 1; }

wait_ready() {
	for _ in $(seq 1 60); do
		ready && return 0
		sleep 0.5
	done
	die "the server on $HOST:$PORT did not come up; see its log"
}

start_server() {
	if [[ -n $CLUSTER ]]; then
		log "starting cluster $CLUSTER on $HOST:$PORT"
		# shellcheck disable=SC2086 # "15 main" is two arguments
		pg_ctlcluster $CLUSTER start >&2
		return
	fi
	if [[ ! -s $DATA/PG_VERSION ]]; then
		log "creating a data directory in $DATA"
		mkdir -p "$DATA"
		chown "$OWNER" "$DATA"
		chmod 700 "$DATA"
		as_owner "$BIN/initdb" -D "$DATA" -U "$OWNER" --auth-local=peer --auth-host=scram-sha-256 -E UTF8 >&2
	fi
	log "starting the server in $DATA on $HOST:$PORT"
	as_owner "$BIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w -t 60 \
		-o "-c listen_addresses=$HOST -p $PORT -c unix_socket_directories='$SOCKDIR' -c max_connections=200" start >&2
}

restart_server() {
	if [[ -n $CLUSTER ]]; then
		# shellcheck disable=SC2086
		pg_ctlcluster $CLUSTER restart -m fast >&2
	else
		as_owner "$BIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w -t 60 -m fast restart >&2
	fi
}

stop_server() {
	if [[ -n $CLUSTER ]]; then
		# shellcheck disable=SC2086
		pg_ctlcluster $CLUSTER stop -m fast >&2
	else
		as_owner "$BIN/pg_ctl" -D "$DATA" -w -m fast stop >&2
	fi
}

case $CMD in
start) ;;
restart)
	restart_server
	wait_ready
	exit 0
	;;
stop)
	stop_server
	exit 0
	;;
*) die "usage: postgres.sh [start|restart|stop]" ;;
esac

if ready; then
	log "a server answers on $HOST:$PORT"
else
	start_server
	wait_ready
fi

DSN="postgres://$ROLE:$PASS@$HOST:$PORT/$DB?sslmode=disable"
if ! PGCONNECT_TIMEOUT=5 "$BIN/psql" "$DSN" -qAtc "SELECT 1" >/dev/null 2>&1; then
	log "creating role $ROLE and database $DB"
	SQL="DO \$\$ BEGIN
  IF EXISTS (SELECT FROM pg_roles WHERE rolname = '$ROLE') THEN
    ALTER ROLE $ROLE LOGIN PASSWORD '$PASS';
  ELSE
    CREATE ROLE $ROLE LOGIN PASSWORD '$PASS';
  END IF;
END \$\$;
SELECT 'CREATE DATABASE $DB OWNER $ROLE' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$DB')
\\gexec"
	as_owner "$BIN/psql" -h "$SOCKDIR" -p "$PORT" -d postgres -v ON_ERROR_STOP=1 -q <<<"$SQL" >&2 ||
		die "cannot create the role and database as the superuser over the socket in $SOCKDIR"
	PGCONNECT_TIMEOUT=5 "$BIN/psql" "$DSN" -qAtc "SELECT 1" >/dev/null ||
		die "cannot connect as $ROLE to $HOST:$PORT/$DB; check pg_hba.conf allows scram-sha-256 from $HOST"
fi

echo "export PLUMB_TEST_POSTGRES_DSN='$DSN'"
