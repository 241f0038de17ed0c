#!/usr/bin/env bash
# Latency each ladder rendition adds over passthrough (issue 3, part 8b), as hls.js sees it:
# Date.now() - hls.playingDate with the player pinned to one rendition at a time, against the
# same measurement on the source ("video") rendition, same publisher, same server, same run.
#
#   bench/ladder_latency.sh [--seconds 60] [--warmup 15] [--rounds 1] [--renditions LIST]
#                           [--size 1920x1080] [--fps 30] [--source-kbps 6000] [--clip-seconds 30]
#                           [--clip FILE] [--nice 10]
#
#   --seconds     probe duration per rendition (default 60)
#   --warmup      seconds between the ladder serving and the first probe (default 15)
#   --rounds      how many times to probe every rendition (default 1); each round starts one
#                 rendition later (video,720p,480p,360p, then 720p,480p,360p,video, ...) so no
#                 rendition always goes first; per-rendition numbers are the median over rounds
#   --renditions  comma list (default: every video variant in the multivariant playlist)
#   --size/--fps/--source-kbps/--clip-seconds   the pre-encoded publisher clip (see make_clip in
#                 lib.sh), looped with -stream_loop -1 and sent with -re -c copy (zerolatency,
#                 1 s GOP). 1920x1080 (default) gets all of video/720p/480p/360p; 1280x720 gets
#                 video/480p/360p and costs much less CPU
#   --clip        reuse an existing clip
#   --nice        niceness of the browser probes (default 10, as in latency.sh)
#
# How: one oxcast (OXCAST_DEFAULT_PROFILE=standard), one publisher, then for each rendition one
# headless-Chromium probe (tests/browser/play.mjs, one after the other: a 2-core box cannot run
# the ladder and several software decoders at once) on bench/hls-page.html served from the temp
# dir with ?src=<oxcast multivariant playlist>&config=oxcast&level=<rendition>: hls.js with the
# settings of oxcast's /watch page (lowLatencyMode, maxLiveSyncPlaybackRate 1.25), pinned to that
# variant (startLevel + loadLevel, ABR off). The probe's levelsPlayed is checked against the
# rendition's height. Alongside, bench/playlist_watch.py follows every rendition's playlist
# with blocking reloads and records when each part becomes available: the server-side part of
# the difference (available(rung) - available(video) per part), without a browser in the way.
#
# PROGRAM-DATE-TIME: hls.playingDate comes from the PDT of the rendition being played. The PDT
# of each rendition is compared with the source's on the same media sequence numbers
# (pdt_offset_ms); "corrected" latency adds that offset back, i.e. measures every rendition
# against the source's timeline (the ingest wall clock). With correct PDTs the offset is 0 and
# corrected = raw. (When this script was written the encoded rungs carried a PDT exactly 1000 h
# ahead of the source's, GStreamer's encoder timestamp offset leaking into the PDT; raw latency
# on a rung is then about -3.6e9 ms and only the corrected number means anything.)
#
# Caveats: each probe is one join, and where hls.js joins varies (see BENCHMARKS.md (a)); use
# --rounds 3 or more for numbers worth comparing. The absolute values read low by the publisher
# start-up backlog (same for every rendition, so the differences are unaffected). The ladder,
# the probe's H.264 decoder and the server share the CPU; a rung shed because encoding fell
# behind real time ends that rendition (the log line is counted and reported).
#
# Env: OXCAST_BIN, OXCAST_SEGMENT_DURATION_MS / OXCAST_PART_DURATION_MS, KEEP_TMP=1,
# CLIP_NOISE / CLIP_FILTER. Writes bench/results/ladder_latency-<UTC>/result.json plus logs.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PROBE_SECONDS=60
WARMUP=15
ROUNDS=1
RENDITIONS=""
SIZE=1920x1080
FPS=30
SOURCE_KBPS=6000
CLIP_SECONDS=30
CLIP=""
PROBE_NICE=10
while (($#)); do
  case "$1" in
    --seconds) PROBE_SECONDS="$2"; shift 2 ;;
    --warmup) WARMUP="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    --renditions) RENDITIONS="$2"; shift 2 ;;
    --size) SIZE="$2"; shift 2 ;;
    --fps) FPS="$2"; shift 2 ;;
    --source-kbps) SOURCE_KBPS="$2"; shift 2 ;;
    --clip-seconds) CLIP_SECONDS="$2"; shift 2 ;;
    --clip) CLIP="$2"; shift 2 ;;
    --nice) PROBE_NICE="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) die "unknown argument $1" ;;
  esac
done
((ROUNDS >= 1)) || die "--rounds must be at least 1"

require_tools ffmpeg ffprobe node jq curl python3
[[ -f "$HLSJS" ]] || die "hls.js not found at $HLSJS (npm ci --prefix api/web)"
[[ -x "$CHROMIUM" ]] || die "chromium not found at $CHROMIUM"
bench_init ladder_latency
MACHINE="$(machine_json)"

# ---------------------------------------------------------------- clip, server, page
if [[ -z "$CLIP" ]]; then
  CLIP="$BENCH_TMP/clip.mp4"
  make_clip "$CLIP" "$SIZE" "$FPS" "$CLIP_SECONDS" "$SOURCE_KBPS"
fi
read -r SRC_W SRC_H SRC_FPS CLIP_S < <(clip_info "$CLIP")
log "input: ${SRC_W}x${SRC_H}@${SRC_FPS}, ${CLIP_S} s clip, looped"

start_oxcast oxcast OXCAST_DEFAULT_PROFILE=standard

WWW="$BENCH_TMP/www"
mkdir -p "$WWW"
cp "$BENCH_DIR/hls-page.html" "$HLSJS" "$WWW"/
PAGE_PORT="$(free_port)"
bg_start page-server "$BENCH_TMP/page-server.log" python3 -m http.server "$PAGE_PORT" --bind 127.0.0.1 --directory "$WWW"
wait_tcp "$PAGE_PORT" 10

n_guess=4
if [[ -n "$RENDITIONS" ]]; then n_guess=$(wc -w <<<"${RENDITIONS//,/ }"); fi
PUSH_SECONDS=$((WARMUP + ROUNDS * n_guess * (PROBE_SECONDS + 45) + 60))
PUB_CMD=(ffmpeg -hide_banner -nostdin -loglevel info -re -stream_loop -1 -i "$CLIP" -t "$PUSH_SECONDS"
  -map 0 -c copy -f flv "rtmp://$OX_RTMP/live/$OX_KEY")
PUB_PRINTABLE="$(printf '%q ' "${PUB_CMD[@]}" | sed -e "s/$OX_KEY/\$KEY/g" -e "s|$BENCH_TMP|\$TMP|g")"
bg_start publisher "$BENCH_TMP/publisher.log" timeout $((PUSH_SECONDS + 60)) "${PUB_CMD[@]}"
PUB_PID=$BG_PID

MASTER="http://$OX_HTTP/live/main/index.m3u8"
wait_http "$MASTER" 30 '#EXT-X-STREAM-INF'
sleep 1
ALL_VARIANTS="$(curl -fsS --max-time 5 "$MASTER" | grep -E '^[^#].*/index\.m3u8' | sed 's|/index.m3u8.*||' | paste -sd, -)"
log "variants in the multivariant playlist: $ALL_VARIANTS"
RENDITIONS="${RENDITIONS:-$ALL_VARIANTS}"
for r in ${RENDITIONS//,/ }; do
  [[ ",$ALL_VARIANTS," == *",$r,"* ]] || die "rendition $r is not in the multivariant playlist ($ALL_VARIANTS)"
  wait_http "http://$OX_HTTP/live/main/$r/index.m3u8" 30 '#EXTINF'
done
[[ ",$RENDITIONS," == *,video,* ]] || log "WARNING: 'video' (the source) is not among the renditions; no differences can be computed"
log "ladder is serving; warming up ${WARMUP}s"
sleep "$WARMUP"
kill -0 "$PUB_PID" 2>/dev/null || die "the publisher exited early: $(tail -5 "$BENCH_TMP/publisher.log")"
curl -fsS --max-time 5 "http://$OX_HTTP/api/streams/main" >"$BENCH_TMP/status-start.json" || echo '{}' >"$BENCH_TMP/status-start.json"

# Server-side part availability for every rendition (and audio) during all probes.
WATCH_ARGS=()
for r in ${RENDITIONS//,/ } audio; do WATCH_ARGS+=(--playlist "main/$r=http://$OX_HTTP/live/main/$r/index.m3u8"); done
if [[ ",$RENDITIONS," != *,video,* ]]; then WATCH_ARGS+=(--playlist "main/video=http://$OX_HTTP/live/main/video/index.m3u8"); fi
STOP_FILE="$BENCH_TMP/watch.stop"
bg_start playlist-watch "$BENCH_TMP/playlist-watch.log" python3 "$BENCH_DIR/playlist_watch.py" --seconds $((PUSH_SECONDS + 60)) \
  --ref video --out "$BENCH_TMP/playlist-watch.json" --stop-file "$STOP_FILE" "${WATCH_ARGS[@]}"
WATCH_PID=$BG_PID

# ---------------------------------------------------------------- probes
read -r -a RLIST <<<"${RENDITIONS//,/ }"
N=${#RLIST[@]}
PROBES='[]'
probe() { # probe RENDITION ROUND
  local r="$1" k="$2" rc=0 out="$BENCH_TMP/probe-$1-r$2.json"
  local src; src="$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$MASTER")"
  local url="http://127.0.0.1:$PAGE_PORT/hls-page.html?src=$src&config=oxcast&level=$r"
  local j0 c0 t0 shed0
  shed0="$(shed_lines "$BENCH_TMP/oxcast.stderr.log")"
  j0="$(cpu_jiffies)"; c0="$(proc_cpu_s "$OX_PID")"; t0="$(now_s)"
  log "round $k: probing $r for ${PROBE_SECONDS}s"
  (cd "$REPO_DIR" && timeout $((PROBE_SECONDS + 120)) nice -n "$PROBE_NICE" node tests/browser/play.mjs --url "$url" \
    --seconds "$PROBE_SECONDS" --chromium "$CHROMIUM") >"$out" 2>"$BENCH_TMP/probe-$r-r$k.stderr.log" || rc=$?
  jq -e . "$out" >/dev/null 2>&1 || echo '{"ok":false,"reason":"probe printed no JSON"}' >"$out"
  local busy oxpct shed1
  busy="$(cpu_busy_pct "$j0" "$(cpu_jiffies)")"
  oxpct="$(awk -v a="$c0" -v b="$(proc_cpu_s "$OX_PID")" -v t0="$t0" -v t1="$(now_s)" 'BEGIN { if (a == "null" || b == "null" || t1 <= t0) print "null"; else printf "%.1f", 100 * (b - a) / (t1 - t0) }')"
  shed1="$(shed_lines "$BENCH_TMP/oxcast.stderr.log")"
  log "probe $r (round $k) finished (exit $rc): $(jq -c '{p50: .latencyMs.p50, p95: .latencyMs.p95, levelsPlayed, stalls}' "$out")"
  PROBES="$(jq -c --arg r "$r" --argjson k "$k" --argjson rc "$rc" --arg busy "$busy" --arg ox "$oxpct" \
    --argjson shed "$((shed1 - shed0))" --slurpfile p "$out" \
    '. + [{rendition: $r, round: $k, exit: $rc, machine_busy_pct: ($busy | tonumber? // null),
           oxcast_cpu_pct_of_one_core: ($ox | tonumber? // null), rungs_shed_during_probe: $shed, probe: $p[0]}]' <<<"$PROBES")"
}
for ((k = 1; k <= ROUNDS; k++)); do
  for ((i = 0; i < N; i++)); do
    r="${RLIST[$(((i + k - 1) % N))]}"
    check_oxcast oxcast
    kill -0 "$PUB_PID" 2>/dev/null || die "the publisher exited early: $(tail -5 "$BENCH_TMP/publisher.log")"
    probe "$r" "$k"
  done
done
touch "$STOP_FILE"
wait "$WATCH_PID" || log "playlist watch exited with an error (see playlist-watch.log)"
check_oxcast oxcast

# ---------------------------------------------------------------- collect
curl -fsS --max-time 5 "http://$OX_HTTP/api/streams/main" >"$BENCH_TMP/status-end.json" || echo '{}' >"$BENCH_TMP/status-end.json"
curl -fsS --max-time 5 "http://$OX_HTTP/metrics" >"$BENCH_TMP/metrics.txt" || : >"$BENCH_TMP/metrics.txt"
[[ -s "$BENCH_TMP/playlist-watch.json" ]] || echo '{"groups":{"main":{}}}' >"$BENCH_TMP/playlist-watch.json"
cp "$BENCH_TMP"/probe-*.json "$BENCH_TMP/playlist-watch.json" "$BENCH_TMP"/status-*.json "$BENCH_TMP/metrics.txt" "$RUN_DIR"/ 2>/dev/null || true
SHED="$(shed_lines "$BENCH_TMP/oxcast.stderr.log")"
OXWARN="$(strip_ansi <"$BENCH_TMP/oxcast.stderr.log" | grep -c -E '^[^ ]+ +(ERROR|WARN) ' || true)"

jq -n --argjson machine "$MACHINE" --argjson probes "$PROBES" --slurpfile watch "$BENCH_TMP/playlist-watch.json" \
  --slurpfile st0 "$BENCH_TMP/status-start.json" --slurpfile st1 "$BENCH_TMP/status-end.json" \
  --arg rends "$RENDITIONS" --argjson secs "$PROBE_SECONDS" --argjson warmup "$WARMUP" --argjson rounds "$ROUNDS" \
  --argjson nice "$PROBE_NICE" --arg pub "$PUB_PRINTABLE" --arg w "$SRC_W" --arg h "$SRC_H" --arg fps "$SRC_FPS" \
  --arg clip_s "$CLIP_S" --arg kbps "$SOURCE_KBPS" --arg picture "${CLIP_FILTER:-testsrc2 + noise ${CLIP_NOISE:-4}}" \
  --arg seg "${OXCAST_SEGMENT_DURATION_MS:-default}" --arg part "${OXCAST_PART_DURATION_MS:-default}" \
  --argjson shed "$SHED" --argjson oxwarn "${OXWARN:-0}" \
  '
  def median: sort | if length == 0 then null elif length % 2 == 1 then .[length / 2 | floor] else ((.[length / 2 - 1] + .[length / 2]) / 2) end;
  def num: select(type == "number");
  ($watch[0].groups.main // {}) as $wm
  | ($st0[0].renditions // [] | map({key: .id, value: .height}) | from_entries) as $heights
  | ($rends | split(",")) as $names
  | [ $names[] as $r
      | ($probes | map(select(.rendition == $r))) as $ps
      | ($wm[$r].pdt_offset_vs_ref_ms // null) as $off
      | ($heights[$r] // null) as $height
      | { rendition: $r, height: $height,
          pdt_offset_ms: $off,
          pdt_mismatch: (($off // 0) | (if . < 0 then -. else . end) > 100),
          pdt_offset_spread_ms: ($wm[$r].pdt_offset_spread_ms // null),
          latency_ms: { p50: ([$ps[].probe.latencyMs.p50 | num] | median), p95: ([$ps[].probe.latencyMs.p95 | num] | median) },
          corrected_latency_ms: (if $off == null then null else
            { p50: ([$ps[].probe.latencyMs.p50 | num | . + $off | round] | median),
              p95: ([$ps[].probe.latencyMs.p95 | num | . + $off | round] | median) } end),
          hls_latency_s: { p50: ([$ps[].probe.hlsLatency.p50 | num] | median), p95: ([$ps[].probe.hlsLatency.p95 | num] | median) },
          stalls: ([$ps[].probe.stalls | num] | add),
          pinned_ok: ($ps | all(.probe.levelsPlayed == [$height])),
          levels_played: [$ps[].probe.levelsPlayed],
          probes_ok: ($ps | all(.probe.ok == true)),
          hls_errors: ([$ps[].probe.errors // [] | length] | add),
          rungs_shed_during_probes: ([$ps[].rungs_shed_during_probe] | add),
          server: { part_available_vs_video_ms: ($wm[$r].vs_ref_ms // null),
                    part_ready_after_pdt_ms: ($wm[$r].ready_after_pdt_ms // null),
                    media_s_per_wall_s: ($wm[$r].media_s_per_wall_s // null) },
          per_round: [$ps[] | {round, latency_ms: .probe.latencyMs, hls_latency_s: .probe.hlsLatency, stalls: .probe.stalls,
                               startup_ms: .probe.startupMs, levels_played: .probe.levelsPlayed, ok: .probe.ok,
                               machine_busy_pct, oxcast_cpu_pct_of_one_core}] } ] as $rows
  | ($rows | map(select(.rendition == "video")) | .[0]) as $src
  | {
      benchmark: "ladder_latency", machine: $machine,
      config: { probe_seconds: $secs, warmup_seconds: $warmup, rounds: $rounds, probe_nice: $nice, renditions: $names,
                player: "bench/hls-page.html?config=oxcast&level=NAME (hls.js lowLatencyMode, maxLiveSyncPlaybackRate 1.25, pinned)",
                clip: { width: ($w | tonumber), height: ($h | tonumber), fps: ($fps | tonumber), seconds: ($clip_s | tonumber),
                        video_kbps: ($kbps | tonumber), picture: $picture },
                publisher: $pub, oxcast_segment_duration_ms: $seg, oxcast_part_duration_ms: $part, profile: "standard" },
      renditions: ($rows | map(. + { added_vs_video_ms: (if $src == null or .corrected_latency_ms == null or $src.corrected_latency_ms == null then null else
                                       { p50: (if .corrected_latency_ms.p50 != null and $src.corrected_latency_ms.p50 != null then .corrected_latency_ms.p50 - $src.corrected_latency_ms.p50 else null end),
                                         p95: (if .corrected_latency_ms.p95 != null and $src.corrected_latency_ms.p95 != null then .corrected_latency_ms.p95 - $src.corrected_latency_ms.p95 else null end) } end) })),
      audio_server: { part_available_vs_video_ms: ($wm.audio.vs_ref_ms // null), pdt_offset_ms: ($wm.audio.pdt_offset_vs_ref_ms // null) },
      playlist_watch_window_s: ($watch[0].window.seconds // null),
      status_start: $st0[0], status_end: $st1[0],
      logs: { rungs_shed_total: $shed, oxcast_warn_error_lines: $oxwarn },
      # No rung shed, every probe played its pinned rendition and advanced.
      valid: ($shed == 0 and ($rows | all(.pinned_ok and .probes_ok)))
    }' >"$RUN_DIR/result.json"

jq -r '
  def f(x): if x == null then "-" else (x | tostring) end;
  def pad(n): tostring | if length < n then (" " * (n - length)) + . else . end;
  "",
  "latency per rendition (Date.now() - hls.playingDate, pinned hls.js), \(.config.probe_seconds) s per probe, \(.config.rounds) round(s), \(.config.clip.width)x\(.config.clip.height) source",
  "rendition  height   p50 ms   p95 ms   +vs video p50/p95 ms   hls.latency p50 s  PDT offset ms  server part lag vs video p50/p95 ms  pinned  stalls",
  (.renditions[] | "\(.rendition | . + (" " * (9 - length)))  \(f(.height) | pad(6))  \(f(.corrected_latency_ms.p50) | pad(7))  \(f(.corrected_latency_ms.p95) | pad(7))  \("\(f(.added_vs_video_ms.p50)) / \(f(.added_vs_video_ms.p95))" | pad(21))  \(f(.hls_latency_s.p50) | pad(17))  \(f(.pdt_offset_ms) | pad(13))  \("\(f(.server.part_available_vs_video_ms.p50)) / \(f(.server.part_available_vs_video_ms.p95))" | pad(35))  \(if .pinned_ok then "yes" else "NO" end | pad(6))  \(f(.stalls) | pad(6))"),
  "(p50/p95 are PDT-corrected: raw + PDT offset of the rendition vs the source on the same segments; raw equals corrected when the offset is 0)",
  (.renditions[] | select(.pdt_mismatch) | "WARNING: \(.rendition) carries PROGRAM-DATE-TIME \(.pdt_offset_ms) ms off the source; raw hls.js latency p50 \(f(.latency_ms.p50)) ms"),
  (.renditions[] | select((.pdt_offset_spread_ms // 0) > 100) | "WARNING: \(.rendition): PDT offset vs video not constant (spread \(.pdt_offset_spread_ms) ms): its sequence numbers stopped matching the source (restart?); the corrected and server-side numbers are unreliable"),
  (if .logs.rungs_shed_total > 0 then "WARNING: the ladder shed \(.logs.rungs_shed_total) rung(s) during the run (encoding fell behind real time): the run is not valid" else empty end),
  "audio: server part lag vs video p50/p95 \(f(.audio_server.part_available_vs_video_ms.p50)) / \(f(.audio_server.part_available_vs_video_ms.p95)) ms",
  "rungs shed (encoding fell behind real time): \(.logs.rungs_shed_total); oxcast WARN/ERROR log lines: \(.logs.oxcast_warn_error_lines); valid run: \(.valid)"
' "$RUN_DIR/result.json"
log "wrote $RUN_DIR/result.json"
