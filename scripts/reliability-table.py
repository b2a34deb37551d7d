#!/usr/bin/env python3
"""The reliability tables, generated from the JSON lines the end-to-end scenarios write
(`SLUICE_RELIABILITY_REPORT`, one object per scenario: scenario, events, kills, duplicates, losses,
mismatches, seconds, and their provenance: commit, dirty, command, campaign, profile, machine).

    scripts/reliability-table.py FILE.jsonl             # print the Markdown table
    scripts/reliability-table.py --check DOC.md         # every generated table in DOC matches its file

A soak result (`sluice-bench soak`, one JSON object, file name ending in `.soak.json`) gives the soak's table:
its five-minute windows, worker 0's RSS trend and what `sluice verify` found.

A generated table in a document sits between `<!-- table: <path of the JSON lines, from the repository root> -->`
and `<!-- end table -->`; `--check` fails when a table differs from what its file gives (the figures in docs
come from the committed raw output, never typed by hand).
"""

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARK = re.compile(r"<!-- table: (\S+) -->\n(.*?)<!-- end table -->", re.S)


def rows(source):
    with open(ROOT / source, encoding="utf-8") as f:
        out = [json.loads(line) for line in f if line.strip()]
    return sorted(out, key=lambda r: r["scenario"])


def dash(v):
    return "–" if v is None else str(v)


def table(source):
    """The Markdown table of one JSON lines file (`source`, from the repository root), with the commits it
    was measured on; or of one soak result."""
    if source.endswith(".soak.json"):
        return soak_table(source)
    rs = rows(source)
    lines = [
        "| scenario | events | kills | duplicates | losses | mismatches | time, s |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rs:
        lines.append(
            f"| {r['scenario']} | {r['events']} | {r['kills']} | {dash(r['duplicates'])} | "
            f"{dash(r['losses'])} | {dash(r['mismatches'])} | {r['seconds']:.0f} |"
        )
    lines.append("")
    lines.append(provenance_line(rs, source))
    return "\n".join(lines) + "\n"


def provenance_line(rs, source):
    """Where the rows came from: commits (dirty or not), build profile, campaign size and machine."""

    def values(key):
        return ", ".join(sorted({str(r[key]) for r in rs if r.get(key)}))

    commits = sorted({(r.get("commit") or "unknown") + (" (dirty tree)" if r.get("dirty") else "") for r in rs})
    profile, campaign, machine = values("profile"), values("campaign"), values("machine")
    details = [f"{profile} build"] if profile else []
    details += [f"campaign {campaign}"] if campaign else []
    text = f"Measured at commit {', '.join(commits)}"
    text += f" ({', '.join(details)})" if details else ""
    text += f" on {machine}" if machine else ""
    missing = [name for name, v in (("build profile", profile), ("campaign", campaign), ("machine", machine)) if not v]
    text += f"; not recorded: {', '.join(missing)}" if missing else ""
    return text + f"; raw output: `{source}`."


def mib(v):
    return "–" if v is None else f"{v:.0f}"


def minutes(v):
    return f"{v:.0f}" if abs(v - round(v)) < 1e-9 else f"{v:.2f}"


def soak_table(source):
    """The Markdown table of one soak result: a row per window, then the verdict and its provenance."""
    with open(ROOT / source, encoding="utf-8") as f:
        r = json.load(f)
    cfg, v, rss = r["soak"], r["verified"], r["rss_worker0"]
    # Results since the state gauge was sampled have a column for worker 0's live state.
    with_state = all("state_mib" in w for w in r["windows"]) and bool(r["windows"])
    state_head, state_rule = (" worker 0 state, MiB |", " --- |") if with_state else ("", "")
    # Results since the caches and the store were sampled have columns for them too.
    with_caches = all("rest_mib" in w for w in r["windows"]) and bool(r["windows"])
    if with_caches:
        state_head += (" worker 0 caches, MiB | worker 0 RSS − caches, MiB | checkpoint upload, MiB |"
                       " store objects |")
        state_rule += " --- | --- | --- | --- |"
    lines = [
        "| minutes | input/s | max lag | worker 0 RSS, MiB | worker 1 RSS, MiB |" + state_head
        + " checkpoints | mean checkpoint, ms | kills |",
        "| --- | --- | --- | --- | --- |" + state_rule + " --- | --- | --- |",
    ]
    for w in r["windows"]:
        rss_w = w["rss_mib"] + [None] * (2 - len(w["rss_mib"]))
        ckpt = "–" if w["checkpoint_mean_ms"] is None else f"{w['checkpoint_mean_ms']:.0f}"
        state = f" {mib((w['state_mib'] + [None])[0])} |" if with_state else ""
        if with_caches:
            state += (f" {mib((w['caches_mib'] + [None])[0])} | {mib((w['rest_mib'] + [None])[0])} |"
                      f" {w['uploaded_mib']:,.0f} | {dash(w['store_objects'])} |")
        lines.append(
            f"| {minutes(w['from_min'])}–{minutes(w['to_min'])} | {w['input_per_sec']:,.0f} | {dash(w['max_lag'])} | "
            f"{mib(rss_w[0])} | {mib(rss_w[1])} |{state} {w['checkpoints']} | {ckpt} | {w['kills']} |"
        )
    growth = "–" if rss["growth_pct"] is None else f"{rss['growth_pct']:+.1f} %"
    if "state_end_mib" in rss:
        growth += (f"; its live state {mib(rss['state_after_warm_up_mib'])} MiB after warm-up and "
                   f"{mib(rss['state_end_mib'])} MiB at the end")
    if "rest_end_mib" in rss:
        rest_growth = "–" if rss["rest_growth_pct"] is None else f"{rss['rest_growth_pct']:+.1f} %"
        growth += (f". Its caches (block cache with the memtables, table readers, read cache): "
                   f"{mib(rss['caches_after_warm_up_mib'])} MiB after warm-up, {mib(rss['caches_end_mib'])} MiB "
                   f"at the end; **RSS minus caches {mib(rss['rest_after_warm_up_mib'])} → "
                   f"{mib(rss['rest_end_mib'])} MiB ({rest_growth})**")
    p = cfg["provenance"]
    lines += [
        "",
        f"{cfg['records_per_sec']:,} records/s for {cfg['minutes']} min, {len(r['kills'])} kills of worker 1 "
        f"(every {cfg['kill_every_secs']} s, every other one with its local state deleted); "
        f"{v['input_records']:,} input records: **{v['duplicates']} duplicates, {v['losses']} losses, "
        f"{v['mismatches']} mismatches**. Worker 0's RSS: {mib(rss['after_warm_up_mib'])} MiB after warm-up "
        f"(median of the run's second sixth), {mib(rss['end_mib'])} MiB at the end (median of its last sixth), "
        f"{growth}.",
        "",
        f"Measured at commit {p['commit']}{' (dirty tree)' if p['dirty'] else ''} ({cfg['profile']} build) on "
        f"{cfg['machine']}; {r['seconds'] / 60:.0f} min in all; raw output: `{source}`.",
    ]
    return "\n".join(lines) + "\n"


def check(doc):
    text = Path(doc).read_text(encoding="utf-8")
    found = MARK.findall(text)
    if not found:
        print(f"{doc}: no generated table", file=sys.stderr)
        return 1
    bad = 0
    for source, body in found:
        want = table(source)
        if body.strip() != want.strip():
            print(f"{doc}: the table from {source} is not what the file gives; regenerate it with\n"
                  f"  scripts/reliability-table.py {source}\n--- in the document:\n{body}--- from the file:\n{want}",
                  file=sys.stderr)
            bad += 1
    print(f"{doc}: {len(found) - bad} of {len(found)} generated tables match their raw output")
    return 1 if bad else 0


def main(argv):
    if len(argv) == 3 and argv[1] == "--check":
        return check(argv[2])
    if len(argv) == 2:
        path = Path(argv[1]).resolve()
        source = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        sys.stdout.write(table(str(source)))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
