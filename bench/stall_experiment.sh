#!/usr/bin/env bash
# Diagnostic (not a benchmark): how oxcast's player latency reacts to publisher stalls.
# Publishes to oxcast, records a bench/trace.mjs time series of its /watch/main page, and
# freezes the ffmpeg publisher (SIGSTOP/SIGCONT) for 0.5 s and later for 1.5 s. With -re,
# ffmpeg sends the backlog in a burst once resumed, so a player that had enough buffer should
# not lose any time; one that stalls keeps the lost time unless it plays faster than 1x.
#
#   bench/stall_experiment.sh          (~1.5 min; writes bench/results/stall-exp-<UTC>/trace.json)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

require_tools ffmpeg node jq curl
bench_init stall-exp
start_oxcast oxcast
ffmpeg_cmd 120 1 -f flv "rtmp://$OX_RTMP/live/$OX_KEY"
bg_start ffmpeg "$BENCH_TMP/ffmpeg.log" timeout 150 "${FFMPEG_CMD[@]}"
FF=$BG_PID
wait_http "http://$OX_HTTP/live/main/index.m3u8" 30 '#EXT-X-STREAM-INF'
sleep 10
FFREAL="$(pgrep -P "$FF" ffmpeg)" || die "ffmpeg is not running"
(cd "$REPO_DIR" && timeout 150 nice -n 10 node bench/trace.mjs --url "http://$OX_HTTP/watch/main" --seconds 50 \
  >"$RUN_DIR/trace.json" 2>"$RUN_DIR/trace.stderr.log") &
TR=$!
BENCH_PIDS+=("trace:$TR")
sleep 18
log "freezing ffmpeg for 0.5 s"
kill -STOP "$FFREAL"; sleep 0.5; kill -CONT "$FFREAL"
sleep 14
log "freezing ffmpeg for 1.5 s"
kill -STOP "$FFREAL"; sleep 1.5; kill -CONT "$FFREAL"
wait "$TR" || true
check_oxcast oxcast
jq -c '.summary, .stalls' "$RUN_DIR/trace.json"
echo "t latency_ms hls.latency_s buffer_s (every 1 s)"
jq -r '.samples[] | "\(.t) \(.lat) \((.hlsLat // 0) * 1000 | round / 1000) \(.buf)"' "$RUN_DIR/trace.json" | awk 'NR % 2 == 1'
