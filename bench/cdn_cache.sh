#!/usr/bin/env bash
# Issue 15 (3, 7): 1,000 low-latency HLS viewers of one live stream straight from oxcast, then
# through Varnish and through nginx with proxy_cache_lock, each configured from examples/cdn/
# exactly as the test runs them. Per mode: origin requests (oxcast's /metrics) against the
# distinct objects the viewers asked for, the viewers' request rate and failures, how late a
# blocking reload or hinted part reached a viewer after a probe viewer got it from the origin
# (what the cache adds), part delivery after capture (PROGRAM-DATE-TIME), and CPU seconds of
# oxcast, the cache and the load process.
#
# The stream: a pre-encoded 720p30 clip with a 2 s keyframe interval (OBS's recommended
# setting), pushed with `ffmpeg -re -stream_loop -1 -c copy`, passthrough profile. The load
# generator (bench/load, `llhls-load`) runs pinned to CPU $LOAD_CPUS; oxcast, the caches and
# ffmpeg to CPU $SERVER_CPUS.
#
#   bench/cdn_cache.sh          # VIEWERS=1000 SECONDS_MEASURED=30 RAMP=15 MODES="direct varnish nginx"
set -euo pipefail
source "$(dirname "$0")/lib.sh"

VIEWERS="${VIEWERS:-1000}"
SECONDS_MEASURED="${SECONDS_MEASURED:-30}"
RAMP="${RAMP:-15}"
MODES="${MODES:-direct varnish nginx}"
LOAD_CPUS="${LOAD_CPUS:-0}"
SERVER_CPUS="${SERVER_CPUS:-1}"
LOAD_BIN="${LOAD_BIN:-$HOME/.cache/oxcast-target/release/llhls-load}"

bench_init cdn-cache
require_tools ffmpeg jq curl taskset varnishd nginx
[[ -x "$LOAD_BIN" ]] || die "llhls-load not found at $LOAD_BIN (cargo build --release -p oxcast-bench-load)"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

clip="$BENCH_TMP/clip-720p-gop2.mp4"
CLIP_GOP=60 make_clip "$clip" 1280x720 30 60 3000

# The direct run's viewers all come from 127.0.0.1, two connections each: lift the per-address cap.
OXCAST_DEFAULT_PROFILE=passthrough start_oxcast origin OXCAST_HTTP_CONNECTIONS_PER_ADDRESS=$((4 * VIEWERS + 100))
taskset -pac "$SERVER_CPUS" "$OX_PID" >/dev/null
bg_start publisher "$BENCH_TMP/publisher.log" taskset -c "$SERVER_CPUS" \
  ffmpeg -hide_banner -nostdin -loglevel warning -re -stream_loop -1 -i "$clip" -c copy -f flv "rtmp://$OX_RTMP/live/$OX_KEY"
wait_http "http://$OX_HTTP/live/main/video/index.m3u8" 30 'EXT-X-PART'
origin_port="${OX_HTTP##*:}"

# The caches, from the examples with the ports and the cache directory changed (as in tests/cdn_cache.rs).
varnish_port="$(free_port)"
sed "s/.port = \"8080\";/.port = \"$origin_port\";/" "$REPO_DIR/examples/cdn/varnish.vcl" >"$BENCH_TMP/oxcast.vcl"
bg_start varnish "$BENCH_TMP/varnishd.log" taskset -c "$SERVER_CPUS" varnishd -F -a "127.0.0.1:$varnish_port" \
  -f "$BENCH_TMP/oxcast.vcl" -n "$BENCH_TMP/varnish" -s malloc,512m -p feature=+http2 -j none
VARNISH_PID=$BG_PID
nginx_port="$(free_port)"
mkdir -p "$BENCH_TMP/nginx-cache/logs"
sed -e "s/server 127.0.0.1:8080;/server 127.0.0.1:$origin_port;/" -e "s/listen 8081;/listen 127.0.0.1:$nginx_port;/" \
  -e "s|/var/cache/nginx/oxcast|$BENCH_TMP/nginx-cache/store|" -e "s/worker_processes auto;/worker_processes 1;/" \
  "$REPO_DIR/examples/cdn/nginx.conf" >"$BENCH_TMP/nginx-cache/nginx.conf"
user_directive=""
[[ $(id -u) -eq 0 ]] && user_directive="user root;"
bg_start nginx-cache "$BENCH_TMP/nginx-cache.log" taskset -c "$SERVER_CPUS" nginx -p "$BENCH_TMP/nginx-cache" \
  -e "$BENCH_TMP/nginx-cache/logs/error.log" -c "$BENCH_TMP/nginx-cache/nginx.conf" -g "daemon off; pid $BENCH_TMP/nginx-cache/nginx.pid; $user_directive"
NGINX_PID=$BG_PID
wait_tcp "$varnish_port" 20
wait_tcp "$nginx_port" 20
sleep 5

origin_requests() {
  curl -fsS "http://$OX_HTTP/metrics" | awk '/^oxcast_http_requests_total\{/ { s += $2 } END { print s + 0 }'
}
results="[]"
for mode in $MODES; do
  case "$mode" in
    direct) base="http://$OX_HTTP" cache_pid="" ;;
    varnish) base="http://127.0.0.1:$varnish_port" cache_pid="$VARNISH_PID" ;;
    nginx) base="http://127.0.0.1:$nginx_port" cache_pid="$NGINX_PID" ;;
    *) die "unknown mode $mode" ;;
  esac
  log "$mode: $VIEWERS viewers through $base (ramp $RAMP s, measured $SECONDS_MEASURED s)"
  before="$(origin_requests)"
  ox0="$(proc_cpu_s "$OX_PID")"
  cache0="$([[ -n "$cache_pid" ]] && tree_cpu_s "$cache_pid" || echo 0)"
  t0="$(now_s)"
  /usr/bin/time -f '%e %U %S %M' -o "$BENCH_TMP/load-$mode.time" taskset -c "$LOAD_CPUS" "$LOAD_BIN" \
    --url "$base/live/main/video/index.m3u8" --probe "http://$OX_HTTP/live/main/video/index.m3u8" \
    --viewers "$VIEWERS" --ramp "$RAMP" --seconds "$SECONDS_MEASURED" >"$RUN_DIR/load-$mode.json" 2>"$BENCH_TMP/load-$mode.log" \
    || { cat "$BENCH_TMP/load-$mode.log" >&2; die "llhls-load failed ($mode)"; }
  t1="$(now_s)"
  after="$(origin_requests)"
  ox1="$(proc_cpu_s "$OX_PID")"
  cache1="$([[ -n "$cache_pid" ]] && tree_cpu_s "$cache_pid" || echo 0)"
  read -r _ load_user load_sys load_rss_kb <"$BENCH_TMP/load-$mode.time"
  results="$(jq --arg mode "$mode" --argjson before "$before" --argjson after "$after" \
    --argjson ox "$(awk -v a="$ox0" -v b="$ox1" 'BEGIN { print b - a }')" \
    --argjson cache "$(awk -v a="$cache0" -v b="$cache1" 'BEGIN { print b - a }')" \
    --argjson load "$(awk -v a="$load_user" -v b="$load_sys" 'BEGIN { print a + b }')" \
    --argjson wall "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" \
    --argjson rss "$load_rss_kb" --slurpfile s "$RUN_DIR/load-$mode.json" \
    '. + [{mode: $mode, summary: $s[0],
      origin_requests: ($after - $before - 2 - $s[0].probe_requests),
      distinct_objects: $s[0].distinct_whole_run,
      origin_requests_per_object: ((($after - $before - 2 - $s[0].probe_requests) / $s[0].distinct_whole_run * 100 | round) / 100),
      wall_s: $wall, oxcast_cpu_s: $ox, cache_cpu_s: $cache, load_cpu_s: $load, load_peak_rss_kb: $rss}]' <<<"$results")"
  jq -r --arg mode "$mode" '.[] | select(.mode == $mode) |
    "\(.mode): \(.origin_requests) origin requests for \(.distinct_objects) objects (\(.origin_requests_per_object) each); viewers \(.summary.requests_per_second) req/s, failures \(.summary.failures);
     after probe p50/p95/p99 \(.summary.after_probe_ms.p50)/\(.summary.after_probe_ms.p95)/\(.summary.after_probe_ms.p99) ms;
     part after capture p50/p99 \(.summary.part_after_capture_ms.p50)/\(.summary.part_after_capture_ms.p99) ms; cpu oxcast \(.oxcast_cpu_s) s cache \(.cache_cpu_s) s load \(.load_cpu_s) s"' <<<"$results" >&2
  sleep 3
done

jq -n --argjson machine "$(machine_json)" --argjson runs "$results" \
  --arg varnish "$(varnishd -V 2>&1 | head -1)" --arg viewers "$VIEWERS" --arg seconds "$SECONDS_MEASURED" --arg load_cpus "$LOAD_CPUS" --arg server_cpus "$SERVER_CPUS" \
  '{machine: $machine, varnish: $varnish, viewers: ($viewers | tonumber), seconds_measured: ($seconds | tonumber),
    load_cpus: $load_cpus, server_cpus: $server_cpus, runs: $runs}' >"$RUN_DIR/result.json"
log "result: $RUN_DIR/result.json"
