#!/usr/bin/env bash
# Live latency per ingest protocol as hls.js sees it (issue 4, part 7), plus oxcast's CPU per
# passthrough publisher for each protocol.
#
#   bench/ingest_latency.sh [--seconds 60] [--warmup 15] [--cpu-seconds 20] [--offset-seconds 20]
#                           [--protocols rtmp,srt] [--srt-latency-ms 120] [--nice 10]
#
#   --seconds         player probe duration per protocol (default 60)
#   --warmup          seconds between the playlist appearing and the CPU window (default 15)
#   --cpu-seconds     oxcast CPU window with the publisher and no viewer (default 20)
#   --offset-seconds  length of the extra "ingest offset" phase (default 20; 0 skips it), below
#   --protocols       comma list of rtmp, srt, whip (default rtmp,srt; whip also when WHIP=1)
#   --srt-latency-ms  the SRT publisher's latency setting (default 120 ms, i.e. ffmpeg's
#                     latency=120000 us in the URL; oxcast's own srt_latency_ms default is 120)
#   --nice            niceness of the browser probe (default 10, as in latency.sh)
#
# Per protocol, with a fresh oxcast (OXCAST_DEFAULT_PROFILE=passthrough: no ladder) each time:
#   1. one publisher with the same source settings for every protocol: ffmpeg testsrc2 720p30 +
#      440 Hz tone, x264 veryfast zerolatency, 2.5 Mb/s, 1 s GOP (-g 30), AAC 128 kb/s, -re
#      (lib.sh ffmpeg_cmd); RTMP: -f flv rtmp://127.0.0.1:PORT/live/KEY; SRT: -f mpegts
#      "srt://127.0.0.1:PORT?streamid=#!::r=KEY,m=publish&latency=120000" (oxcast listens with
#      --srt on a free loopback UDP port); WHIP: ffmpeg 9 -f whip (publish_whip below);
#   2. after --warmup, oxcast's CPU (utime+stime, /proc/PID/stat) over --cpu-seconds with no
#      viewer: CPU seconds per wall second for one passthrough publisher of that protocol;
#   3. tests/browser/play.mjs on oxcast's own /watch/main page (hls.js as shipped) for
#      --seconds: Date.now() - hls.playingDate p50/p95, hls.latency, stalls; oxcast's CPU again
#      with that one viewer; oxcast_part_ready_seconds p50/p99 from /metrics; the stream status
#      is checked to name the protocol under test.
#
# What Date.now() - hls.playingDate does NOT see: PROGRAM-DATE-TIME is the ingest wall clock of
# the session's first keyframe plus media time, so any delay that is constant from that first
# keyframe on (SRT's receive latency window, the encoder, the network) moves the PDT with it
# and is invisible to this number. It compares what happens after ingest. The "ingest offset"
# phase measures the part before: ONE ffmpeg encode sent through the tee muxer to two streams
# of one oxcast at once, RTMP to "main" and SRT to a second stream (created via the API); the
# difference of the two streams' first PROGRAM-DATE-TIME is how much later the same first
# keyframe reached oxcast over SRT than over RTMP. "est. vs RTMP" in the summary adds it to
# the hls.js p50 of each protocol. (WHIP cannot join a tee; its offset will need another way.)
#
# Caveats: one join per protocol (join position varies, see BENCHMARKS.md (a)); run it a few
# times. Sequential protocols see different minutes of a shared box (machine busy % recorded).
# ffmpeg's mpegts muxer packs audio PES up to -pes_payload_size (2930 bytes, ~180 ms of 128 kb/s
# AAC) by default, which delays audio over SRT; set SRT_MUX_ARGS (e.g. "-pes_payload_size 0")
# to try other muxer settings. The absolute latency reads low by the publisher start-up backlog
# (BENCHMARKS.md, method), similar for every protocol.
#
# Env: OXCAST_BIN, OXCAST_SEGMENT_DURATION_MS / OXCAST_PART_DURATION_MS, KEEP_TMP=1, WHIP=1,
# SRT_MUX_ARGS. Writes bench/results/ingest_latency-<UTC>/result.json plus logs; prints a table.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PROBE_SECONDS=60
WARMUP=15
CPU_SECONDS=20
OFFSET_SECONDS=20
PROTOCOLS=rtmp,srt,whip
SRT_LATENCY_MS=120
PROBE_NICE=10
while (($#)); do
  case "$1" in
    --seconds) PROBE_SECONDS="$2"; shift 2 ;;
    --warmup) WARMUP="$2"; shift 2 ;;
    --cpu-seconds) CPU_SECONDS="$2"; shift 2 ;;
    --offset-seconds) OFFSET_SECONDS="$2"; shift 2 ;;
    --protocols) PROTOCOLS="$2"; shift 2 ;;
    --srt-latency-ms) SRT_LATENCY_MS="$2"; shift 2 ;;
    --nice) PROBE_NICE="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) die "unknown argument $1" ;;
  esac
done
if [[ "${WHIP:-0}" == 1 && ",$PROTOCOLS," != *,whip,* ]]; then PROTOCOLS="$PROTOCOLS,whip"; fi
read -r -a SRT_MUX <<<"${SRT_MUX_ARGS:-}"

require_tools ffmpeg node jq curl python3
[[ -x "$CHROMIUM" ]] || die "chromium not found at $CHROMIUM"
bench_init ingest_latency
MACHINE="$(machine_json)"

srt_url() { # srt_url KEY
  printf 'srt://%s?streamid=#!::r=%s,m=publish&latency=%s' "$OX_SRT" "$1" "$((SRT_LATENCY_MS * 1000))"
}

# ---------------------------------------------------------------- publishers
# publish_PROTO SECONDS: start one publisher of the common source into the stream "main" of the
# running oxcast (OX_RTMP, OX_SRT, OX_HTTP, OX_KEY). Sets PUB_PID and PUB_PRINTABLE; returns 2
# when the protocol cannot be published here.
publish_rtmp() {
  ffmpeg_cmd "$1" 1 -f flv "rtmp://$OX_RTMP/live/$OX_KEY"
  PUB_PRINTABLE="$(printf '%q ' "${FFMPEG_CMD[@]}" | sed "s/$OX_KEY/\$KEY/g")"
  bg_start publisher-rtmp "$BENCH_TMP/publisher-rtmp.log" timeout $(($1 + 60)) "${FFMPEG_CMD[@]}"
  PUB_PID=$BG_PID
}

publish_srt() {
  [[ -n "$OX_SRT" ]] || { log "this oxcast binary has no --srt"; return 2; }
  ffmpeg_cmd "$1" 1 "${SRT_MUX[@]}" -f mpegts "$(srt_url "$OX_KEY")"
  PUB_PRINTABLE="$(printf '%q ' "${FFMPEG_CMD[@]}" | sed "s/$OX_KEY/\$KEY/g")"
  bg_start publisher-srt "$BENCH_TMP/publisher-srt.log" timeout $(($1 + 60)) "${FFMPEG_CMD[@]}"
  PUB_PID=$BG_PID
}

# WHIP: ffmpeg 9's WHIP muxer (the static binary inside the PyPI package imageio-ffmpeg, which
# scripts/setup.sh --test installs into ~/.cache/oxcast-py; override with WHIP_FFMPEG). Same
# picture, rate, GOP and bitrate as the other protocols; baseline H.264 without B-frames and
# Opus, which is what WebRTC carries (oxcast re-encodes the Opus to AAC).
whip_ffmpeg() {
  if [[ -n "${WHIP_FFMPEG:-}" ]]; then echo "$WHIP_FFMPEG"; return; fi
  "${OXCAST_PY_VENV:-$HOME/.cache/oxcast-py}/bin/python" -c 'import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())' 2>/dev/null
}

publish_whip() {
  local bin
  bin="$(whip_ffmpeg)"
  [[ -x "$bin" ]] || { log "no ffmpeg with a WHIP muxer (run scripts/setup.sh --test or set WHIP_FFMPEG)"; return 2; }
  ffmpeg_cmd "$1" 1 -profile:v baseline -bf 0 -c:a libopus -ar 48000 -ac 2 \
    -f whip -authorization "$OX_KEY" "http://$OX_HTTP/whip/main"
  FFMPEG_CMD[0]="$bin"
  # ffmpeg starts reading its -re input before the WebRTC handshake is done, then by default
  # catches up at 1.05x: frames would then reach oxcast ahead of the first-keyframe anchor of
  # PROGRAM-DATE-TIME and the wall-clock latency would read ~1.5 s low. Never catching up keeps
  # the handshake's lag constant, like a camera that starts when the connection is up; no
  # initial burst either (by default the first 0.5 s is sent at once).
  FFMPEG_CMD=("${FFMPEG_CMD[0]}" -readrate_initial_burst 0 -readrate_catchup 1 "${FFMPEG_CMD[@]:1}")
  # ffmpeg_cmd chose AAC; the WHIP muxer needs Opus: drop the earlier -c:a aac -b:a 128k.
  local cleaned=() i=0
  while ((i < ${#FFMPEG_CMD[@]})); do
    if [[ "${FFMPEG_CMD[$i]}" == "-c:a" && "${FFMPEG_CMD[$((i + 1))]}" == "aac" ]]; then
      i=$((i + 2))
      continue
    fi
    cleaned+=("${FFMPEG_CMD[$i]}")
    i=$((i + 1))
  done
  FFMPEG_CMD=("${cleaned[@]}")
  PUB_PRINTABLE="$(printf '%q ' "${FFMPEG_CMD[@]}" | sed "s/$OX_KEY/\$KEY/g")"
  bg_start publisher-whip "$BENCH_TMP/publisher-whip.log" timeout $(($1 + 60)) "${FFMPEG_CMD[@]}"
  PUB_PID=$BG_PID
}
# <<< WHIP

# ---------------------------------------------------------------- one protocol
RESULTS='[]'
run_protocol() {
  local proto="$1" prefix="oxcast-$1"
  log "=== $proto"
  start_oxcast "$prefix" OXCAST_DEFAULT_PROFILE=passthrough
  local push=$((WARMUP + CPU_SECONDS + PROBE_SECONDS + 90)) launch rc=0
  launch="$(now_s)"
  "publish_$proto" "$push" || rc=$?
  if ((rc != 0)); then
    RESULTS="$(jq -c --arg p "$proto" '. + [{protocol: $p, skipped: true, reason: "publisher not available"}]' <<<"$RESULTS")"
    bg_stop "$OX_PID"
    return 0
  fi
  local pub=$PUB_PID
  wait_http "http://$OX_HTTP/live/main/index.m3u8" 30 '#EXT-X-STREAM-INF'
  wait_http "http://$OX_HTTP/live/main/video/index.m3u8" 30 '#EXT-X-PROGRAM-DATE-TIME'
  local first_pdt
  first_pdt="$(curl -fsS --max-time 5 "http://$OX_HTTP/live/main/video/index.m3u8" | grep -m1 '^#EXT-X-PROGRAM-DATE-TIME:' | cut -d: -f2-)"
  local first_pdt_s; first_pdt_s="$(date -d "$first_pdt" +%s.%3N 2>/dev/null || echo null)"
  log "$proto: serving; first PDT $first_pdt; warming up ${WARMUP}s"
  sleep "$WARMUP"
  kill -0 "$pub" 2>/dev/null || die "$proto publisher exited early: $(tail -5 "$BENCH_TMP/publisher-$proto.log")"

  # CPU with the publisher and no viewer.
  local j0 j1 c0 c1 t0 t1
  j0="$(cpu_jiffies)"; c0="$(proc_cpu_s "$OX_PID")"; t0="$(now_s)"
  sleep "$CPU_SECONDS"
  j1="$(cpu_jiffies)"; c1="$(proc_cpu_s "$OX_PID")"; t1="$(now_s)"
  local cpu_idle_viewer busy_idle_viewer
  cpu_idle_viewer="$(awk -v a="$c0" -v b="$c1" -v t0="$t0" -v t1="$t1" 'BEGIN { if (a == "null" || b == "null" || t1 <= t0) print "null"; else printf "%.4f", (b - a) / (t1 - t0) }')"
  busy_idle_viewer="$(cpu_busy_pct "$j0" "$j1")"
  log "$proto: oxcast ${cpu_idle_viewer} CPU s per wall s with no viewer (machine busy ${busy_idle_viewer}%)"

  # The player probe.
  local out="$BENCH_TMP/probe-$proto.json" prc=0
  j0="$(cpu_jiffies)"; c0="$(proc_cpu_s "$OX_PID")"; t0="$(now_s)"
  log "$proto: probing http://$OX_HTTP/watch/main for ${PROBE_SECONDS}s"
  (cd "$REPO_DIR" && timeout $((PROBE_SECONDS + 120)) nice -n "$PROBE_NICE" node tests/browser/play.mjs \
    --url "http://$OX_HTTP/watch/main" --seconds "$PROBE_SECONDS" --chromium "$CHROMIUM") \
    >"$out" 2>"$BENCH_TMP/probe-$proto.stderr.log" || prc=$?
  jq -e . "$out" >/dev/null 2>&1 || echo '{"ok":false,"reason":"probe printed no JSON"}' >"$out"
  j1="$(cpu_jiffies)"; c1="$(proc_cpu_s "$OX_PID")"; t1="$(now_s)"
  local cpu_viewer busy_viewer
  cpu_viewer="$(awk -v a="$c0" -v b="$c1" -v t0="$t0" -v t1="$t1" 'BEGIN { if (a == "null" || b == "null" || t1 <= t0) print "null"; else printf "%.4f", (b - a) / (t1 - t0) }')"
  busy_viewer="$(cpu_busy_pct "$j0" "$j1")"
  log "$proto: probe finished (exit $prc): $(jq -c '{p50: .latencyMs.p50, p95: .latencyMs.p95, hls: .hlsLatency.p50, stalls}' "$out")"
  kill -0 "$pub" 2>/dev/null || log "WARNING: the $proto publisher ended before the probe finished"
  check_oxcast "$prefix"

  local status metrics="$BENCH_TMP/metrics-$proto.txt"
  status="$(curl -fsS --max-time 5 "http://$OX_HTTP/api/streams/main" || echo '{}')"
  curl -fsS --max-time 5 "http://$OX_HTTP/metrics" >"$metrics" || : >"$metrics"
  local speed; speed="$(ffmpeg_speed "$BENCH_TMP/publisher-$proto.log" || true)"
  local oxwarn; oxwarn="$(strip_ansi <"$BENCH_TMP/$prefix.stderr.log" | grep -c -E '^[^ ]+ +(ERROR|WARN) ' || true)"
  bg_stop "$pub"
  bg_stop "$OX_PID"
  cp "$out" "$metrics" "$RUN_DIR"/
  local k='oxcast_part_ready_seconds{stream="main",'
  RESULTS="$(jq -c --arg p "$proto" --slurpfile probe "$out" --argjson status "$status" --arg pub "$PUB_PRINTABLE" \
    --arg cpu0 "$cpu_idle_viewer" --arg busy0 "$busy_idle_viewer" --arg cpu1 "$cpu_viewer" --arg busy1 "$busy_viewer" \
    --arg launch "$launch" --arg pdt "$first_pdt" --arg pdt_s "$first_pdt_s" --arg speed "${speed:-}" \
    --arg p50 "$(metric "$metrics" "${k}quantile=\"0.5\"}")" --arg p99 "$(metric "$metrics" "${k}quantile=\"0.99\"}")" \
    --arg skipped "$(metric "$metrics" 'oxcast_ingest_frames_skipped_total{stream="main"}')" \
    --argjson prc "$prc" --argjson oxwarn "${oxwarn:-0}" \
    '. + [{protocol: $p, skipped: false, publisher: $pub,
           status_protocol: ($status.protocol // null), protocol_confirmed: (($status.protocol // "") == $p),
           latency_ms: $probe[0].latencyMs, hls_latency_s: $probe[0].hlsLatency, stalls: $probe[0].stalls,
           startup_ms: $probe[0].startupMs, probe_ok: $probe[0].ok, probe_exit: $prc,
           hls_errors: ($probe[0].errors // [] | length),
           part_ready_s: {p50: ($p50 | tonumber? // null), p99: ($p99 | tonumber? // null)},
           ingest_frames_skipped: ($skipped | tonumber? // null),
           oxcast_cpu_s_per_wall_s: {no_viewer: ($cpu0 | tonumber? // null), one_viewer: ($cpu1 | tonumber? // null)},
           machine_busy_pct: {no_viewer_window: ($busy0 | tonumber? // null), probe_window: ($busy1 | tonumber? // null)},
           first_pdt: $pdt,
           first_pdt_minus_publisher_launch_ms: (if ($pdt_s | tonumber? // null) != null then ((($pdt_s | tonumber) - ($launch | tonumber)) * 1000 | round) else null end),
           publisher_last_speed: $speed, oxcast_warn_error_lines: $oxwarn}]' <<<"$RESULTS")"
}

for proto in ${PROTOCOLS//,/ }; do
  case "$proto" in
    rtmp|srt|whip) run_protocol "$proto" ;;
    *) die "unknown protocol $proto" ;;
  esac
done

# ---------------------------------------------------------------- ingest offset (tee)
OFFSET='null'
if ((OFFSET_SECONDS > 0)) && [[ ",$PROTOCOLS," == *,srt,* ]]; then
  log "=== ingest offset: one encode, tee to RTMP (stream main) and SRT (stream srtcheck), ${OFFSET_SECONDS}s"
  start_oxcast oxcast-offset OXCAST_DEFAULT_PROFILE=passthrough
  if [[ -z "$OX_SRT" ]]; then
    log "this oxcast binary has no --srt; skipping the offset phase"
  else
    SRT_KEY="$(create_stream srtcheck)"
    [[ "$SRT_KEY" == sk_* ]] || die "could not create the stream srtcheck"
    # The tee muxer does not ask the encoders for global headers by itself; FLV needs them.
    ffmpeg_cmd $((OFFSET_SECONDS + 15)) 1 -flags +global_header -f tee -map 0:v -map 1:a \
      "[f=flv:onfail=ignore]rtmp://$OX_RTMP/live/$OX_KEY|[f=mpegts:onfail=ignore]$(srt_url "$SRT_KEY")"
    TEE_PRINTABLE="$(printf '%q ' "${FFMPEG_CMD[@]}" | sed -e "s/$OX_KEY/\$KEY/g" -e "s/$SRT_KEY/\$KEY2/g")"
    bg_start publisher-tee "$BENCH_TMP/publisher-tee.log" timeout $((OFFSET_SECONDS + 60)) "${FFMPEG_CMD[@]}"
    TEE_PID=$BG_PID
    wait_http "http://$OX_HTTP/live/main/video/index.m3u8" 30 '#EXT-X-PROGRAM-DATE-TIME'
    wait_http "http://$OX_HTTP/live/srtcheck/video/index.m3u8" 30 '#EXT-X-PROGRAM-DATE-TIME'
    sleep "$OFFSET_SECONDS"
    # The first segment of both streams starts at the same (first) keyframe of the one encode.
    pdt_of() { curl -fsS --max-time 5 "http://$OX_HTTP/live/$1/video/index.m3u8" | awk -F: '/^#EXT-X-MEDIA-SEQUENCE:/ { print "msn " $2 } /^#EXT-X-PROGRAM-DATE-TIME:/ { sub(/^#EXT-X-PROGRAM-DATE-TIME:/, ""); print "pdt " $0; exit }'; }
    A="$(pdt_of main)"; B="$(pdt_of srtcheck)"
    STA="$(curl -fsS --max-time 5 "http://$OX_HTTP/api/streams/main" || echo '{}')"
    STB="$(curl -fsS --max-time 5 "http://$OX_HTTP/api/streams/srtcheck" || echo '{}')"
    kill -0 "$TEE_PID" 2>/dev/null || log "WARNING: the tee publisher ended early: $(tail -3 "$BENCH_TMP/publisher-tee.log")"
    check_oxcast oxcast-offset
    bg_stop "$TEE_PID"
    PA="$(awk '/^pdt / { print $2 }' <<<"$A")"; PB="$(awk '/^pdt / { print $2 }' <<<"$B")"
    OFFSET="$(jq -nc --arg pa "$PA" --arg pb "$PB" --arg ma "$(awk '/^msn / { print $2 }' <<<"$A")" --arg mb "$(awk '/^msn / { print $2 }' <<<"$B")" \
      --arg sa "$(date -d "$PA" +%s.%3N 2>/dev/null || echo null)" --arg sb "$(date -d "$PB" +%s.%3N 2>/dev/null || echo null)" \
      --argjson sta "$STA" --argjson stb "$STB" --arg cmd "$TEE_PRINTABLE" --argjson secs "$OFFSET_SECONDS" \
      '{seconds: $secs, publisher: $cmd,
        rtmp: {stream: "main", protocol: ($sta.protocol // null), first_pdt: $pa, first_msn: $ma, frames_skipped: ($sta.frames_skipped // null)},
        srt: {stream: "srtcheck", protocol: ($stb.protocol // null), first_pdt: $pb, first_msn: $mb, frames_skipped: ($stb.frames_skipped // null)},
        srt_minus_rtmp_ms: (if ($sa | tonumber? // null) != null and ($sb | tonumber? // null) != null
                            then ((($sb | tonumber) - ($sa | tonumber)) * 1000 | round) else null end),
        valid: ($ma == $mb and ($sta.protocol // "") == "rtmp" and ($stb.protocol // "") == "srt")}')"
    log "ingest offset: $(jq -c '{srt_minus_rtmp_ms, valid}' <<<"$OFFSET")"
  fi
  bg_stop "$OX_PID"
fi

# ---------------------------------------------------------------- report
jq -n --argjson machine "$MACHINE" --argjson r "$RESULTS" --argjson offset "$OFFSET" \
  --argjson secs "$PROBE_SECONDS" --argjson warmup "$WARMUP" --argjson cpu "$CPU_SECONDS" --argjson nice "$PROBE_NICE" \
  --arg protocols "$PROTOCOLS" --argjson srtlat "$SRT_LATENCY_MS" --arg srtmux "${SRT_MUX_ARGS:-}" \
  --arg seg "${OXCAST_SEGMENT_DURATION_MS:-default}" --arg part "${OXCAST_PART_DURATION_MS:-default}" \
  '($offset.srt_minus_rtmp_ms // null) as $off
   | {benchmark: "ingest_latency", machine: $machine,
      config: {probe_seconds: $secs, warmup_seconds: $warmup, cpu_seconds: $cpu, probe_nice: $nice,
               protocols: ($protocols | split(",")), srt_latency_ms: $srtlat, srt_mux_args: $srtmux,
               profile: "passthrough", player: "oxcast /watch/main (hls.js as shipped)",
               oxcast_segment_duration_ms: $seg, oxcast_part_duration_ms: $part},
      protocols: ($r | map(. + {
        ingest_offset_vs_rtmp_ms: (if .protocol == "rtmp" then 0 elif .protocol == "srt" then $off else null end),
        est_latency_vs_rtmp_ingest_ms: (if .skipped or (.latency_ms.p50 // null) == null then null
          elif .protocol == "rtmp" then {p50: .latency_ms.p50, p95: .latency_ms.p95}
          elif .protocol == "srt" and $off != null then {p50: (.latency_ms.p50 + $off), p95: (.latency_ms.p95 + $off)}
          else null end)})),
      ingest_offset: $offset}' >"$RUN_DIR/result.json"

jq -r '
  def f(x): if x == null then "-" else (x | tostring) end;
  def pad(n): tostring | if length < n then (" " * (n - length)) + . else . end;
  "",
  "latency per ingest protocol (Date.now() - hls.playingDate on /watch/main), passthrough, \(.config.probe_seconds) s probe each",
  "protocol  p50 ms  p95 ms  hls.latency p50 s  stalls  part ready p50/p99 ms  est. vs RTMP p50/p95 ms  oxcast CPU s/s (no viewer / 1 viewer)  confirmed",
  (.protocols[] | if .skipped then "\(.protocol | . + (" " * (8 - length)))  skipped: \(.reason)" else
    "\(.protocol | . + (" " * (8 - length)))  \(f(.latency_ms.p50) | pad(6))  \(f(.latency_ms.p95) | pad(6))  \(f(.hls_latency_s.p50) | pad(17))  \(f(.stalls) | pad(6))  \("\(if .part_ready_s.p50 then (.part_ready_s.p50 * 1000 | round) else "-" end) / \(if .part_ready_s.p99 then (.part_ready_s.p99 * 1000 | round) else "-" end)" | pad(21))  \("\(f(.est_latency_vs_rtmp_ingest_ms.p50)) / \(f(.est_latency_vs_rtmp_ingest_ms.p95))" | pad(23))  \("\(f(.oxcast_cpu_s_per_wall_s.no_viewer)) / \(f(.oxcast_cpu_s_per_wall_s.one_viewer))" | pad(37))  \(if .protocol_confirmed then "yes" else "NO (\(f(.status_protocol)))" end)" end),
  (if .ingest_offset then "ingest offset (same encode via tee): SRT first keyframe reached oxcast \(f(.ingest_offset.srt_minus_rtmp_ms)) ms after RTMP (valid: \(.ingest_offset.valid)); hls.playingDate cannot see this part" else "ingest offset: not measured" end),
  "first PDT - publisher launch (ms): \(.protocols | map(select(.skipped | not) | "\(.protocol) \(f(.first_pdt_minus_publisher_launch_ms))") | join(", "))"
' "$RUN_DIR/result.json"
log "wrote $RUN_DIR/result.json"
