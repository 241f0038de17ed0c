#!/usr/bin/env bash
# Issue 14 (6): search over 100,000 videos, oxcast (tantivy) against PostgreSQL full-text
# search (tsvector + GIN, pg_trgm for typos: PeerTube's approach) on the same rows and queries.
#   1. The catalog: Debian's package descriptions (bench/search/corpus.py says exactly what).
#   2. oxcast: the rows loaded through the store's API into a fresh SQLite store, then
#      `oxcast index rebuild` timed (wall, CPU, peak RSS) and the index directory's size.
#      PostgreSQL: \copy of the same rows, then postgres.sql's index half timed, and the sizes
#      of its indexes and tsvector column.
#   3. The query mix (1,000 queries: one-word, two-word, typo, prefix, filtered, 200 each),
#      closed loop with each of CONCURRENCIES clients, one warm-up pass then PASSES counted, against:
#      oxcast's GET /api/search over HTTP (the server pinned to SERVER_CPUS), oxcast's index
#      in-process (the engine alone), and PostgreSQL (its backends pinned to SERVER_CPUS). The
#      load generator runs on LOAD_CPUS.
# Usage: bench/search.sh   (COUNT=100000 CONCURRENCIES="1 4" PASSES=1 SERVER_CPUS=1 LOAD_CPUS=0
#        PG_ADMIN_URL=postgres://postgres@127.0.0.1:5432/postgres; OXCAST_BIN and SEARCH_BENCH_BIN:
#        release builds, `cargo build --release -p oxcast -p oxcast-bench-search`)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
SEARCH_BENCH_BIN="${SEARCH_BENCH_BIN:-$HOME/.cache/oxcast-target/release/search-bench}"
COUNT="${COUNT:-100000}"
PASSES="${PASSES:-1}"
CONCURRENCIES="${CONCURRENCIES:-1 4}"
SERVER_CPUS="${SERVER_CPUS:-1}"
LOAD_CPUS="${LOAD_CPUS:-0}"
PG_ADMIN_URL="${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
PG_DB="oxcast_search_bench"
PG_URL="${PG_ADMIN_URL%/*}/$PG_DB"
require_tools psql taskset jq python3 lz4 curl /usr/bin/time
[[ -x "$SEARCH_BENCH_BIN" ]] || die "no $SEARCH_BENCH_BIN: cargo build --release -p oxcast-bench-search"
bench_init search
now() { date +%s.%N; }
elapsed() { python3 -c "print(round($2 - $1, 3))"; }

# --- 1. the catalog ----------------------------------------------------------------------------
if ! ls /var/lib/apt/lists/*_i18n_Translation-en* >/dev/null 2>&1; then
  log "fetching Debian's English package descriptions (apt-get update -o Acquire::Languages=en)"
  sudo=""; [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq -o Acquire::Languages=en
fi
corpus="$(python3 "$BENCH_DIR/search/corpus.py" --count "$COUNT" --out "$BENCH_TMP")"
log "catalog: $corpus"

# --- 2a. oxcast: load through the store, then index rebuild ------------------------------------
start_oxcast srv
bg_stop "$OX_PID"   # the first start made the store and its admin; the load goes in offline
data="$BENCH_TMP/data-srv"
t0=$(now)
load="$("$SEARCH_BENCH_BIN" load --catalog "$BENCH_TMP/catalog.jsonl" --store "sqlite://$data/oxcast.db" 2>"$BENCH_TMP/load.log")"
log "oxcast store loaded in $(elapsed "$t0" "$(now)") s: $load"
rm -rf "$data/search"
/usr/bin/time -f '%e %U %S %M' -o "$BENCH_TMP/rebuild.time" \
  taskset -c "$SERVER_CPUS" "$BENCH_TMP/bin/bench-server" index rebuild --data-dir "$data" >"$BENCH_TMP/rebuild.log" 2>&1
read -r rb_wall rb_user rb_sys rb_rss_kb <"$BENCH_TMP/rebuild.time"
ox_index_bytes=$(du -sb "$data/search" | cut -f1)
log "oxcast index rebuild: ${rb_wall} s wall, $(cat "$BENCH_TMP/rebuild.log"), $((ox_index_bytes / 1048576)) MiB"
cp -r "$data/search" "$BENCH_TMP/index-copy"

# --- 2b. PostgreSQL: copy the same rows, build its indexes ----------------------------------
psql -q -v ON_ERROR_STOP=1 "$PG_ADMIN_URL" -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" -c "CREATE DATABASE $PG_DB"
sed '/^-- index$/,$d' "$BENCH_DIR/search/postgres.sql" | psql -q -v ON_ERROR_STOP=1 "$PG_URL"
t0=$(now)
psql -q -v ON_ERROR_STOP=1 "$PG_URL" -c "\\copy videos (id, title, description, tags, category, language, duration_s, published_at, views, owner_display) FROM '$BENCH_TMP/catalog.tsv'"
pg_copy_s=$(elapsed "$t0" "$(now)")
t0=$(now)
sed -n '/^-- index$/,$p' "$BENCH_DIR/search/postgres.sql" | psql -q -v ON_ERROR_STOP=1 "$PG_URL"
pg_index_s=$(elapsed "$t0" "$(now)")
pg_sizes=$(psql -At -v ON_ERROR_STOP=1 "$PG_URL" -c "SELECT json_build_object(
  'rows', (SELECT count(*) FROM videos),
  'gin_tsv_bytes', pg_relation_size('videos_tsv'), 'gin_trgm_bytes', pg_relation_size('videos_title_trgm'),
  'btree_bytes', pg_relation_size('videos_category_duration'), 'tsvector_column_bytes', (SELECT sum(pg_column_size(tsv)) FROM videos),
  'table_bytes', pg_table_size('videos'), 'server_version', current_setting('server_version'),
  'shared_buffers', current_setting('shared_buffers'), 'work_mem', current_setting('work_mem'),
  'maintenance_work_mem', current_setting('maintenance_work_mem'))")
log "PostgreSQL: copy ${pg_copy_s} s, index build ${pg_index_s} s, $pg_sizes"

# --- 3. the query mix -----------------------------------------------------------------------
OX_REUSED_DATA=1 start_oxcast srv
taskset -acp "$SERVER_CPUS" "$OX_PID" >/dev/null
wait_http "http://$OX_HTTP/api/search?q=library" 30 '"items"'
for c in $CONCURRENCIES; do
  log "query mix, $c client(s): oxcast over HTTP, then PostgreSQL"
  taskset -c "$LOAD_CPUS" "$SEARCH_BENCH_BIN" query --queries "$BENCH_TMP/queries.jsonl" \
    --target "oxcast_http=http://$OX_HTTP" --target "postgres=$PG_URL" \
    --concurrency "$c" --passes "$PASSES" --server-pid "$OX_PID" --pin-postgres "$SERVER_CPUS" \
    >"$BENCH_TMP/query-http-c$c.json" 2>"$BENCH_TMP/query-http-c$c.log"
done
ox_rss_mb=$(awk '/VmRSS/ {print $2 / 1024}' "/proc/$OX_PID/status")
bg_stop "$OX_PID"
for c in $CONCURRENCIES; do
  log "query mix, $c client(s): oxcast's index in-process"
  taskset -c "$SERVER_CPUS" "$SEARCH_BENCH_BIN" query --queries "$BENCH_TMP/queries.jsonl" \
    --target "oxcast_engine=index:$BENCH_TMP/index-copy" --concurrency "$c" --passes "$PASSES" \
    >"$BENCH_TMP/query-engine-c$c.json" 2>"$BENCH_TMP/query-engine-c$c.log"
done
runs="$(for c in $CONCURRENCIES; do
  jq -s --arg c "$c" '{("clients_" + $c): (.[0].targets + .[1].targets)}' "$BENCH_TMP/query-http-c$c.json" "$BENCH_TMP/query-engine-c$c.json"
done | jq -s 'add')"

jq -n --argjson corpus "$corpus" --argjson load "$load" --argjson pg "$pg_sizes" --argjson runs "$runs" \
  --arg rb_wall "$rb_wall" --arg rb_user "$rb_user" --arg rb_sys "$rb_sys" --arg rb_rss_kb "$rb_rss_kb" \
  --arg ox_index_bytes "$ox_index_bytes" --arg pg_copy_s "$pg_copy_s" --arg pg_index_s "$pg_index_s" \
  --arg ox_rss_mb "$ox_rss_mb" --arg bin "$OXCAST_BIN_INFO" --arg commit "$(git -C "$REPO_DIR" rev-parse --short HEAD)" \
  --arg server_cpus "$SERVER_CPUS" --arg load_cpus "$LOAD_CPUS" --arg passes "$PASSES" '{
    commit: $commit, oxcast_binary: $bin, server_cpus: $server_cpus, load_cpus: $load_cpus, corpus: $corpus,
    oxcast: {store_load: $load, index_rebuild: {wall_s: ($rb_wall|tonumber), cpu_s: (($rb_user|tonumber) + ($rb_sys|tonumber)),
      peak_rss_mb: (($rb_rss_kb|tonumber) / 1024)}, index_bytes: ($ox_index_bytes|tonumber), server_rss_after_queries_mb: ($ox_rss_mb|tonumber)},
    postgres: {copy_s: ($pg_copy_s|tonumber), index_build_s: ($pg_index_s|tonumber), sizes: $pg},
    queries: {passes: ($passes|tonumber), runs: $runs}
  }' >"$RUN_DIR/result.json"
jq -r '.queries.runs | to_entries[] | .key as $c | .value | to_entries[] | "\($c) \(.key): p50 \(.value.all.p50_ms) ms, p90 \(.value.all.p90_ms) ms, p99 \(.value.all.p99_ms) ms, \(.value.queries_per_second | floor) q/s, server CPU \(.value.server_cpu_ms_per_query) ms/query"' "$RUN_DIR/result.json" >&2
log "result: $RUN_DIR/result.json"
