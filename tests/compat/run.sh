#!/usr/bin/env bash
# Compatibility test: the official conductor-python SDK (from PyPI, unchanged) against Baton.
#
# Usage (from the repo root):  tests/compat/run.sh
# Env:
#   BATON_BIN            baton binary (default target/debug/baton; built with cargo if missing)
#   BATON_COMPAT_VENV    virtualenv to create/reuse (default ~/.cache/baton/compat-venv)
#   COMPAT_DEBUG=1       SDK debug logging (HTTP traffic) in test_sdk.py
#   BATON_COMPAT_DB      the server's --db (default a fresh SQLite file); for PostgreSQL, an
#                        empty database, e.g. postgres://postgres@127.0.0.1:5432/baton_compat
set -euo pipefail

if [[ ! -f tests/compat/requirements.txt || ! -f Cargo.toml ]]; then
  echo "run.sh: must be run from the repo root" >&2
  exit 2
fi

VENV="${BATON_COMPAT_VENV:-$HOME/.cache/baton/compat-venv}"
BATON_BIN="${BATON_BIN:-target/debug/baton}"
REQ=tests/compat/requirements.txt
start_ts=$(date +%s)

# ---- virtualenv + SDK (only reinstalled when requirements.txt changes) --------
if [[ ! -x "$VENV/bin/python" ]]; then
  echo "==> creating virtualenv $VENV"
  mkdir -p "$(dirname "$VENV")"
  timeout 120 python3 -m venv "$VENV"
fi
req_hash=$(sha256sum "$REQ" | cut -d' ' -f1)
stamp="$VENV/.baton-compat-requirements.sha256"
if [[ "$(cat "$stamp" 2>/dev/null || true)" != "$req_hash" ]]; then
  echo "==> installing $(grep -v '^#' "$REQ" | xargs) into $VENV"
  timeout 300 "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQ"
  echo "$req_hash" > "$stamp"
fi

# ---- baton binary ----------------------------------------------------------------
if [[ ! -x "$BATON_BIN" ]]; then
  echo "==> $BATON_BIN missing; building with cargo"
  timeout 1800 cargo build -q -p baton
fi
BATON_BIN="$(cd "$(dirname "$BATON_BIN")" && pwd)/$(basename "$BATON_BIN")"

# ---- start the server on a free port with a fresh SQLite file ------------------
WORK="$(mktemp -d "${TMPDIR:-/tmp}/baton-compat.XXXXXX")"
SERVER_PID=""
cleanup() {
  local rc=$?
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SERVER_PID" 2>/dev/null || true
  fi
  if [[ $rc -ne 0 && -f "$WORK/server.log" ]]; then
    echo "---- baton server log (last 60 lines) ----" >&2
    tail -n 60 "$WORK/server.log" >&2 || true
  fi
  rm -rf "$WORK"
  exit $rc
}
trap cleanup EXIT INT TERM

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
DB="${BATON_COMPAT_DB:-sqlite://$WORK/baton.db}"
echo "==> starting baton on 127.0.0.1:$PORT (db ${DB%%://*})"
"$BATON_BIN" server --port "$PORT" --host 127.0.0.1 --db "$DB" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!

healthy=0
for _ in $(seq 1 150); do   # up to ~30 s
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "baton server exited during startup" >&2
    exit 1
  fi
  if python3 - "$PORT" <<'PY' 2>/dev/null
import sys, urllib.request
urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/health", timeout=1).read()
PY
  then healthy=1; break; fi
  sleep 0.2
done
if [[ $healthy -ne 1 ]]; then
  echo "baton server did not become healthy within 30 s" >&2
  exit 1
fi

# ---- run the SDK test -------------------------------------------------------------
echo "==> running tests/compat/test_sdk.py"
rc=0
CONDUCTOR_SERVER_URL="http://127.0.0.1:$PORT/api" \
  timeout -k 10 300 "$VENV/bin/python" tests/compat/test_sdk.py || rc=$?
echo "==> test_sdk.py exit code $rc"

# ---- the same SDK with a key id and secret against a server with auth on ---------------
kill "$SERVER_PID" 2>/dev/null || true
wait "$SERVER_PID" 2>/dev/null || true
AUTH_DB="sqlite://$WORK/auth.db"
key_field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
ADMIN_JSON=$("$BATON_BIN" keys --db "$AUTH_DB" create --role admin --name compat-admin 2>/dev/null)
WORKER_JSON=$("$BATON_BIN" keys --db "$AUTH_DB" create --role worker --name compat-worker 2>/dev/null)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
echo "==> starting baton with authentication on 127.0.0.1:$PORT"
"$BATON_BIN" server --port "$PORT" --host 127.0.0.1 --db "$AUTH_DB" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
healthy=0
for _ in $(seq 1 150); do
  kill -0 "$SERVER_PID" 2>/dev/null || { echo "baton server exited during startup" >&2; exit 1; }
  if python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$PORT/health', timeout=1).read()" 2>/dev/null
  then healthy=1; break; fi
  sleep 0.2
done
[[ $healthy -eq 1 ]] || { echo "baton server (auth) did not become healthy within 30 s" >&2; exit 1; }
echo "==> running tests/compat/test_sdk_auth.py"
auth_rc=0
CONDUCTOR_SERVER_URL="http://127.0.0.1:$PORT/api" \
  BATON_ADMIN_KEY_ID=$(echo "$ADMIN_JSON" | key_field keyId) \
  BATON_ADMIN_KEY_SECRET=$(echo "$ADMIN_JSON" | key_field keySecret) \
  BATON_WORKER_KEY_ID=$(echo "$WORKER_JSON" | key_field keyId) \
  BATON_WORKER_KEY_SECRET=$(echo "$WORKER_JSON" | key_field keySecret) \
  timeout -k 10 180 "$VENV/bin/python" tests/compat/test_sdk_auth.py || auth_rc=$?
echo "==> test_sdk_auth.py exit code $auth_rc; total $(( $(date +%s) - start_ts )) s"
[[ $rc -ne 0 ]] && exit $rc
exit $auth_rc
