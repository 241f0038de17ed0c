#!/usr/bin/env bash
# Issue 5 (7): chat fan-out. CLIENTS websocket clients in one room, driven by a separate load
# process (bench/chat/load.mjs); RATE messages per second in for DURATION seconds, sent by
# SENDERS of the clients (a subset; every client also receives). Measured per server: deliveries
# per second, delivery latency p50/p99/max (send -> every receiver), lost deliveries, error
# frames, server VmRSS (idle, all connected, peak and average while sending) and CPU. First
# oxcast (/live/main/chat, guests), then a socket.io broadcast server (bench/chat/socketio-server.mjs)
# under the same load, in the same run; ratios oxcast/socket.io.
#
#   CLIENTS=10000 RATE=10 DURATION=30 bench/chat_fanout.sh
#
# Env (defaults): CLIENTS=10000 RATE=10 DURATION=30 PROCESSES (load processes; ceil(CLIENTS/5000))
# SENDERS (ceil(RATE*10/4)) BATCH=200 (connections opened at once) SETTLE=3 DRAIN=10
# TEXT_LEN=64 SIO_CLIENT=lib|raw ORDER=oxcast,socketio PIN=0 (1: server on CPU 0, load on CPU 1)
# VIEWER_IDS=0 (1: oxcast clients add ?viewer=<unique id>) OXCAST_BIN KEEP_TMP=1.
# Needs node 20 and `npm ci --prefix bench/chat`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

case "${1:-}" in
  -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
  "") ;;
  *) die "no arguments; parameters come from the environment (see --help)" ;;
esac

CLIENTS="${CLIENTS:-10000}"
RATE="${RATE:-10}"
DURATION="${DURATION:-30}"
PROCESSES="${PROCESSES:-$(((CLIENTS + 4999) / 5000))}"
SENDERS="${SENDERS:-}"
BATCH="${BATCH:-200}"
SETTLE="${SETTLE:-3}"
DRAIN="${DRAIN:-10}"
TEXT_LEN="${TEXT_LEN:-64}"
SIO_CLIENT="${SIO_CLIENT:-lib}"
ORDER="${ORDER:-oxcast,socketio}"
PIN="${PIN:-0}"
VIEWER_IDS="${VIEWER_IDS:-0}"
CHAT_DIR="$BENCH_DIR/chat"

for v in CLIENTS RATE DURATION PROCESSES BATCH SETTLE DRAIN TEXT_LEN; do
  [[ "${!v}" =~ ^[0-9]+$ && "${!v}" -gt 0 ]] || die "$v must be a positive integer (got '${!v}')"
done
[[ -z "$SENDERS" || "$SENDERS" =~ ^[1-9][0-9]*$ ]] || die "SENDERS must be a positive integer"
[[ "$SIO_CLIENT" == lib || "$SIO_CLIENT" == raw ]] || die "SIO_CLIENT must be lib or raw"
[[ "$ORDER" == oxcast,socketio || "$ORDER" == socketio,oxcast || "$ORDER" == oxcast || "$ORDER" == socketio ]] \
  || die "ORDER must be oxcast,socketio | socketio,oxcast | oxcast | socketio"

require_tools node jq curl python3
[[ -d "$CHAT_DIR/node_modules/ws" && -d "$CHAT_DIR/node_modules/socket.io" && -d "$CHAT_DIR/node_modules/socket.io-client" ]] \
  || die "bench/chat has no node_modules: run 'npm ci --prefix bench/chat' first"
if [[ "$PIN" == 1 ]]; then require_tools taskset; fi

# File descriptors: every process has its own limit (ulimit -n), the server needs one per
# client, each load process one per client it holds (plus node's own).
NOFILE="$(ulimit -n)"
PER_PROC=$(((CLIENTS + PROCESSES - 1) / PROCESSES))
if [[ "$NOFILE" != unlimited ]]; then
  ((CLIENTS + 200 <= NOFILE)) || die "the server needs ~$((CLIENTS + 200)) file descriptors, ulimit -n is $NOFILE"
  ((PER_PROC + 200 <= NOFILE)) || die "each load process would hold $PER_PROC clients, ulimit -n is $NOFILE: raise PROCESSES"
fi
read -r PORT_LO PORT_HI </proc/sys/net/ipv4/ip_local_port_range
((CLIENTS < PORT_HI - PORT_LO)) || die "CLIENTS=$CLIENTS exceeds the ephemeral port range ($PORT_LO-$PORT_HI)"
SOMAXCONN="$(cat /proc/sys/net/core/somaxconn)"

bench_init chat_fanout
MACHINE="$(machine_json)"
log "CLIENTS=$CLIENTS RATE=$RATE DURATION=$DURATION PROCESSES=$PROCESSES SENDERS=${SENDERS:-default} BATCH=$BATCH SIO_CLIENT=$SIO_CLIENT ORDER=$ORDER PIN=$PIN (ulimit -n $NOFILE, somaxconn $SOMAXCONN)"

# run_load NAME PROTOCOL URL SERVER_PID: runs load.mjs (tracked by bg_start, so Ctrl-C ends it),
# shows its progress, leaves $RUN_DIR/NAME-load.json.
run_load() {
  local name="$1" protocol="$2" url="$3" spid="$4" cmd=() rc=0
  if [[ "$PIN" == 1 ]]; then
    taskset -a -cp 0 "$spid" >/dev/null
    cmd+=(taskset -c 1)
  fi
  cmd+=(node "$CHAT_DIR/load.mjs" --protocol "$protocol" --url "$url" --clients "$CLIENTS" --rate "$RATE"
    --duration "$DURATION" --processes "$PROCESSES" --batch "$BATCH" --settle "$SETTLE" --drain "$DRAIN"
    --text-len "$TEXT_LEN" --server-pid "$spid" --label "$name" --out "$RUN_DIR/$name-load.json")
  if [[ -n "$SENDERS" ]]; then cmd+=(--senders "$SENDERS"); fi
  if [[ "$protocol" == socketio ]]; then cmd+=(--sio-client "$SIO_CLIENT"); fi
  if [[ "$protocol" == oxcast && "$VIEWER_IDS" == 1 ]]; then cmd+=(--viewer-ids); fi
  rm -f "$RUN_DIR/$name-load.json"
  bg_start "load-$name" "$BENCH_TMP/$name-load.log" "${cmd[@]}"
  local lpid=$BG_PID
  tail -n +1 -f --pid="$lpid" "$BENCH_TMP/$name-load.log" >&2 || true
  wait "$lpid" || rc=$?
  [[ "$rc" == 0 && -s "$RUN_DIR/$name-load.json" ]] || die "load against $name failed (rc $rc); see $BENCH_TMP/$name-load.log"
}

OX_WARN=null
run_oxcast() {
  start_oxcast oxcast
  run_load oxcast oxcast "ws://$OX_HTTP/live/main/chat" "$OX_PID"
  check_oxcast oxcast
  curl -fsS --max-time 5 "http://$OX_HTTP/metrics" >"$RUN_DIR/oxcast-metrics.txt" 2>/dev/null || true
  bg_stop "$OX_PID"
  OX_WARN="$(strip_ansi <"$BENCH_TMP/oxcast.stderr.log" | grep -cE ' (WARN|ERROR) ' || true)"
}

SIO_VERSION="$(node -p "require('$CHAT_DIR/node_modules/socket.io/package.json').version")"
run_socketio() {
  local port
  port="$(free_port)"
  bg_start socketio "$BENCH_TMP/socketio.stdout.log" node "$CHAT_DIR/socketio-server.mjs" --port "$port"
  local spid=$BG_PID
  wait_http "http://127.0.0.1:$port/healthz" 15
  run_load socketio socketio "http://127.0.0.1:$port" "$spid"
  kill -0 "$spid" 2>/dev/null || die "the socket.io server exited during the run; see $BENCH_TMP/socketio.stdout.log"
  bg_stop "$spid"
}

first=1
for s in ${ORDER//,/ }; do
  if ((!first)); then
    log "pause 5 s between servers"
    sleep 5
  fi
  first=0
  case "$s" in
    oxcast) run_oxcast ;;
    socketio) run_socketio ;;
  esac
done

# Assemble result.json (per-server reports without the raw RSS/CPU samples, which stay in
# NAME-load.json) and the ratios.
load_json() { if [[ -s "$RUN_DIR/$1-load.json" ]]; then cat "$RUN_DIR/$1-load.json"; else echo null; fi; }
jq -n --argjson machine "$MACHINE" --argjson ox "$(load_json oxcast)" --argjson sio "$(load_json socketio)" \
  --arg bin_info "$OXCAST_BIN_INFO" --arg node "$(node --version)" --arg sio_version "$SIO_VERSION" \
  --argjson oxwarn "$OX_WARN" \
  --argjson p "$(jq -n --argjson c "$CLIENTS" --argjson r "$RATE" --argjson d "$DURATION" --argjson k "$PROCESSES" \
    --arg s "$SENDERS" --argjson b "$BATCH" --argjson t "$TEXT_LEN" --arg sc "$SIO_CLIENT" --arg o "$ORDER" \
    --arg pin "$PIN" --arg somax "$SOMAXCONN" --arg nofile "$NOFILE" \
    '{clients: $c, rate_per_s: $r, duration_s: $d, load_processes: $k, senders: ($s | tonumber? // null),
      batch: $b, text_len: $t, socketio_client: $sc, order: $o, pinned: ($pin == "1"),
      somaxconn: ($somax | tonumber), ulimit_n: $nofile}')" '
  def strip: if . == null then null else del(.server.samples) end;
  def ratio(a; b): if (a == null or b == null or b == 0) then null else ((a / b) * 1000 | round) / 1000 end;
  {benchmark: "chat_fanout", machine: $machine, oxcast_binary: $bin_info, node: $node,
   socketio_version: $sio_version, params: $p,
   oxcast: ($ox | strip), socketio: ($sio | strip), oxcast_warn_error_lines: $oxwarn,
   ratios_oxcast_over_socketio: (if ($ox == null or $sio == null) then null else {
     delivered_per_s: ratio($ox.delivered_per_s; $sio.delivered_per_s),
     latency_p50: ratio($ox.latency_ms.p50; $sio.latency_ms.p50),
     latency_p99: ratio($ox.latency_ms.p99; $sio.latency_ms.p99),
     rss_connected: ratio($ox.server.rss_connected_bytes; $sio.server.rss_connected_bytes),
     rss_send_peak: ratio($ox.server.rss_send_peak_bytes; $sio.server.rss_send_peak_bytes),
     rss_send_avg: ratio($ox.server.rss_send_avg_bytes; $sio.server.rss_send_avg_bytes),
     server_cpu_cores: ratio($ox.server.cpu_cores_send; $sio.server.cpu_cores_send)} end)}' \
  >"$RUN_DIR/result.json"

jq -r '
  def mib: if . == null then "-" else ((. / 1048576 * 10 | round) / 10 | tostring) + " MiB" end;
  def v: if . == null then "-" else tostring end;
  def row(name; f): "  \(name | .[0:28] | . + (" " * (28 - length)))  \(.oxcast | if . == null then "-" else f end | v | .[0:18] | . + (" " * (18 - length)))  \(.socketio | if . == null then "-" else f end | v)";
  "chat fan-out: \(.params.clients) clients, \(.params.rate_per_s) msg/s for \(.params.duration_s) s, \(.params.load_processes) load process(es)",
  "  \("" | . + (" " * 28))  oxcast              socket.io",
  row("clients connected"; .clients_connected),
  row("connect time s"; .connect_s),
  row("messages sent / refused"; "\(.messages_sent) / \(.messages_refused_rate_limited)"),
  row("deliveries / expected"; "\(.deliveries) / \(.deliveries_expected)"),
  row("deliveries lost"; .deliveries_lost),
  row("delivered per s"; .delivered_per_s),
  row("latency p50 ms"; .latency_ms.p50),
  row("latency p99 ms"; .latency_ms.p99),
  row("latency max ms"; .latency_ms.max),
  row("1st delivery/msg p50 ms"; .first_delivery_ms.p50),
  row("last delivery/msg p50|p99 ms"; "\(.last_delivery_ms.p50) | \(.last_delivery_ms.p99)"),
  row("error frames"; .error_frames | tojson),
  row("lagged frames"; .lagged_frames),
  row("server RSS idle"; .server.rss_idle_bytes | mib),
  row("server RSS connected"; .server.rss_connected_bytes | mib),
  row("server RSS send peak"; .server.rss_send_peak_bytes | mib),
  row("server RSS send avg"; .server.rss_send_avg_bytes | mib),
  row("server CPU cores (send)"; .server.cpu_cores_send),
  row("load CPU cores (send)"; .load.cpu_cores_total),
  row("load loop lag p99 ms (max)"; [.load.workers[].event_loop_lag_ms.p99] | max),
  row("load CPU us per delivery"; .load.cpu_us_per_delivery),
  row("load ms per broadcast/proc"; .load.broadcast_handling_ms_per_process),
  row("load saturated"; .load.saturated),
  row("machine CPU busy % (send)"; .machine_cpu_busy_pct_send),
  (if .ratios_oxcast_over_socketio == null then empty else
    "ratios oxcast / socket.io: delivered/s \(.ratios_oxcast_over_socketio.delivered_per_s | v), p50 \(.ratios_oxcast_over_socketio.latency_p50 | v), p99 \(.ratios_oxcast_over_socketio.latency_p99 | v), RSS peak \(.ratios_oxcast_over_socketio.rss_send_peak | v), RSS connected \(.ratios_oxcast_over_socketio.rss_connected | v), server CPU \(.ratios_oxcast_over_socketio.server_cpu_cores | v)" end)
' "$RUN_DIR/result.json"
for s in oxcast socketio; do
  if [[ "$(jq -r --arg s "$s" '.[$s].load.saturated // false' "$RUN_DIR/result.json")" == true ]]; then
    log "WARNING: the load generator was saturated during the $s run (event loop); its latencies include load-side queueing. Try PROCESSES=$((PROCESSES + 1))."
  fi
done
log "wrote $RUN_DIR/result.json"
