#!/usr/bin/env bash
# Installs what oxcast needs to build, run and test, if it is missing: Debian packages
# (GStreamer, ffmpeg; Chromium and Node.js for the browser tests) and the npm packages of the
# web player (hls.js is embedded into the binary at build time).
#   scripts/setup.sh          build + run dependencies
#   scripts/setup.sh --test   also what the test suite uses
#   scripts/setup.sh --bench  also what bench/ uses (nginx-rtmp, h2load, jq)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(pkg-config libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-tools gstreamer1.0-x ffmpeg)
command -v node >/dev/null && command -v npm >/dev/null || packages+=(nodejs npm)
if [[ "${1:-}" == "--test" || "${1:-}" == "--bench" ]]; then
  # varnish and nginx: the HTTP caches of the CDN examples (examples/cache, tests/cdn_cache.rs).
  packages+=(chromium python3-venv curl varnish nginx)
fi
if [[ "${1:-}" == "--bench" ]]; then
  # The peers the benchmarks compare with: nginx-rtmp, h2load (nghttp2) for static nginx.
  packages+=(libnginx-mod-rtmp nghttp2-client jq)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  echo "setup: installing ${missing[*]}"
  # apt-get update fails at once while another apt holds the list lock: retry for a while.
  for attempt in $(seq 1 30); do
    if $sudo apt-get update -qq; then break; fi
    echo "setup: apt-get update failed (attempt $attempt), retrying in 10 s" >&2
    sleep 10
  done
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
    --no-install-recommends "${missing[@]}"
fi

command -v cargo >/dev/null || { echo "setup: cargo not found: install Rust 1.95 or newer (rustup.rs)" >&2; exit 1; }

# The player's npm packages, exactly as locked.
if [[ ! -f api/web/node_modules/.package-lock.json ]] || ! cmp -s api/web/package-lock.json api/web/node_modules/.oxcast-lock; then
  npm ci --prefix api/web --no-audit --no-fund --loglevel=error
  cp api/web/package-lock.json api/web/node_modules/.oxcast-lock
fi

# Python tools for the tests, in a venv outside the repository: a second WebRTC stack for the WHIP
# tests (ffmpeg 9 with its WHIP muxer, a static binary inside the PyPI package imageio-ffmpeg),
# schemathesis for the API contract test, and tuspy for the upload tests.
if [[ "${1:-}" == "--test" ]]; then
  venv="${OXCAST_PY_VENV:-$HOME/.cache/oxcast-py}"
  if ! "$venv/bin/python" -c 'import imageio_ffmpeg' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "imageio-ffmpeg==0.8.1"
  fi
  # schemathesis checks the running server against its OpenAPI document (tests/openapi_contract.rs).
  if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "4.32.5"; then
    "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==4.32.5"
  fi
  # standardwebhooks, the reference library the webhook receiver of the tests verifies with.
  if ! "$venv/bin/python" -c 'import standardwebhooks' 2>/dev/null; then
    "$venv/bin/pip" install --quiet --disable-pip-version-check "standardwebhooks==1.1.0"
  fi
  # tuspy, a real tus client for the upload tests (tests/uploads.rs).
  if ! "$venv/bin/python" -c 'import tusclient' 2>/dev/null; then
    "$venv/bin/pip" install --quiet --disable-pip-version-check "tuspy==1.1.0"
  fi
fi
