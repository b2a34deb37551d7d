#!/usr/bin/env python3
"""The reliability tables, generated from the JSON lines the end-to-end scenarios write
(`SLUICE_RELIABILITY_REPORT`, one object per scenario: scenario, events, kills, duplicates, losses,
mismatches, seconds, and their provenance: commit, dirty, command, campaign, profile, machine).

    scripts/reliability-table.py FILE.jsonl             # print the Markdown table
    scripts/reliability-table.py --check DOC.md         # every generated table in DOC matches its file

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
    was measured on."""
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
