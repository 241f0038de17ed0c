# Shared helpers for the oxcast benchmark scripts. Source it; do not run it.
#
# Every process started through `bg_start` is recorded and killed by `bench_cleanup`
# (installed as an EXIT/INT/TERM trap by `bench_init`). Everything binds to 127.0.0.1 only.

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$BENCH_DIR/.." && pwd)"
OXCAST_BIN="${OXCAST_BIN:-$HOME/.cache/oxcast-target/release/oxcast}"
NGINX_BIN="${NGINX_BIN:-nginx}"
NGINX_RTMP_MODULE="${NGINX_RTMP_MODULE:-/usr/lib/nginx/modules/ngx_rtmp_module.so}"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
HLSJS="$REPO_DIR/api/web/node_modules/hls.js/dist/hls.min.js"

BENCH_PIDS=()   # "name:pid" of every background process we started
BENCH_TMP=""
RUN_DIR=""      # bench/results/<name>-<timestamp>: logs + result.json (kept)
KEEP_TMP="${KEEP_TMP:-0}"
OXCAST_BIN_INFO=""

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# bench_init NAME: temp dir, results dir, traps.
bench_init() {
  local name="$1"
  # Neither the temp dir nor the server copy has "oxcast" in its name: twice during development
  # a server started here got SIGTERM from a name-based cleanup of other oxcast processes on
  # this shared machine, ending an 11-minute run. Nothing here depends on the name.
  BENCH_TMP="$(mktemp -d "${TMPDIR:-/tmp}/oxbench-$name.XXXXXX")"
  RUN_DIR="$BENCH_DIR/results/$name-$(date -u +%Y%m%dT%H%M%SZ)"
  mkdir -p "$RUN_DIR"
  trap bench_cleanup EXIT
  trap 'log "interrupted"; exit 130' INT TERM
  log "run dir: $RUN_DIR (temp: $BENCH_TMP)"
}

# Kill one recorded process (and its process group when it leads one): TERM, then KILL after 5 s.
_bench_kill() {
  local name="$1" pid="$2" i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  log "$name (pid $pid) ignored SIGTERM; sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
}

bench_cleanup() {
  local rc=$? entry i
  trap - EXIT INT TERM
  # Newest first: publishers stop before the servers they feed.
  for ((i = ${#BENCH_PIDS[@]} - 1; i >= 0; i--)); do
    entry="${BENCH_PIDS[$i]}"
    _bench_kill "${entry%%:*}" "${entry##*:}"
  done
  wait 2>/dev/null || true
  if [[ -n "$BENCH_TMP" && -d "$BENCH_TMP" ]]; then
    # Keep the logs with the results.
    if [[ -n "$RUN_DIR" && -d "$RUN_DIR" ]]; then
      cp -f "$BENCH_TMP"/*.log "$RUN_DIR"/ 2>/dev/null || true
      sed -i -E 's/\x1b\[[0-9;]*m//g' "$RUN_DIR"/*.stderr.log 2>/dev/null || true
      local f
      for f in "$BENCH_TMP"/nginx/logs/*.log; do
        [[ -f "$f" ]] && cp -f "$f" "$RUN_DIR/nginx-$(basename "$f")"
      done
    fi
    if [[ "$KEEP_TMP" == 1 ]]; then
      log "keeping $BENCH_TMP"
    else
      rm -rf "$BENCH_TMP"
    fi
  fi
  exit "$rc"
}

# bg_start NAME LOGFILE CMD...: start CMD in the background (stdout+stderr to LOGFILE unless
# the caller redirects inside CMD), remember its pid in BG_PID.
bg_start() {
  local name="$1" logfile="$2"
  shift 2
  "$@" >"$logfile" 2>&1 &
  BG_PID=$!
  BENCH_PIDS+=("$name:$BG_PID")
  log "started $name (pid $BG_PID): $*"
}

# Stop one process started by bg_start, by pid.
bg_stop() {
  local pid="$1" entry
  for entry in "${BENCH_PIDS[@]}"; do
    if [[ "${entry##*:}" == "$pid" ]]; then
      _bench_kill "${entry%%:*}" "$pid"
    fi
  done
  wait "$pid" 2>/dev/null || true
}

require_tools() {
  local t
  for t in "$@"; do
    command -v "$t" >/dev/null 2>&1 || die "missing tool: $t"
  done
  [[ -x "$OXCAST_BIN" ]] || die "oxcast binary not found at $OXCAST_BIN (set OXCAST_BIN)"
}

# A free TCP port on 127.0.0.1 (tiny race between close and reuse; fine on a private box).
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# A free UDP port on 127.0.0.1 (for SRT, which cannot listen on port 0).
free_udp_port() {
  python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_tcp PORT TIMEOUT_S
wait_tcp() {
  local port="$1" timeout="$2" deadline=$((SECONDS + $2))
  while ((SECONDS < deadline)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  die "nothing listening on 127.0.0.1:$port after ${timeout}s"
}

# wait_http URL TIMEOUT_S [GREP_PATTERN]: until URL answers 2xx (and its body matches the pattern).
wait_http() {
  local url="$1" timeout="$2" pattern="${3:-}" deadline=$((SECONDS + $2)) body
  while ((SECONDS < deadline)); do
    if body="$(curl -fsS --max-time 2 "$url" 2>/dev/null)"; then
      if [[ -z "$pattern" ]] || grep -Eq -- "$pattern" <<<"$body"; then return 0; fi
    fi
    sleep 0.2
  done
  # Say why if it is because oxcast went away.
  if [[ -n "${OX_PID:-}" && -n "${OX_LOG_PREFIX:-}" ]]; then check_oxcast "$OX_LOG_PREFIX"; fi
  die "$url not ready (pattern '${pattern}') after ${timeout}s"
}

# start_oxcast LOGPREFIX [ENV=VAL...]: fresh data dir, ephemeral loopback ports.
# Sets OX_PID, OX_HTTP (host:port), OX_RTMP (host:port), OX_KEY, OX_ADMIN_TOKEN, and OX_SRT
# (127.0.0.1:port, a free UDP port; empty when the binary has no --srt flag). Without --srt
# a binary with SRT would listen on its default 0.0.0.0:8890.
# start_oxcast PREFIX [VAR=value ...]: the OXCAST_* settings below are passed on when set in the
# caller's environment; extra VAR=value arguments override them.
start_oxcast() {
  local prefix="$1"
  shift
  local forwarded=() v
  for v in OXCAST_SEGMENT_DURATION_MS OXCAST_PART_DURATION_MS OXCAST_DEFAULT_PROFILE; do
    if [[ -n "${!v:-}" ]]; then forwarded+=("$v=${!v}"); fi
  done
  set -- "${forwarded[@]}" "$@"
  local data="$BENCH_TMP/data-${prefix//oxcast/srv}" out="$BENCH_TMP/$prefix.stdout.log" err="$BENCH_TMP/$prefix.stderr.log"
  mkdir -p "$data"
  # Run a private copy: the lead engineer may rebuild $OXCAST_BIN while a benchmark runs.
  if [[ ! -x "$BENCH_TMP/bin/bench-server" ]]; then
    mkdir -p "$BENCH_TMP/bin"
    cp "$OXCAST_BIN" "$BENCH_TMP/bin/bench-server"
    OXCAST_BIN_INFO="$(stat -c '%y' "$OXCAST_BIN") sha256:$(sha256sum "$BENCH_TMP/bin/bench-server" | cut -c1-16)"
    log "oxcast binary: $OXCAST_BIN ($OXCAST_BIN_INFO)"
  fi
  local srt_args=()
  OX_SRT=""
  if "$BENCH_TMP/bin/bench-server" serve --help 2>/dev/null | grep -q -- '--srt'; then
    OX_SRT="127.0.0.1:$(free_udp_port)"
    srt_args=(--srt "$OX_SRT")
  fi
  env RUST_LOG="${RUST_LOG:-info}" "$@" \
    "$BENCH_TMP/bin/bench-server" serve --http 127.0.0.1:0 --rtmp 127.0.0.1:0 "${srt_args[@]}" --data-dir "$data" >"$out" 2>"$err" &
  OX_PID=$!
  OX_LOG_PREFIX="$prefix"
  BENCH_PIDS+=("oxcast:$OX_PID")
  log "started oxcast (pid $OX_PID), env: ${*:-(defaults)}"
  local deadline=$((SECONDS + 30)) line
  while ((SECONDS < deadline)); do
    kill -0 "$OX_PID" 2>/dev/null || { cat "$err" >&2; die "oxcast exited during startup"; }
    line="$(grep -m1 '^oxcast is running (HTTP ' "$out" 2>/dev/null || true)"
    if [[ -n "$line" ]] && grep -q 'Stream Key:' "$out"; then break; fi
    sleep 0.2
  done
  [[ -n "$line" ]] || die "oxcast did not print its banner within 30 s"
  OX_HTTP="$(sed -E 's/^oxcast is running \(HTTP ([^,]+), RTMP ([^,]+),.*/\1/' <<<"$line")"
  OX_RTMP="$(sed -E 's/^oxcast is running \(HTTP ([^,]+), RTMP ([^,]+),.*/\2/' <<<"$line")"
  OX_KEY="$(grep -m1 'Stream Key:' "$out" | sed -E 's/.*Stream Key:[[:space:]]+//')"
  # A data directory used before shows no key (OX_REUSED_DATA=1 says that is expected).
  if [[ "${OX_REUSED_DATA:-0}" != 1 ]]; then
    [[ "$OX_KEY" == sk_* ]] || die "could not read the stream key from the banner (got '$OX_KEY')"
  fi
  OX_ADMIN_TOKEN="$(sed -n -E 's/^Admin API token \(Authorization: Bearer \.\.\.\): *//p' "$out" | head -1)"
  [[ "$OX_HTTP" == 127.0.0.1:* && "$OX_RTMP" == 127.0.0.1:* ]] || die "unexpected addresses: $OX_HTTP $OX_RTMP"
  wait_http "http://$OX_HTTP/healthz" 10
  log "oxcast HTTP $OX_HTTP RTMP $OX_RTMP${OX_SRT:+ SRT $OX_SRT/udp}"
}

# create_stream NAME: a new stream through the REST API (admin token from the banner); prints
# its stream key.
create_stream() {
  local body key
  [[ -n "${OX_ADMIN_TOKEN:-}" ]] || die "no admin token (banner not parsed?)"
  body="$(curl -fsS --max-time 10 -X POST -H "Authorization: Bearer $OX_ADMIN_TOKEN" \
    -H 'Content-Type: application/json' -d "{\"name\":\"$1\"}" "http://$OX_HTTP/api/streams")" \
    || die "POST /api/streams {name: $1} failed"
  key="$(jq -r '.stream_key // empty' <<<"$body")"
  [[ "$key" == sk_* ]] || die "no stream_key in the answer to POST /api/streams: $body"
  printf '%s\n' "$key"
}

# Fails loudly when oxcast is gone or has begun shutting down (i.e. got SIGINT/SIGTERM from
# somewhere other than this script, which only signals it in bench_cleanup).
check_oxcast() {
  local err="$BENCH_TMP/$1.stderr.log"
  if strip_ansi <"$err" | grep -q 'shutting down'; then
    die "oxcast (pid $OX_PID) began shutting down on its own (a SIGINT/SIGTERM from outside this script?): $(strip_ansi <"$err" | grep -m1 'shutting down')"
  fi
  kill -0 "$OX_PID" 2>/dev/null || die "oxcast (pid $OX_PID) exited unexpectedly; see $err"
}

# start_nginx RTMP_PORT: renders bench/nginx.conf.template into the temp dir and runs nginx in
# the foreground (daemon off, master_process off). Sets NGINX_PID, NGINX_HLS_DIR.
# NGINX_WORKER_CONNECTIONS (default 256) for runs with many publishers.
start_nginx() {
  local port="$1" prefix="$BENCH_TMP/nginx"
  NGINX_HLS_DIR="$prefix/hls"
  mkdir -p "$prefix/logs" "$NGINX_HLS_DIR"
  [[ -f "$NGINX_RTMP_MODULE" ]] || die "nginx rtmp module missing: $NGINX_RTMP_MODULE (apt-get install libnginx-mod-rtmp)"
  sed -e "s|@PREFIX@|$prefix|g" -e "s|@RTMP_PORT@|$port|g" -e "s|@HLS_DIR@|$NGINX_HLS_DIR|g" \
    -e "s|@RTMP_MODULE@|$NGINX_RTMP_MODULE|g" -e "s|@WORKER_CONNECTIONS@|${NGINX_WORKER_CONNECTIONS:-256}|g" \
    "$BENCH_DIR/nginx.conf.template" >"$prefix/nginx.conf"
  "$NGINX_BIN" -t -p "$prefix" -e "$prefix/logs/error.log" -c "$prefix/nginx.conf" \
    >"$BENCH_TMP/nginx-configtest.log" 2>&1 || { cat "$BENCH_TMP/nginx-configtest.log" >&2; die "nginx -t failed"; }
  "$NGINX_BIN" -p "$prefix" -e "$prefix/logs/error.log" -c "$prefix/nginx.conf" >"$BENCH_TMP/nginx.stdout.log" 2>&1 &
  NGINX_PID=$!
  BENCH_PIDS+=("nginx:$NGINX_PID")
  log "started nginx-rtmp (pid $NGINX_PID) on 127.0.0.1:$port"
  wait_tcp "$port" 10
}

# The publisher command of the brief, as an array in FFMPEG_CMD.
# ffmpeg_cmd SECONDS ZEROLATENCY(1|0) OUTPUT_ARGS...
ffmpeg_cmd() {
  local secs="$1" zl="$2"
  shift 2
  FFMPEG_CMD=(ffmpeg -hide_banner -nostdin -loglevel info
    -re -f lavfi -i "testsrc2=size=1280x720:rate=30"
    -f lavfi -i "sine=frequency=440:sample_rate=48000"
    -t "$secs"
    -c:v libx264 -preset veryfast)
  if [[ "$zl" == 1 ]]; then FFMPEG_CMD+=(-tune zerolatency); fi
  FFMPEG_CMD+=(-g 30 -pix_fmt yuv420p -b:v 2500k -c:a aac -b:a 128k "$@")
}

# make_clip OUT WxH FPS SECONDS VIDEO_KBPS: pre-encodes a test clip once (H.264 High, x264
# veryfast, zerolatency, keyframe every second, yuv420p; AAC-LC 128 kb/s 48 kHz stereo tone) for
# publishing with `-re -c copy`, so the publisher costs next to no CPU during a measurement.
# Picture: testsrc2 (moving elements, colour gradients, frame counter) plus light temporal noise
# like a camera sensor's (CLIP_NOISE=strength, default 4; 0 = plain testsrc2), so every frame
# changes. CLIP_FILTER replaces the whole video source filter if set; CLIP_GOP=frames sets the
# keyframe interval (default: one second's frames).
make_clip() {
  local out="$1" size="$2" fps="$3" secs="$4" kbps="$5" vf
  vf="${CLIP_FILTER:-testsrc2=size=$size:rate=$fps}"
  if [[ -z "${CLIP_FILTER:-}" && "${CLIP_NOISE:-4}" != 0 ]]; then vf="$vf,noise=alls=${CLIP_NOISE:-4}:allf=t+u"; fi
  log "pre-encoding a ${secs} s ${size}@${fps} clip ($vf, ${kbps} kb/s) into $out"
  local t0=$SECONDS
  ffmpeg -hide_banner -nostdin -loglevel error -y \
    -f lavfi -i "$vf" -f lavfi -i "sine=frequency=440:sample_rate=48000" \
    -t "$secs" -map 0:v -map 1:a \
    -c:v libx264 -preset veryfast -tune zerolatency -profile:v high -pix_fmt yuv420p \
    -g "${CLIP_GOP:-$fps}" -keyint_min "${CLIP_GOP:-$fps}" -sc_threshold 0 -b:v "${kbps}k" -maxrate "${kbps}k" -bufsize "$((2 * kbps))k" \
    -c:a aac -b:a 128k -ac 2 -movflags +faststart "$out" >"$BENCH_TMP/make-clip.log" 2>&1 \
    || { cat "$BENCH_TMP/make-clip.log" >&2; die "pre-encoding the clip failed"; }
  log "clip ready after $((SECONDS - t0)) s"
}

# clip_info FILE: "WIDTH HEIGHT FPS DURATION_S" of a clip's first video stream.
clip_info() {
  local w h r d
  IFS=, read -r w h r < <(ffprobe -v error -select_streams v:0 -show_entries stream=width,height,r_frame_rate -of csv=p=0 "$1")
  d="$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$1")"
  printf '%s %s %s %s\n' "$w" "$h" "$(awk -v r="$r" 'BEGIN { split(r, a, "/"); printf "%g", (a[2] > 0 ? a[1] / a[2] : a[1]) }')" "$d"
}

# The child of a `timeout CMD` wrapper started by bg_start (the process doing the work), or the
# pid itself when it has no child.
real_pid() { pgrep -P "$1" | head -1 || true; }
work_pid() { local c; c="$(real_pid "$1")"; echo "${c:-$1}"; }

# progress_value FILE KEY: the last value of KEY in an ffmpeg `-progress FILE` log ("" if none).
progress_value() { grep "^$2=" "$1" 2>/dev/null | tail -1 | cut -d= -f2- || true; }
# ffmpeg's output media time so far in seconds, from its -progress file ("null" if unknown).
progress_out_s() {
  local us
  us="$(progress_value "$1" out_time_us)"
  if [[ "$us" =~ ^[0-9]+$ ]]; then awk -v u="$us" 'BEGIN { printf "%.3f", u / 1e6 }'; else echo null; fi
}

# oxcast's built-in "standard" profile (Ladder::standard() in transcode/src/ladder.rs):
# name:height:kbps per rung, x264 preset, frame-rate cap. Override with LADDER / PRESET / MAX_FPS.
LADDER="${LADDER:-720p:720:2800,480p:480:1400,360p:360:800}"
PRESET="${PRESET:-veryfast}"
MAX_FPS="${MAX_FPS:-30}"

# ladder_plan WIDTH HEIGHT: the rungs oxcast plans for such a source, as Ladder::plan does (only
# heights below the source's, width keeping the aspect ratio rounded up to even), highest first;
# one "name:width:height:kbps" line each.
ladder_plan() {
  local sw="$1" sh="$2" r name h kbps
  for r in ${LADDER//,/ }; do
    IFS=: read -r name h kbps <<<"$r"
    ((h < sh)) || continue
    printf '%s:%s:%s:%s\n' "$name" $(((sw * h / sh + 1) & ~1)) "$h" "$kbps"
  done | sort -t: -k3,3nr
}

# Warns when Ladder::standard() in the source tree differs from LADDER/PRESET/MAX_FPS (the
# binary may be older or newer than the tree; the scripts check its status output as well).
check_ladder_source() {
  local f="$REPO_DIR/transcode/src/ladder.rs" src
  [[ -f "$f" ]] || return 0
  src="$(sed -n '/pub fn standard()/,/^    }/p' "$f" | grep -oE 'rung\("[^"]+", *[0-9]+, *[0-9]+\)' \
    | sed -E 's/rung\("([^"]+)", *([0-9]+), *([0-9]+)\)/\1:\2:\3/' | paste -sd, -)"
  if [[ -n "$src" && "$src" != "$LADDER" ]]; then
    log "WARNING: Ladder::standard() in $f is '$src', this script uses '$LADDER' (set LADDER)"
  fi
  grep -q "DEFAULT_PRESET: &str = \"$PRESET\"" "$f" || log "WARNING: DEFAULT_PRESET in $f is not $PRESET"
  grep -q "DEFAULT_MAX_FPS: u32 = $MAX_FPS;" "$f" || log "WARNING: DEFAULT_MAX_FPS in $f is not $MAX_FPS"
}

# Lines of oxcast's log announcing that a ladder shed a rung because encoding fell behind.
shed_lines() { strip_ansi <"$1" | grep -c 'encoding fell behind real time' || true; }

# Wall clock in seconds with milliseconds.
now_s() { date +%s.%3N; }

# Last "speed=" ffmpeg reported (stderr log), e.g. 1.00x.
ffmpeg_speed() { tr '\r' '\n' <"$1" | grep -o 'speed=[ ]*[0-9.]*x' | tail -1 | tr -d ' ' | sed 's/speed=//'; }

strip_ansi() { sed -E 's/\x1b\[[0-9;]*m//g'; }

# metric FILE NAME_WITH_LABELS: the value of one Prometheus sample line.
metric() {
  awk -v k="$2" 'index($0, k " ") == 1 { print $2; found = 1; exit } END { if (!found) print "null" }' "$1"
}

# VmRSS in bytes from /proc/PID/status ("null" when gone).
vmrss_bytes() {
  awk '/^VmRSS:/ { print $2 * 1024; found = 1 } END { if (!found) print "null" }' "/proc/$1/status" 2>/dev/null || echo null
}

# Aggregate CPU counters from /proc/stat: "busy total" jiffies.
cpu_jiffies() { awk '/^cpu / { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t }' /proc/stat; }

# busy% between two cpu_jiffies snapshots.
cpu_busy_pct() {
  local b0 t0 b1 t1
  read -r b0 t0 <<<"$1"
  read -r b1 t1 <<<"$2"
  awk -v b="$((b1 - b0))" -v t="$((t1 - t0))" 'BEGIN { if (t > 0) printf "%.1f", 100 * b / t; else print "null" }'
}

# utime+stime of a process in seconds ("null" when gone).
proc_cpu_s() {
  local hz
  hz="$(getconf CLK_TCK)"
  awk -v hz="$hz" '{ sub(/^.*\) /, ""); print ($12 + $13) / hz }' "/proc/$1/stat" 2>/dev/null || echo null
}

# CPU seconds of a process and its descendants (nginx's worker, varnishd's child), each once.
tree_cpu_s() {
  local total=0 queue=("$1") p
  while ((${#queue[@]})); do
    p="${queue[0]}"
    queue=("${queue[@]:1}" $(pgrep -P "$p" || true))
    total="$(awk -v a="$total" -v b="$(proc_cpu_s "$p")" 'BEGIN { print a + (b == "null" ? 0 : b) }')"
  done
  echo "$total"
}

machine_json() {
  jq -n --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    --arg commit "$(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
    --arg dirty "$(git -C "$REPO_DIR" status --porcelain --untracked-files=no 2>/dev/null | wc -l)" \
    --arg cpus "$(nproc)" --arg model "$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)" \
    --arg kernel "$(uname -r)" --arg load "$(cut -d' ' -f1-3 /proc/loadavg)" \
    --arg ffmpeg "$(ffmpeg -hide_banner -version | head -1)" \
    --arg nginx "$("$NGINX_BIN" -v 2>&1)" \
    --arg bin "$OXCAST_BIN (mtime $(stat -c '%y' "$OXCAST_BIN" 2>/dev/null), sha256:$(sha256sum "$OXCAST_BIN" 2>/dev/null | cut -c1-16))" \
    '{date: $date, commit: $commit, modified_tracked_files: ($dirty | tonumber), cpus: ($cpus | tonumber),
      cpu_model: $model, kernel: $kernel, loadavg_at_start: $load, ffmpeg: $ffmpeg, nginx: $nginx,
      oxcast_binary: $bin}'
}
