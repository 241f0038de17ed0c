#!/usr/bin/env bash
# Live latency in the settings people use (issue 12, part 2): a pre-encoded file with OBS's
# recommended 2 s keyframe interval, pushed with `ffmpeg -re -c copy`, on the passthrough and the
# standard ladder profile, watched through a plain hls.js embed, oxcast's /watch page, and
# nginx-rtmp's classic HLS (the ratio), one player after the other, in the same run.
#
#   bench/real_latency.sh [--seconds 45] [--rounds 2] [--profiles passthrough,standard]
#                         [--pages embed,watch,nginx] [--size 1280x720] [--fps 30] [--kbps 3000]
#                         [--gop-seconds 2] [--clip-seconds 60] [--warmup 12] [--nice 10]
#
#   --pages   embed: bench/hls-page.html on its own origin with exactly `new Hls({lowLatencyMode:
#             true})` (what a site embedding the stream writes); watch: oxcast's /watch/main;
#             nginx: nginx-rtmp `hls on` (1 s fragments) through bench/pdt-proxy.mjs, hls.js
#             defaults (classic HLS)
#   --rounds  every page is probed this many times per profile, in a rotated order
#
# Per probe (tests/browser/play.mjs, niced): Date.now() - hls.playingDate p50/p95 ("latency"),
# hls.latency, time to first frame (page load to the playhead moving), stalls. Per profile, from
# the server: oxcast_part_ready_seconds per rendition (ingest of a part's last frame to the part
# being servable: packaging, and each rung's encoding), bench/playlist_watch.py's view of when
# each rendition's parts became available to a client (delivery), and oxcast's CPU. Where the
# time goes = ingest (not in the PDT: it is stamped on arrival) + part ready + what the player
# holds (latency - part ready).
#
# Env: OXCAST_BIN, KEEP_TMP=1, CLIP_NOISE. Writes bench/results/real_latency-<UTC>/result.json.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PROBE_SECONDS=45
ROUNDS=2
PROFILES=passthrough,standard
PAGES=embed,watch,nginx
SIZE=1280x720
FPS=30
KBPS=3000
GOP_SECONDS=2
CLIP_SECONDS=60
WARMUP=12
PROBE_NICE=10
while (($#)); do
  case "$1" in
    --seconds) PROBE_SECONDS="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    --profiles) PROFILES="$2"; shift 2 ;;
    --pages) PAGES="$2"; shift 2 ;;
    --size) SIZE="$2"; shift 2 ;;
    --fps) FPS="$2"; shift 2 ;;
    --kbps) KBPS="$2"; shift 2 ;;
    --gop-seconds) GOP_SECONDS="$2"; shift 2 ;;
    --clip-seconds) CLIP_SECONDS="$2"; shift 2 ;;
    --warmup) WARMUP="$2"; shift 2 ;;
    --nice) PROBE_NICE="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) die "unknown argument $1" ;;
  esac
done
((ROUNDS >= 1)) || die "--rounds must be at least 1"
require_tools ffmpeg ffprobe node jq curl python3 "$NGINX_BIN"
[[ -f "$HLSJS" ]] || die "hls.js not found at $HLSJS (npm ci --prefix api/web)"
[[ -x "$CHROMIUM" ]] || die "chromium not found at $CHROMIUM"
bench_init real_latency
MACHINE="$(machine_json)"

CLIP="$BENCH_TMP/clip.mp4"
CLIP_GOP=$((GOP_SECONDS * FPS)) make_clip "$CLIP" "$SIZE" "$FPS" "$CLIP_SECONDS" "$KBPS"
# The tee muxer copies the MP4 codec tags, which FLV refuses: publish from an FLV copy.
ffmpeg -hide_banner -nostdin -loglevel error -y -i "$CLIP" -c copy "${CLIP%.mp4}.flv" || die "remuxing the clip to FLV failed"
CLIP="${CLIP%.mp4}.flv"

WWW="$BENCH_TMP/www"
mkdir -p "$WWW"
cp "$BENCH_DIR/hls-page.html" "$HLSJS" "$WWW"/
PAGE_PORT="$(free_port)"
bg_start page-server "$BENCH_TMP/page-server.log" python3 -m http.server "$PAGE_PORT" --bind 127.0.0.1 --directory "$WWW"
wait_tcp "$PAGE_PORT" 10

urlencode() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }
read -r -a PAGE_LIST <<<"${PAGES//,/ }"
NPAGES=${#PAGE_LIST[@]}
RESULTS='[]'

run_profile() { # run_profile PROFILE
  local profile="$1" pid_mark=${#BENCH_PIDS[@]}
  start_oxcast "oxcast-$profile" OXCAST_DEFAULT_PROFILE="$profile"
  local nginx_port; nginx_port="$(free_port)"
  rm -rf "$BENCH_TMP/nginx" # the previous profile's fragments would confuse pdt-proxy
  start_nginx "$nginx_port"
  local hls_dir="$NGINX_HLS_DIR"
  local media="http://$OX_HTTP/live/main/video/index.m3u8" master="http://$OX_HTTP/live/main/index.m3u8"
  bg_start "pdt-proxy-$profile" "$BENCH_TMP/pdt-proxy-$profile.log" \
    node "$BENCH_DIR/pdt-proxy.mjs" --port 0 --hls-dir "$hls_dir" --stream bench \
    --anchor-playlist "$media" --max-seconds $((WARMUP + ROUNDS * NPAGES * (PROBE_SECONDS + 60) + 300))
  local proxy="" deadline=$((SECONDS + 10))
  while ((SECONDS < deadline)) && [[ -z "$proxy" ]]; do
    proxy="$(grep -o 'http://127.0.0.1:[0-9]*' "$BENCH_TMP/pdt-proxy-$profile.log" | head -1 || true)"
    sleep 0.1
  done
  [[ -n "$proxy" ]] || die "pdt-proxy did not start"

  local push=$((WARMUP + ROUNDS * NPAGES * (PROBE_SECONDS + 60) + 60))
  # One ffmpeg feeds both servers (tee), so both get every frame at the same moment.
  local pub=(ffmpeg -hide_banner -nostdin -loglevel info -re -stream_loop -1 -i "$CLIP" -t "$push"
    -map 0:v -map 0:a -c copy -f tee
    "[f=flv:onfail=ignore]rtmp://$OX_RTMP/live/$OX_KEY|[f=flv:onfail=ignore]rtmp://127.0.0.1:$nginx_port/live/bench")
  PUB_PRINTABLE="$(printf '%q ' "${pub[@]}" | sed -e "s/$OX_KEY/\$KEY/g" -e "s|$BENCH_TMP|\$TMP|g")"
  bg_start "publisher-$profile" "$BENCH_TMP/publisher-$profile.log" timeout $((push + 60)) "${pub[@]}"
  local pub_pid=$BG_PID

  wait_http "$master" 30 '#EXT-X-STREAM-INF'
  sleep 1
  local variants
  variants="$(curl -fsS --max-time 5 "$master" | grep -E '^[^#].*/index\.m3u8' | sed 's|/index.m3u8.*||' | paste -sd' ' -)"
  for r in $variants; do wait_http "http://$OX_HTTP/live/main/$r/index.m3u8" 30 '#EXTINF'; done
  wait_http "$proxy/status" 30 '"ready":true'
  log "$profile: renditions $variants; warming up ${WARMUP}s"
  sleep "$WARMUP"

  local watch_args=() r
  for r in $variants audio; do watch_args+=(--playlist "main/$r=http://$OX_HTTP/live/main/$r/index.m3u8"); done
  local stop="$BENCH_TMP/watch-$profile.stop"
  bg_start "playlist-watch-$profile" "$BENCH_TMP/playlist-watch-$profile.log" python3 "$BENCH_DIR/playlist_watch.py" \
    --seconds $((push + 60)) --ref video --out "$BENCH_TMP/playlist-watch-$profile.json" --stop-file "$stop" "${watch_args[@]}"
  local watch_pid=$BG_PID

  local probes='[]' k i page url out rc j0 c0 t0 busy oxpct shed0 shed1
  local c_start t_start; c_start="$(proc_cpu_s "$OX_PID")"; t_start="$(now_s)"
  for ((k = 1; k <= ROUNDS; k++)); do
    for ((i = 0; i < NPAGES; i++)); do
      page="${PAGE_LIST[$(((i + k - 1) % NPAGES))]}"
      case "$page" in
        embed) url="http://127.0.0.1:$PAGE_PORT/hls-page.html?src=$(urlencode "$master")&config=embed" ;;
        watch) url="http://$OX_HTTP/watch/main" ;;
        nginx) url="$proxy/watch" ;;
        *) die "unknown page $page (embed, watch, nginx)" ;;
      esac
      check_oxcast "oxcast-$profile"
      kill -0 "$pub_pid" 2>/dev/null || die "the publisher exited early: $(tail -5 "$BENCH_TMP/publisher-$profile.log")"
      out="$BENCH_TMP/probe-$profile-$page-r$k.json"
      shed0="$(shed_lines "$BENCH_TMP/oxcast-$profile.stderr.log")"
      j0="$(cpu_jiffies)"; c0="$(proc_cpu_s "$OX_PID")"; t0="$(now_s)"
      log "$profile, round $k: probing $page for ${PROBE_SECONDS}s"
      rc=0
      (cd "$REPO_DIR" && timeout $((PROBE_SECONDS + 120)) nice -n "$PROBE_NICE" node tests/browser/play.mjs --url "$url" \
        --seconds "$PROBE_SECONDS" --chromium "$CHROMIUM") >"$out" 2>"${out%.json}.stderr.log" || rc=$?
      jq -e . "$out" >/dev/null 2>&1 || echo '{"ok":false,"reason":"probe printed no JSON"}' >"$out"
      busy="$(cpu_busy_pct "$j0" "$(cpu_jiffies)")"
      oxpct="$(awk -v a="$c0" -v b="$(proc_cpu_s "$OX_PID")" -v t0="$t0" -v t1="$(now_s)" 'BEGIN { if (a == "null" || b == "null" || t1 <= t0) print "null"; else printf "%.1f", 100 * (b - a) / (t1 - t0) }')"
      shed1="$(shed_lines "$BENCH_TMP/oxcast-$profile.stderr.log")"
      log "$profile $page (round $k, exit $rc): $(jq -c '{p50: .latencyMs.p50, p95: .latencyMs.p95, hls: .hlsLatency.p50, ttff: .startupMs, stalls}' "$out")"
      probes="$(jq -c --arg page "$page" --argjson k "$k" --argjson rc "$rc" --arg busy "$busy" --arg ox "$oxpct" \
        --argjson shed "$((shed1 - shed0))" --slurpfile p "$out" \
        '. + [{page: $page, round: $k, exit: $rc, machine_busy_pct: ($busy | tonumber? // null),
               oxcast_cpu_pct_of_one_core: ($ox | tonumber? // null), rungs_shed: $shed,
               latency_ms: $p[0].latencyMs, hls_latency_s: $p[0].hlsLatency, ttff_ms: $p[0].startupMs,
               stalls: $p[0].stalls, advanced_s: $p[0].advanced, levels_played: $p[0].levelsPlayed,
               ok: $p[0].ok, errors: ($p[0].errors | length)}]' <<<"$probes")"
    done
  done
  local oxcpu
  oxcpu="$(awk -v a="$c_start" -v b="$(proc_cpu_s "$OX_PID")" -v t0="$t_start" -v t1="$(now_s)" 'BEGIN { printf "%.1f", 100 * (b - a) / (t1 - t0) }')"
  touch "$stop"
  wait "$watch_pid" || log "playlist watch exited with an error"
  curl -fsS --max-time 5 "http://$OX_HTTP/metrics" >"$BENCH_TMP/metrics-$profile.txt" || : >"$BENCH_TMP/metrics-$profile.txt"
  curl -fsS --max-time 5 "$media" >"$BENCH_TMP/playlist-$profile.m3u8" || true
  curl -fsS --max-time 5 "$proxy/status" >"$BENCH_TMP/pdt-status-$profile.json" || echo '{}' >"$BENCH_TMP/pdt-status-$profile.json"
  [[ -s "$BENCH_TMP/playlist-watch-$profile.json" ]] || echo '{"groups":{"main":{}}}' >"$BENCH_TMP/playlist-watch-$profile.json"
  cp "$BENCH_TMP"/probe-"$profile"-*.json "$BENCH_TMP/metrics-$profile.txt" "$BENCH_TMP/playlist-$profile.m3u8" \
    "$BENCH_TMP/playlist-watch-$profile.json" "$BENCH_TMP/pdt-status-$profile.json" "$RUN_DIR"/ 2>/dev/null || true

  local ready='{}'
  for r in $variants audio; do
    ready="$(jq -c --arg r "$r" \
      --arg p50 "$(metric "$BENCH_TMP/metrics-$profile.txt" "oxcast_part_ready_seconds{stream=\"main\",rendition=\"$r\",quantile=\"0.5\"}")" \
      --arg p99 "$(metric "$BENCH_TMP/metrics-$profile.txt" "oxcast_part_ready_seconds{stream=\"main\",rendition=\"$r\",quantile=\"0.99\"}")" \
      '. + {($r): {p50_ms: (($p50 | tonumber? // null) | if . then . * 1000 | round else null end),
                   p99_ms: (($p99 | tonumber? // null) | if . then . * 1000 | round else null end)}}' <<<"$ready")"
  done
  RESULTS="$(jq -c --arg profile "$profile" --arg variants "$variants" --argjson probes "$probes" --argjson ready "$ready" \
    --slurpfile watch "$BENCH_TMP/playlist-watch-$profile.json" --slurpfile pdt "$BENCH_TMP/pdt-status-$profile.json" \
    --arg oxcpu "$oxcpu" --arg shed "$(shed_lines "$BENCH_TMP/oxcast-$profile.stderr.log")" \
    '. + [{profile: $profile, renditions: ($variants | split(" ")), oxcast_cpu_pct_of_one_core: ($oxcpu | tonumber),
           rungs_shed: ($shed | tonumber), part_ready_ms: $ready,
           available_after_pdt_ms: (($watch[0].groups.main // {}) | with_entries(.value = .value.ready_after_pdt_ms)),
           keeps_real_time: (($watch[0].groups.main // {}) | with_entries(.value = .value.media_s_per_wall_s)),
           nginx_pdt_cross_check_ms: $pdt[0].crossCheck.p50Ms,
           probes: $probes}]' <<<"$RESULTS")"

  # Stop this profile's processes (newest first) before the next one starts.
  local j entry
  for ((j = ${#BENCH_PIDS[@]} - 1; j >= pid_mark; j--)); do
    entry="${BENCH_PIDS[$j]}"
    _bench_kill "${entry%%:*}" "${entry##*:}"
  done
  BENCH_PIDS=("${BENCH_PIDS[@]:0:$pid_mark}")
  sleep 2
}

for profile in ${PROFILES//,/ }; do run_profile "$profile"; done

jq -n --argjson machine "$MACHINE" --argjson results "$RESULTS" --arg pub "$PUB_PRINTABLE" \
  --arg size "$SIZE" --argjson fps "$FPS" --argjson kbps "$KBPS" --argjson gop "$GOP_SECONDS" \
  --argjson secs "$PROBE_SECONDS" --argjson rounds "$ROUNDS" --argjson nice "$PROBE_NICE" --argjson warmup "$WARMUP" '
  def median: map(select(type == "number")) | sort | if length == 0 then null elif length % 2 == 1 then .[length / 2 | floor] else ((.[length / 2 - 1] + .[length / 2]) / 2) end;
  {
    benchmark: "real_latency",
    machine: $machine,
    config: { clip: "\($size)@\($fps) \($kbps) kb/s H.264 High (x264 veryfast zerolatency), keyframe every \($gop) s, AAC 128 kb/s; looped",
              publisher: $pub, probe_seconds: $secs, rounds: $rounds, warmup_seconds: $warmup, probe_nice: $nice },
    results: $results,
    summary: [ $results[] as $r | ($r.probes | map(.page) | unique)[] as $page
      | ($r.probes | map(select(.page == $page))) as $ps
      | { profile: $r.profile, page: $page, runs: ($ps | length),
          latency_p50_ms: ($ps | map(.latency_ms.p50) | median), latency_p95_ms: ($ps | map(.latency_ms.p95) | median),
          latency_p50_each: ($ps | map(.latency_ms.p50)), hls_latency_p50_s: ($ps | map(.hls_latency_s.p50) | median),
          ttff_ms: ($ps | map(.ttff_ms) | median), ttff_each: ($ps | map(.ttff_ms)), stalls: ($ps | map(.stalls) | add) } ]
  }' >"$RUN_DIR/result.json"

log "result: $RUN_DIR/result.json"
jq -r '.summary[] | "\(.profile)\t\(.page)\tp50 \(.latency_p50_ms) ms (\(.latency_p50_each | map(tostring) | join(", ")))\tp95 \(.latency_p95_ms) ms\thls.latency \(.hls_latency_p50_s) s\tTTFF \(.ttff_ms) ms (\(.ttff_each | map(tostring) | join(", ")))\tstalls \(.stalls)"' "$RUN_DIR/result.json"
jq -r '.results[] | "\(.profile): part ready \(.part_ready_ms | to_entries | map("\(.key) p50 \(.value.p50_ms)/p99 \(.value.p99_ms) ms") | join(", ")); oxcast CPU \(.oxcast_cpu_pct_of_one_core)% of a core; rungs shed \(.rungs_shed)"' "$RUN_DIR/result.json"
