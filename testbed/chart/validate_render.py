#!/usr/bin/env python3
"""Validates one rendering of the sluice-operator chart (a multi-document YAML file) against what the
scenario expects: the objects and their namespaces, RBAC exactly as the operator needs it (no wildcards),
the NetworkPolicies (ingress, and egress when the scenario turns it on), the monitoring objects and the
operator Deployment's security settings.

    validate_render.py RENDERED.yaml EXPECT_JSON RELEASE_NAMESPACE

Prints every problem found and exits 1 if there was one. Run by testbed/chart-check.sh for each scenario and
Kubernetes version.
"""
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
# Namespaced mode: the namespaces the operator reconciles, in the order of the --watch-namespaces flag.
watch = expect["watchNamespaces"] if scope == "namespaced" else []
need(len(watch) == len(set(watch)), f"expectation lists a watched namespace twice: {watch}")
# One job Role + RoleBinding per watched namespace, plus the leader-election Role + RoleBinding.
want_kinds = {"CustomResourceDefinition": 1, "ServiceAccount": 1, "Deployment": 1, "Service": 1,
              "PodDisruptionBudget": 1, "ConfigMap": 1, "Role": len(watch) + 1, "RoleBinding": len(watch) + 1,
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
ca_args = [a for a in args if a.startswith("--control-ca-secret=")]
need(len(ca_args) == 1 and ca_args[0].endswith("-control-ca"), f"control CA Secret args {ca_args}")
need("--metrics-addr=0.0.0.0:9090" in args and "--log-format=json" in args, f"args {args}")
ns_args = [a for a in args if a.startswith(("--namespace", "--watch-namespace"))]
if scope == "namespaced":
    need(ns_args == [f"--watch-namespaces={','.join(watch)}"], f"namespaced mode args {ns_args}")
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
    | {("", "secrets", v) for v in ("get", "create", "patch")} \
    | {(g, "events", v) for g in ("", "events.k8s.io") for v in ("create", "patch")}
LEASE = {("coordination.k8s.io", "leases", v) for v in ("get", "create", "update", "patch")} \
    | {("", "secrets", v) for v in ("create", "get", "update")}
job_role_ns, lease_roles = [], 0
for d in by_kind.get("ClusterRole", []) + by_kind.get("Role", []):
    g = grants(d.get("rules"))
    need(not any("*" in x for t in g for x in t), f"{d['kind']} {d['metadata']['name']} grants a wildcard")
    # Secrets: get (the Secrets a StreamJob names) and create/patch (the job control certificates); never
    # list, watch, update or delete.
    secret_verbs = sorted(v for (grp, r, v) in g if grp == "" and r == "secrets")
    if d["metadata"]["name"].endswith("-leader-election"):
        lease_roles += 1
        # The control CA: create anywhere in the release namespace, get and update only by its name.
        named = [r for r in d.get("rules", []) if "secrets" in r.get("resources", []) and r.get("verbs") != ["create"]]
        need(len(named) == 1 and named[0].get("resourceNames") == [f"{d['metadata']['name'].removesuffix('-leader-election')}-control-ca"],
             f"the control CA Secret rule is not narrowed to its name: {named}")
        need(g == LEASE, f"leader-election Role grants {sorted(g ^ LEASE)} beyond/short of leases")
        need(d["metadata"].get("namespace") == release_ns, "lease Role outside the release namespace")
    else:
        need(secret_verbs == ["create", "get", "patch"], f"{d['kind']} {d['metadata']['name']} grants secrets {secret_verbs}, want [create, get, patch]")
        need(g == JOB, f"{d['kind']} grants differ from the operator's needs: extra {sorted(g - JOB)} missing {sorted(JOB - g)}")
        need(crd_group == "sluice.dev" and crd_plural == "streamjobs", "RBAC/CRD mismatch")
        if d["kind"] == "Role":
            job_role_ns.append(d["metadata"].get("namespace"))
need(lease_roles == 1, f"{lease_roles} leader-election Roles")
need(sorted(job_role_ns) == sorted(watch), f"job Roles in {sorted(job_role_ns)}, want one in each of {sorted(watch)}")
job_binding_ns = sorted(b["metadata"].get("namespace") for b in by_kind.get("RoleBinding", [])
                        if not b["metadata"]["name"].endswith("-leader-election"))
need(job_binding_ns == sorted(watch), f"job RoleBindings in {job_binding_ns}, want one in each of {sorted(watch)}")
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
# Egress, when the scenario lists its parts ("egress": ["dns", "kafka", ...]): exactly those rules in that order,
# DNS being UDP and TCP 53 to kube-dns and every other part the rules of the scenario's values file, verbatim.
# Without "egress" the policy must not restrict egress at all.
DNS = {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
               "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
       "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}
want_egress = []
if expect.get("egress"):
    given = yaml.safe_load(open(expect["egressValues"]))["networkPolicy"]["egress"]
    want_egress = [r for part in expect["egress"] for r in ([DNS] if part == "dns" else given[part])]
for d in by_kind.get("NetworkPolicy", []):
    s = d.get("spec", {})
    need(s.get("podSelector") == {"matchLabels": {"app.kubernetes.io/name": "sluice-worker"}}, f"policy selects {s.get('podSelector')}")
    if want_egress:
        need(s.get("policyTypes") == ["Ingress", "Egress"], f"policyTypes {s.get('policyTypes')}, want [Ingress, Egress]")
        need(s.get("egress") == want_egress, f"egress rules {s.get('egress')}, want {want_egress}")
        # A rule without `to` or `ports` would open every destination or every port.
        need(all(r.get("to") and r.get("ports") for r in s.get("egress", [])), "an egress rule without to or ports")
    else:
        need(s.get("policyTypes") == ["Ingress"], f"policyTypes {s.get('policyTypes')}")
        need("egress" not in s, f"egress rules {s.get('egress')} although egress is off")
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
    pm_ns = pm.get("spec", {}).get("namespaceSelector")
    want_pm_ns = {"matchNames": watch} if scope == "namespaced" else {"any": True}
    need(pm_ns == want_pm_ns, f"PodMonitor namespaceSelector {pm_ns}, want {want_pm_ns}")
    sm = one("ServiceMonitor")
    need(all(svc["metadata"]["labels"].get(k) == v for k, v in sm.get("spec", {}).get("selector", {}).get("matchLabels", {}).items()),
         "ServiceMonitor does not select the metrics Service")
    # The operator's per-job series carry the StreamJob's namespace; the lifecycle alerts group by it.
    need(all(e.get("honorLabels") is True for e in sm.get("spec", {}).get("endpoints", [])),
         "ServiceMonitor without honorLabels: the job series' namespace would become exported_namespace")

for p in problems:
    print(p)
print(f"{len(docs)} documents, {len(problems)} problems")
sys.exit(1 if problems else 0)
