#!/usr/bin/env bash
# Checks the Helm chart and the Argo CD integration without a cluster:
#   1. helm (built from the Go module proxy, cached) lints the chart in both RBAC modes;
#   2. renders it for each scenario (charts/sluice-operator/ci/*.yaml plus the defaults) and validates every
#      document with PyYAML: kinds, required fields, exact least-privilege RBAC, hardened pod, NetworkPolicy
#      ports and peers, the five alert signals, the dashboard JSON;
#   3. promtool (also from the Go module proxy, cached) checks the alert rules' PromQL;
#   4. values.schema.json rejects bad values (replicaCount=-1, an unknown scope, a writable root fs, ...);
#   5. the Argo CD health check and actions pass e2e/argocd/test.lua under Debian's lua5.4, and the copies
#      embedded in examples/argocd/argocd-cm.yaml are identical to the .lua files.
#
#   ./e2e/chart-check.sh        # exits non-zero and names every failed check
#
# Caches: $HOME/.cache/sluice/{helm-<ver>,promtool-<ver>,venv}.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${SLUICE_CACHE_DIR:-$HOME/.cache/sluice}
HELM_VERSION=v3.22.0
PROMTOOL_VERSION=v0.316.0 # github.com/prometheus/prometheus module version (Prometheus 3.x)
CHART=charts/sluice-operator
NS=sluice-system
# The chart's minimum Kubernetes version and a current one; helm built with `go install` defaults to 1.20.
KUBE_VERSIONS=(1.29.0 1.34.0)
mkdir -p "$CACHE"
# The Go toolchain's usual location when a non-login shell did not put it on PATH.
[ -d /usr/local/go/bin ] && case ":$PATH:" in *:/usr/local/go/bin:*) ;; *) PATH=$PATH:/usr/local/go/bin ;; esac

failed=()
passed=0
ok() { passed=$((passed + 1)); echo "  ok   $*"; }
bad() { failed+=("$*"); echo "  FAIL $*"; }
step() { printf '\n==> %s\n' "$*"; }

# --- tools (idempotent) -------------------------------------------------------------------------------------
step "tools"
# lua5.4 (the Argo CD Lua) and python3-venv come from the prerequisites step, which is quiet when all is there.
scripts/prereqs.sh
. scripts/create-once.sh
go_install() { # version module-path staging
  command -v go >/dev/null || { echo "go is needed to build $2 (Go module proxy)" >&2; return 1; }
  GOBIN="$3/bin" go install "$2@$1" >&2
}
go_tool() { # name version module-path -> prints the binary path, building it once (scripts/create-once.sh)
  create_once "$CACHE/$1-$2" "$2" go_install "$2" "$3" || return 1
  echo "$CACHE/$1-$2/bin/$1"
}
HELM=$(go_tool helm "$HELM_VERSION" helm.sh/helm/v3/cmd/helm)
PROMTOOL=$(go_tool promtool "$PROMTOOL_VERSION" github.com/prometheus/prometheus/cmd/promtool)
if python3 -c 'import yaml' 2>/dev/null; then
  PY=python3
else
  PY=$(scripts/python-venv.sh "$CACHE/venv" yaml "pyyaml==6.0.2" | tail -n 1)
fi
echo "helm: $("$HELM" version --short)  promtool: $PROMTOOL_VERSION  python: $PY  $(lua5.4 -v)"

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# --- lint ---------------------------------------------------------------------------------------------------
step "helm lint (both RBAC modes)"
for values in "" "$CHART/ci/cluster-values.yaml" "$CHART/ci/namespaced-values.yaml"; do
  label=${values:-defaults}
  if "$HELM" lint --strict "$CHART" --namespace "$NS" ${values:+-f "$values"} > "$WORK/lint.log" 2>&1; then
    ok "lint $label"
  else
    cat "$WORK/lint.log"; bad "helm lint $label"
  fi
done

# --- render and validate ------------------------------------------------------------------------------------
step "helm template + validation"
render() { # name kube-version values... -> $WORK/<name>.yaml
  local name=$1 kube=$2; shift 2
  if "$HELM" template sluice "$CHART" --namespace "$NS" --include-crds --kube-version "$kube" "$@" \
      > "$WORK/$name.yaml" 2> "$WORK/$name.err"; then
    return 0
  fi
  cat "$WORK/$name.err"; bad "helm template $name"; return 1
}
# scenario name | helm args | expectations for the validator (JSON)
scenarios=(
  "defaults||{\"scope\":\"cluster\",\"workerNamespaces\":[\"$NS\"],\"monitoring\":false}"
  "cluster|-f $CHART/ci/cluster-values.yaml|{\"scope\":\"cluster\",\"workerNamespaces\":[\"payments\",\"risk\"],\"monitoring\":true}"
  "namespaced|-f $CHART/ci/namespaced-values.yaml|{\"scope\":\"namespaced\",\"watchNamespace\":\"payments\",\"workerNamespaces\":[\"payments\"],\"monitoring\":true}"
  "namespaced-release-ns|--set rbac.scope=namespaced|{\"scope\":\"namespaced\",\"watchNamespace\":\"$NS\",\"workerNamespaces\":[\"$NS\"],\"monitoring\":false}"
)
for kube in "${KUBE_VERSIONS[@]}"; do
  for s in "${scenarios[@]}"; do
    IFS='|' read -r name args expect <<< "$s"
    # shellcheck disable=SC2086 # args is a deliberate word list
    render "$name-$kube" "$kube" $args || continue
    if "$PY" - "$WORK/$name-$kube.yaml" "$expect" "$NS" > "$WORK/validate.log" 2>&1 <<'PY'
import json, re, sys
import yaml

path, expect, release_ns = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
problems = []
def need(cond, what):
    if not cond:
        problems.append(what)

docs = [d for d in yaml.safe_load_all(open(path)) if d is not None]
CLUSTER_KINDS = {"ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}
by_kind = {}
for d in docs:
    need(isinstance(d, dict), f"document is not a mapping: {d!r:.80}")
    if not isinstance(d, dict):
        continue
    kind = d.get("kind")
    meta = d.get("metadata") or {}
    name = meta.get("name")
    need(d.get("apiVersion") and kind and name, f"document without apiVersion/kind/metadata.name: {d!r:.120}")
    need(bool(re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", name or "")) and len(name or "") <= 253,
         f"{kind} {name}: invalid name")
    if kind in CLUSTER_KINDS:
        need("namespace" not in meta, f"{kind} {name} is cluster-scoped but has a namespace")
    else:
        need(bool(meta.get("namespace")), f"{kind} {name}: no metadata.namespace")
    by_kind.setdefault(kind, []).append(d)

def one(kind, name_suffix=""):
    found = [d for d in by_kind.get(kind, []) if d["metadata"]["name"].endswith(name_suffix)]
    need(len(found) == 1, f"want exactly one {kind} *{name_suffix}, got {len(found)}")
    return found[0] if found else {}

scope, monitoring = expect["scope"], expect["monitoring"]
want_kinds = {"CustomResourceDefinition": 1, "ServiceAccount": 1, "Deployment": 1, "Service": 1,
              "PodDisruptionBudget": 1, "ConfigMap": 1, "Role": 2 if scope == "namespaced" else 1,
              "RoleBinding": 2 if scope == "namespaced" else 1,
              "NetworkPolicy": len(expect["workerNamespaces"])}
if scope == "cluster":
    want_kinds.update({"ClusterRole": 1, "ClusterRoleBinding": 1})
if monitoring:
    want_kinds.update({"ServiceMonitor": 1, "PodMonitor": 1, "PrometheusRule": 1})
got_kinds = {k: len(v) for k, v in by_kind.items()}
need(got_kinds == want_kinds, f"kinds {sorted(got_kinds.items())} != {sorted(want_kinds.items())}")

# CRD: the generated one, and the group/plural the RBAC grants.
crd = one("CustomResourceDefinition")
crd_group = crd.get("spec", {}).get("group")
crd_plural = crd.get("spec", {}).get("names", {}).get("plural")
need((crd_group, crd_plural) == ("sluice.dev", "streamjobs"), f"CRD is {crd_group}/{crd_plural}")

# Deployment: hardened, two replicas, the operator's flags.
dep = one("Deployment")
spec = dep.get("spec", {})
pod = spec.get("template", {}).get("spec", {})
pod_labels = spec.get("template", {}).get("metadata", {}).get("labels", {})
need(spec.get("replicas") == 2, f"replicas {spec.get('replicas')}")
sel = spec.get("selector", {}).get("matchLabels", {})
need(sel and all(pod_labels.get(k) == v for k, v in sel.items()), "Deployment selector does not match its pods")
need(pod_labels.get("app.kubernetes.io/name") == "sluice-operator", "operator pods lack app.kubernetes.io/name=sluice-operator")
psc = pod.get("securityContext", {})
need(psc.get("runAsNonRoot") is True and psc.get("runAsUser", 0) != 0, "pod not non-root")
need(psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", "pod seccomp not RuntimeDefault")
containers = pod.get("containers", [])
need(len(containers) == 1, f"{len(containers)} containers")
c = containers[0] if containers else {}
csc = c.get("securityContext", {})
need(csc.get("readOnlyRootFilesystem") is True, "root filesystem writable")
need(csc.get("allowPrivilegeEscalation") is False, "privilege escalation allowed")
need(csc.get("runAsNonRoot") is True, "container not non-root")
need(csc.get("capabilities", {}).get("drop") == ["ALL"] and not csc.get("capabilities", {}).get("add"),
     f"capabilities {csc.get('capabilities')}")
res = c.get("resources", {})
need(res.get("requests", {}).get("cpu") and res.get("requests", {}).get("memory") and res.get("limits", {}).get("memory"),
     f"resources incomplete: {res}")
for probe in ("livenessProbe", "readinessProbe"):
    p = c.get(probe, {}).get("httpGet", {})
    need(p.get("port") in [x.get("name") for x in c.get("ports", [])] or p.get("port") in [x.get("containerPort") for x in c.get("ports", [])],
         f"{probe} port {p.get('port')} is not a container port")
args = c.get("args", [])
need(f"--leader-election-namespace={release_ns}" in args, f"no --leader-election-namespace={release_ns} in {args}")
need("--metrics-addr=0.0.0.0:9090" in args and "--log-format=json" in args, f"args {args}")
ns_args = [a for a in args if a.startswith("--namespace")]
if scope == "namespaced":
    need(ns_args == [f"--namespace={expect['watchNamespace']}"], f"namespaced mode args {ns_args}")
else:
    need(ns_args == [], f"cluster mode must watch every namespace, got {ns_args}")
env = {e["name"]: e for e in c.get("env", [])}
for var, field in (("POD_NAME", "metadata.name"), ("POD_NAMESPACE", "metadata.namespace")):
    need(env.get(var, {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == field, f"env {var} not from {field}")
sa = one("ServiceAccount")["metadata"]["name"] if by_kind.get("ServiceAccount") else None
need(pod.get("serviceAccountName") == sa, f"pod uses ServiceAccount {pod.get('serviceAccountName')}, chart creates {sa}")
need(bool(one("PodDisruptionBudget").get("spec", {}).get("minAvailable")), "PDB without minAvailable")

# RBAC: exactly what the operator needs, nowhere a wildcard; leases only in the release namespace.
def grants(rules):
    out = set()
    for r in rules or []:
        for g in r.get("apiGroups", []):
            for res_ in r.get("resources", []):
                for v in r.get("verbs", []):
                    out.add((g, res_, v))
    return out
JOB = {("sluice.dev", "streamjobs", v) for v in ("get", "list", "watch", "patch")} \
    | {("sluice.dev", "streamjobs/status", v) for v in ("get", "patch")} \
    | {("sluice.dev", "streamjobs/finalizers", "update")} \
    | {("", r, v) for r in ("pods", "services", "configmaps", "persistentvolumeclaims")
       for v in ("get", "list", "watch", "create", "patch", "delete")} \
    | {("policy", "poddisruptionbudgets", v) for v in ("create", "patch", "delete")} \
    | {("", "secrets", v) for v in ("get", "list", "watch")} \
    | {(g, "events", v) for g in ("", "events.k8s.io") for v in ("create", "patch")}
LEASE = {("coordination.k8s.io", "leases", v) for v in ("get", "create", "update", "patch")}
for d in by_kind.get("ClusterRole", []) + by_kind.get("Role", []):
    g = grants(d.get("rules"))
    need(not any("*" in x for t in g for x in t), f"{d['kind']} {d['metadata']['name']} grants a wildcard")
    if d["metadata"]["name"].endswith("-leader-election"):
        need(g == LEASE, f"leader-election Role grants {sorted(g ^ LEASE)} beyond/short of leases")
        need(d["metadata"].get("namespace") == release_ns, "lease Role outside the release namespace")
    else:
        need(g == JOB, f"{d['kind']} grants differ from the operator's needs: extra {sorted(g - JOB)} missing {sorted(JOB - g)}")
        need(crd_group == "sluice.dev" and crd_plural == "streamjobs", "RBAC/CRD mismatch")
        if d["kind"] == "Role":
            need(d["metadata"].get("namespace") == expect.get("watchNamespace"), f"job Role in {d['metadata'].get('namespace')}")
roles = {(d["kind"], d["metadata"]["name"], d["metadata"].get("namespace")) for d in by_kind.get("ClusterRole", []) + by_kind.get("Role", [])}
for b in by_kind.get("ClusterRoleBinding", []) + by_kind.get("RoleBinding", []):
    ref = b.get("roleRef", {})
    ref_ns = None if ref.get("kind") == "ClusterRole" else b["metadata"].get("namespace")
    need((ref.get("kind"), ref.get("name"), ref_ns) in roles, f"{b['kind']} {b['metadata']['name']} refers to a missing {ref}")
    need(b.get("subjects") == [{"kind": "ServiceAccount", "name": sa, "namespace": release_ns}],
         f"{b['kind']} {b['metadata']['name']} subjects {b.get('subjects')}")

# NetworkPolicy: worker control API only from these operator pods, metrics only from monitoring.
np_ns = sorted(d["metadata"]["namespace"] for d in by_kind.get("NetworkPolicy", []))
need(np_ns == sorted(expect["workerNamespaces"]), f"NetworkPolicies in {np_ns}, want {expect['workerNamespaces']}")
for d in by_kind.get("NetworkPolicy", []):
    s = d.get("spec", {})
    need(s.get("podSelector") == {"matchLabels": {"app.kubernetes.io/name": "sluice-worker"}}, f"policy selects {s.get('podSelector')}")
    need(s.get("policyTypes") == ["Ingress"], f"policyTypes {s.get('policyTypes')}")
    rules = {tuple(p.get("port") for p in r.get("ports", [])): r.get("from", []) for r in s.get("ingress", [])}
    need(set(rules) == {(8080,), (9091,)}, f"ingress ports {sorted(rules)}")
    ctl = rules.get((8080,), [])
    need(ctl == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": release_ns}},
                  "podSelector": {"matchLabels": {k: pod_labels.get(k) for k in sel}}}],
         f"control API peers {ctl}")
    mon = rules.get((9091,), [])
    need(len(mon) == 1 and mon[0].get("namespaceSelector", {}).get("matchLabels") == {"kubernetes.io/metadata.name": "monitoring"},
         f"metrics peers {mon}")

# Metrics Service selects the operator pods on a real port.
svc = one("Service")
need(svc.get("spec", {}).get("selector") == sel, "metrics Service selector != Deployment selector")
need([p.get("targetPort") for p in svc.get("spec", {}).get("ports", [])] == ["metrics"], "metrics Service targetPort")

# Grafana dashboard: valid JSON with a panel for every signal and the throughput/latency series.
cm = one("ConfigMap")
raw = next(iter((cm.get("data") or {}).values()), "")
try:
    dash = json.loads(raw)
except ValueError as e:
    dash = {}
    problems.append(f"dashboard JSON: {e}")
exprs = " ".join(t.get("expr", "") for p in dash.get("panels", []) for t in p.get("targets", []))
for m in ("sluice_records_in_total", "sluice_records_out_total", "sluice_commit_latency_seconds_bucket",
          "sluice_ingest_to_commit_latency_seconds_bucket", "sluice_consumer_lag_records", "sluice_busy_ms_per_second",
          "sluice_checkpoint_duration_seconds_bucket", "sluice_checkpoint_failures_total", "sluice_worker_restarts_total",
          "sluice_state_bytes"):
    need(m in exprs, f"dashboard has no panel on {m}")
need(cm["metadata"].get("labels", {}).get("grafana_dashboard") == "1", "dashboard ConfigMap lacks the grafana_dashboard label")

if monitoring:
    rule = one("PrometheusRule")
    alerts = [r for g in rule.get("spec", {}).get("groups", []) for r in g.get("rules", [])]
    for r in alerts:
        need(r.get("alert") and r.get("expr") and r.get("labels", {}).get("severity") in ("info", "warning", "critical"),
             f"alert without name/expr/severity: {r}")
        ann = r.get("annotations", {})
        need(ann.get("summary") and ann.get("description") and ann.get("runbook_url"), f"{r.get('alert')}: annotations {sorted(ann)}")
        need(r.get("expr", "").count("(") == r.get("expr", "").count(")"), f"{r.get('alert')}: unbalanced parentheses")
        need("{{" not in r.get("expr", ""), f"{r.get('alert')}: template left in expr")
    all_expr = " ".join(r.get("expr", "") for r in alerts)
    # The five must-alert signals.
    for m in ("sluice_checkpoint_failures_total", "sluice_checkpoint_duration_seconds_bucket", "sluice_consumer_lag_records",
              "sluice_busy_ms_per_second", "sluice_worker_restarts_total", "sluice_state_bytes"):
        need(m in all_expr, f"no alert on {m}")
    with open(path + ".rules.yaml", "w") as f:
        yaml.safe_dump(rule.get("spec", {}), f)
    pm = one("PodMonitor")
    need(pm.get("spec", {}).get("selector", {}).get("matchLabels") == {"app.kubernetes.io/name": "sluice-worker"}, "PodMonitor selector")
    labels_set = [r.get("targetLabel") for e in pm.get("spec", {}).get("podMetricsEndpoints", []) for r in e.get("relabelings", [])]
    need("streamjob" in labels_set, "PodMonitor does not set the streamjob label the alerts group by")
    sm = one("ServiceMonitor")
    need(all(svc["metadata"]["labels"].get(k) == v for k, v in sm.get("spec", {}).get("selector", {}).get("matchLabels", {}).items()),
         "ServiceMonitor does not select the metrics Service")

for p in problems:
    print(p)
print(f"{len(docs)} documents, {len(problems)} problems")
sys.exit(1 if problems else 0)
PY
    then
      ok "render+validate $name (kube $kube): $(tail -n 1 "$WORK/validate.log")"
    else
      sed 's/^/       /' "$WORK/validate.log"; bad "validate $name (kube $kube)"
    fi
    if [ -f "$WORK/$name-$kube.yaml.rules.yaml" ]; then
      if "$PROMTOOL" check rules "$WORK/$name-$kube.yaml.rules.yaml" > "$WORK/promtool.log" 2>&1; then
        ok "promtool check rules $name (kube $kube): $(grep -Eo 'SUCCESS: [0-9]+ rules found' "$WORK/promtool.log")"
      else
        cat "$WORK/promtool.log"; bad "promtool check rules $name (kube $kube)"
      fi
    fi
  done
done

# --- values.schema.json rejects bad values --------------------------------------------------------------------
step "values.schema.json and template guards"
# A good override must pass, or the rejections below would prove nothing.
if "$HELM" lint "$CHART" --set replicaCount=3 > "$WORK/lint.log" 2>&1; then ok "accepts replicaCount=3"; else cat "$WORK/lint.log"; bad "rejects a valid replicaCount=3"; fi
rejects=(
  "replicaCount=-1|replicaCount"
  "replicaCount=0|replicaCount"
  "rbac.scope=everywhere|scope"
  "securityContext.readOnlyRootFilesystem=false|readOnlyRootFilesystem"
  "securityContext.runAsNonRoot=false|runAsNonRoot"
  "image.pullPolicy=Sometimes|pullPolicy"
  "replicas=2|replicas"
  "networkPolicy.namespaces={Bad_Namespace}|namespaces"
  "monitoring.prometheusRule.thresholds.busyMsPerSecond=2000|busyMsPerSecond"
  "monitoring.prometheusRule.thresholds.consumerLagFor=5 minutes|consumerLagFor"
)
for r in "${rejects[@]}"; do
  IFS='|' read -r set key <<< "$r"
  if "$HELM" lint "$CHART" --set "$set" > "$WORK/lint.log" 2>&1; then
    bad "values.schema.json accepts --set $set"
  elif grep -q "$key" "$WORK/lint.log"; then
    ok "rejects --set $set"
  else
    cat "$WORK/lint.log"; bad "--set $set failed for another reason than $key"
  fi
done
# Not the schema: the template refuses a ServiceMonitor without the Service it scrapes (`helm lint` only logs
# a template's `fail`, so this one is checked by rendering).
if "$HELM" template sluice "$CHART" --kube-version "${KUBE_VERSIONS[0]}" \
    --set monitoring.serviceMonitor.enabled=true,metricsService.enabled=false > "$WORK/tpl.log" 2>&1; then
  bad "renders a ServiceMonitor without the metrics Service"
elif grep -q "needs metricsService.enabled" "$WORK/tpl.log"; then
  ok "refuses a ServiceMonitor without the metrics Service"
else
  cat "$WORK/tpl.log"; bad "ServiceMonitor guard failed for another reason"
fi

# --- Argo CD ------------------------------------------------------------------------------------------------
step "Argo CD health check and actions"
if lua5.4 e2e/argocd/test.lua > "$WORK/lua.log" 2>&1; then
  ok "$(tail -n 1 "$WORK/lua.log")"
else
  cat "$WORK/lua.log"; bad "e2e/argocd/test.lua"
fi
if "$PY" e2e/argocd/sync-argocd-cm.py --check > "$WORK/cm.log" 2>&1; then
  ok "$(cat "$WORK/cm.log")"
else
  cat "$WORK/cm.log"; bad "examples/argocd/argocd-cm.yaml out of sync"
fi
if "$PY" - examples/argocd/application.yaml "$CHART" > "$WORK/app.log" 2>&1 <<'PY'
import os, sys, yaml
apps = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
problems = [f"{a.get('metadata', {}).get('name')}: not an argoproj.io Application" for a in apps
            if a.get("kind") != "Application" or not a.get("apiVersion", "").startswith("argoproj.io/")]
chart_apps = [a for a in apps if a.get("spec", {}).get("source", {}).get("path") == sys.argv[2]]
if len(chart_apps) != 1:
    problems.append(f"{len(chart_apps)} Applications deploy {sys.argv[2]}")
for a in apps:
    if not a.get("spec", {}).get("destination", {}).get("namespace"):
        problems.append(f"{a['metadata']['name']}: no destination namespace")
for p in problems:
    print(p)
print(f"{len(apps)} Applications")
sys.exit(1 if problems else 0)
PY
then
  ok "examples/argocd/application.yaml: $(tail -n 1 "$WORK/app.log")"
else
  cat "$WORK/app.log"; bad "examples/argocd/application.yaml"
fi

step "summary"
for f in "${failed[@]}"; do echo "FAILED: $f"; done
echo "chart-check: ${passed} passed, ${#failed[@]} failed"
[ "${#failed[@]}" -eq 0 ]
