#!/usr/bin/env bash
# Ladder capacity (issue 3, part 8c): how many simultaneous 720p30 publishers, each transcoded
# with the standard profile (720p source -> 480p + 360p rungs; source and AAC passed through),
# one oxcast keeps in real time on this machine.
#
#   bench/ladder_capacity.sh [--step-seconds 40] [--warmup 10] [--start 1] [--max 8]
#                            [--size 1280x720] [--fps 30] [--source-kbps 2500] [--clip-seconds 20]
#                            [--clip FILE] [--min-rate 0.97] [--max-growth-ms 500]
#
#   --step-seconds   how long the N publishers run in one step (default 40)
#   --warmup         seconds after every stream serves its ladder before the measuring window
#                    opens (default 10); the window closes 3 s before the publishers stop
#   --start/--max    first and last N to try (default 1 and 8)
#   --size/--fps/--source-kbps/--clip-seconds   the pre-encoded publisher clip (make_clip in
#                    lib.sh: x264 veryfast zerolatency, 1 s GOP, AAC), looped with
#                    -stream_loop -1 and sent with -re -c copy, so the N publishers cost almost
#                    no CPU (a live x264 publisher per stream would compete with the ladders)
#   --min-rate       a rendition keeps up when it gains at least this many media seconds per
#                    wall second in the window (default 0.97)
#   --max-growth-ms  ... and the delay from ingest to part availability grows by at most this
#                    much from the first to the last quarter of the window (default 500)
#
# One step = a fresh oxcast (OXCAST_DEFAULT_PROFILE=standard), N streams created through the
# REST API (POST /api/streams with the admin token from the banner: cap1..capN), N publishers
# started 0.37 s apart (so their keyframes do not all coincide), then bench/playlist_watch.py
# follows every rendition of every stream (video, 480p, 360p, audio) with LL-HLS blocking
# reloads over the window. A step passes when:
#   - oxcast logged no "encoding fell behind real time" (a shed rung) during the step,
#   - every stream is live with every planned rung at the end and frames_skipped = 0
#     (the pump did not fall behind the hub),
#   - every rendition advanced at >= --min-rate media s per wall s (equivalently, segments per
#     wall second ~ 1 / segment duration; both are reported), with no growing backlog,
#   - every publisher was still running.
# It stops at the first failing N and reports the largest passing N (0 if N=1 failed).
#
# Caveats: no viewers (a viewer costs oxcast little, but a real server also serves them);
# publishers and server share the 2 cores only through the near-free -c copy pushes; other
# load on a shared box lowers the result (machine busy % per step is recorded); a 40 s step
# shows whether the box keeps up, not whether it would after minutes of thermal/memory
# effects. The "720p:..." rung is not planned for a 720p source (rungs only below the source).
#
# Env: OXCAST_BIN, OXCAST_SEGMENT_DURATION_MS / OXCAST_PART_DURATION_MS, KEEP_TMP=1,
# CLIP_NOISE / CLIP_FILTER, LADDER/PRESET/MAX_FPS (lib.sh).
# Writes bench/results/ladder_capacity-<UTC>/result.json plus logs; prints a table.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STEP_SECONDS=40
WARMUP=10
START_N=1
MAX_N=8
SIZE=1280x720
FPS=30
SOURCE_KBPS=2500
CLIP_SECONDS=20
CLIP=""
MIN_RATE=0.97
MAX_GROWTH_MS=500
TAIL=3
while (($#)); do
  case "$1" in
    --step-seconds) STEP_SECONDS="$2"; shift 2 ;;
    --warmup) WARMUP="$2"; shift 2 ;;
    --start) START_N="$2"; shift 2 ;;
    --max) MAX_N="$2"; shift 2 ;;
    --size) SIZE="$2"; shift 2 ;;
    --fps) FPS="$2"; shift 2 ;;
    --source-kbps) SOURCE_KBPS="$2"; shift 2 ;;
    --clip-seconds) CLIP_SECONDS="$2"; shift 2 ;;
    --clip) CLIP="$2"; shift 2 ;;
    --min-rate) MIN_RATE="$2"; shift 2 ;;
    --max-growth-ms) MAX_GROWTH_MS="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) die "unknown argument $1" ;;
  esac
done
((STEP_SECONDS > WARMUP + TAIL + 5)) || die "--step-seconds must exceed warmup + $((TAIL + 5)) s"

require_tools ffmpeg ffprobe jq curl python3
bench_init ladder_capacity
MACHINE="$(machine_json)"
check_ladder_source

if [[ -z "$CLIP" ]]; then
  CLIP="$BENCH_TMP/clip.mp4"
  make_clip "$CLIP" "$SIZE" "$FPS" "$CLIP_SECONDS" "$SOURCE_KBPS"
fi
read -r SRC_W SRC_H SRC_FPS CLIP_S < <(clip_info "$CLIP")
mapfile -t PLAN < <(ladder_plan "$SRC_W" "$SRC_H")
((${#PLAN[@]} > 0)) || die "no rung of the ladder is below the source height $SRC_H"
RUNGS=()
for p in "${PLAN[@]}"; do RUNGS+=("${p%%:*}"); done
log "input: ${SRC_W}x${SRC_H}@${SRC_FPS} (${CLIP_S} s clip, looped); rungs: ${RUNGS[*]}"
RENDS=(video "${RUNGS[@]}" audio)

STEPS='[]'
BEST=0
for ((n = START_N; n <= MAX_N; n++)); do
  log "=== step N=$n: $n publisher(s) for ${STEP_SECONDS}s"
  prefix="oxcast-n$n"
  start_oxcast "$prefix" OXCAST_DEFAULT_PROFILE=standard
  names=()
  keys=()
  for ((i = 1; i <= n; i++)); do
    names+=("cap$i")
    keys+=("$(create_stream "cap$i")")
    [[ "${keys[-1]}" == sk_* ]] || die "could not create stream cap$i"
  done
  pubs=()
  for ((i = 0; i < n; i++)); do
    bg_start "publisher-n$n-${names[$i]}" "$BENCH_TMP/publisher-n$n-${names[$i]}.log" timeout $((STEP_SECONDS + 30)) \
      ffmpeg -hide_banner -nostdin -loglevel info -re -stream_loop -1 -i "$CLIP" -t "$STEP_SECONDS" \
      -map 0 -c copy -f flv "rtmp://$OX_RTMP/live/${keys[$i]}"
    pubs+=("$BG_PID")
    sleep 0.37
  done
  t_pub=$SECONDS
  for name in "${names[@]}"; do
    wait_http "http://$OX_HTTP/live/$name/index.m3u8" 30 "^${RUNGS[-1]}/index.m3u8"
    wait_http "http://$OX_HTTP/live/$name/${RUNGS[-1]}/index.m3u8" 30 '#EXTINF'
  done
  sleep "$WARMUP"
  window=$((STEP_SECONDS - (SECONDS - t_pub) - TAIL))
  if ((window < 5)); then
    log "WARNING: only ${window}s left for the window (start-up took $((SECONDS - t_pub)) s)"
    window=5
  fi
  watch_args=()
  for name in "${names[@]}"; do
    for r in "${RENDS[@]}"; do watch_args+=(--playlist "$name/$r=http://$OX_HTTP/live/$name/$r/index.m3u8"); done
  done
  j0="$(cpu_jiffies)"; c0="$(proc_cpu_s "$OX_PID")"; w0=$(now_s)
  log "measuring for ${window}s"
  python3 "$BENCH_DIR/playlist_watch.py" --seconds "$window" --ref video --out "$BENCH_TMP/watch-n$n.json" \
    "${watch_args[@]}" 2>"$BENCH_TMP/watch-n$n.log" || log "playlist watch failed (see watch-n$n.log)"
  j1="$(cpu_jiffies)"; c1="$(proc_cpu_s "$OX_PID")"; w1=$(now_s)
  alive=0
  for p in "${pubs[@]}"; do if kill -0 "$p" 2>/dev/null; then alive=$((alive + 1)); fi; done
  statuses='[]'
  for name in "${names[@]}"; do
    st="$(curl -fsS --max-time 5 "http://$OX_HTTP/api/streams/$name" || echo '{}')"
    statuses="$(jq -c --argjson s "$st" '. + [$s]' <<<"$statuses")"
  done
  check_oxcast "$prefix"
  shed="$(shed_lines "$BENCH_TMP/$prefix.stderr.log")"
  oxwarn="$(strip_ansi <"$BENCH_TMP/$prefix.stderr.log" | grep -c -E '^[^ ]+ +(ERROR|WARN) ' || true)"
  for p in "${pubs[@]}"; do bg_stop "$p"; done
  bg_stop "$OX_PID"
  [[ -s "$BENCH_TMP/watch-n$n.json" ]] || echo '{"groups":{}}' >"$BENCH_TMP/watch-n$n.json"
  cp "$BENCH_TMP/watch-n$n.json" "$RUN_DIR/"

  step="$(jq -nc --argjson n "$n" --slurpfile w "$BENCH_TMP/watch-n$n.json" --argjson statuses "$statuses" \
    --argjson shed "$shed" --argjson alive "$alive" --argjson oxwarn "${oxwarn:-0}" \
    --argjson rungs "$(printf '%s\n' "${RUNGS[@]}" | jq -R . | jq -sc .)" \
    --argjson rends "$(printf '%s\n' "${RENDS[@]}" | jq -R . | jq -sc .)" \
    --argjson minrate "$MIN_RATE" --argjson maxgrowth "$MAX_GROWTH_MS" \
    --arg busy "$(cpu_busy_pct "$j0" "$j1")" \
    --arg oxpct "$(awk -v a="$c0" -v b="$c1" -v t0="$w0" -v t1="$w1" 'BEGIN { if (a == "null" || b == "null" || t1 <= t0) print "null"; else printf "%.1f", 100 * (b - a) / (t1 - t0) }')" \
    '
    ($w[0].groups // {}) as $g
    | [ $statuses[] as $s
        | ($g[$s.name // ""] // {}) as $sg
        | { stream: $s.name, state: $s.state, frames_skipped: $s.frames_skipped, last_error: $s.last_error,
            renditions: ($s.renditions // [] | map(.id)),
            missing_rungs: ($rungs - ($s.renditions // [] | map(.id))),
            playlists: [ $rends[] as $r | ($sg[$r] // {}) as $x
              | { rendition: $r, media_s_per_wall_s: $x.media_s_per_wall_s,
                  segments_per_wall_s: $x.segments_per_wall_s, expected_segments_per_wall_s: $x.expected_segments_per_wall_s,
                  ready_after_pdt_ms: $x.ready_after_pdt_ms, vs_video_ms: $x.vs_ref_ms, parts_timed: $x.parts_timed,
                  errors: $x.errors,
                  ok: (($x.media_s_per_wall_s // 0) >= $minrate and (($x.ready_after_pdt_ms.growth // 0) <= $maxgrowth)) } ] }
        | . + { ok: (.state == "live" and .frames_skipped == 0 and (.missing_rungs | length) == 0 and (.playlists | all(.ok))) } ] as $streams
    | ([ $streams[] | select(.ok | not) | .stream ]) as $bad
    | { n: $n, pass: ($shed == 0 and $alive == $n and ($streams | length) == $n and ($bad | length) == 0),
        reasons: ([ (if $shed > 0 then "\($shed) rung(s) shed (encoding fell behind real time)" else empty end),
                    (if $alive < $n then "\($n - $alive) publisher(s) ended early" else empty end),
                    ($streams[] | select(.ok | not) | "\(.stream): " + ([
                        (if .state != "live" then "state \(.state)" else empty end),
                        (if (.frames_skipped // 0) > 0 then "\(.frames_skipped) frames skipped" else empty end),
                        (if (.missing_rungs | length) > 0 then "missing \(.missing_rungs | join(","))" else empty end),
                        (.playlists[] | select(.ok | not) | "\(.rendition) at \(.media_s_per_wall_s) media s/s, backlog growth \(.ready_after_pdt_ms.growth) ms")
                      ] | join("; "))) ]),
        oxcast_cpu_pct_of_one_core: ($oxpct | tonumber? // null), machine_busy_pct: ($busy | tonumber? // null),
        min_media_s_per_wall_s: ([ $streams[].playlists[].media_s_per_wall_s | select(. != null) ] | min),
        max_backlog_growth_ms: ([ $streams[].playlists[].ready_after_pdt_ms.growth | select(. != null) ] | max),
        shed_log_lines: $shed, oxcast_warn_error_lines: $oxwarn, publishers_alive_at_end: $alive,
        window_s: ($w[0].window.seconds // null), streams: $streams }' )"
  STEPS="$(jq -c --argjson s "$step" '. + [$s]' <<<"$STEPS")"
  log "N=$n: $(jq -r 'if .pass then "PASS" else "FAIL: " + (.reasons | join(" | ")) end' <<<"$step") (oxcast $(jq -r .oxcast_cpu_pct_of_one_core <<<"$step")% of one core, machine busy $(jq -r .machine_busy_pct <<<"$step")%)"
  if [[ "$(jq -r .pass <<<"$step")" == true ]]; then
    BEST=$n
  else
    break
  fi
done

jq -n --argjson machine "$MACHINE" --argjson steps "$STEPS" --argjson best "$BEST" \
  --argjson step_s "$STEP_SECONDS" --argjson warmup "$WARMUP" --argjson start "$START_N" --argjson max "$MAX_N" \
  --argjson minrate "$MIN_RATE" --argjson maxgrowth "$MAX_GROWTH_MS" \
  --arg w "$SRC_W" --arg h "$SRC_H" --arg fps "$SRC_FPS" --arg clip_s "$CLIP_S" --arg kbps "$SOURCE_KBPS" \
  --arg picture "${CLIP_FILTER:-testsrc2 + noise ${CLIP_NOISE:-4}}" --arg ladder "$LADDER" --arg preset "$PRESET" \
  --argjson plan "$(printf '%s\n' "${PLAN[@]}" | jq -R 'split(":") | {name: .[0], width: (.[1] | tonumber), height: (.[2] | tonumber), kbps: (.[3] | tonumber)}' | jq -sc .)" \
  --arg seg "${OXCAST_SEGMENT_DURATION_MS:-default}" --arg part "${OXCAST_PART_DURATION_MS:-default}" \
  '{benchmark: "ladder_capacity", machine: $machine,
    config: {step_seconds: $step_s, warmup_seconds: $warmup, start_n: $start, max_n: $max,
             min_media_s_per_wall_s: $minrate, max_backlog_growth_ms: $maxgrowth, profile: "standard",
             ladder: $ladder, preset: $preset, planned_rungs: $plan,
             clip: {width: ($w | tonumber), height: ($h | tonumber), fps: ($fps | tonumber), seconds: ($clip_s | tonumber),
                    video_kbps: ($kbps | tonumber), picture: $picture},
             oxcast_segment_duration_ms: $seg, oxcast_part_duration_ms: $part},
    largest_passing_n: $best,
    hit_max_n: ($best == $max),
    steps: $steps}' >"$RUN_DIR/result.json"

jq -r '
  def f(x): if x == null then "-" else (x | tostring) end;
  def pad(n): tostring | if length < n then (" " * (n - length)) + . else . end;
  "",
  "ladder capacity: \(.config.clip.width)x\(.config.clip.height)@\(.config.clip.fps) publishers, standard profile (\(.config.planned_rungs | map(.name) | join("/")))",
  "   N  result  oxcast CPU (% of one core)  machine busy  min media s/s  max backlog growth ms",
  (.steps[] | "\(.n | pad(4))  \(if .pass then "pass" else "FAIL" end | pad(6))  \(f(.oxcast_cpu_pct_of_one_core) | pad(26))  \(f(.machine_busy_pct) | pad(11))%  \(f(.min_media_s_per_wall_s) | pad(13))  \(f(.max_backlog_growth_ms) | pad(21))"),
  (.steps[] | select(.pass | not) | "N=\(.n) failed: \(.reasons | join(" | "))"),
  "largest N kept in real time: \(.largest_passing_n)\(if .hit_max_n then " (the --max limit; try a higher --max)" else "" end)"
' "$RUN_DIR/result.json"
log "wrote $RUN_DIR/result.json"
