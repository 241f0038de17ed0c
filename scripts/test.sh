#!/usr/bin/env bash
# Runs the whole test suite: unit tests, the crates' integration tests, and the end-to-end tests
# that start real servers and push real streams with ffmpeg and GStreamer and play them in
# headless Chromium. Installs what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
# The real servers behind the chat's Redis backend, the store's PostgreSQL dialect and S3 storage:
# each test makes its own database (or key prefix) there, so tests run in parallel against one server.
export OXCAST_TEST_REDIS_URL="${OXCAST_TEST_REDIS_URL:-redis://127.0.0.1:6379}"
export OXCAST_TEST_DATABASE_URL="${OXCAST_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
# The S3-compatible server behind media storage in S3 (s3s-fs, started by services.sh).
export OXCAST_TEST_S3_URL="${OXCAST_TEST_S3_URL:-http://127.0.0.1:9900}"
scripts/services.sh
# ffmpeg 9 with a WHIP muxer (installed by setup.sh --test), for the WHIP tests.
venv="${OXCAST_PY_VENV:-$HOME/.cache/oxcast-py}"
OXCAST_TEST_WHIP_FFMPEG="${OXCAST_TEST_WHIP_FFMPEG:-$("$venv/bin/python" -c 'import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())')}"
export OXCAST_TEST_WHIP_FFMPEG
# End-to-end tests encode video in real time: two at a time fit two cores.
cargo test --workspace --locked -- --test-threads=2 "$@"
