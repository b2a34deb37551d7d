#!/usr/bin/env python3
"""Keeps examples/argocd/argocd-cm.yaml in sync with the Lua files it embeds.

    sync-argocd-cm.py --write   # regenerate the snippet from examples/argocd/**/*.lua
    sync-argocd-cm.py --check   # parse the snippet (PyYAML) and fail unless every embedded script is
                                # byte-identical to its .lua file

Argo CD reads health checks and actions from the argocd-cm ConfigMap, not from files, so the snippet is what
users apply; the .lua files are what testbed/argocd/test.lua tests.
"""
import pathlib
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
ARGO = ROOT / "examples" / "argocd"
CM = ARGO / "argocd-cm.yaml"
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
        "# Generated from examples/argocd/*.lua by `python3 testbed/argocd/sync-argocd-cm.py --write`; do not edit by\n"
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


def check():
    problems = []
    doc = yaml.safe_load(CM.read_text())
    data = (doc or {}).get("data") or {}
    if doc.get("kind") != "ConfigMap" or doc.get("metadata", {}).get("name") != "argocd-cm":
        problems.append("not the argocd-cm ConfigMap")
    if data.get(f"resource.customizations.health.{KEY}") != lua("health.lua"):
        problems.append("embedded health.lua differs from examples/argocd/health.lua")
    actions = yaml.safe_load(data.get(f"resource.customizations.actions.{KEY}") or "") or {}
    if actions.get("discovery.lua") != lua("discovery.lua"):
        problems.append("embedded discovery.lua differs from examples/argocd/discovery.lua")
    defs = {d.get("name"): d.get("action.lua") for d in actions.get("definitions") or []}
    if sorted(defs) != sorted(ACTIONS):
        problems.append(f"embedded actions {sorted(defs)}, want {sorted(ACTIONS)}")
    for name in ACTIONS:
        if defs.get(name) != lua(f"actions/{name}/action.lua"):
            problems.append(f"embedded {name} action differs from examples/argocd/actions/{name}/action.lua")
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
            print("argocd-cm.yaml: embedded Lua identical to examples/argocd/*.lua")
        return 1 if problems else 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
