#!/usr/bin/env bash
# Issue 15 (7): VOD processing jobs per hour with one and with two `oxcast worker` processes
# sharing one PostgreSQL database and one S3 bucket (the scale-out setup of the README's
# "Several nodes"). A serving node that processes nothing (`OXCAST_VOD_WORKERS=0`) takes JOBS
# uploads of one pre-encoded clip (CLIP_SECONDS s of 1280x720@30, 2 s keyframes); then the
# workers start and the clock runs until every video is ready. jobs/hour = JOBS / wall hours,
# plus the workers' CPU seconds per job and peak RSS. Each worker processes one job at a time
# (`--workers 1`): two processes are two jobs at once.
#
#   bench/vod_workers.sh        # JOBS=8 CLIP_SECONDS=20 PROCESSES="1 2"
#   needs PostgreSQL at PG_ADMIN_URL and the S3 server of scripts/services.sh (S3_URL)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

JOBS="${JOBS:-8}"
CLIP_SECONDS="${CLIP_SECONDS:-20}"
PROCESSES="${PROCESSES:-1 2}"
PG_ADMIN_URL="${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
S3_URL="${S3_URL:-http://127.0.0.1:9900}"

bench_init vod-workers
require_tools ffmpeg jq curl psql /usr/bin/time
curl -s -o /dev/null --max-time 3 "$S3_URL" || die "no S3 server at $S3_URL (scripts/services.sh starts one)"

clip="$BENCH_TMP/clip.mp4"
CLIP_GOP=60 make_clip "$clip" 1280x720 30 "$CLIP_SECONDS" 3000
size="$(stat -c %s "$clip")"

# upload_clip: one tus creation-with-upload as the admin; prints the video id.
upload_clip() {
  local meta
  meta="filename $(printf 'clip.mp4' | base64 -w0),title $(printf 'bench %s' "$1" | base64 -w0)"
  curl -fsS --max-time 120 -D - -o /dev/null -X POST "http://$OX_HTTP/api/uploads" \
    -H "Authorization: Bearer $OX_ADMIN_TOKEN" -H 'Tus-Resumable: 1.0.0' -H "Upload-Length: $size" \
    -H "Upload-Metadata: $meta" -H 'Content-Type: application/offset+octet-stream' --data-binary "@$clip" \
    | tr -d '\r' | sed -n 's/^[Oo]xcast-[Vv]ideo-[Ii]d: //p'
}
ready_count() {
  local n=0 id status
  for id in "${ids[@]}"; do
    status="$(curl -fsS --max-time 5 -H "Authorization: Bearer $OX_ADMIN_TOKEN" "http://$OX_HTTP/api/videos/$id" | jq -r .status)"
    [[ "$status" == failed ]] && die "video $id failed to process"
    [[ "$status" == ready ]] && n=$((n + 1))
  done
  echo "$n"
}

results="[]"
for processes in $PROCESSES; do
  db="oxbench_workers_$processes"
  psql -q -v ON_ERROR_STOP=1 "$PG_ADMIN_URL" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
  shared=(OXCAST_DATABASE_URL="${PG_ADMIN_URL%/*}/$db" OXCAST_STORAGE_BACKEND=s3 OXCAST_S3_ENDPOINT="$S3_URL"
    OXCAST_S3_BUCKET=oxcast-test OXCAST_S3_PREFIX="bench-workers-$processes-$(date +%s)"
    OXCAST_S3_ACCESS_KEY_ID=oxcast-test OXCAST_S3_SECRET_ACCESS_KEY=oxcast-test-secret
    OXCAST_ADMIN_TOKEN=bench-admin-token-0123456789)
  start_oxcast "node-$processes" "${shared[@]}" OXCAST_VOD_WORKERS=0 OXCAST_NODE_ID=serve
  ids=()
  for i in $(seq 1 "$JOBS"); do ids+=("$(upload_clip "$i")"); done
  log "$processes worker process(es): $JOBS uploads of $((size / 1024)) KiB queued"
  pids=()
  t0="$(now_s)"
  for w in $(seq 1 "$processes"); do
    env RUST_LOG=info "${shared[@]}" OXCAST_NODE_ID="w$w" /usr/bin/time -f '%U %S %M' -o "$BENCH_TMP/worker-$processes-$w.time" \
      "$BENCH_TMP/bin/bench-server" worker --data-dir "$BENCH_TMP/worker-$processes-$w" --workers 1 \
      >"$BENCH_TMP/worker-$processes-$w.log" 2>&1 &
    pids+=($!)
    BENCH_PIDS+=("worker:$!")
  done
  while [[ "$(ready_count)" -lt "$JOBS" ]]; do sleep 1; done
  t1="$(now_s)"
  # /usr/bin/time ignores SIGINT while it waits: signal the worker under it.
  for p in "${pids[@]}"; do pkill -INT -P "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  cpu=0 rss=0
  for w in $(seq 1 "$processes"); do
    read -r u s m <"$BENCH_TMP/worker-$processes-$w.time" || true
    cpu="$(awk -v a="$cpu" -v u="${u:-0}" -v s="${s:-0}" 'BEGIN { print a + u + s }')"
    ((${m:-0} > rss)) && rss="${m:-0}"
  done
  wall="$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"
  results="$(jq --argjson p "$processes" --argjson wall "$wall" --argjson cpu "$cpu" --argjson rss "$rss" \
    --argjson jobs "$JOBS" '. + [{worker_processes: $p, jobs: $jobs, wall_s: $wall,
      jobs_per_hour: (($jobs * 3600 / $wall) | floor), worker_cpu_s_per_job: (($cpu / $jobs * 10 | round) / 10),
      worker_peak_rss_kb: $rss}]' <<<"$results")"
  log "$processes worker process(es): $JOBS jobs in $wall s"
  bg_stop "$OX_PID"
done

jq -n --argjson machine "$(machine_json)" --argjson runs "$results" --arg clip "$CLIP_SECONDS s 1280x720@30 3 Mb/s, 2 s GOP" \
  '{machine: $machine, clip: $clip, runs: $runs}' >"$RUN_DIR/result.json"
jq -r '.runs[] | "\(.worker_processes) process(es): \(.jobs_per_hour) jobs/hour (\(.wall_s) s for \(.jobs)), \(.worker_cpu_s_per_job) CPU s/job"' "$RUN_DIR/result.json" >&2
log "result: $RUN_DIR/result.json"
