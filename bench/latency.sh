#!/usr/bin/env bash
# Live latency as hls.js sees it (Date.now() - hls.playingDate), oxcast LL-HLS vs nginx-rtmp
# classic HLS, both fed by ONE ffmpeg process (tee muxer) in the same run.
#
#   bench/latency.sh [--seconds 60] [--mode sequential|concurrent] [--warmup 15]
#
#   --seconds  probe duration per player (default 60)
#   --mode     sequential (default): oxcast probe, then nginx probe, same publisher, same servers;
#              concurrent: both headless Chromiums at once (fairer in time, but two software
#              H.264 decoders on a 2-core box compete with the encoder and the servers)
#   --warmup   seconds to let both servers fill their playlists before the first probe (default 15)
#   --order    oxcast,nginx (default) or nginx,oxcast (sequential mode)
#   --nice N   niceness of the browser probes (default 10): the viewer would be on another
#              machine, so the publisher and the servers get the CPU first when Chromium starts
#              (its start-up burst otherwise stalls ffmpeg on a 2-core box, and neither player
#              ever catches up on such a stall); 0 to disable
#   --trace    afterwards, record a 500 ms time series (latency, hls.latency, buffer, playback
#              rate) of each player with bench/trace.mjs, one after the other (diagnostic only)
#
# Env: OXCAST_BIN, OXCAST_SEGMENT_DURATION_MS / OXCAST_PART_DURATION_MS (passed to oxcast when
# set), KEEP_TMP=1. Writes bench/results/latency-<UTC>/result.json plus logs, prints a table.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PROBE_SECONDS=60
MODE=sequential
WARMUP=15
ORDER=oxcast,nginx
TRACE=0
PROBE_NICE=10
while (($#)); do
  case "$1" in
    --seconds) PROBE_SECONDS="$2"; shift 2 ;;
    --mode) MODE="$2"; shift 2 ;;
    --warmup) WARMUP="$2"; shift 2 ;;
    --order) ORDER="$2"; shift 2 ;;
    --trace) TRACE=1; shift ;;
    --nice) PROBE_NICE="$2"; shift 2 ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) die "unknown argument $1" ;;
  esac
done
[[ "$MODE" == sequential || "$MODE" == concurrent ]] || die "--mode must be sequential or concurrent"
[[ "$ORDER" == oxcast,nginx || "$ORDER" == nginx,oxcast ]] || die "--order must be oxcast,nginx or nginx,oxcast"

require_tools ffmpeg node jq curl python3 "$NGINX_BIN"
[[ -f "$HLSJS" ]] || die "hls.js not found at $HLSJS (npm ci --prefix api/web)"
[[ -x "$CHROMIUM" ]] || die "chromium not found at $CHROMIUM"
bench_init latency
MACHINE="$(machine_json)"

# ---------------------------------------------------------------- servers
start_oxcast oxcast
NGINX_PORT="$(free_port)"
start_nginx "$NGINX_PORT"

OX_MEDIA_PLAYLIST="http://$OX_HTTP/live/main/video/index.m3u8"
bg_start pdt-proxy "$BENCH_TMP/pdt-proxy.log" \
  node "$BENCH_DIR/pdt-proxy.mjs" --port 0 --hls-dir "$NGINX_HLS_DIR" --stream bench \
  --anchor-playlist "$OX_MEDIA_PLAYLIST" --max-seconds $((WARMUP + 4 * PROBE_SECONDS + 900))
PROXY_PID=$BG_PID
deadline=$((SECONDS + 10))
PROXY=""
while ((SECONDS < deadline)) && [[ -z "$PROXY" ]]; do
  PROXY="$(grep -o 'http://127.0.0.1:[0-9]*' "$BENCH_TMP/pdt-proxy.log" | head -1 || true)"
  kill -0 "$PROXY_PID" 2>/dev/null || die "pdt-proxy exited: $(cat "$BENCH_TMP/pdt-proxy.log")"
  sleep 0.1
done
[[ -n "$PROXY" ]] || die "pdt-proxy did not start"
log "pdt-proxy $PROXY"

# ---------------------------------------------------------------- publisher
if [[ "$MODE" == sequential ]]; then PUSH_SECONDS=$((WARMUP + 2 * (PROBE_SECONDS + 45) + 30)); else PUSH_SECONDS=$((WARMUP + PROBE_SECONDS + 90)); fi
if ((TRACE)); then PUSH_SECONDS=$((PUSH_SECONDS + 2 * (PROBE_SECONDS + 45))); fi
# -flags +global_header: the tee muxer does not ask the encoders for global headers on its
# own, and FLV needs the H.264/AAC configuration up front.
ffmpeg_cmd "$PUSH_SECONDS" 1 -flags +global_header -f tee -map 0:v -map 1:a \
  "[f=flv:onfail=ignore]rtmp://$OX_RTMP/live/$OX_KEY|[f=flv:onfail=ignore]rtmp://127.0.0.1:$NGINX_PORT/live/bench"
FFMPEG_PRINTABLE="$(printf '%q ' "${FFMPEG_CMD[@]}" | sed "s/$OX_KEY/\$KEY/g")"
bg_start ffmpeg "$BENCH_TMP/ffmpeg.log" timeout $((PUSH_SECONDS + 30)) "${FFMPEG_CMD[@]}"
FFMPEG_PID=$BG_PID
PUSH_START_MS=$(date +%s%3N)

wait_http "http://$OX_HTTP/live/main/index.m3u8" 30 '#EXT-X-STREAM-INF'
wait_http "$PROXY/status" 30 '"ready":true'
wait_http "$PROXY/hls/bench.m3u8" 30 '#EXTINF'
log "both servers are serving; warming up ${WARMUP}s"
sleep "$WARMUP"
kill -0 "$FFMPEG_PID" 2>/dev/null || die "ffmpeg exited early: $(tail -5 "$BENCH_TMP/ffmpeg.log")"

# ---------------------------------------------------------------- probes
OX_URL="http://$OX_HTTP/watch/main"
NGINX_URL="$PROXY/watch"
probe() { # probe NAME URL -> $BENCH_TMP/probe-NAME.json
  local name="$1" url="$2" rc=0
  (cd "$REPO_DIR" && timeout $((PROBE_SECONDS + 120)) nice -n "$PROBE_NICE" node tests/browser/play.mjs --url "$url" --seconds "$PROBE_SECONDS" \
    --chromium "$CHROMIUM") >"$BENCH_TMP/probe-$name.json" 2>"$BENCH_TMP/probe-$name.stderr.log" || rc=$?
  log "probe $name finished (exit $rc)"
  if ! jq -e . "$BENCH_TMP/probe-$name.json" >/dev/null 2>&1; then
    echo '{"ok":false,"reason":"probe printed no JSON"}' >"$BENCH_TMP/probe-$name.json"
  fi
}
CPU0="$(cpu_jiffies)"
OXCPU0="$(proc_cpu_s "$OX_PID")"; NGCPU0="$(proc_cpu_s "$NGINX_PID")"; FFCPU0="$(proc_cpu_s "$(pgrep -P "$FFMPEG_PID" ffmpeg || echo "$FFMPEG_PID")")"
T0=$SECONDS
if [[ "$MODE" == concurrent ]]; then
  log "probing both players concurrently for ${PROBE_SECONDS}s"
  probe oxcast "$OX_URL" & P1=$!
  probe nginx "$NGINX_URL" & P2=$!
  BENCH_PIDS+=("probe-oxcast:$P1" "probe-nginx:$P2")
  wait "$P1" || true
  wait "$P2" || true
else
  for who in ${ORDER//,/ }; do
    if [[ "$who" == oxcast ]]; then url="$OX_URL"; else url="$NGINX_URL"; fi
    log "probing $who for ${PROBE_SECONDS}s ($url)"
    probe "$who" "$url"
  done
fi
ELAPSED=$((SECONDS - T0))
CPU1="$(cpu_jiffies)"
FFPID_REAL="$(pgrep -P "$FFMPEG_PID" ffmpeg || echo "$FFMPEG_PID")"
OXCPU1="$(proc_cpu_s "$OX_PID")"; NGCPU1="$(proc_cpu_s "$NGINX_PID")"; FFCPU1="$(proc_cpu_s "$FFPID_REAL")"
kill -0 "$FFMPEG_PID" 2>/dev/null || log "WARNING: ffmpeg ended before the probes finished"
check_oxcast oxcast
TRACES='{}'
if ((TRACE)); then
  for who in ${ORDER//,/ }; do
    if [[ "$who" == oxcast ]]; then url="$OX_URL"; else url="$NGINX_URL"; fi
    log "tracing $who for ${PROBE_SECONDS}s (diagnostic)"
    timeout $((PROBE_SECONDS + 120)) nice -n "$PROBE_NICE" node "$BENCH_DIR/trace.mjs" --url "$url" --seconds "$PROBE_SECONDS" --chromium "$CHROMIUM" \
      >"$BENCH_TMP/trace-$who.json" 2>"$BENCH_TMP/trace-$who.stderr.log" || log "trace $who failed"
    jq -e . "$BENCH_TMP/trace-$who.json" >/dev/null 2>&1 || echo '{"ok":false}' >"$BENCH_TMP/trace-$who.json"
    TRACES="$(jq -c --arg who "$who" --slurpfile t "$BENCH_TMP/trace-$who.json" '. + {($who): {summary: $t[0].summary, errors: $t[0].errors}}' <<<"$TRACES")"
  done
fi

# ---------------------------------------------------------------- collect
curl -fsS --max-time 5 "$PROXY/status" >"$BENCH_TMP/pdt-status.json" || echo '{}' >"$BENCH_TMP/pdt-status.json"
curl -fsS --max-time 5 "http://$OX_HTTP/metrics" >"$BENCH_TMP/metrics.txt" || : >"$BENCH_TMP/metrics.txt"
curl -fsS --max-time 5 "$OX_MEDIA_PLAYLIST" >"$BENCH_TMP/oxcast-playlist.m3u8" || true
cp "$BENCH_TMP/pdt-status.json" "$BENCH_TMP/metrics.txt" "$BENCH_TMP/oxcast-playlist.m3u8" \
  "$BENCH_TMP"/probe-*.json "$BENCH_TMP"/trace-*.json "$RUN_DIR"/ 2>/dev/null || true
SPEED="$(ffmpeg_speed "$BENCH_TMP/ffmpeg.log" || true)"
pct() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { if (a == "null" || b == "null" || t <= 0) print "null"; else printf "%.1f", 100 * (b - a) / t }'; }

jq -n \
  --argjson machine "$MACHINE" \
  --argjson ox "$(cat "$BENCH_TMP/probe-oxcast.json")" \
  --argjson ng "$(cat "$BENCH_TMP/probe-nginx.json")" \
  --argjson status "$(cat "$BENCH_TMP/pdt-status.json")" --argjson traces "$TRACES" \
  --arg mode "$MODE" --arg order "$ORDER" --argjson nice "$PROBE_NICE" --argjson secs "$PROBE_SECONDS" --argjson warmup "$WARMUP" \
  --arg ffmpeg "$FFMPEG_PRINTABLE" --arg speed "${SPEED:-}" \
  --arg busy "$(cpu_busy_pct "$CPU0" "$CPU1")" \
  --arg oxcpu "$(pct "$OXCPU0" "$OXCPU1" "$ELAPSED")" --arg ngcpu "$(pct "$NGCPU0" "$NGCPU1" "$ELAPSED")" \
  --arg ffcpu "$(pct "$FFCPU0" "$FFCPU1" "$ELAPSED")" \
  --arg load "$(cut -d' ' -f1-3 /proc/loadavg)" \
  --arg seg "${OXCAST_SEGMENT_DURATION_MS:-default}" --arg part "${OXCAST_PART_DURATION_MS:-default}" \
  --arg p50 "$(metric "$BENCH_TMP/metrics.txt" 'oxcast_part_ready_seconds{stream="main",quantile="0.5"}')" \
  --arg p99 "$(metric "$BENCH_TMP/metrics.txt" 'oxcast_part_ready_seconds{stream="main",quantile="0.99"}')" \
  --arg oxerr "$(strip_ansi <"$BENCH_TMP/oxcast.stderr.log" | grep -c -E '^[^ ]+ +(ERROR|WARN) ' || true)" \
  --arg ngerr "$(grep -c -E '\[(error|crit|alert|emerg)\]' "$BENCH_TMP/nginx/logs/error.log" || true)" \
  --arg oxpl "$(cat "$BENCH_TMP/oxcast-playlist.m3u8" 2>/dev/null || true)" \
  '
  def ratio(a; b): if (a|type) == "number" and (b|type) == "number" and b > 0 then ((a / b) * 100 | round) / 100 else null end;
  {
    benchmark: "latency",
    machine: $machine,
    config: { probe_seconds: $secs, mode: $mode, order: $order, warmup_seconds: $warmup, probe_nice: $nice,
              oxcast_segment_duration_ms: $seg, oxcast_part_duration_ms: $part,
              nginx: "hls_fragment 1s; hls_playlist_length 6s (bench/nginx.conf.template)",
              ffmpeg: $ffmpeg },
    oxcast: { latency_ms: $ox.latencyMs, hls_latency_s: $ox.hlsLatency, stalls: $ox.stalls,
              startup_ms: $ox.startupMs, advanced_s: $ox.advanced, ok: $ox.ok,
              errors: $ox.errors, reason: $ox.reason },
    nginx:  { latency_ms: $ng.latencyMs, hls_latency_s: $ng.hlsLatency, stalls: $ng.stalls,
              startup_ms: $ng.startupMs, advanced_s: $ng.advanced, ok: $ng.ok,
              errors: $ng.errors, reason: $ng.reason },
    ratio_nginx_over_oxcast: { p50: ratio($ng.latencyMs.p50; $ox.latencyMs.p50), p95: ratio($ng.latencyMs.p95; $ox.latencyMs.p95) },
    # Both PDT timelines are anchor + PTS with the same anchor, so both read low by the
    # publisher start-up backlog measured by the cross-check; adding it estimates the latency
    # against the real arrival time of each frame.
    arrival_corrected: (($status.crossCheck.p50Ms // null) as $c | if $c == null then null else {
      offset_ms: $c,
      oxcast_ms: { p50: ($ox.latencyMs.p50 + $c | round), p95: ($ox.latencyMs.p95 + $c | round) },
      nginx_ms:  { p50: ($ng.latencyMs.p50 + $c | round), p95: ($ng.latencyMs.p95 + $c | round) },
      ratio_nginx_over_oxcast: { p50: ratio($ng.latencyMs.p50 + $c; $ox.latencyMs.p50 + $c), p95: ratio($ng.latencyMs.p95 + $c; $ox.latencyMs.p95 + $c) }
    } end),
    # Fragments whose first keyframe reached nginx >100 ms later than the steady state: the
    # publisher (or the box) stalled; players do not win such time back at playback rate 1.
    publisher_hiccups: (($status.crossCheck.p50Ms // 0) as $c | [($status.segments // [])[]
      | select(.pdtMinusBirthMs != null and .seq != $status.nginxBase.seq and .pdtMinusBirthMs < $c - 100)]
      | { fragments: length, worst_late_ms: (if length > 0 then (map($c - .pdtMinusBirthMs) | max | round) else 0 end),
          at: map(.pdt) }),
    pdt_mapping: { anchor: $status.anchor, nginx_base: $status.nginxBase, cross_check: $status.crossCheck,
                   warnings: $status.warnings, segments: $status.segments },
    oxcast_part_ready_s_same_run: { p50: ($p50 | tonumber? // null), p99: ($p99 | tonumber? // null) },
    contention: { cpu_busy_pct_during_probes: ($busy | tonumber? // null),
                  oxcast_cpu_pct_of_one_core: ($oxcpu | tonumber? // null),
                  nginx_cpu_pct_of_one_core: ($ngcpu | tonumber? // null),
                  ffmpeg_cpu_pct_of_one_core: ($ffcpu | tonumber? // null),
                  ffmpeg_last_speed: $speed, loadavg_at_end: $load },
    traces: $traces,
    logs: { oxcast_warn_error_lines: ($oxerr | tonumber), nginx_error_lines: ($ngerr | tonumber) },
    oxcast_media_playlist_at_end: $oxpl
  }' >"$RUN_DIR/result.json"

# ---------------------------------------------------------------- report
jq -r '
  def f(x): if x == null then "-" else (x | tostring) end;
  "",
  "latency (Date.now() - hls.playingDate), \(.config.probe_seconds) s per player, mode \(.config.mode)",
  "player            p50 ms   p95 ms  samples  hls.latency p50/p95 s  stalls  startup ms",
  ( ["oxcast LL-HLS", .oxcast], ["nginx-rtmp HLS", .nginx] | . as [$n, $r]
    | "\($n | . + (" " * (16 - length)))  \(f($r.latency_ms.p50) | (" " * (7 - length)) + .)  \(f($r.latency_ms.p95) | (" " * (7 - length)) + .)  \(f($r.latency_ms.samples) | (" " * (7 - length)) + .)  \("\(f($r.hls_latency_s.p50)) / \(f($r.hls_latency_s.p95))" | (" " * (21 - length)) + .)  \(f($r.stalls) | (" " * (6 - length)) + .)  \(f($r.startup_ms) | (" " * (10 - length)) + .)"),
  "nginx/oxcast ratio: p50 \(f(.ratio_nginx_over_oxcast.p50))x  p95 \(f(.ratio_nginx_over_oxcast.p95))x",
  "PDT mapping cross-check (pdt - fragment birth time, fragments after the first): n=\(f(.pdt_mapping.cross_check.n)) min \(f(.pdt_mapping.cross_check.minMs)) p50 \(f(.pdt_mapping.cross_check.p50Ms)) max \(f(.pdt_mapping.cross_check.maxMs)) ms; first fragment born \(f(.pdt_mapping.nginx_base.birthMinusAnchorMs)) ms after the oxcast anchor",
  "publisher hiccups (fragments >100 ms late at nginx): \(.publisher_hiccups.fragments), worst \(.publisher_hiccups.worst_late_ms) ms",
  (if .arrival_corrected then "arrival-corrected (+\(.arrival_corrected.offset_ms) ms): oxcast p50/p95 \(.arrival_corrected.oxcast_ms.p50)/\(.arrival_corrected.oxcast_ms.p95) ms, nginx \(.arrival_corrected.nginx_ms.p50)/\(.arrival_corrected.nginx_ms.p95) ms, ratio p50 \(f(.arrival_corrected.ratio_nginx_over_oxcast.p50))x" else empty end),
  "CPU busy during probes: \(f(.contention.cpu_busy_pct_during_probes))%  (oxcast \(f(.contention.oxcast_cpu_pct_of_one_core))%, nginx \(f(.contention.nginx_cpu_pct_of_one_core))%, ffmpeg \(f(.contention.ffmpeg_cpu_pct_of_one_core))% of one core; ffmpeg speed \(f(.contention.ffmpeg_last_speed)))",
  "probe errors: oxcast \(.oxcast.errors | length), nginx \(.nginx.errors | length); oxcast WARN/ERROR log lines: \(.logs.oxcast_warn_error_lines)",
  (.traces | to_entries[] | .key as $k | .value.summary | select(. != null)
    | "trace \($k): latency ms p5/p50/p95/max \(.latencyMs.p5)/\(.latencyMs.p50)/\(.latencyMs.p95)/\(.latencyMs.max), hls.latency p50 \(.hlsLatency.p50) s, target \(.targetLatency) s, buffer p5/p50 \(.bufferS.p5)/\(.bufferS.p50) s, samples rate!=1: \(.samplesNotAtRate1), stalls: \(.stallEvents) (\(.stallMsTotal) ms), dropped frames: \(.droppedFrames)")
' "$RUN_DIR/result.json"
log "wrote $RUN_DIR/result.json"
