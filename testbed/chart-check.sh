#!/usr/bin/env bash
# Checks the Helm chart and the Argo CD integration without a cluster:
#   1. helm (built from the Go module proxy, cached) lints the chart in both RBAC modes and with worker egress on;
#   2. renders it for each scenario (charts/sluice-operator/ci/*.yaml plus the defaults) and validates every
#      document with PyYAML: kinds, required fields, exact least-privilege RBAC, hardened pod, NetworkPolicy
#      ports and peers (egress off by default; on, DNS then the Kafka, object-store and extra rules in every
#      worker namespace), the five alert signals, honorLabels on the operator's ServiceMonitor, the dashboard JSON;
#   3. promtool (also from the Go module proxy, cached) checks the alert rules' PromQL;
#   4. promtool unit-tests every alert (testbed/chart/alerts_test.yaml, on the cluster scenario's rules with the
#      default thresholds): each fires on realistic series with its exact labels and annotations and stays
#      quiet below its threshold, before its `for` and when its guard is false; testbed/chart/check_alert_tests.py
#      checks that no alert is left without both kinds of case;
#   5. values.schema.json rejects bad values (replicaCount=-1, an unknown scope, a writable root fs, ...) and the
#      templates refuse inconsistent ones (worker egress without Kafka or the checkpoint store, ...);
#   6. the Argo CD health check and actions (charts/sluice-operator/files/argocd/) pass testbed/argocd/test.lua
#      under Debian's lua5.4, and the copies embedded in examples/argocd/argocd-cm.yaml and in the chart's
#      rendered argocd-customizations ConfigMap are identical to the .lua files.
#
#   ./testbed/chart-check.sh        # exits non-zero and names every failed check
#
# Caches: $HOME/.cache/sluice/{helm-<ver>,promtool-<ver>,venv}.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${SLUICE_CACHE_DIR:-$HOME/.cache/sluice}
CHART=charts/sluice-operator
NS=sluice-system
# The chart's minimum Kubernetes version and a current one; helm built with `go install` defaults to 1.20.
KUBE_VERSIONS=(1.29.0 1.34.0)
mkdir -p "$CACHE"

failed=()
passed=0
ok() { passed=$((passed + 1)); echo "  ok   $*"; }
bad() { failed+=("$*"); echo "  FAIL $*"; }
step() { printf '\n==> %s\n' "$*"; }

# --- tools (idempotent) -------------------------------------------------------------------------------------
step "tools"
# lua5.4 (the Argo CD Lua) and python3-venv come from the prerequisites step, which is quiet when all is there.
scripts/prereqs.sh
# helm and promtool: pinned and built once (Go module proxy) by the recipe ./test.sh and its cache warm-up share.
. scripts/cached-tools.sh
HELM=$(ensure_helm)
PROMTOOL=$(ensure_promtool)
if python3 -c 'import yaml' 2>/dev/null; then
  PY=python3
else
  PY=$(scripts/python-venv.sh "$CACHE/venv" yaml "pyyaml==6.0.2" | tail -n 1)
fi
echo "helm: $("$HELM" version --short)  promtool: $PROMTOOL_VERSION  python: $PY  $(lua5.4 -v)"

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# --- lint ---------------------------------------------------------------------------------------------------
step "helm lint (both RBAC modes, worker egress on)"
for values in "" "$CHART/ci/cluster-values.yaml" "$CHART/ci/namespaced-values.yaml" "$CHART/ci/egress-values.yaml"; do
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
  "namespaced|-f $CHART/ci/namespaced-values.yaml|{\"scope\":\"namespaced\",\"watchNamespaces\":[\"payments\",\"risk\"],\"workerNamespaces\":[\"payments\",\"risk\"],\"monitoring\":true}"
  "namespaced-release-ns|--set rbac.scope=namespaced|{\"scope\":\"namespaced\",\"watchNamespaces\":[\"$NS\"],\"workerNamespaces\":[\"$NS\"],\"monitoring\":false}"
  "namespaced-incl-release-ns|--set rbac.scope=namespaced --set watchNamespaces={$NS,payments}|{\"scope\":\"namespaced\",\"watchNamespaces\":[\"$NS\",\"payments\"],\"workerNamespaces\":[\"$NS\",\"payments\"],\"monitoring\":false}"
  # Worker egress on: "egress" lists the expected rules in order, the non-DNS ones read from "egressValues".
  "egress|-f $CHART/ci/egress-values.yaml|{\"scope\":\"cluster\",\"workerNamespaces\":[\"payments\",\"risk\"],\"monitoring\":false,\"egress\":[\"dns\",\"kafka\",\"objectStore\",\"extra\"],\"egressValues\":\"$CHART/ci/egress-values.yaml\"}"
  "egress-no-store|-f $CHART/ci/egress-values.yaml --set-json networkPolicy.egress.objectStore=[] --set networkPolicy.egress.allowNoObjectStore=true|{\"scope\":\"cluster\",\"workerNamespaces\":[\"payments\",\"risk\"],\"monitoring\":false,\"egress\":[\"dns\",\"kafka\",\"extra\"],\"egressValues\":\"$CHART/ci/egress-values.yaml\"}"
)
for kube in "${KUBE_VERSIONS[@]}"; do
  for s in "${scenarios[@]}"; do
    IFS='|' read -r name args expect <<< "$s"
    # shellcheck disable=SC2086 # args is a deliberate word list
    render "$name-$kube" "$kube" $args || continue
    if "$PY" testbed/chart/validate_render.py "$WORK/$name-$kube.yaml" "$expect" "$NS" > "$WORK/validate.log" 2>&1
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

# --- alert unit tests -----------------------------------------------------------------------------------------
step "promtool test rules (testbed/chart/alerts_test.yaml)"
# The cluster scenario's rules (every group on, default thresholds), once: the first Kubernetes version's.
rules="$WORK/cluster-${KUBE_VERSIONS[0]}.yaml.rules.yaml"
if [ -f "$rules" ]; then
  # rule_files cannot name a file that exists only while this script runs: the test file says @RULES@.
  sed "s|@RULES@|$rules|" testbed/chart/alerts_test.yaml > "$WORK/alerts_test.yaml"
  if "$PROMTOOL" test rules "$WORK/alerts_test.yaml" > "$WORK/promtool-test.log" 2>&1; then
    ok "promtool test rules: $(grep -c 'eval_time:' "$WORK/alerts_test.yaml") alert cases pass"
  else
    sed 's/^/       /' "$WORK/promtool-test.log"; bad "promtool test rules testbed/chart/alerts_test.yaml"
  fi
  if "$PY" testbed/chart/check_alert_tests.py "$rules" testbed/chart/alerts_test.yaml > "$WORK/coverage.log" 2>&1; then
    ok "alert test coverage: $(tail -n 1 "$WORK/coverage.log")"
  else
    sed 's/^/       /' "$WORK/coverage.log"; bad "alert test coverage (testbed/chart/check_alert_tests.py)"
  fi
else
  bad "no rendered rules of the cluster scenario (kube ${KUBE_VERSIONS[0]}) to unit-test"
fi

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
  "watchNamespaces={Bad_NS}|/watchNamespaces/0"
  "watchNamespaces={payments,payments}|watchNamespaces"
  "watchNamespace=payments|'watchNamespace'"
  "argocd.customizations.namespace=Argo_CD|namespace"
  "monitoring.prometheusRule.thresholds.busyMsPerSecond=2000|busyMsPerSecond"
  "monitoring.prometheusRule.thresholds.consumerLagFor=5 minutes|consumerLagFor"
  "monitoring.prometheusRule.thresholds.checkpointDurationSeconds=120|checkpointDurationSeconds"
  # An egress rule without ports or peers would allow every port or destination; ipBlock takes no host names.
  "networkPolicy.egress.kafka[0].to[0].ipBlock.cidr=10.20.0.0/16|missing property 'ports'"
  "networkPolicy.egress.kafka[0].ports[0].port=9093|missing property 'to'"
  "networkPolicy.egress.objectStore[0].to[0].ipBlock.cidr=s3.amazonaws.com,networkPolicy.egress.objectStore[0].ports[0].port=443|/ipBlock/cidr"
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

if "$HELM" template sluice "$CHART" --kube-version "${KUBE_VERSIONS[0]}" \
    --set "watchNamespaces={payments}" > "$WORK/tpl.log" 2>&1; then
  bad "renders watchNamespaces with the cluster-wide RBAC"
elif grep -q "watchNamespaces needs rbac.scope=namespaced" "$WORK/tpl.log"; then
  ok "refuses watchNamespaces without rbac.scope=namespaced"
else
  cat "$WORK/tpl.log"; bad "watchNamespaces guard failed for another reason"
fi

# Worker egress turned on: the template refuses to cut workers off from Kafka or the checkpoint store, and
# egress rules without the policy that carries them.
refusals=(
  "--set networkPolicy.egress.enabled=true|workers could not reach Kafka: set networkPolicy.egress.kafka"
  "-f $CHART/ci/egress-values.yaml --set-json networkPolicy.egress.objectStore=[]|workers could not reach the checkpoint store: set networkPolicy.egress.objectStore"
  "-f $CHART/ci/egress-values.yaml --set networkPolicy.enabled=false|networkPolicy.egress.enabled needs networkPolicy.enabled"
)
for r in "${refusals[@]}"; do
  IFS='|' read -r args message <<< "$r"
  # shellcheck disable=SC2086 # args is a deliberate word list
  if "$HELM" template sluice "$CHART" --kube-version "${KUBE_VERSIONS[0]}" $args > "$WORK/tpl.log" 2>&1; then
    bad "renders $args"
  elif grep -qF "$message" "$WORK/tpl.log"; then
    ok "refuses $args"
  else
    cat "$WORK/tpl.log"; bad "$args failed for another reason than: $message"
  fi
done

# --- Argo CD ------------------------------------------------------------------------------------------------
step "Argo CD health check and actions"
if lua5.4 testbed/argocd/test.lua > "$WORK/lua.log" 2>&1; then
  ok "$(tail -n 1 "$WORK/lua.log")"
else
  cat "$WORK/lua.log"; bad "testbed/argocd/test.lua"
fi
if "$PY" testbed/argocd/sync-argocd-cm.py --check > "$WORK/cm.log" 2>&1; then
  ok "$(cat "$WORK/cm.log")"
else
  cat "$WORK/cm.log"; bad "examples/argocd/argocd-cm.yaml out of sync"
fi
if "$HELM" template sluice "$CHART" -n "$NS" --kube-version "${KUBE_VERSIONS[0]}" --set argocd.customizations.enabled=true \
    --show-only templates/argocd-customizations.yaml > "$WORK/argocd-cm.yaml" 2> "$WORK/argocd-tpl.log" &&
  "$PY" testbed/argocd/sync-argocd-cm.py --check-rendered "$WORK/argocd-cm.yaml" > "$WORK/cm.log" 2>&1; then
  ok "$(cat "$WORK/cm.log")"
else
  cat "$WORK/argocd-tpl.log" "$WORK/cm.log"; bad "the chart's argocd-customizations ConfigMap"
fi
if "$PY" testbed/chart/check_argocd_application.py examples/argocd/application.yaml "$CHART" > "$WORK/app.log" 2>&1
then
  ok "examples/argocd/application.yaml: $(tail -n 1 "$WORK/app.log")"
else
  cat "$WORK/app.log"; bad "examples/argocd/application.yaml"
fi

step "summary"
for f in "${failed[@]}"; do echo "FAILED: $f"; done
echo "chart-check: ${passed} passed, ${#failed[@]} failed"
[ "${#failed[@]}" -eq 0 ]
