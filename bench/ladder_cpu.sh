#!/usr/bin/env bash
# Ladder CPU cost (issue 3, part 8a): CPU seconds per input second when oxcast transcodes a
# 1080p30 input into its standard ladder (720p/480p/360p), beside ONE ffmpeg process doing the
# same ladder from the same clip in the same run; reported as the ratio oxcast / ffmpeg.
#
#   bench/ladder_cpu.sh [--seconds 60] [--warmup 10] [--tail 3] [--size 1920x1080] [--fps 30]
#                       [--source-kbps 6000] [--clip FILE] [--order oxcast,ffmpeg] [--with-passthrough]
#
#   --seconds   length of the input clip = of each publish (env DURATION, default 60)
#   --warmup    seconds after the publisher starts before the CPU window opens (env WARMUP, 10)
#   --tail      the window closes this many seconds before the clip ends (env TAIL, 3)
#   --size/--fps/--source-kbps   the pre-encoded input (H.264 High, x264 veryfast zerolatency,
#               1 s GOP, plus AAC 128 kb/s; see make_clip in lib.sh); default 1920x1080@30, 6 Mb/s
#   --clip      reuse an existing clip instead of encoding one (its size/fps are probed)
#   --order     which measurement runs first (default oxcast,ffmpeg); they never overlap
#   --with-passthrough   also measure oxcast with OXCAST_DEFAULT_PROFILE=passthrough (ingest and
#               packaging only; the difference is what the rungs cost), one more clip length
#
# How: the clip is encoded once into the temp dir, then published in real time (ffmpeg -re
# -c copy, FLV over RTMP) to a fresh oxcast with OXCAST_DEFAULT_PROFILE=standard. oxcast's CPU
# time (utime+stime of the whole process, all threads, from /proc/PID/stat) is read when the
# window opens and when it closes, and divided by the media seconds the publisher sent in that
# window (its -progress out_time). Then ffmpeg runs the same ladder from the same clip, also
# with -re: decode once, split, scale (bilinear, like GStreamer's videoscale default) to the
# rung heights with oxcast's widths, libx264 with the same preset, tune=zerolatency,
# scenecut=0, keyframes only where the source has them (-force_key_frames source, what oxcast's
# forced key units do), the same bitrates with the VBV x264enc uses in its default pass=cbr
# (maxrate = bitrate, bufsize = 0.6 s), High profile; the source video is copied (oxcast's
# "video" rendition) and AAC is copied (oxcast passes audio through); all into the null muxer.
# Its CPU is read over the same window offsets and divided by its own out_time advance.
#
# Real time: oxcast kept up when its log has no "encoding fell behind real time" (a shed rung),
# its status shows every planned rendition at the end of the window and frames_skipped stayed
# 0. ffmpeg kept up when its out_time advanced >= 0.98 s per wall second in the window.
#
# Caveats: oxcast also muxes CMAF and maintains playlists (ffmpeg writes to the null muxer); the
# x264 settings match but GStreamer's avdec_h264 threading is not ffmpeg's decoder threading;
# on a shared box other load does not change CPU seconds much but does change whether
# things keep real time (the machine's busy % in each window is recorded). The ladder
# (rung heights, bitrates, preset, fps cap) is Ladder::standard() in transcode/src/ladder.rs;
# this script carries a copy (LADDER, PRESET, MAX_FPS env) and warns if the source differs.
#
# Env: OXCAST_BIN, KEEP_TMP=1, CLIP_NOISE / CLIP_FILTER (see make_clip), LADDER
# ("720p:720:2800,480p:480:1400,360p:360:800"), PRESET (veryfast), MAX_FPS (30).
# Writes bench/results/ladder_cpu-<UTC>/result.json plus logs; prints a summary.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DURATION="${DURATION:-60}"
WARMUP="${WARMUP:-10}"
TAIL="${TAIL:-3}"
SIZE=1920x1080
FPS=30
SOURCE_KBPS=6000
CLIP=""
ORDER=oxcast,ffmpeg
WITH_PASSTHROUGH=0
while (($#)); do
  case "$1" in
    --seconds) DURATION="$2"; shift 2 ;;
    --warmup) WARMUP="$2"; shift 2 ;;
    --tail) TAIL="$2"; shift 2 ;;
    --size) SIZE="$2"; shift 2 ;;
    --fps) FPS="$2"; shift 2 ;;
    --source-kbps) SOURCE_KBPS="$2"; shift 2 ;;
    --clip) CLIP="$2"; shift 2 ;;
    --order) ORDER="$2"; shift 2 ;;
    --with-passthrough) WITH_PASSTHROUGH=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) die "unknown argument $1" ;;
  esac
done
[[ "$ORDER" == oxcast,ffmpeg || "$ORDER" == ffmpeg,oxcast ]] || die "--order must be oxcast,ffmpeg or ffmpeg,oxcast"

require_tools ffmpeg ffprobe jq curl python3 awk
bench_init ladder_cpu
MACHINE="$(machine_json)"

check_ladder_source

# ---------------------------------------------------------------- input clip
if [[ -z "$CLIP" ]]; then
  CLIP="$BENCH_TMP/clip.mp4"
  make_clip "$CLIP" "$SIZE" "$FPS" "$DURATION" "$SOURCE_KBPS"
fi
[[ -f "$CLIP" ]] || die "clip $CLIP not found"
read -r SRC_W SRC_H SRC_FPS CLIP_S < <(clip_info "$CLIP")
log "input: ${SRC_W}x${SRC_H}@${SRC_FPS}, ${CLIP_S} s"
PUSH_S="$(awk -v d="$CLIP_S" 'BEGIN { printf "%d", d }')"
((PUSH_S > WARMUP + TAIL + 3)) || die "the clip ($CLIP_S s) must be longer than warmup+tail+3 s"

# The rungs oxcast plans for this source; name:width:height:kbps each.
mapfile -t PLAN < <(ladder_plan "$SRC_W" "$SRC_H")
((${#PLAN[@]} > 0)) || die "no rung of the ladder is below the source height $SRC_H"
log "planned rungs: ${PLAN[*]}"

# ---------------------------------------------------------------- helpers
sleep_until() { # epoch seconds (fractional)
  local d
  d="$(awk -v t="$1" -v n="$(now_s)" 'BEGIN { d = t - n; if (d < 0) d = 0; printf "%.3f", d }')"
  sleep "$d"
}
sub() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "null" || b == "null" || a == "" || b == "") print "null"; else printf "%.3f", a - b }'; }
div() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "null" || b == "null" || b + 0 <= 0) print "null"; else printf "%.4f", a / b }'; }

# measure PID PROGRESS START: CPU of PID and media seconds of the -progress file over the
# window [START + WARMUP, START + PUSH_S - TAIL]. Sets W_* variables.
measure() {
  local pid="$1" prog="$2" start="$3" c0 c1 i0 i1 t0 t1 j0 j1
  sleep_until "$(awk -v s="$start" -v w="$WARMUP" 'BEGIN { printf "%.3f", s + w }')"
  c0="$(proc_cpu_s "$pid")"; i0="$(progress_out_s "$prog")"; t0="$(now_s)"; j0="$(cpu_jiffies)"
  sleep_until "$(awk -v s="$start" -v d="$PUSH_S" -v t="$TAIL" 'BEGIN { printf "%.3f", s + d - t }')"
  c1="$(proc_cpu_s "$pid")"; i1="$(progress_out_s "$prog")"; t1="$(now_s)"; j1="$(cpu_jiffies)"
  W_CPU="$(sub "$c1" "$c0")"; W_IN="$(sub "$i1" "$i0")"; W_WALL="$(sub "$t1" "$t0")"
  W_BUSY="$(cpu_busy_pct "$j0" "$j1")"
  W_PER_IN="$(div "$W_CPU" "$W_IN")"
  W_SPEED="$(div "$W_IN" "$W_WALL")"
  log "window: cpu ${W_CPU} s, input ${W_IN} s, wall ${W_WALL} s -> ${W_PER_IN} CPU s per input s (machine busy ${W_BUSY}%)"
}

# ---------------------------------------------------------------- oxcast
# Both runners set RUN_JSON (no command substitution: a subshell would hide the processes it
# starts from the cleanup trap).
run_oxcast() { # run_oxcast PROFILE
  local profile="$1" prefix="oxcast-$1" prog="$BENCH_TMP/publisher-$1.progress" plog="$BENCH_TMP/publisher-$1.log"
  start_oxcast "$prefix" OXCAST_DEFAULT_PROFILE="$profile"
  local idle0 idle1
  idle0="$(proc_cpu_s "$OX_PID")"; sleep 2; idle1="$(proc_cpu_s "$OX_PID")"
  local cmd=(ffmpeg -hide_banner -nostdin -loglevel info -progress "$prog" -stats_period 0.1
    -re -i "$CLIP" -map 0 -c copy -f flv "rtmp://$OX_RTMP/live/$OX_KEY")
  local start; start="$(now_s)"
  bg_start "publisher-$profile" "$plog" timeout $((PUSH_S + 60)) "${cmd[@]}"
  local pub=$BG_PID
  if [[ "$profile" == standard ]]; then
    local last="${PLAN[-1]%%:*}"
    wait_http "http://$OX_HTTP/live/main/index.m3u8" 30 "^$last/index.m3u8"
  else
    wait_http "http://$OX_HTTP/live/main/index.m3u8" 30 '#EXT-X-STREAM-INF'
  fi
  measure "$OX_PID" "$prog" "$start"
  local status; status="$(curl -fsS --max-time 5 "http://$OX_HTTP/api/streams/main" || echo '{}')"
  local pubcpu; pubcpu="$(proc_cpu_s "$(work_pid "$pub")")"
  kill -0 "$pub" 2>/dev/null || log "WARNING: the publisher ended before the window closed"
  wait "$pub" && prc=0 || prc=$?
  check_oxcast "$prefix"
  local shed; shed="$(shed_lines "$BENCH_TMP/$prefix.stderr.log")"
  bg_stop "$OX_PID"
  printf '%s\n' "$status" >"$RUN_DIR/status-$profile.json"
  RUN_JSON="$(jq -n --arg profile "$profile" --arg cpu "$W_CPU" --arg in "$W_IN" --arg wall "$W_WALL" --arg per "$W_PER_IN" \
    --arg speed "$W_SPEED" --arg busy "$W_BUSY" --argjson status "$status" --arg shed "$shed" --argjson prc "$prc" \
    --arg idle "$(div "$(sub "$idle1" "$idle0")" 2)" --arg pubcpu "$pubcpu" \
    --argjson expected "$(if [[ "$profile" == standard ]]; then printf '%s\n' "${PLAN[@]}" | cut -d: -f1 | jq -R . | jq -sc .; else echo '[]'; fi)" \
    '($status.renditions // [] | map(.id)) as $ids
     | ($expected - $ids) as $missing
     | {profile: $profile, cpu_s: ($cpu | tonumber? // null), input_s: ($in | tonumber? // null),
        wall_s: ($wall | tonumber? // null), cpu_s_per_input_s: ($per | tonumber? // null),
        cpu_pct_of_one_core: (if ($cpu | tonumber? // null) != null and ($wall | tonumber? // 0) > 0 then (($cpu | tonumber) / ($wall | tonumber) * 1000 | round) / 10 else null end),
        input_s_per_wall_s: ($speed | tonumber? // null),
        idle_cpu_s_per_s_before_publish: ($idle | tonumber? // null),
        machine_busy_pct: ($busy | tonumber? // null),
        shed_log_lines: ($shed | tonumber), frames_skipped: ($status.frames_skipped // null),
        renditions_at_window_end: ($status.renditions // [] | map({id, width, height, bitrate_bps})),
        missing_rungs: $missing, last_error: ($status.last_error // null),
        realtime: (($shed | tonumber) == 0 and ($status.frames_skipped // 1) == 0 and ($missing | length) == 0
                   and ($status.state // "") == "live"),
        publisher_cpu_s_total: ($pubcpu | tonumber? // null), publisher_exit: $prc}')"
}

# ---------------------------------------------------------------- ffmpeg
FF_FILTER="[0:v]split=${#PLAN[@]}"
for i in "${!PLAN[@]}"; do FF_FILTER+="[s$i]"; done
FF_MAPS=()
FF_RUNG_OPTS=()
for i in "${!PLAN[@]}"; do
  IFS=: read -r name w h kbps <<<"${PLAN[$i]}"
  chain="scale=$w:$h:flags=bilinear,setsar=1"
  if awk -v f="$SRC_FPS" -v m="$MAX_FPS" 'BEGIN { exit !(f > m) }'; then chain+=",fps=$MAX_FPS"; fi
  FF_FILTER+=";[s$i]$chain[v$i]"
  FF_MAPS+=(-map "[v$i]")
  # Per-stream options only: the copied source stream must not get encoder options.
  FF_RUNG_OPTS+=("-c:v:$i" libx264 "-preset:v:$i" "$PRESET" "-tune:v:$i" zerolatency "-profile:v:$i" high
    "-pix_fmt:v:$i" yuv420p "-g:v:$i" 3000 "-x264-params:v:$i" scenecut=0 "-force_key_frames:v:$i" source
    "-b:v:$i" "${kbps}k" "-maxrate:v:$i" "${kbps}k" "-bufsize:v:$i" "$((kbps * 6 / 10))k")
done
N_RUNGS=${#PLAN[@]}
FF_LADDER=(ffmpeg -hide_banner -nostdin -loglevel info -progress "$BENCH_TMP/ffmpeg-ladder.progress" -stats_period 0.1
  -re -i "$CLIP" -filter_complex "$FF_FILTER" "${FF_MAPS[@]}" -map 0:v -map 0:a
  "${FF_RUNG_OPTS[@]}" "-c:v:$N_RUNGS" copy -c:a copy -f null -)
FF_PRINTABLE="$(printf '%q ' "${FF_LADDER[@]}" | sed "s|$BENCH_TMP|\$TMP|g")"

run_ffmpeg() {
  local start; start="$(now_s)"
  bg_start ffmpeg-ladder "$BENCH_TMP/ffmpeg-ladder.log" timeout $((PUSH_S + 60)) "${FF_LADDER[@]}"
  local ff=$BG_PID pid
  sleep 1
  pid="$(work_pid "$ff")"
  kill -0 "$pid" 2>/dev/null || die "ffmpeg ladder exited at once: $(tail -5 "$BENCH_TMP/ffmpeg-ladder.log")"
  measure "$pid" "$BENCH_TMP/ffmpeg-ladder.progress" "$start"
  local total; total="$(proc_cpu_s "$pid")"
  wait "$ff" && rc=0 || rc=$?
  local speed; speed="$(progress_value "$BENCH_TMP/ffmpeg-ladder.progress" speed)"
  RUN_JSON="$(jq -n --arg cpu "$W_CPU" --arg in "$W_IN" --arg wall "$W_WALL" --arg per "$W_PER_IN" --arg sp "$W_SPEED" \
    --arg busy "$W_BUSY" --arg last "$speed" --argjson rc "$rc" --arg total "$total" \
    '{cpu_s: ($cpu | tonumber? // null), input_s: ($in | tonumber? // null), wall_s: ($wall | tonumber? // null),
      cpu_s_per_input_s: ($per | tonumber? // null),
      cpu_pct_of_one_core: (if ($cpu | tonumber? // null) != null and ($wall | tonumber? // 0) > 0 then (($cpu | tonumber) / ($wall | tonumber) * 1000 | round) / 10 else null end),
      input_s_per_wall_s: ($sp | tonumber? // null), last_reported_speed: $last,
      realtime: (($sp | tonumber? // 0) >= 0.98), machine_busy_pct: ($busy | tonumber? // null),
      cpu_s_total: ($total | tonumber? // null), exit: $rc}')"
}

# ---------------------------------------------------------------- run
OX_JSON=null
FF_JSON=null
for who in ${ORDER//,/ }; do
  if [[ "$who" == oxcast ]]; then
    log "=== oxcast, standard ladder, ${PUSH_S} s publish"
    run_oxcast standard
    OX_JSON="$RUN_JSON"
  else
    log "=== ffmpeg, same ladder in one process, ${PUSH_S} s"
    run_ffmpeg
    FF_JSON="$RUN_JSON"
  fi
done
PT_JSON=null
if ((WITH_PASSTHROUGH)); then
  log "=== oxcast, passthrough, ${PUSH_S} s publish"
  run_oxcast passthrough
  PT_JSON="$RUN_JSON"
fi

jq -n --argjson machine "$MACHINE" --argjson ox "$OX_JSON" --argjson ff "$FF_JSON" --argjson pt "$PT_JSON" \
  --arg clip "$CLIP" --arg w "$SRC_W" --arg h "$SRC_H" --arg fps "$SRC_FPS" --arg clip_s "$CLIP_S" \
  --arg kbps "$SOURCE_KBPS" --arg noise "${CLIP_FILTER:-testsrc2 + noise ${CLIP_NOISE:-4}}" \
  --argjson warmup "$WARMUP" --argjson tail "$TAIL" --arg order "$ORDER" --arg preset "$PRESET" --arg maxfps "$MAX_FPS" \
  --arg ladder "$LADDER" --argjson plan "$(printf '%s\n' "${PLAN[@]}" | jq -R 'split(":") | {name: .[0], width: (.[1] | tonumber), height: (.[2] | tonumber), kbps: (.[3] | tonumber)}' | jq -sc .)" \
  --arg ffcmd "$FF_PRINTABLE" \
  '{benchmark: "ladder_cpu", machine: $machine,
    config: {clip: {width: ($w | tonumber), height: ($h | tonumber), fps: ($fps | tonumber), seconds: ($clip_s | tonumber),
                    video_kbps: ($kbps | tonumber), picture: $noise, audio: "AAC-LC 128 kb/s 48 kHz (copied by both)"},
             warmup_s: $warmup, tail_s: $tail, order: $order, preset: $preset, max_fps: ($maxfps | tonumber),
             ladder: $ladder, planned_rungs: $plan, ffmpeg_ladder: $ffcmd},
    oxcast: $ox, ffmpeg: $ff, oxcast_passthrough: $pt,
    ratio_oxcast_over_ffmpeg: (if ($ox.cpu_s_per_input_s // null) != null and ($ff.cpu_s_per_input_s // 0) > 0
                               then (($ox.cpu_s_per_input_s / $ff.cpu_s_per_input_s) * 1000 | round) / 1000 else null end),
    oxcast_rungs_only_cpu_s_per_input_s: (if $pt != null and ($ox.cpu_s_per_input_s // null) != null and ($pt.cpu_s_per_input_s // null) != null
                               then ((($ox.cpu_s_per_input_s - $pt.cpu_s_per_input_s) * 1000) | round) / 1000 else null end)
   }' >"$RUN_DIR/result.json"
cp "$BENCH_TMP"/*.progress "$RUN_DIR"/ 2>/dev/null || true

jq -r '
  def f(x): if x == null then "-" else (x | tostring) end;
  def row(n; r): "\(n | . + (" " * (22 - length)))  \(f(r.cpu_s_per_input_s) | (" " * (8 - length)) + .)  \(f(r.cpu_pct_of_one_core) | (" " * (9 - length)) + .)%  \(f(r.input_s) | (" " * (7 - length)) + .)  \(if r.realtime then "yes" else "NO" end | (" " * (9 - length)) + .)  \(f(r.machine_busy_pct))%";
  "",
  "ladder CPU, \(.config.clip.width)x\(.config.clip.height)@\(.config.clip.fps) input -> \(.config.planned_rungs | map(.name) | join("/")) (\(.config.preset)), window \(.oxcast.wall_s // .ffmpeg.wall_s) s",
  "                        CPU s per   CPU of      input   kept real  machine",
  "                        input s     one core    s       time       busy",
  (if .oxcast then row("oxcast (standard)"; .oxcast) else empty end),
  (if .ffmpeg then row("ffmpeg (one process)"; .ffmpeg) else empty end),
  (if .oxcast_passthrough then row("oxcast (passthrough)"; .oxcast_passthrough) else empty end),
  "oxcast / ffmpeg: \(f(.ratio_oxcast_over_ffmpeg))x",
  (if .oxcast_passthrough then "oxcast rungs only (standard - passthrough): \(f(.oxcast_rungs_only_cpu_s_per_input_s)) CPU s per input s" else empty end),
  (if .oxcast then "oxcast: shed-rung log lines \(.oxcast.shed_log_lines), frames skipped \(f(.oxcast.frames_skipped)), renditions at window end \(.oxcast.renditions_at_window_end | map(.id) | join(",")), missing \(.oxcast.missing_rungs | join(",") | if . == "" then "none" else . end)" else empty end),
  (if .ffmpeg then "ffmpeg: input s per wall s \(f(.ffmpeg.input_s_per_wall_s)), last speed \(f(.ffmpeg.last_reported_speed))" else empty end)
' "$RUN_DIR/result.json"
log "wrote $RUN_DIR/result.json"
