#!/usr/bin/env bash
# Issue 11 (7): video on demand.
#   1. A 60 s 1080p30 H.264/AAC file (OBS-like: 2 s keyframes, 6 Mb/s) uploaded with tus
#      (one creation-with-upload request from curl, streamed from disk), processed into the
#      default VOD ladder (1080p/720p/480p/360p, 4 s segments): wall time and CPU seconds of the
#      processing, time from the last uploaded byte to playable (every rung's first segment)
#      and to ready, the server's peak RSS; against ONE ffmpeg command making the same ladder
#      (same rungs, x264 veryfast at the same bit rates and VBV, keyframes every 4 s,
#      `-f hls -hls_segment_type fmp4`) in the same run.
#   2. Upload throughput: a 2 GB file over tus (curl, one PATCH from disk) against `cp` of the
#      same bytes on the same disk, and the server's peak RSS during that upload (a fresh
#      server, so the peak is the upload's).
# Usage: bench/vod.sh   (OXCAST_BIN: a release build; BIG_MB: size of the upload test, 2000)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
require_tools ffmpeg ffprobe curl jq python3
bench_init vod
BIG_MB="${BIG_MB:-2000}"
ADMIN="bench-admin-token-0123456789"

cpu_seconds() { awk '{print ($14 + $15) / 100}' "/proc/$1/stat"; }
peak_rss_mb() { awk '/VmHWM/ {print $2 / 1024}' "/proc/$1/status"; }
now() { date +%s.%N; }

src="$BENCH_TMP/src-1080p30.mp4"
log "making the 60 s 1080p30 source"
ffmpeg -v error -f lavfi -i testsrc2=size=1920x1080:rate=30:duration=60 -f lavfi -i sine=frequency=440:sample_rate=48000:duration=60 \
  -c:v libx264 -preset veryfast -b:v 6000k -g 60 -pix_fmt yuv420p -c:a aac -b:a 128k -shortest "$src"
size=$(stat -c %s "$src")

# --- 1. oxcast: upload, then processing ------------------------------------------------------
start_oxcast oxcast OXCAST_ADMIN_TOKEN="$ADMIN"
meta="filename $(printf src.mp4 | base64 -w0),title $(printf 'bench' | base64 -w0),privacy $(printf unlisted | base64 -w0)"
cpu0=$(cpu_seconds "$OX_PID")
t_upload0=$(now)
hdrs=$(curl -s -D - -o /dev/null -X POST "http://$OX_HTTP/api/uploads" -H "Authorization: Bearer $ADMIN" \
  -H 'Tus-Resumable: 1.0.0' -H "Upload-Length: $size" -H "Upload-Metadata: $meta" \
  -H 'Content-Type: application/offset+octet-stream' -T "$src")
t_last_byte=$(now)
id=$(grep -i '^oxcast-video-id:' <<<"$hdrs" | tr -d '\r' | awk '{print $2}')
[[ -n "$id" ]] || die "no video id: $hdrs"
t_playable=""; t_ready=""
while true; do
  v=$(curl -s -H "Authorization: Bearer $ADMIN" "http://$OX_HTTP/api/videos/$id")
  st=$(jq -r .status <<<"$v")
  [[ -z "$t_playable" && "$(jq -r .playable <<<"$v")" == true ]] && t_playable=$(now)
  if [[ "$st" == ready ]]; then t_ready=$(now); break; fi
  [[ "$st" == failed ]] && die "processing failed: $(jq -r .error <<<"$v")"
  sleep 0.1
done
cpu1=$(cpu_seconds "$OX_PID")
ox_peak=$(peak_rss_mb "$OX_PID")
took_ms=$(grep -o 'video ready video=[^ ]* took_ms=[0-9]*' "$BENCH_TMP/oxcast.stderr.log" | sed 's/.*took_ms=//')
renditions=$(jq -c '[.renditions[] | {id, width, height, bandwidth, segments}]' <<<"$v")
bg_stop "$OX_PID"

# --- 1b. ffmpeg, the same ladder in one command ------------------------------------------------
out="$BENCH_TMP/ffmpeg-hls"; mkdir -p "$out"
vbv() { echo "-b:v:$1 ${2}k -maxrate:v:$1 ${2}k -bufsize:v:$1 $(( $2 * 6 / 10 ))k"; }
log "ffmpeg ladder"
/usr/bin/time -f '%e %U %S %M' -o "$BENCH_TMP/ffmpeg.time" ffmpeg -v error -y -i "$src" \
  -filter_complex "[0:v]split=4[a][b][c][d];[a]scale=-2:1080[v0];[b]scale=-2:720[v1];[c]scale=-2:480,fps=30[v2];[d]scale=-2:360,fps=30[v3]" \
  -map '[v0]' -map '[v1]' -map '[v2]' -map '[v3]' -map 0:a \
  -c:v libx264 -preset veryfast -x264-params scenecut=0 -force_key_frames 'expr:gte(t,n_forced*4)' \
  $(vbv 0 5000) $(vbv 1 2800) $(vbv 2 1400) $(vbv 3 800) -c:a aac -b:a 128k -ar 48000 \
  -f hls -hls_time 4 -hls_playlist_type vod -hls_segment_type fmp4 -master_pl_name master.m3u8 \
  -var_stream_map 'v:0,agroup:a v:1,agroup:a v:2,agroup:a v:3,agroup:a a:0,agroup:a' "$out/%v/index.m3u8"
read -r ff_wall ff_user ff_sys ff_rss <"$BENCH_TMP/ffmpeg.time"

# --- 2. a 2 GB upload against cp --------------------------------------------------------------
big="$BENCH_TMP/big.bin"
log "making a ${BIG_MB} MB file"
head -c "$((BIG_MB * 1024 * 1024))" /dev/urandom >"$big"
sync
t0=$(now); cp "$big" "$BENCH_TMP/big-copy.bin"; sync; t1=$(now)
rm -f "$BENCH_TMP/big-copy.bin"
start_oxcast oxbig OXCAST_ADMIN_TOKEN="$ADMIN" OXCAST_VOD_WORKERS=0
base_rss=$(awk '/VmRSS/ {print $2 / 1024}' "/proc/$OX_PID/status")
t2=$(now)
curl -s -o /dev/null -X POST "http://$OX_HTTP/api/uploads" -H "Authorization: Bearer $ADMIN" \
  -H 'Tus-Resumable: 1.0.0' -H "Upload-Length: $(stat -c %s "$big")" -H "Upload-Metadata: $meta" \
  -H 'Content-Type: application/offset+octet-stream' -T "$big"
sync; t3=$(now)
big_peak=$(peak_rss_mb "$OX_PID")

python3 - "$RUN_DIR/result.json" <<PY
import json, sys
r = {
  "source": {"file": "60 s 1920x1080@30 H.264 6 Mb/s, g=60, AAC", "bytes": $size},
  "oxcast": {
    "upload_s": round($t_last_byte - $t_upload0, 3),
    "last_byte_to_playable_s": round($t_playable - $t_last_byte, 2),
    "last_byte_to_ready_s": round($t_ready - $t_last_byte, 2),
    "processing_wall_s": $took_ms / 1000,
    "cpu_s": round($cpu1 - $cpu0, 1),
    "peak_rss_mb": round($ox_peak, 1),
    "renditions": json.loads('$renditions'),
  },
  "ffmpeg": {"wall_s": $ff_wall, "cpu_s": round($ff_user + $ff_sys, 1), "peak_rss_mb": round($ff_rss / 1024, 1)},
  "upload": {
    "mb": $BIG_MB,
    "oxcast_tus_mb_s": round($BIG_MB / ($t3 - $t2), 1),
    "cp_mb_s": round($BIG_MB / ($t1 - $t0), 1),
    "oxcast_rss_before_mb": round($base_rss, 1),
    "oxcast_peak_rss_mb": round($big_peak, 1),
  },
}
r["ratios"] = {
  "wall_oxcast_over_ffmpeg": round(r["oxcast"]["processing_wall_s"] / r["ffmpeg"]["wall_s"], 2),
  "cpu_oxcast_over_ffmpeg": round(r["oxcast"]["cpu_s"] / r["ffmpeg"]["cpu_s"], 2),
  "upload_over_cp": round(r["upload"]["oxcast_tus_mb_s"] / r["upload"]["cp_mb_s"], 2),
}
json.dump(r, open(sys.argv[1], "w"), indent=2)
print(json.dumps(r, indent=2))
PY
