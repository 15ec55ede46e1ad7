#!/usr/bin/env bash
# bench/run.sh — build Baton and its benchmark driver (release) and run the benchmark.
#
# Usage: bench/run.sh [baton-bench flags...]
#   bench/run.sh                      # sqlite, --sync normal, 4 worker loops, batch 32
#   bench/run.sh --sync full          # the cost of power-loss durability (fsync per commit)
#   bench/run.sh --workers 8 --batch 64 --inflight 16
#   bench/run.sh --python-workers     # W1 with the official Python SDK worker
#                                     # (needs $HOME/.cache/baton/compat-venv with conductor-python)
#   bench/run.sh --only-w1 --w1-update-v2   # W1 alone, workers using update-v2
#   bench/run.sh --help
#
# What it measures (the server is spawned on 127.0.0.1 on a free port, on a temp SQLite db,
# and killed on every exit path):
#   cold start   spawn -> first 200 on /health, fresh db and existing db (median of 5)
#   idle RSS     VmRSS 1 s after start
#   W1           200 workflows x 10 sequential SIMPLE tasks; tasks/s, workflows/s, VmHWM,
#                server CPU per task (utime+stime from /proc/<pid>/stat)
#   W2           one FORK_JOIN of 100 branches + JOIN; start -> COMPLETED
#   W3           one-task workflow, 200 x (start -> long-polled task -> completion ack); p50/p99/max
# A table goes to stdout, followed by one JSON line with every figure.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p baton -p baton-bench >&2
exec "${CARGO_TARGET_DIR:-target}/release/baton-bench" "$@"
