#!/usr/bin/env bash
# Issue 12 (4, 7): how many low-latency HLS viewers one oxcast holds, over HTTP/2 (h2c), with the
# server and the load generator pinned to separate cores.
#
# The stream: a pre-encoded 720p30 clip with a 2 s keyframe interval (OBS's recommended setting),
# pushed with `ffmpeg -re -stream_loop -1 -c copy`, on a three-level profile: the source passed
# through plus two small encoded rungs (360p and 180p, x264 ultrafast), so viewers spread over
# three video levels and one audio rendition. What the ladder costs is measured on its own first
# (the same stream with no viewers) and subtracted.
#
# The viewers: `llhls-load` (bench/load), its own process. Each plays like hls.js in low-latency
# mode: blocking reloads of its level and of the audio rendition, the hinted part asked for ahead,
# missed parts fetched, one connection per viewer (h2c multiplexes the requests), a level switch
# every SWITCH_EVERY s made from the rendition report. Viewers start on the three levels in turn.
#
# Per step of STEPS viewers: request rate, failures, part delivery after capture
# (PROGRAM-DATE-TIME) against a lone viewer's in the same run (the step "holds" when its p99 is
# within 100 ms of the lone viewer's and under 0.1% of requests failed), oxcast CPU and RSS during
# the measurement (per 1,000 viewers, the ladder's share taken off), the load process's CPU.
# Then nginx serves the same objects from disk as static files at the top step's request rate
# and mix (h2load over h2c), on the same core: its CPU per request is the ceiling for serving
# bytes without blocking.
#
#   bench/viewers.sh    # STEPS="1000 2500 5000 7500 10000" SECONDS_MEASURED=30 SWITCH_EVERY=20 HTTP2=1
set -euo pipefail
source "$(dirname "$0")/lib.sh"

STEPS="${STEPS:-1000 2500 5000 7500 10000}"
SECONDS_MEASURED="${SECONDS_MEASURED:-30}"
RAMP_PER_1000="${RAMP_PER_1000:-4}"
SWITCH_EVERY="${SWITCH_EVERY:-20}"
HTTP2="${HTTP2:-1}"
LOAD_CPUS="${LOAD_CPUS:-0}"
SERVER_CPUS="${SERVER_CPUS:-1}"
LOAD_THREADS="${LOAD_THREADS:-1}"
LOAD_BIN="${LOAD_BIN:-$HOME/.cache/oxcast-target/release/llhls-load}"

bench_init viewers
require_tools ffmpeg jq curl taskset h2load nginx
[[ -x "$LOAD_BIN" ]] || die "llhls-load not found at $LOAD_BIN (cargo build --release -p oxcast-bench-load)"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
max_steps=0
for n in $STEPS; do ((n > max_steps)) && max_steps=$n; done

clip="$BENCH_TMP/clip-720p-gop2.mp4"
CLIP_GOP=60 make_clip "$clip" 1280x720 30 60 3000

cat >"$BENCH_TMP/oxcast.toml" <<'EOF'
[profiles.three]
preset = "ultrafast"
rungs = [
  { name = "360p", height = 360, video_bitrate_kbps = 700 },
  { name = "180p", height = 180, video_bitrate_kbps = 250 },
]
EOF
# Every viewer comes from 127.0.0.1: lift the per-address cap.
start_oxcast origin OXCAST_CONFIG="$BENCH_TMP/oxcast.toml" OXCAST_DEFAULT_PROFILE=three \
  OXCAST_HTTP_CONNECTIONS_PER_ADDRESS=$((2 * max_steps + 100))
taskset -pac "$SERVER_CPUS" "$OX_PID" >/dev/null
bg_start publisher "$BENCH_TMP/publisher.log" taskset -c "$SERVER_CPUS" \
  ffmpeg -hide_banner -nostdin -loglevel warning -re -stream_loop -1 -i "$clip" -c copy -f flv "rtmp://$OX_RTMP/live/$OX_KEY"
master="http://$OX_HTTP/live/main/index.m3u8"
# The multivariant playlist answers once every rendition has a part.
wait_http "$master" 40 '180p/index.m3u8'
[[ "$(curl -fsS --http2-prior-knowledge -o /dev/null -w '%{http_version}' "$master")" == 2 ]] \
  || die "oxcast does not answer h2c with prior knowledge"
levels="$(curl -fsS "$master" | grep -vc '^#' || true)"
log "master playlist: $levels variants"
sleep 10

# CPU seconds per second and RSS of oxcast over WINDOW seconds, as "cpu_per_s rss_bytes".
sample_oxcast() {
  local window="$1" c0 c1 t0 t1
  c0="$(proc_cpu_s "$OX_PID")" t0="$(now_s)"
  sleep "$window"
  c1="$(proc_cpu_s "$OX_PID")" t1="$(now_s)"
  echo "$(awk -v a="$c0" -v b="$c1" -v s="$t0" -v e="$t1" 'BEGIN { printf "%.4f", (b - a) / (e - s) }') $(vmrss_bytes "$OX_PID")"
}

log "no viewers: what the ladder (and ingest) costs, 20 s"
read -r idle_cpu idle_rss < <(sample_oxcast 20)
log "idle: $idle_cpu CPU s/s, RSS $idle_rss"

http2_flag=()
[[ "$HTTP2" == 1 ]] && http2_flag=(--http2)

# run_load NAME VIEWERS RAMP MEASURE EXTRA...: one llhls-load process; samples oxcast during the
# measurement window (after the ramp); sets LOAD_JSON, STEP_CPU, STEP_RSS, LOAD_CPU, LOAD_RSS_KB.
run_load() {
  local name="$1" viewers="$2" ramp="$3" measure="$4" pid
  shift 4
  /usr/bin/time -f '%e %U %S %M' -o "$BENCH_TMP/load-$name.time" taskset -c "$LOAD_CPUS" "$LOAD_BIN" \
    --url "$master" --viewers "$viewers" --ramp "$ramp" --seconds "$measure" --threads "$LOAD_THREADS" "$@" \
    >"$RUN_DIR/load-$name.json" 2>"$BENCH_TMP/load-$name.log" &
  pid=$!
  sleep "$((ramp + 2))"
  read -r STEP_CPU STEP_RSS < <(sample_oxcast "$((measure - 4))")
  wait "$pid" || { cat "$BENCH_TMP/load-$name.log" >&2; die "llhls-load failed ($name)"; }
  local _wall user sys
  read -r _wall user sys LOAD_RSS_KB <"$BENCH_TMP/load-$name.time"
  LOAD_CPU="$(awk -v a="$user" -v b="$sys" 'BEGIN { print a + b }')"
  LOAD_JSON="$RUN_DIR/load-$name.json"
  check_oxcast origin
}

log "one viewer alone: the delivery a part gets with no load, 20 s"
run_load alone 1 0 20 --audio "${http2_flag[@]}"
alone_p99="$(jq '.part_after_capture_ms.p99' "$LOAD_JSON")"
alone_p50="$(jq '.part_after_capture_ms.p50' "$LOAD_JSON")"
log "alone: part after capture p50 $alone_p50 ms, p99 $alone_p99 ms"

results="[]"
top_json=""
for n in $STEPS; do
  ramp=$(((n * RAMP_PER_1000 + 999) / 1000))
  log "$n viewers (ramp $ramp s, measured $SECONDS_MEASURED s)"
  run_load "$n" "$n" "$ramp" "$SECONDS_MEASURED" --spread --audio --switch-every "$SWITCH_EVERY" "${http2_flag[@]}" \
    --probe "$master"
  results="$(jq --argjson n "$n" --slurpfile s "$LOAD_JSON" --argjson cpu "$STEP_CPU" --argjson rss "$STEP_RSS" \
    --argjson idle_cpu "$idle_cpu" --argjson idle_rss "$idle_rss" --argjson alone "$alone_p99" \
    --argjson load_cpu "$LOAD_CPU" --argjson load_rss "$LOAD_RSS_KB" --argjson measured "$SECONDS_MEASURED" '
    ($s[0]) as $sum | ([$sum.failures[]] | add // 0) as $failed |
    . + [{viewers: $n, summary: $sum,
      failed_share: ($failed / ([$sum.requests, 1] | max)),
      part_after_capture_p99_over_alone_ms: ($sum.part_after_capture_ms.p99 - $alone),
      held: (($failed <= $sum.requests / 1000) and ($sum.part_after_capture_ms.p99 - $alone <= 100)),
      oxcast_cpu_per_s: $cpu, oxcast_rss_bytes: $rss,
      delivery_cpu_per_s: ($cpu - $idle_cpu),
      delivery_cpu_per_s_per_1000_viewers: ((($cpu - $idle_cpu) / $n * 1000 * 1000 | round) / 1000),
      rss_per_1000_viewers_mib: ((($rss - $idle_rss) / $n * 1000 / 1048576 * 10 | round) / 10),
      requests_per_cpu_s: (if $cpu - $idle_cpu > 0 then ($sum.requests_per_second / ($cpu - $idle_cpu) | round) else null end),
      load_cpu_per_s: (($load_cpu / ($measured + 1) * 100 | round) / 100), load_peak_rss_kb: $load_rss}]' <<<"$results")"
  jq -r --argjson n "$n" '.[] | select(.viewers == $n) |
    "\(.viewers) viewers: \(.summary.requests_per_second) req/s, failed \(.summary.failures), retried \(.summary.retried);
     part after capture p50/p99 \(.summary.part_after_capture_ms.p50)/\(.summary.part_after_capture_ms.p99) ms (\(.part_after_capture_p99_over_alone_ms) over alone), after probe p99 \(.summary.after_probe_ms.p99) ms; held: \(.held)
     oxcast \(.oxcast_cpu_per_s) CPU s/s (delivery \(.delivery_cpu_per_s_per_1000_viewers) per 1,000 viewers), RSS \(.oxcast_rss_bytes / 1048576 | floor) MiB (\(.rss_per_1000_viewers_mib) MiB per 1,000); load \(.load_cpu_per_s) CPU s/s"' \
    <<<"$results" >&2
  top_json="$LOAD_JSON"
  top_n="$n"
  # Two steps in a row that do not hold: the ceiling is behind us.
  if [[ "$(jq '[.[-2:][] | .held] | (length == 2 and all(. == false))' <<<"$results")" == true ]]; then
    log "two steps in a row did not hold: stopping"
    break
  fi
  sleep 5
done

# nginx: the same objects as static files, at the top step's request rate and mix.
static="$BENCH_TMP/static"
uris="$BENCH_TMP/uris.txt"
nginx_port="$(free_port)"
: >"$uris"
renditions="$(curl -fsS "$master" | grep -oE '(^[a-z0-9_-]+|URI="[a-z0-9_-]+)/index.m3u8' | sed 's/^URI="//' | sort -u)"
for r in $renditions; do
  dir="${r%/index.m3u8}"
  mkdir -p "$static/live/main/$dir"
  curl -fsS "http://$OX_HTTP/live/main/$r" -o "$static/live/main/$r"
  for obj in $(grep -oE '(URI="[^"?]+|^[^#][^?]*\.m4s)' "$static/live/main/$r" | sed 's/^URI="//' | grep -v '^\.\.' | sort -u); do
    curl -fsS "http://$OX_HTTP/live/main/$dir/$obj" -o "$static/live/main/$dir/$obj" || true
  done
done
# One playlist request per PLAYLISTS_PER_PART parts, as the top step asked, over every rendition's
# parts (the newest ones, as viewers at the edge ask for).
playlists="$(jq '[.by_kind.blocking_playlist, .by_kind.switch_playlist, .by_kind.playlist] | map(. // 0) | add' "$top_json")"
parts="$(jq '[.by_kind.hinted_part, .by_kind.part] | map(. // 0) | add' "$top_json")"
rate="$(jq '.requests_per_second' "$top_json")"
for r in $renditions; do
  dir="${r%/index.m3u8}"
  ls "$static/live/main/$dir" | grep -E '^part-.*\.m4s$' | sort -V | tail -10 \
    | awk -v d="http://127.0.0.1:$nginx_port/live/main/$dir" -v pl="$playlists" -v pa="$parts" '
        { print d "/" $0; acc += pl / pa; while (acc >= 1) { print d "/index.m3u8"; acc-- } }' >>"$uris"
done
ratio_file="$(awk '/index.m3u8/ { p++ } !/index.m3u8/ { q++ } END { printf "%d playlists, %d parts", p, q }' "$uris")"
mkdir -p "$BENCH_TMP/static-nginx/logs"
user_directive=""
[[ $(id -u) -eq 0 ]] && user_directive="user root;"
cat >"$BENCH_TMP/static-nginx/nginx.conf" <<EOF
$user_directive
worker_processes 1;
pid $BENCH_TMP/static-nginx/nginx.pid;
error_log $BENCH_TMP/static-nginx/logs/error.log warn;
worker_rlimit_nofile 65536;
events { worker_connections 20000; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  open_file_cache max=1000 inactive=60s;
  keepalive_requests 1000000;
  http2_max_requests 1000000;
  types { application/vnd.apple.mpegurl m3u8; video/mp4 m4s mp4; }
  server {
    listen 127.0.0.1:$nginx_port http2;
    root $static;
  }
}
EOF
bg_start static-nginx "$BENCH_TMP/static-nginx.log" taskset -c "$SERVER_CPUS" nginx -p "$BENCH_TMP/static-nginx" \
  -e "$BENCH_TMP/static-nginx/logs/error.log" -c "$BENCH_TMP/static-nginx/nginx.conf" -g "daemon off;"
NGINX_PID=$BG_PID
wait_tcp "$nginx_port" 10
clients=$((top_n < 1000 ? top_n : 1000))
rps_per_client="$(awk -v r="$rate" -v c="$clients" 'BEGIN { v = r / c; printf "%d", (v < 1 ? 1 : v + 0.5) }')"
log "nginx static: $clients h2c clients x $rps_per_client req/s ($ratio_file in the mix), $SECONDS_MEASURED s"
ng0="$(tree_cpu_s "$NGINX_PID")"
taskset -c "$LOAD_CPUS" h2load -c "$clients" -m 4 --rps "$rps_per_client" -D "$SECONDS_MEASURED" \
  -i "$uris" >"$RUN_DIR/h2load.txt" 2>&1 || { cat "$RUN_DIR/h2load.txt" >&2; die "h2load failed"; }
ng1="$(tree_cpu_s "$NGINX_PID")"
h2_rate="$(awk '/^finished in/ { gsub(",", ""); print $4 }' "$RUN_DIR/h2load.txt")"
h2_ok="$(awk '/^status codes:/ { gsub(",", ""); print $3 }' "$RUN_DIR/h2load.txt")"
h2_failed="$(awk '/^requests:/ { gsub(",", ""); print $10 }' "$RUN_DIR/h2load.txt")"
nginx_cpu="$(awk -v a="$ng0" -v b="$ng1" -v s="$SECONDS_MEASURED" 'BEGIN { printf "%.4f", (b - a) / s }')"
log "nginx static: $h2_rate req/s, 2xx $h2_ok, failed $h2_failed, CPU $nginx_cpu s/s"

jq -n --argjson machine "$(machine_json)" --argjson steps "$results" --arg load_cpus "$LOAD_CPUS" \
  --arg server_cpus "$SERVER_CPUS" --argjson idle_cpu "$idle_cpu" --argjson idle_rss "$idle_rss" \
  --argjson alone_p50 "$alone_p50" --argjson alone_p99 "$alone_p99" --argjson seconds "$SECONDS_MEASURED" \
  --argjson switch "$SWITCH_EVERY" --argjson http2 "$HTTP2" --argjson levels "$levels" \
  --arg h2_rate "$h2_rate" --arg h2_ok "$h2_ok" --arg h2_failed "$h2_failed" --argjson nginx_cpu "$nginx_cpu" \
  --argjson target_rate "$rate" --arg mix "$ratio_file" '
  ($steps | map(select(.held)) | max_by(.viewers) // null) as $best |
  {machine: $machine, load_cpus: $load_cpus, server_cpus: $server_cpus, seconds_measured: $seconds,
   http2: ($http2 == 1), levels: $levels, switch_every_s: $switch,
   idle: {oxcast_cpu_per_s: $idle_cpu, oxcast_rss_bytes: $idle_rss},
   alone: {part_after_capture_p50_ms: $alone_p50, part_after_capture_p99_ms: $alone_p99},
   steps: $steps, most_viewers_held: ($best.viewers // 0),
   nginx_static: {target_requests_per_second: $target_rate, requests_per_second: ($h2_rate | tonumber? // null),
     ok: ($h2_ok | tonumber? // null), failed: ($h2_failed | tonumber? // null), mix: $mix,
     cpu_per_s: $nginx_cpu,
     requests_per_cpu_s: (if $nginx_cpu > 0 then (($h2_rate | tonumber? // 0) / $nginx_cpu | round) else null end)}}' \
  >"$RUN_DIR/result.json"
log "result: $RUN_DIR/result.json"
