#!/usr/bin/env python3
"""Checks that the promtool unit tests cover every alert of a rendered rules file: each alert has at least one
case where it fires (with its full annotations, which promtool then compares exactly) and one where it must
stay quiet (exp_alerts: []), and no case names an alert the rules do not have.

    check_alert_tests.py RULES.yaml ALERTS_TEST.yaml

Run by testbed/chart-check.sh next to `promtool test rules`; prints a one-line summary, or every gap and
exits 1.
"""
import sys
import yaml

rules_path, tests_path = sys.argv[1], sys.argv[2]
alerts = [r["alert"] for g in yaml.safe_load(open(rules_path))["groups"] for r in g["rules"] if "alert" in r]
tests = yaml.safe_load(open(tests_path))["tests"]
cases = [c for t in tests for c in t.get("alert_rule_test", [])]

problems = []
fires, quiet = {}, {}
for c in cases:
    name = c.get("alertname")
    if name not in alerts:
        problems.append(f"a case at {c.get('eval_time')} tests {name!r}, which the rules do not have")
        continue
    exp = c.get("exp_alerts") or []
    if exp:
        fires[name] = fires.get(name, 0) + 1
        for a in exp:
            missing = {"summary", "description", "runbook_url"} - set(a.get("exp_annotations") or {})
            if missing:
                problems.append(f"{name} at {c.get('eval_time')}: expected alert without {sorted(missing)}")
    else:
        quiet[name] = quiet.get(name, 0) + 1
for name in alerts:
    if name not in fires:
        problems.append(f"{name}: no case where it fires")
    if name not in quiet:
        problems.append(f"{name}: no case where it must stay quiet")

for p in problems:
    print(p)
if problems:
    sys.exit(1)
print(f"{len(alerts)} alerts, {len(cases)} cases in {len(tests)} tests: every alert fires and stays quiet")
