#!/usr/bin/env bash
# Checks deploy/: the Prometheus configuration and alert rules (promtool check + rule unit
# tests), and the Grafana dashboards (valid JSON, every query valid PromQL, every Baton
# metric they or the rules use exported by Baton). Needs promtool (Debian: prometheus) and
# python3. Run from anywhere; CI runs it from .ci/run.
set -euo pipefail
cd "$(dirname "$0")"

promtool check config prometheus/prometheus.yml
promtool test rules prometheus/rules/baton.rules.test.yml

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# Dashboards: JSON, structure, and their queries as recording rules so promtool parses them.
python3 - "$work/dashboard-queries.rules.yml" <<'PY'
import glob, json, re, sys
rules = []
for path in sorted(glob.glob("grafana/dashboards/*.json")):
    with open(path) as f:
        d = json.load(f)  # fails on invalid JSON
    for key in ("uid", "title", "panels"):
        assert key in d, f"{path}: no '{key}'"
    for p in d["panels"]:
        assert p.get("targets"), f"{path}: panel '{p.get('title')}' has no queries"
        for t in p["targets"]:
            expr = re.sub(r"\$\{?[A-Za-z_]+\}?", ".*", t["expr"])
            rules.append((f"{d['uid']}:{p['id']}{t['refId']}", expr))
with open(sys.argv[1], "w") as out:
    out.write("groups:\n  - name: dashboard-queries\n    rules:\n")
    for i, (where, expr) in enumerate(rules):
        out.write(f"      - record: dashboard_query_{i}\n        expr: {json.dumps(expr)}\n")
print(f"{len(rules)} dashboard queries from {len(glob.glob('grafana/dashboards/*.json'))} dashboards")
PY
promtool check rules "$work/dashboard-queries.rules.yml"

# Every baton_* metric named in rules and dashboards must be one Baton exports.
exported=$(grep -oE '"baton_[a-z_]+"' ../crates/baton-runtime/src/metrics.rs | tr -d '"' | sort -u)
used=$(grep -ohE 'baton_[a-z_]+' prometheus/rules/*.yml grafana/dashboards/*.json \
  | sed -E 's/_(bucket|count|sum)$//' | sort -u)
missing=$(comm -13 <(echo "$exported") <(echo "$used"))
if [[ -n "$missing" ]]; then
  echo "metrics used in deploy/ but not exported by Baton:" >&2
  echo "$missing" >&2
  exit 1
fi
echo "deploy/: configuration, rules, rule tests and dashboards OK"
