#!/usr/bin/env bash
# Checks that the OpenAPI document says what the server does: schemathesis (`--checks all`)
# against `helpdesk serve` built from this tree, on a loopback port with a fresh data directory
# and an admin token. Bounded: a fixed number of cases per operation (ST_MAX_EXAMPLES, default
# 20), and the run is stopped after ST_TIMEOUT seconds (default 900). The exceptions it is told about are
# in schemathesis.toml at the root and explained in docs/api.md ("What the OpenAPI document
# does not say").
#
#   scripts/schemathesis.sh            # build, serve, run, stop; exit status is schemathesis's
#   ST_SEED=123 scripts/schemathesis.sh  # replay one seed
#
# Environment: ST_VENV (default /var/tmp/st-venv, created with schemathesis from PyPI when
# missing), CARGO_TARGET_DIR (as cargo), ST_PORT (default: a free loopback port),
# ST_REPORT_DIR (where to keep an NDJSON report of every case; default: none kept).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

venv="${ST_VENV:-/var/tmp/st-venv}"
st_version="4.32.5"
max_examples="${ST_MAX_EXAMPLES:-20}"
timeout_s="${ST_TIMEOUT:-900}"

if ! "$venv/bin/st" --version 2>/dev/null | grep -q "$st_version"; then
    echo "== installing schemathesis $st_version into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "schemathesis==$st_version"
fi

echo "== building helpdesk"
cargo build --quiet -p helpdesk --bin helpdesk
target="${CARGO_TARGET_DIR:-$root/target}"
bin="$target/debug/helpdesk"

data="$(mktemp -d)"
report="${ST_REPORT_DIR:-$data/report}"
port="${ST_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
base="http://127.0.0.1:$port"
server=""
cleanup() {
    if [ -n "$server" ]; then
        kill "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
    fi
    rm -rf "$data"
}
trap cleanup EXIT

echo "== serving on $base (data in $data)"
"$bin" serve --data "$data/db" --listen "127.0.0.1:$port" >"$data/server.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do
    curl -fsS "$base/healthz" >/dev/null 2>&1 && break
    if ! kill -0 "$server" 2>/dev/null; then
        cat "$data/server.log"
        echo "the server did not start" >&2
        exit 1
    fi
    sleep 0.1
done
token="$("$bin" token --role admin --agent admin@example.com --data "$data/db")"

seed_args=()
if [ -n "${ST_SEED:-}" ]; then
    seed_args=(--seed "$ST_SEED")
fi

echo "== schemathesis --checks all, $max_examples cases per operation, at most ${timeout_s}s"
set +e
# Run from the temporary directory: schemathesis keeps its example database in ./.schemathesis.
cd "$data"
timeout "$timeout_s" "$venv/bin/st" --config-file "$root/schemathesis.toml" run "$base/api/v1/openapi.json" \
    --checks all \
    -H "Authorization: Bearer $token" \
    --max-examples "$max_examples" \
    --workers 1 \
    --report ndjson --report-dir "$report" \
    "${seed_args[@]}"
status=$?
set -e
if [ -n "${ST_REPORT_DIR:-}" ]; then echo "== report: $report"; fi
exit "$status"
