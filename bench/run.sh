#!/usr/bin/env bash
# Benchmarks Hestia against Prosody and ejabberd (Debian packages) on this machine and prints a
# markdown table. See docs/benchmarks.md for the method and the last recorded run.
#
#   bench/run.sh                       # everything, all three servers
#   SERVERS="hestia" bench/run.sh      # one server
#   QUICK=1 bench/run.sh               # smaller counts, shorter windows (smoke test)
#   SCENARIOS="presence" bench/run.sh  # only these scenarios (registration always runs)
#
# Each server runs pinned to CPU $SERVER_CPU, the load generator (`hestia bench`) to $GEN_CPU.
# Each server gets a fresh temporary data directory; accounts are created once (XEP-0077 in-band
# registration) and the server is restarted before every scenario, keeping its accounts.
# Results (one JSON file per scenario and server, the table, server logs) go to $OUT.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SERVERS=${SERVERS:-"hestia prosody ejabberd"}
SERVER_CPU=${SERVER_CPU:-0}
GEN_CPU=${GEN_CPU:-1}
if [[ -n "${QUICK:-}" ]]; then
    : "${USERS_LOGIN:=500}" "${USERS_IDLE:=1000}" "${USERS_IDLE_TLS:=500}" "${MAX_CONNECTIONS:=2000}"
    : "${DURATION:=3s}" "${WARMUP:=1s}" "${PRESENCE_USERS:=20}" "${DEVICES_PER_USER:=5}"
fi
USERS_LOGIN=${USERS_LOGIN:-2000}
USERS_IDLE=${USERS_IDLE:-10000}
USERS_IDLE_TLS=${USERS_IDLE_TLS:-5000}
# Hestia only: the most connections the open-file limit leaves room for (0 = skip).
MAX_CONNECTIONS=${MAX_CONNECTIONS:-19000}
PAIRS=${PAIRS:-50}
IN_FLIGHT=${IN_FLIGHT:-10}
# Presence fan-out: users, each with this many related devices online. Its accounts come after
# the message pairs' (which are related to each other and would see the presence too).
PRESENCE_USERS=${PRESENCE_USERS:-100}
DEVICES_PER_USER=${DEVICES_PER_USER:-10}
PRESENCE_FIRST=$((2 * PAIRS))
DURATION=${DURATION:-10s}
SCENARIOS=${SCENARIOS:-"messages messages-light messages-sm messages-durable iq presence multicast fanout offline offline-durable login idle idle-tls max-connections"}
# Multicast fan-out: senders, each with this many related recipients online (XEP-0033 lists of
# up to 50 addresses on Hestia). Accounts from the presence block.
MULTICAST_USERS=${MULTICAST_USERS:-10}
MULTICAST_RECIPIENTS=${MULTICAST_RECIPIENTS:-50}
# Offline store-and-forward: pairs, messages stored per receiver (within every server's quota).
OFFLINE_PAIRS=${OFFLINE_PAIRS:-20}
OFFLINE_MESSAGES=${OFFLINE_MESSAGES:-500}
WARMUP=${WARMUP:-2s}
PORT=5222
OUT=${OUT:-$ROOT/target/bench-results/$(date +%Y%m%d-%H%M%S)}
RUN=$(mktemp -d /tmp/hestia-bench.XXXXXX)
chmod 755 "$RUN"  # the prosody and ejabberd users must reach their directories
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
HESTIA=$CARGO_TARGET_DIR/release/hestia
SERVER_PID=

log() { printf '\n== %s\n' "$*" >&2; }

cleanup() {
    if [[ -n "$SERVER_PID" ]]; then stop_server; fi
    mkdir -p "$OUT/logs"
    find "$RUN" -name '*.log' -exec cp {} "$OUT/logs/" \; 2>/dev/null || true
    rm -rf "$RUN"
}
trap cleanup EXIT

ulimit -n "$(ulimit -Hn)"
mkdir -p "$OUT"

# --- prerequisites -------------------------------------------------------------------------
if ! command -v prosody >/dev/null || ! command -v ejabberdctl >/dev/null; then
    log "installing prosody and ejabberd"
    # Keep the packages' postinst from starting their daemons (they would take 5222 and 1883).
    policy=/usr/sbin/policy-rc.d
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy"
        created_policy=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y prosody ejabberd || {
        apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y prosody ejabberd
    }
    if [[ -n ${created_policy:-} ]]; then rm -f "$policy"; fi
fi
# The packages may start their daemons; stop them by PID (their pid files).
for pidfile in /run/prosody/prosody.pid /run/ejabberd/ejabberd.pid; do
    if [[ -s $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
        log "stopping the packaged daemon $(cat "$pidfile") ($pidfile)"
        kill "$(cat "$pidfile")" || true
        sleep 3
    fi
done
# beam.smp of a packaged ejabberd is started through ejabberdctl and writes no pid file we own.
if pgrep -u ejabberd beam.smp >/dev/null; then
    echo "an ejabberd node of the packaged service is running (pid $(pgrep -u ejabberd beam.smp)); stop it first" >&2
    exit 1
fi

log "building Hestia (release)"
(cd "$ROOT" && cargo build --release -p hestia)

# A private CA and a certificate for "localhost" for Prosody and ejabberd (Hestia makes its own).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -subj "/CN=Bench CA" -keyout "$RUN/ca-key.pem" -out "$RUN/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
    -keyout "$RUN/server-key.pem" -out "$RUN/server.csr" 2>/dev/null
openssl x509 -req -in "$RUN/server.csr" -CA "$RUN/ca.pem" -CAkey "$RUN/ca-key.pem" \
    -CAcreateserial -days 30 -out "$RUN/server.pem" \
    -extfile <(printf 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n') 2>/dev/null

# --- servers ---------------------------------------------------------------------------------
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

wait_port() {
    for _ in $(seq 1 300); do
        if port_busy; then return 0; fi
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            echo "server exited during start-up" >&2
            return 1
        fi
        sleep 0.2
    done
    echo "server did not open port $PORT" >&2
    return 1
}

start_hestia() {
    local dir=$RUN/hestia
    mkdir -p "$dir"
    HESTIA_SERVER_DATA_DIR=$dir/data \
    HESTIA_SERVER_DOMAIN=localhost \
    HESTIA_TLS_REQUIRED=false \
    HESTIA_C2S_LISTEN=127.0.0.1:$PORT \
    HESTIA_C2S_DIRECT_TLS_LISTEN= \
    HESTIA_C2S_MAX_BYTES_PER_SECOND=0 \
    HESTIA_C2S_MAX_CONNECTIONS_PER_ADDRESS=0 \
    HESTIA_REGISTRATION_THROTTLE_MAX=1000000000 \
    HESTIA_REGISTRATION_THROTTLE_EXEMPT_LOOPBACK=true \
    HESTIA_HTTP_LISTEN=127.0.0.1:5280 \
    HESTIA_LOG_LEVEL=warn \
    HESTIA_OFFLINE_MAX_STANZAS=100000 \
    HESTIA_OFFLINE_DURABLE_DELIVERY=${DURABLE:-false} \
        taskset -c "$SERVER_CPU" "$HESTIA" serve >>"$dir/hestia.log" 2>&1 &
    SERVER_PID=$!
    CA_FILE=$dir/data/ca.pem
}

start_prosody() {
    local dir=$RUN/prosody
    mkdir -p "$dir/data"
    sed "s#@DIR@#$dir#g" "$ROOT/bench/prosody.cfg.lua" >"$dir/prosody.cfg.lua"
    cp "$RUN/server.pem" "$RUN/server-key.pem" "$dir/"
    chown -R prosody:prosody "$dir"
    # setpriv, not su/runuser: PAM would reset the open-files limit.
    taskset -c "$SERVER_CPU" setpriv --reuid=prosody --regid=prosody --init-groups \
        env HOME="$dir" prosody --config "$dir/prosody.cfg.lua" -F >>"$dir/stdout.log" 2>&1 &
    SERVER_PID=$!
    CA_FILE=$RUN/ca.pem
}

start_ejabberd() {
    local dir=$RUN/ejabberd
    mkdir -p "$dir/spool" "$dir/logs"
    sed "s#@DIR@#$dir#g" "$ROOT/bench/ejabberd.yml" >"$dir/ejabberd.yml"
    cp "$RUN/server.pem" "$RUN/server-key.pem" "$dir/"
    # The packaged ejabberdctl.cfg sets EJABBERD_CONFIG_PATH, overriding --config: use our own.
    {
        echo 'ERL_OPTIONS="-env ERL_CRASH_DUMP_BYTES 0"'
        echo "EJABBERD_PID_PATH=$dir/ejabberd.pid"
    } >"$dir/ejabberdctl.cfg"
    chown -R ejabberd:ejabberd "$dir"
    # Started as the ejabberd user directly: ejabberdctl's own `su` resets the open-files
    # limit to 1024 and the node dies at ~1,000 connections.
    taskset -c "$SERVER_CPU" setpriv --reuid=ejabberd --regid=ejabberd --init-groups \
        env HOME=/var/lib/ejabberd ejabberdctl --ctl-config "$dir/ejabberdctl.cfg" \
        --config "$dir/ejabberd.yml" \
        --spool "$dir/spool" --logs "$dir/logs" --node ejabberd-bench@localhost \
        foreground >>"$dir/stdout.log" 2>&1 &
    SERVER_PID=$!
    CA_FILE=$RUN/ca.pem
}

start_server() {
    if port_busy; then
        echo "port $PORT is already in use" >&2
        return 1
    fi
    "start_$1"
    wait_port
    # ejabberd opens the port before its modules finish starting; give every server a moment.
    sleep 3
}

# The server's process and its descendants (ejabberdctl runs beam.smp as a child).
descendants() {
    local p
    for p in $(pgrep -P "$1" || true); do
        echo "$p"
        descendants "$p"
    done
}

stop_server() {
    local pid=$SERVER_PID p alive
    SERVER_PID=
    local pids
    pids="$pid $(descendants "$pid")"
    # shellcheck disable=SC2086
    kill $pids 2>/dev/null || true
    for _ in $(seq 1 150); do
        alive=0
        for p in $pids; do kill -0 "$p" 2>/dev/null && alive=1; done
        if (( !alive )) && ! port_busy; then
            wait "$pid" 2>/dev/null || true
            return 0
        fi
        sleep 0.2
    done
    # Still there after 30 s: kill exactly what we started, by PID.
    # shellcheck disable=SC2086
    kill -9 $pids 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

restart_server() {
    stop_server
    start_server "$1"
}

# --- scenarios -----------------------------------------------------------------------------
# bench SERVER NAME SCENARIO ARGS…: runs one scenario pinned to GEN_CPU, saves its JSON.
bench() {
    local server=$1 name=$2
    shift 2
    log "$server: $name"
    if taskset -c "$GEN_CPU" "$HESTIA" bench "$@" --addr "127.0.0.1:$PORT" --domain localhost \
        --server-pid "$SERVER_PID" --json --label "$server" >"$OUT/$server-$name.json"; then
        :
    else
        echo "($server $name reported failures; see $OUT/$server-$name.json)" >&2
    fi
}

wants() { [[ " $SCENARIOS " == *" $1 "* ]]; }

# scenario SERVER NAME ARGS…: a scenario on a freshly restarted server.
scenario() {
    restart_server "$1"
    bench "$@"
}

run_server() {
    local server=$1
    # Enough accounts for the largest scenario that runs.
    local accounts=$((2 * PAIRS))
    (( 2 * OFFLINE_PAIRS > accounts )) && accounts=$((2 * OFFLINE_PAIRS))
    need() { (( $1 > accounts )) && accounts=$1; return 0; }
    wants login && need "$USERS_LOGIN"
    wants idle && need "$USERS_IDLE"
    wants idle-tls && need "$USERS_IDLE_TLS"
    wants presence && need $((PRESENCE_FIRST + PRESENCE_USERS * (1 + DEVICES_PER_USER)))
    { wants multicast || wants fanout; } &&
        need $((PRESENCE_FIRST + MULTICAST_USERS * (1 + MULTICAST_RECIPIENTS)))
    [[ $server == hestia ]] && wants max-connections && need "$MAX_CONNECTIONS"
    start_server "$server"
    bench "$server" register register --users "$accounts" --via inband --register-concurrency 20
    wants messages && scenario "$server" messages messages --pairs "$PAIRS" --in-flight "$IN_FLIGHT" \
        --duration "$DURATION" --warmup "$WARMUP"
    wants messages-light && scenario "$server" messages-light messages --pairs 10 --in-flight 1 \
        --duration "$DURATION" --warmup "$WARMUP"
    wants messages-sm && scenario "$server" messages-sm messages-sm --pairs "$PAIRS" \
        --in-flight "$IN_FLIGHT" --duration "$DURATION" --warmup "$WARMUP"
    if [[ $server == hestia ]] && wants messages-durable; then
        DURABLE=true scenario "$server" messages-durable messages-sm --pairs "$PAIRS" \
            --in-flight "$IN_FLIGHT" --duration "$DURATION" --warmup "$WARMUP"
    fi
    local fanout=(--users "$MULTICAST_USERS" --devices-per-user "$MULTICAST_RECIPIENTS"
        --first-user "$PRESENCE_FIRST" --duration "$DURATION" --warmup "$WARMUP" --drops 0)
    # Prosody ships no XEP-0033 module; ejabberd's mod_multicast is a service of its own.
    if [[ $server != prosody ]] && wants multicast; then
        local service=()
        [[ $server == ejabberd ]] && service=(--multicast-service multicast.localhost)
        scenario "$server" multicast presence --via multicast "${fanout[@]}" "${service[@]}"
    fi
    wants fanout && scenario "$server" fanout presence --via messages "${fanout[@]}"
    wants offline && scenario "$server" offline offline --pairs "$OFFLINE_PAIRS" \
        --messages "$OFFLINE_MESSAGES"
    if [[ $server == hestia ]] && wants offline-durable; then
        DURABLE=true scenario "$server" offline-durable offline --pairs "$OFFLINE_PAIRS" \
            --messages "$OFFLINE_MESSAGES"
    fi
    wants iq && scenario "$server" iq iq --pairs "$PAIRS" --in-flight "$IN_FLIGHT" \
        --duration "$DURATION" --warmup "$WARMUP"
    wants presence && scenario "$server" presence presence --users "$PRESENCE_USERS" \
        --devices-per-user "$DEVICES_PER_USER" --first-user "$PRESENCE_FIRST" \
        --duration "$DURATION" --warmup "$WARMUP"
    wants login && scenario "$server" login login --users "$USERS_LOGIN" --concurrency 50
    wants idle && scenario "$server" idle idle --users "$USERS_IDLE" --concurrency 50
    if [[ $server != ejabberd ]] && wants idle-tls; then
        scenario "$server" idle-tls idle --users "$USERS_IDLE_TLS" --concurrency 50 --tls --ca "$CA_FILE"
    fi
    if [[ $server == hestia ]] && (( MAX_CONNECTIONS > 0 )) && wants max-connections; then
        scenario "$server" max-connections idle --users "$MAX_CONNECTIONS" --concurrency 50
    fi
    stop_server
}

{
    echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
    echo "host: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/{print $2}') GiB"
    echo "kernel: $(uname -r)"
    echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "hestia: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?') (+ working tree)"
    echo "prosody: $(dpkg-query -W -f='${Version}' prosody)"
    echo "ejabberd: $(dpkg-query -W -f='${Version}' ejabberd)"
    echo "erlang: $(dpkg-query -W -f='${Version}' erlang-base 2>/dev/null || echo '?')"
    echo "lua: $(dpkg-query -W -f='${Version}' lua5.4 2>/dev/null || echo '?')"
    echo "open files limit: $(ulimit -n)"
} | tee "$OUT/environment.txt"

for server in $SERVERS; do
    run_server "$server"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/environment.txt"

python3 "$ROOT/bench/table.py" "$OUT" | tee "$OUT/table.md"
echo "results in $OUT" >&2
