#!/usr/bin/env bash
# Issue 12 (5, 7): many RTMP publishers at once, oxcast on the passthrough profile against
# nginx-rtmp with `hls on`, under the same load in the same run.
#
# The load: one pre-encoded FLV (720p30 H.264 at 3 Mb/s with a 2 s keyframe interval, AAC
# 128 kb/s) replayed in real time over STEPS publishing connections by `rtmp-replay`
# (bench/publish), its own process pinned to CPU $LOAD_CPUS; the server is pinned to
# $SERVER_CPUS. Publishers join over RAMP s, then MEASURE s are measured.
#
# Per server and step: publishers whose `publish` was accepted and that were still publishing at
# the end, how far the replay fell behind real time, streams whose HLS output was current at the
# end (oxcast: a part in the video playlist dated within 3 s; nginx: a playlist written within
# 3 s), frames oxcast skipped (`oxcast_ingest_frames_skipped_total`), server CPU seconds per
# second and RSS during the measurement, per publisher.
#
#   bench/publishers.sh     # STEPS="50 150 300" RAMP=20 MEASURE=30 SERVERS="oxcast nginx"
set -euo pipefail
source "$(dirname "$0")/lib.sh"

STEPS="${STEPS:-50 150 300}"
RAMP="${RAMP:-20}"
MEASURE="${MEASURE:-30}"
SERVERS="${SERVERS:-oxcast nginx}"
LOAD_CPUS="${LOAD_CPUS:-0}"
SERVER_CPUS="${SERVER_CPUS:-1}"
REPLAY_BIN="${REPLAY_BIN:-$HOME/.cache/oxcast-target/release/rtmp-replay}"

bench_init publishers
require_tools ffmpeg jq curl taskset
[[ -x "$REPLAY_BIN" ]] || die "rtmp-replay not found at $REPLAY_BIN (cargo build --release -p oxcast-bench-publish)"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
max_steps=0
for n in $STEPS; do ((n > max_steps)) && max_steps=$n; done

clip="$BENCH_TMP/clip.mp4"
flv="$BENCH_TMP/clip.flv"
CLIP_GOP=60 make_clip "$clip" 1280x720 30 60 3000
ffmpeg -hide_banner -nostdin -loglevel error -y -i "$clip" -c copy -f flv "$flv"

# CPU seconds per second of PID (and its children) over WINDOW seconds, and its RSS then.
sample_server() {
  local pid="$1" window="$2" c0 c1 t0 t1
  c0="$(tree_cpu_s "$pid")" t0="$(now_s)"
  sleep "$window"
  c1="$(tree_cpu_s "$pid")" t1="$(now_s)"
  echo "$(awk -v a="$c0" -v b="$c1" -v s="$t0" -v e="$t1" 'BEGIN { printf "%.4f", (b - a) / (e - s) }') $(vmrss_bytes "$pid")"
}

# Exits 0 when the media playlist on stdin lists media dated within 3 s of NOW (its newest part's
# end, from PROGRAM-DATE-TIME and the durations after it).
cat >"$BENCH_TMP/current.py" <<'EOF'
import datetime, sys
now, start, end = float(sys.argv[1]), None, None
for line in sys.stdin:
    line = line.strip()
    if line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
        start = end = datetime.datetime.fromisoformat(line.split(":", 1)[1].replace("Z", "+00:00")).timestamp()
    elif line.startswith("#EXT-X-PART:") and end is not None:
        end += float(line.split("DURATION=")[1].split(",")[0])
    elif line.startswith("#EXTINF:") and start is not None:
        start = end = start + float(line[8:].split(",")[0])
sys.exit(0 if end is not None and now - end < 3 else 1)
EOF

# How many of the first N oxcast streams have a current video playlist.
oxcast_current() {
  local n=0 name
  for name in $(head -"$1" "$BENCH_TMP/names.txt"); do
    curl -fsS --max-time 2 "http://$OX_HTTP/live/$name/video/index.m3u8" 2>/dev/null \
      | python3 "$BENCH_TMP/current.py" "$(date +%s.%N)" && n=$((n + 1))
  done
  echo "$n"
}

results="[]"
for server in $SERVERS; do
  for n in $STEPS; do
    log "$server: $n publishers (ramp $RAMP s, measured $MEASURE s)"
    case "$server" in
      oxcast)
        OXCAST_DEFAULT_PROFILE=passthrough start_oxcast "pub-$n" OXCAST_RTMP_CONNECTIONS_PER_ADDRESS=$((n + 10)) \
          OXCAST_HTTP_CONNECTIONS_PER_ADDRESS=$((n + 100))
        server_pid="$OX_PID"
        taskset -pac "$SERVER_CPUS" "$server_pid" >/dev/null
        address="$OX_RTMP"
        : >"$BENCH_TMP/keys.txt"
        : >"$BENCH_TMP/names.txt"
        for i in $(seq 1 "$n"); do
          create_stream "p$i" >>"$BENCH_TMP/keys.txt"
          echo "p$i" >>"$BENCH_TMP/names.txt"
        done
        keys_args=(--keys "$BENCH_TMP/keys.txt")
        skipped0="$(curl -fsS "http://$OX_HTTP/metrics" | awk '/^oxcast_ingest_frames_skipped_total/ { s += $2 } END { print s + 0 }')"
        ;;
      nginx)
        port="$(free_port)"
        NGINX_WORKER_CONNECTIONS=$((n + 100)) start_nginx "$port"
        server_pid="$NGINX_PID"
        taskset -pac "$SERVER_CPUS" "$server_pid" >/dev/null
        address="127.0.0.1:$port"
        keys_args=(--publishers "$n" --key-prefix p)
        ;;
      *) die "unknown server $server" ;;
    esac
    idle_rss="$(vmrss_bytes "$server_pid")"
    taskset -c "$LOAD_CPUS" "$REPLAY_BIN" --file "$flv" --address "$address" "${keys_args[@]}" \
      --ramp "$RAMP" --seconds "$MEASURE" >"$RUN_DIR/replay-$server-$n.json" 2>"$BENCH_TMP/replay-$server-$n.log" &
    replay=$!
    sleep "$((RAMP + 2))"
    read -r cpu rss < <(sample_server "$server_pid" "$((MEASURE - 6))")
    case "$server" in
      oxcast)
        current="$(oxcast_current "$n")"
        skipped1="$(curl -fsS "http://$OX_HTTP/metrics" | awk '/^oxcast_ingest_frames_skipped_total/ { s += $2 } END { print s + 0 }')"
        live="$(curl -fsS "http://$OX_HTTP/metrics" | awk '/^oxcast_live_streams / { print $2 }')"
        skipped=$((skipped1 - skipped0))
        ;;
      nginx)
        current="$(find "$NGINX_HLS_DIR" -name '*.m3u8' -newermt '-3 seconds' | wc -l)"
        skipped=null live=null
        ;;
    esac
    wait "$replay" || { cat "$BENCH_TMP/replay-$server-$n.log" >&2; die "rtmp-replay failed"; }
    results="$(jq --arg server "$server" --argjson n "$n" --slurpfile r "$RUN_DIR/replay-$server-$n.json" \
      --argjson cpu "$cpu" --argjson rss "$rss" --argjson idle_rss "$idle_rss" --argjson current "$current" \
      --argjson skipped "$skipped" --argjson live "${live:-null}" '
      . + [{server: $server, publishers: $n, replay: $r[0], streams_current: $current,
        frames_skipped: $skipped, live_streams_metric: $live,
        cpu_per_s: $cpu, rss_bytes: $rss, idle_rss_bytes: $idle_rss,
        cpu_per_publisher: (($cpu / ([$r[0].held, 1] | max) * 10000 | round) / 10000),
        rss_per_publisher_mib: ((($rss - $idle_rss) / ([$r[0].held, 1] | max) / 1048576 * 100 | round) / 100)}]' <<<"$results")"
    jq -r --arg server "$server" --argjson n "$n" '.[] | select(.server == $server and .publishers == $n) |
      "\(.server) \(.publishers): held \(.replay.held)/\(.replay.publishers), current \(.streams_current), skipped \(.frames_skipped), lag p99 \(.replay.max_lag_ms_p99) ms, errors \(.replay.errors);
       CPU \(.cpu_per_s) s/s (\(.cpu_per_publisher) per publisher), RSS \(.rss_bytes / 1048576 | floor) MiB (\(.rss_per_publisher_mib) MiB per publisher)"' <<<"$results" >&2
    case "$server" in
      oxcast) check_oxcast "pub-$n"; bg_stop "$OX_PID" ;;
      nginx) bg_stop "$NGINX_PID"; rm -rf "$BENCH_TMP/nginx" ;;
    esac
    sleep 3
  done
done

jq -n --argjson machine "$(machine_json)" --argjson runs "$results" --arg load_cpus "$LOAD_CPUS" --arg server_cpus "$SERVER_CPUS" \
  --argjson ramp "$RAMP" --argjson measure "$MEASURE" '
  {machine: $machine, load_cpus: $load_cpus, server_cpus: $server_cpus, ramp_s: $ramp, measure_s: $measure, runs: $runs,
   ratios: [$runs | group_by(.publishers)[] | select(length == 2) |
     {publishers: .[0].publishers,
      cpu_per_publisher_oxcast_over_nginx: ((((map(select(.server == "oxcast"))[0].cpu_per_publisher) / (map(select(.server == "nginx"))[0].cpu_per_publisher)) * 100 | round) / 100),
      rss_per_publisher_oxcast_over_nginx: ((((map(select(.server == "oxcast"))[0].rss_per_publisher_mib) / ([map(select(.server == "nginx"))[0].rss_per_publisher_mib, 0.01] | max)) * 10 | round) / 10)}]}' \
  >"$RUN_DIR/result.json"
log "result: $RUN_DIR/result.json"
