#!/usr/bin/env bash
# Browser tests of the web UI: Debian's chromium driven by playwright-core (from npm, no
# browser download) against a real `baton server` on 127.0.0.1 (tests/ui/harness.js starts
# it on a free port with a fresh SQLite file). Screenshots go to tests/ui/test-results/.
#
# Usage (from the repo root):  tests/ui/run.sh
# Env:
#   BATON_BIN   baton binary (default: $CARGO_TARGET_DIR or target, /debug/baton, built with
#               cargo if missing)
#   CHROMIUM    browser executable (default /usr/bin/chromium: `apt-get install chromium`)
set -euo pipefail

if [[ ! -f tests/ui/package.json || ! -f Cargo.toml ]]; then
  echo "run.sh: must be run from the repo root" >&2
  exit 2
fi
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
if [[ ! -x "$CHROMIUM" ]]; then
  echo "run.sh: no browser at $CHROMIUM; install Debian's chromium (apt-get install chromium) or set CHROMIUM" >&2
  exit 1
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "run.sh: npm is needed (apt-get install nodejs npm)" >&2
  exit 1
fi
if [[ -n "${BATON_BIN:-}" ]]; then
  if [[ ! -x "$BATON_BIN" ]]; then
    echo "run.sh: BATON_BIN=$BATON_BIN is not an executable" >&2
    exit 1
  fi
else
  BATON_BIN="${CARGO_TARGET_DIR:-target}/debug/baton"
  if [[ ! -x "$BATON_BIN" ]]; then
    echo "==> $BATON_BIN missing; building with cargo"
    timeout 1800 cargo build -q -p baton
  fi
fi
BATON_BIN="$(cd "$(dirname "$BATON_BIN")" && pwd)/$(basename "$BATON_BIN")"

cd tests/ui
# playwright-core only (no browsers), exactly as locked; reinstalled when the lock changes.
lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ "$(cat node_modules/.baton-lock.sha256 2>/dev/null || true)" != "$lock_hash" ]]; then
  echo "==> npm ci (tests/ui)"
  timeout 300 npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_hash" > node_modules/.baton-lock.sha256
fi
rm -rf test-results
echo "==> browser tests (chromium: $("$CHROMIUM" --version 2>/dev/null | head -n1))"
BATON_BIN="$BATON_BIN" CHROMIUM="$CHROMIUM" timeout -k 10 600 npm test --silent
