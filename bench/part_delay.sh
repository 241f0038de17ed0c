#!/usr/bin/env bash
# Part readiness delay: from the last frame of an LL-HLS part reaching oxcast's ingest to the
# part being servable (oxcast_part_ready_seconds, p50/p99 over the last 2048 parts), for a
# zerolatency (no B-frame) push and for a B-frame push (same encoder settings without
# -tune zerolatency). Each variant gets a fresh oxcast.
#
#   bench/part_delay.sh [--seconds 60] [--variants zerolatency,bframes]
#
# The value reported is the last /metrics scrape taken while the publisher was still live
# (scraped every second); a scrape after the publisher disconnected is recorded as well.
# Env: OXCAST_BIN, OXCAST_SEGMENT_DURATION_MS / OXCAST_PART_DURATION_MS, KEEP_TMP=1.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PUSH_SECONDS=60
VARIANTS=zerolatency,bframes
while (($#)); do
  case "$1" in
    --seconds) PUSH_SECONDS="$2"; shift 2 ;;
    --variants) VARIANTS="$2"; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) die "unknown argument $1" ;;
  esac
done

require_tools ffmpeg jq curl
bench_init part_delay
MACHINE="$(machine_json)"

RESULTS='[]'
for variant in ${VARIANTS//,/ }; do
  case "$variant" in
    zerolatency) zl=1 ;;
    bframes) zl=0 ;;
    *) die "unknown variant $variant" ;;
  esac
  log "=== $variant: pushing ${PUSH_SECONDS}s"
  start_oxcast "oxcast-$variant"
  ffmpeg_cmd "$PUSH_SECONDS" "$zl" -f flv "rtmp://$OX_RTMP/live/$OX_KEY"
  printable="$(printf '%q ' "${FFMPEG_CMD[@]}" | sed "s/$OX_KEY/\$KEY/g")"
  bg_start "ffmpeg-$variant" "$BENCH_TMP/ffmpeg-$variant.log" timeout $((PUSH_SECONDS + 60)) "${FFMPEG_CMD[@]}"
  ff=$BG_PID
  cpu0="$(cpu_jiffies)"
  wait_http "http://$OX_HTTP/live/main/index.m3u8" 30 '#EXT-X-STREAM-INF'
  live="$BENCH_TMP/metrics-$variant-live.txt"
  : >"$live"
  scrapes=0
  while kill -0 "$ff" 2>/dev/null; do
    if curl -fsS --max-time 2 "http://$OX_HTTP/metrics" >"$live.tmp" 2>/dev/null \
      && grep -q 'oxcast_live_streams 1' "$live.tmp" && kill -0 "$ff" 2>/dev/null; then
      mv "$live.tmp" "$live"
      scrapes=$((scrapes + 1))
    fi
    sleep 1
  done
  wait "$ff" && ffrc=0 || ffrc=$?
  check_oxcast "oxcast-$variant"
  cpu1="$(cpu_jiffies)"
  log "ffmpeg ($variant) exited with $ffrc"
  sleep 1
  after="$BENCH_TMP/metrics-$variant-after.txt"
  curl -fsS --max-time 5 "http://$OX_HTTP/metrics" >"$after" || : >"$after"
  cp "$live" "$after" "$RUN_DIR"/
  bg_stop "$OX_PID"
  [[ -s "$live" ]] || die "no /metrics scrape while $variant was live"

  k='oxcast_part_ready_seconds{stream="main",'
  oxwarn="$(strip_ansi <"$BENCH_TMP/oxcast-$variant.stderr.log" | grep -c -E '^[^ ]+ +(ERROR|WARN) ' || true)"
  RESULTS="$(jq -c \
    --arg variant "$variant" --arg ffmpeg "$printable" --argjson ffrc "$ffrc" --argjson scrapes "$scrapes" \
    --arg p50 "$(metric "$live" "${k}quantile=\"0.5\"}")" --arg p99 "$(metric "$live" "${k}quantile=\"0.99\"}")" \
    --arg n "$(metric "$live" 'oxcast_part_ready_seconds_count{stream="main"}')" \
    --arg ap50 "$(metric "$after" "${k}quantile=\"0.5\"}")" --arg ap99 "$(metric "$after" "${k}quantile=\"0.99\"}")" \
    --arg an "$(metric "$after" 'oxcast_part_ready_seconds_count{stream="main"}')" \
    --arg frames "$(metric "$live" 'oxcast_ingest_frames_total{stream="main"}')" \
    --arg skipped "$(metric "$live" 'oxcast_ingest_frames_skipped_total{stream="main"}')" \
    --arg busy "$(cpu_busy_pct "$cpu0" "$cpu1")" --arg speed "$(ffmpeg_speed "$BENCH_TMP/ffmpeg-$variant.log" || true)" \
    --arg oxwarn "$oxwarn" \
    '. + [{
      variant: $variant, ffmpeg: $ffmpeg, ffmpeg_exit: $ffrc,
      live: { p50_s: ($p50 | tonumber? // null), p99_s: ($p99 | tonumber? // null), parts: ($n | tonumber? // null),
              ingest_frames: ($frames | tonumber? // null), skipped_frames: ($skipped | tonumber? // null), scrapes: $scrapes },
      after_unpublish: { p50_s: ($ap50 | tonumber? // null), p99_s: ($ap99 | tonumber? // null), parts: ($an | tonumber? // null) },
      cpu_busy_pct: ($busy | tonumber? // null), ffmpeg_last_speed: $speed,
      oxcast_warn_error_lines: ($oxwarn | tonumber)
    }]' <<<"$RESULTS")"
done

jq -n --argjson machine "$MACHINE" --argjson r "$RESULTS" --argjson secs "$PUSH_SECONDS" \
  --arg seg "${OXCAST_SEGMENT_DURATION_MS:-default}" --arg part "${OXCAST_PART_DURATION_MS:-default}" \
  '{benchmark: "part_delay", machine: $machine,
    config: {push_seconds: $secs, oxcast_segment_duration_ms: $seg, oxcast_part_duration_ms: $part},
    results: $r}' >"$RUN_DIR/result.json"

jq -r '
  def ms(x): if x == null then "-" else ((x * 1000 * 10 | round) / 10 | tostring) end;
  "",
  "part ready delay (last frame of a part at ingest -> part servable), \(.config.push_seconds) s push",
  "variant       p50 ms   p99 ms   parts  (after unpublish p50/p99 ms)  CPU busy  ffmpeg speed",
  (.results[] | "\(.variant | . + (" " * (12 - length)))  \(ms(.live.p50_s) | (" " * (7 - length)) + .)  \(ms(.live.p99_s) | (" " * (7 - length)) + .)  \(.live.parts | tostring | (" " * (6 - length)) + .)  \("\(ms(.after_unpublish.p50_s)) / \(ms(.after_unpublish.p99_s))" | (" " * (28 - length)) + .)  \(.cpu_busy_pct | tostring | (" " * (7 - length)) + .)%  \(.ffmpeg_last_speed)")
' "$RUN_DIR/result.json"
log "wrote $RUN_DIR/result.json"
