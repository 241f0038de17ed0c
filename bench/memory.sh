#!/usr/bin/env bash
# Server memory: oxcast RSS (process_resident_memory_bytes from /metrics, cross-checked with
# VmRSS from /proc/PID/status) before publishing, after 1 minute and after 10 minutes of one
# 720p30 stream; nginx-rtmp (HLS on, fed by the same ffmpeg tee) is sampled alongside.
# No players are connected (publisher + packaging only).
#
#   bench/memory.sh [--seconds 600] [--interval 30] [--no-nginx]
#
# Samples: t=0 (servers up, nothing published), every --interval seconds, at 60 s and at the end.
# Runs ~11 minutes by default. Env: OXCAST_BIN, KEEP_TMP=1.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DURATION=600
INTERVAL=30
WITH_NGINX=1
while (($#)); do
  case "$1" in
    --seconds) DURATION="$2"; shift 2 ;;
    --interval) INTERVAL="$2"; shift 2 ;;
    --no-nginx) WITH_NGINX=0; shift ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) die "unknown argument $1" ;;
  esac
done
((DURATION >= 60)) || die "--seconds must be at least 60"

require_tools ffmpeg jq curl python3
if ((WITH_NGINX)); then require_tools "$NGINX_BIN"; fi
bench_init memory
MACHINE="$(machine_json)"

start_oxcast oxcast
NGINX_PID=""
if ((WITH_NGINX)); then
  NGINX_PORT="$(free_port)"
  start_nginx "$NGINX_PORT"
fi

SAMPLES='[]'
sample() { # sample LABEL T_SECONDS
  local m="$BENCH_TMP/metrics-$1.txt" ngx=null
  check_oxcast oxcast
  curl -fsS --max-time 5 "http://$OX_HTTP/metrics" >"$m" || : >"$m"
  if [[ -n "$NGINX_PID" ]]; then ngx="$(vmrss_bytes "$NGINX_PID")"; fi
  SAMPLES="$(jq -c --arg name "$1" --argjson t "$2" \
    --arg prom "$(metric "$m" process_resident_memory_bytes)" --arg vm "$(vmrss_bytes "$OX_PID")" \
    --arg ngx "$ngx" --arg live "$(metric "$m" oxcast_live_streams)" \
    --arg frames "$(metric "$m" 'oxcast_ingest_frames_total{stream="main"}')" \
    '. + [{sample: $name, t_s: $t, oxcast_rss_metrics_bytes: ($prom | tonumber? // null),
           oxcast_vmrss_bytes: ($vm | tonumber? // null), nginx_vmrss_bytes: ($ngx | tonumber? // null),
           live_streams: ($live | tonumber? // null), ingest_frames: ($frames | tonumber? // null)}]' <<<"$SAMPLES")"
  log "sample $1 (t=$2 s): oxcast $(jq -r '.[-1] | "\(.oxcast_rss_metrics_bytes) B (/metrics), \(.oxcast_vmrss_bytes) B (VmRSS)"' <<<"$SAMPLES"), nginx $ngx B"
}

sleep 2
sample t0 0

if ((WITH_NGINX)); then
  OUT=(-flags +global_header -f tee -map 0:v -map 1:a
    "[f=flv:onfail=ignore]rtmp://$OX_RTMP/live/$OX_KEY|[f=flv:onfail=ignore]rtmp://127.0.0.1:$NGINX_PORT/live/bench")
else
  OUT=(-f flv "rtmp://$OX_RTMP/live/$OX_KEY")
fi
ffmpeg_cmd $((DURATION + 30)) 1 "${OUT[@]}"
FFMPEG_PRINTABLE="$(printf '%q ' "${FFMPEG_CMD[@]}" | sed "s/$OX_KEY/\$KEY/g")"
bg_start ffmpeg "$BENCH_TMP/ffmpeg.log" timeout $((DURATION + 90)) "${FFMPEG_CMD[@]}"
FFMPEG_PID=$BG_PID
START=$SECONDS
wait_http "http://$OX_HTTP/live/main/index.m3u8" 30 '#EXT-X-STREAM-INF'

# Intermediate sample times; 60 s is always sampled (the "1 minute" figure), the end after the loop.
targets=()
for ((t = INTERVAL; t < DURATION; t += INTERVAL)); do targets+=("$t"); done
if ((DURATION > 60)); then targets+=(60); fi
targets_sorted="$(printf '%s\n' "${targets[@]}" | grep -x '[0-9][0-9]*' | sort -nu || true)"
for t in $targets_sorted; do
  while ((SECONDS - START < t)); do sleep 1; done
  kill -0 "$FFMPEG_PID" 2>/dev/null || die "ffmpeg exited early: $(tail -c 400 "$BENCH_TMP/ffmpeg.log")"
  if ((t == 60)); then sample t60 "$t"; else sample "t$t" "$t"; fi
done
while ((SECONDS - START < DURATION)); do sleep 1; done
kill -0 "$FFMPEG_PID" 2>/dev/null || die "ffmpeg exited early: $(tail -c 400 "$BENCH_TMP/ffmpeg.log")"
sample "t$DURATION" "$DURATION"
SPEED="$(ffmpeg_speed "$BENCH_TMP/ffmpeg.log" || true)"
OXWARN="$(strip_ansi <"$BENCH_TMP/oxcast.stderr.log" | grep -c -E '^[^ ]+ +(ERROR|WARN) ' || true)"
cp "$BENCH_TMP"/metrics-t0.txt "$BENCH_TMP/metrics-t$DURATION.txt" "$RUN_DIR"/ 2>/dev/null || true

jq -n --argjson machine "$MACHINE" --argjson s "$SAMPLES" --argjson d "$DURATION" \
  --arg ffmpeg "$FFMPEG_PRINTABLE" --arg speed "${SPEED:-}" --argjson oxwarn "${OXWARN:-0}" \
  --argjson nginx "$WITH_NGINX" \
  '{benchmark: "memory", machine: $machine,
    config: {duration_s: $d, nginx: ($nginx == 1), viewers: 0, ffmpeg: $ffmpeg},
    at_0: ($s[] | select(.sample == "t0")), at_60s: ($s[] | select(.sample == "t60")),
    at_end: ($s[] | select(.sample == "t\($d)")),
    samples: $s, ffmpeg_last_speed: $speed, oxcast_warn_error_lines: $oxwarn}' >"$RUN_DIR/result.json"

jq -r '
  def mib(x): if x == null then "-" else ((x / 1048576 * 10 | round) / 10 | tostring) end;
  "",
  "RSS (MiB), one 720p30 stream, no viewers",
  "when         oxcast /metrics   oxcast VmRSS   nginx-rtmp VmRSS",
  (.at_0, .at_60s, .at_end | "\("t=\(.t_s)s" | . + (" " * (11 - length)))  \(mib(.oxcast_rss_metrics_bytes) | (" " * (15 - length)) + .)  \(mib(.oxcast_vmrss_bytes) | (" " * (13 - length)) + .)  \(mib(.nginx_vmrss_bytes) | (" " * (17 - length)) + .)")
' "$RUN_DIR/result.json"
log "wrote $RUN_DIR/result.json"
