#!/usr/bin/env python3
"""Checks examples/argocd/application.yaml: every document is an argoproj.io Application with a
destination namespace, and exactly one of them deploys the chart at CHART_PATH.

    check_argocd_application.py APPLICATION.yaml CHART_PATH
"""
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
