#!/usr/bin/env bash
# Makes sure the PostgreSQL, Redis and S3 servers the tests use are up:
#   OXCAST_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test)
#   OXCAST_TEST_REDIS_URL    (default redis://127.0.0.1:6379)
#   OXCAST_TEST_S3_URL       (default http://127.0.0.1:9900; bucket OXCAST_TEST_S3_BUCKET, keys
#                            OXCAST_TEST_S3_ACCESS_KEY / OXCAST_TEST_S3_SECRET_KEY)
# The S3 server is s3s-fs (crates.io), a real S3 implementation over a directory (multipart
# uploads, SigV4, presigned URLs); it is built once into ~/.cache/oxcast-tools and started here
# with a fresh directory when nothing answers.
# A server that answers is used as it is. A local one that stopped is started again. On a machine
# that has neither server package, both are installed from Debian, and the new PostgreSQL cluster
# is told to trust loopback connections (a throwaway test server; never done to an existing one).
set -euo pipefail
cd "$(dirname "$0")/.."

db_url="${OXCAST_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
redis_url="${OXCAST_TEST_REDIS_URL:-redis://127.0.0.1:6379}"
sudo=""
[[ $(id -u) -eq 0 ]] || sudo="sudo"

pg_up() { pg_isready -q -d "$db_url" 2>/dev/null; }
redis_up() { redis-cli -u "$redis_url" ping 2>/dev/null | grep -q PONG; }

install() {
  for attempt in $(seq 1 30); do
    if $sudo apt-get update -qq; then break; fi
    echo "services: apt-get update failed (attempt $attempt), retrying in 10 s" >&2
    sleep 10
  done
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "$@"
}

if ! pg_up; then
  fresh=0
  if ! command -v pg_ctlcluster >/dev/null; then
    echo "services: installing PostgreSQL for the tests"
    install postgresql postgresql-client
    fresh=1
  fi
  version="$(ls /etc/postgresql | sort -V | tail -1)"
  if ((fresh)); then
    hba="/etc/postgresql/$version/main/pg_hba.conf"
    $sudo sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
  fi
  echo "services: starting PostgreSQL $version"
  $sudo pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 30); do pg_up && break; sleep 1; done
  if ((fresh)); then
    $sudo -u postgres psql -q -c "CREATE DATABASE test" 2>/dev/null || true
  fi
fi
pg_up || { echo "services: no PostgreSQL answers at OXCAST_TEST_DATABASE_URL=${db_url%%@*}@...; start one or point the variable at one" >&2; exit 1; }

if ! redis_up; then
  command -v redis-server >/dev/null || { echo "services: installing Redis for the tests"; install redis-server redis-tools; }
  echo "services: starting Redis"
  $sudo mkdir -p /var/lib/redis /var/log/redis
  $sudo redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  for _ in $(seq 1 30); do redis_up && break; sleep 1; done
fi
redis_up || { echo "services: no Redis answers at OXCAST_TEST_REDIS_URL=$redis_url; start one or point the variable at one" >&2; exit 1; }

# tests/faults.rs starts (and stops) private PostgreSQL and Redis servers of its own: it needs
# their server binaries here even when the shared test servers above run elsewhere.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  echo "services: installing PostgreSQL's server binaries for the fault tests"
  install postgresql
fi
command -v redis-server >/dev/null || { echo "services: installing redis-server for the fault tests"; install redis-server; }

s3_url="${OXCAST_TEST_S3_URL:-http://127.0.0.1:9900}"
s3_bucket="${OXCAST_TEST_S3_BUCKET:-oxcast-test}"
s3_up() { curl -s -o /dev/null --max-time 2 "$s3_url/" ; }
# Built even when an S3 server answers: tests/faults.rs runs a private one it can stop.
tools="${OXCAST_TOOLS_DIR:-$HOME/.cache/oxcast-tools}"
if [[ ! -x "$tools/bin/s3s-fs" ]]; then
  echo "services: building s3s-fs 0.14.1 (the tests' S3 server) into $tools, once"
  # Its own target directory: the workspace's would rebuild for its other lockfile.
  CARGO_TARGET_DIR="$tools/target" cargo install --quiet --locked s3s-fs --version 0.14.1 --features binary --root "$tools"
  rm -rf "$tools/target"
fi
if ! s3_up; then
  root="${OXCAST_TEST_S3_DIR:-/tmp/oxcast-test-s3}"
  mkdir -p "$root/$s3_bucket"
  hostport="${s3_url#http://}"
  echo "services: starting s3s-fs on $hostport ($root)"
  setsid "$tools/bin/s3s-fs" --host "${hostport%:*}" --port "${hostport##*:}" \
    --access-key "${OXCAST_TEST_S3_ACCESS_KEY:-oxcast-test}" --secret-key "${OXCAST_TEST_S3_SECRET_KEY:-oxcast-test-secret}" \
    "$root" >"$root.log" 2>&1 < /dev/null &
  for _ in $(seq 1 30); do s3_up && break; sleep 0.5; done
fi
s3_up || { echo "services: no S3 server answers at OXCAST_TEST_S3_URL=$s3_url" >&2; exit 1; }
