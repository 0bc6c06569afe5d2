#!/usr/bin/env bash
# Starts a Jaeger all-in-one (in-memory store) for Plumb's tests on
# 127.0.0.1 and prints the lines that point the tests at it:
#
#   eval "$(bash .ci/jaeger.sh)"   # build if needed, start, wait until it takes spans
#   bash .ci/jaeger.sh stop
#
# Jaeger is built from its Go module, the tool of the separate module in
# tools/jaeger (never a dependency of Plumb), and runs with
# tools/jaeger/config.yaml: the OTLP/HTTP receiver and the query API, both
# on 127.0.0.1. The binary is kept under the name of its module's go.sum,
# so a second start does not build again. Idempotent: when Jaeger already
# answers on the ports it only prints the lines; when it starts one it
# adds PLUMB_JAEGER_PID, so a caller stops only what it started. Progress
# goes to stderr; stdout carries only the export lines, so eval is safe.
#
# Settings, all optional: PLUMB_JAEGER_OTLP_PORT (4318),
# PLUMB_JAEGER_QUERY_PORT (16686), PLUMB_JAEGER_QUERY_GRPC_PORT (16685),
# PLUMB_JAEGER_DIR (where the binary, its log and its pid file go).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

export PLUMB_JAEGER_OTLP_PORT=${PLUMB_JAEGER_OTLP_PORT:-4318}
export PLUMB_JAEGER_QUERY_PORT=${PLUMB_JAEGER_QUERY_PORT:-16686}
export PLUMB_JAEGER_QUERY_GRPC_PORT=${PLUMB_JAEGER_QUERY_GRPC_PORT:-16685}
HOST=127.0.0.1
DIR=${PLUMB_JAEGER_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/plumb-jaeger}
PIDFILE=$DIR/jaeger-$PLUMB_JAEGER_OTLP_PORT.pid
LOG=$DIR/jaeger-$PLUMB_JAEGER_OTLP_PORT.log
OTLP=http://$HOST:$PLUMB_JAEGER_OTLP_PORT
QUERY=http://$HOST:$PLUMB_JAEGER_QUERY_PORT
CMD=${1:-start}

log() { echo "jaeger.sh: $*" >&2; }
die() { log "$*"; exit 1; }

# ready: the receiver takes an (empty) OTLP/HTTP export and the query API
# answers, so a test's spans are accepted and can be found.
ready() {
	curl -fsS -o /dev/null --max-time 2 -X POST -H 'Content-Type: application/json' -d '{}' "$OTLP/v1/traces" 2>/dev/null &&
		curl -fsS -o /dev/null --max-time 2 "$QUERY/api/services" 2>/dev/null
}

stop() {
	[[ -s $PIDFILE ]] || { log "no Jaeger of ours is running (no $PIDFILE)"; return 0; }
	local pid
	pid=$(cat "$PIDFILE")
	if kill -0 "$pid" 2>/dev/null; then
		log "stopping Jaeger (pid $pid)"
		kill -TERM "$pid"
		for _ in $(seq 1 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.2
		done
		kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
	fi
	rm -f "$PIDFILE"
}

case $CMD in
start) ;;
stop)
	stop
	exit 0
	;;
*) die "usage: jaeger.sh [start|stop]" ;;
esac

print_env() {
	echo "export PLUMB_TEST_JAEGER_OTLP='$OTLP'"
	echo "export PLUMB_TEST_JAEGER_QUERY='$QUERY'"
}

if ready; then
	log "Jaeger answers on $OTLP and $QUERY"
	print_env
	exit 0
fi

mkdir -p "$DIR"
sum=$(cat tools/jaeger/go.mod tools/jaeger/go.sum | sha256sum | cut -c1-12)
BIN=$DIR/jaeger-$sum
if [[ ! -x $BIN ]]; then
	log "building Jaeger from its Go module (tools/jaeger) into $BIN"
	t0=$(date +%s)
	(cd tools/jaeger && go build -o "$BIN.tmp" github.com/jaegertracing/jaeger/cmd/jaeger) >&2
	mv "$BIN.tmp" "$BIN"
	log "built in $(($(date +%s) - t0))s"
fi

log "starting Jaeger on $OTLP (OTLP/HTTP) and $QUERY (query API); log in $LOG"
# setsid and no open stdout: the server outlives this script, and the
# $(...) of the eval does not wait for it.
setsid "$BIN" --config "$ROOT/tools/jaeger/config.yaml" </dev/null >"$LOG" 2>&1 &
echo $! >"$PIDFILE"
for _ in $(seq 1 120); do
	if ready; then
		log "Jaeger is ready"
		print_env
		echo "export PLUMB_JAEGER_PID='$(cat "$PIDFILE")'"
		exit 0
	fi
	kill -0 "$(cat "$PIDFILE")" 2>/dev/null || { tail -n 30 "$LOG" >&2; die "Jaeger exited; its log is above"; }
	sleep 0.5
done
tail -n 30 "$LOG" >&2
stop
die "Jaeger did not come up on $OTLP and $QUERY within 60s; its log is above"
