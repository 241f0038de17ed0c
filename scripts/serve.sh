#!/usr/bin/env bash
# Builds oxcast in release mode and runs it on embedded defaults (SQLite and the generated admin
# token under ./oxcast-data). Extra arguments go to `oxcast serve` (e.g. --http 0.0.0.0:8080).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release --locked --bin oxcast
target_dir="${CARGO_TARGET_DIR:-target}"
exec "$target_dir/release/oxcast" serve --data-dir "${OXCAST_DATA_DIR:-oxcast-data}" "$@"
