#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs the Python tools it needs (moto, cfn-lint,
# SAM CLI) into a venv, starts a moto server on a free loopback port for the DynamoDB
# conformance tests, installs Debian's Chromium and the npm test packages for the browser tests,
# then runs fmt, clippy, every Rust test, the browser tests and the template lint.
#
#   bash scripts/test.sh
#
# Reuses CARGO_TARGET_DIR (default /var/tmp/helpdesk-target) and HELPDESK_VENV (default
# /var/tmp/helpdesk-venv) across runs when they exist.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/helpdesk-target}"
export HELPDESK_VENV="${HELPDESK_VENV:-/var/tmp/helpdesk-venv}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# A test run builds once: incremental caches would only cost disk (gigabytes with this tree).
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
# Pinned so a new release of a tool cannot turn CI red on its own.
PY_TOOLS=("moto[server]==5.2.5" "cfn-lint==1.58.0" "aws-sam-cli==1.170.0")

step() { printf '\n== %s\n' "$*"; }

step "python tools (${PY_TOOLS[*]})"
if ! "$HELPDESK_VENV/bin/python" -c 'import moto' 2>/dev/null \
    || [[ ! -x "$HELPDESK_VENV/bin/cfn-lint" || ! -x "$HELPDESK_VENV/bin/sam" ]]; then
    python3 -m venv "$HELPDESK_VENV"
    "$HELPDESK_VENV/bin/pip" install --quiet --disable-pip-version-check "${PY_TOOLS[@]}"
fi

step "moto server (DynamoDB emulator, loopback only)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
moto_log="$(mktemp)"
"$HELPDESK_VENV/bin/moto_server" -H 127.0.0.1 -p "$port" >"$moto_log" 2>&1 &
moto_pid=$!
trap 'kill "$moto_pid" 2>/dev/null || true; rm -f "$moto_log"' EXIT
for _ in $(seq 1 100); do
    if python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/')" 2>/dev/null; then
        break
    fi
    if ! kill -0 "$moto_pid" 2>/dev/null; then
        cat "$moto_log" >&2
        echo "moto server did not start" >&2
        exit 1
    fi
    sleep 0.2
done
export HELPDESK_TEST_DYNAMODB_URL="http://127.0.0.1:$port"
echo "moto on $HELPDESK_TEST_DYNAMODB_URL"

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "tests (unit, property, integration: SQLite, DynamoDB on moto, HTTP, Lambda events)"
if cargo nextest --version >/dev/null 2>&1; then
    # (The workspace has no doctests; nextest runs everything else.)
    cargo nextest run --workspace --locked --no-fail-fast
else
    cargo test --workspace --locked --no-fail-fast
fi

step "browser tests (headless Chromium at phone and desktop sizes, axe-core)"
if [[ ! -x /usr/bin/chromium ]]; then
    # Debian's Chromium; CI runs as root. (A test tool's own browser download is not possible here.)
    sudo_cmd=""
    if [[ "$(id -u)" != 0 ]]; then sudo_cmd="sudo"; fi
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error
cargo build -p helpdesk --locked
HELPDESK_BIN="$CARGO_TARGET_DIR/debug/helpdesk" node --test --test-concurrency=1 tests/browser/*.test.mjs

step "SAM template lint"
bash scripts/check-template.sh
