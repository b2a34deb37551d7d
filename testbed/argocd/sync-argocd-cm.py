#!/usr/bin/env python3
"""Keeps the Argo CD snippets in sync with the Lua files they embed (charts/sluice-operator/files/argocd/).

    sync-argocd-cm.py --write               # regenerate examples/argocd/argocd-cm.yaml from the .lua files
    sync-argocd-cm.py --check               # parse that snippet (PyYAML) and fail unless every embedded script
                                            # is byte-identical to its .lua file
    sync-argocd-cm.py --check-rendered F    # the same for the chart's rendered argocd-customizations ConfigMap

Argo CD reads health checks and actions from the argocd-cm ConfigMap, not from files, so the snippet (or the
chart's ConfigMap, merged into argocd-cm) is what users apply; the .lua files are what testbed/argocd/test.lua
tests.
"""
import pathlib
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
ARGO = ROOT / "charts" / "sluice-operator" / "files" / "argocd"
CM = ROOT / "examples" / "argocd" / "argocd-cm.yaml"
KEY = "sluice.dev_StreamJob"
ACTIONS = ["savepoint", "restart", "suspend", "resume"]


def lua(rel):
    return (ARGO / rel).read_text()


def block(text, indent):
    pad = " " * indent
    return "".join(pad + line if line.strip() else line for line in text.splitlines(keepends=True))


def render():
    actions = "discovery.lua: |\n" + block(lua("discovery.lua"), 2) + "definitions:\n"
    for name in ACTIONS:
        actions += f"- name: {name}\n  action.lua: |\n" + block(lua(f"actions/{name}/action.lua"), 4)
    return (
        "# Argo CD health check and custom actions for Sluice StreamJobs. Merge into your argocd-cm:\n"
        "#   kubectl -n argocd patch configmap argocd-cm --type merge --patch-file examples/argocd/argocd-cm.yaml\n"
        "# Generated from charts/sluice-operator/files/argocd/*.lua by `python3 testbed/argocd/sync-argocd-cm.py --write`; do not edit by\n"
        "# hand (testbed/chart-check.sh fails when the embedded scripts differ from the .lua files).\n"
        "apiVersion: v1\n"
        "kind: ConfigMap\n"
        "metadata:\n"
        "  name: argocd-cm\n"
        "  namespace: argocd\n"
        "  labels:\n"
        "    app.kubernetes.io/name: argocd-cm\n"
        "    app.kubernetes.io/part-of: argocd\n"
        "data:\n"
        f"  resource.customizations.health.{KEY}: |\n" + block(lua("health.lua"), 4) +
        f"  resource.customizations.actions.{KEY}: |\n" + block(actions, 4)
    )


def embedded(data):
    """Problems of argocd-cm data whose scripts differ from the .lua files."""
    problems = []
    if data.get(f"resource.customizations.health.{KEY}") != lua("health.lua"):
        problems.append("embedded health.lua differs from files/argocd/health.lua")
    actions = yaml.safe_load(data.get(f"resource.customizations.actions.{KEY}") or "") or {}
    if actions.get("discovery.lua") != lua("discovery.lua"):
        problems.append("embedded discovery.lua differs from files/argocd/discovery.lua")
    defs = {d.get("name"): d.get("action.lua") for d in actions.get("definitions") or []}
    if sorted(defs) != sorted(ACTIONS):
        problems.append(f"embedded actions {sorted(defs)}, want {sorted(ACTIONS)}")
    for name in ACTIONS:
        if defs.get(name) != lua(f"actions/{name}/action.lua"):
            problems.append(f"embedded {name} action differs from files/argocd/actions/{name}/action.lua")
    return problems


def check_rendered(path):
    """The chart's ConfigMap (`helm template --show-only templates/argocd-customizations.yaml`)."""
    docs = [d for d in yaml.safe_load_all(pathlib.Path(path).read_text()) if d]
    if len(docs) != 1 or docs[0].get("kind") != "ConfigMap":
        return [f"expected one ConfigMap, got {len(docs)} documents"]
    data = docs[0].get("data") or {}
    problems = embedded(data)
    if sorted(data) != sorted([f"resource.customizations.health.{KEY}", f"resource.customizations.actions.{KEY}"]):
        problems.append(f"unexpected keys {sorted(data)}")
    return problems


def check():
    problems = []
    doc = yaml.safe_load(CM.read_text())
    data = (doc or {}).get("data") or {}
    if doc.get("kind") != "ConfigMap" or doc.get("metadata", {}).get("name") != "argocd-cm":
        problems.append("not the argocd-cm ConfigMap")
    problems += embedded(data)
    if CM.read_text() != render():
        problems.append("argocd-cm.yaml is not what --write produces (comments or layout edited by hand)")
    return problems


def main():
    if sys.argv[1:] == ["--write"]:
        CM.write_text(render())
        return 0
    if sys.argv[1:] == ["--check"]:
        problems = check()
        for p in problems:
            print(f"argocd-cm.yaml: {p}  (fix: python3 testbed/argocd/sync-argocd-cm.py --write)", file=sys.stderr)
        if not problems:
            print("argocd-cm.yaml: embedded Lua identical to charts/sluice-operator/files/argocd/*.lua")
        return 1 if problems else 0
    if len(sys.argv) == 3 and sys.argv[1] == "--check-rendered":
        problems = check_rendered(sys.argv[2])
        for p in problems:
            print(f"chart argocd-customizations: {p}", file=sys.stderr)
        if not problems:
            print("chart argocd-customizations ConfigMap: embedded Lua identical to files/argocd/*.lua")
        return 1 if problems else 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
