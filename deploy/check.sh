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

# The container and service files. No Docker engine runs here, so the image is not built
# and the compose file not started: their structure is checked instead.
python3 - <<'PY'
import re, sys, os
import yaml
with open("docker-compose.yaml") as f:
    compose = yaml.safe_load(f)
services = compose.get("services", {})
for name in ("baton", "postgres", "prometheus", "grafana"):
    assert name in services, f"docker-compose.yaml: no service '{name}'"
pg = services["postgres"]
assert "healthcheck" in pg, "postgres: no healthcheck"
assert any(str(v).endswith(":/var/lib/postgresql/data") for v in pg.get("volumes", [])), \
    "postgres: data not on a volume"
baton = services["baton"]
assert baton["depends_on"]["postgres"]["condition"] == "service_healthy", \
    "baton: must wait for a healthy postgres"
assert baton["build"]["dockerfile"] == "deploy/Dockerfile"
assert "BATON_POSTGRES" in baton["environment"], "baton: no PostgreSQL URL"
declared = set(compose.get("volumes", {}) or {})
for sname, svc in services.items():
    for v in svc.get("volumes", []):
        source = str(v).split(":")[0]
        if source.startswith("."):
            if "secrets/" in source:
                continue  # created by the operator (see the file's header)
            assert os.path.exists(source), f"{sname}: bind mount {source} does not exist"
        else:
            assert source in declared, f"{sname}: volume {source} not declared"
with open("Dockerfile") as f:
    docker = f.read()
stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", docker, re.M | re.I)
assert len(stages) >= 2, "Dockerfile: not multi-stage"
final = docker[docker.rfind("\nFROM"):]
user = re.findall(r"^USER\s+(\S+)", final, re.M)
assert user and user[-1].split(":")[0] not in ("0", "root"), "Dockerfile: final stage runs as root"
assert re.search(r"^COPY --from=build\s+\S*target/release/baton", final, re.M), \
    "Dockerfile: final stage does not take the binary from the build stage"
assert re.search(r"^ENTRYPOINT", final, re.M), "Dockerfile: no ENTRYPOINT"
print("docker-compose.yaml and Dockerfile: structure OK (not built or run: no Docker engine)")
PY

if command -v systemd-analyze >/dev/null; then
  # verify wants ExecStart to exist: point it at any executable for the check.
  sed "s#^ExecStart=/usr/local/bin/baton#ExecStart=$(command -v true)#" systemd/baton.service \
    > "$work/baton.service"
  # It reports unknown or malformed settings as warnings with exit status 0: any output fails.
  verdict="$(systemd-analyze verify "$work/baton.service" 2>&1)" || true
  if [[ -n "$verdict" ]]; then
    echo "systemd/baton.service: $verdict" >&2
    exit 1
  fi
  echo "systemd/baton.service: systemd-analyze verify OK"
else
  echo "systemd-analyze not installed: systemd/baton.service not verified"
fi

echo "deploy/: configuration, rules, rule tests, dashboards, container and service files OK"
