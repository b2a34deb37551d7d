"""Draws the PNG plots of one `sluice-bench run` result from its JSON file (nothing else is read).

    plot.py RESULT.json   ->   RESULT.latency-cdf.png, RESULT.throughput.png   (paths printed, one a line)

* Latency CDF: one curve per system, from the (quantile, ms) points the fixed-rate phase stored.
* Throughput over time: input records/s per system during the drain, from the consumer group's committed
  offsets sampled about every second (Flink commits its offsets when a checkpoint completes, so its curve
  is a series of steps one checkpoint interval apart; the other two commit every transaction).
"""

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on a build machine
import matplotlib.pyplot as plt  # noqa: E402

COLORS = {"sluice": "tab:blue", "ceiling": "tab:gray", "flink": "tab:orange"}
LABELS = {"sluice": "Sluice", "ceiling": "ceiling (identity pipe)", "flink": "Flink"}


def systems(result):
    """(name, system result) for each system present in the run."""
    out = [("ceiling", result["ceiling"]), ("sluice", result["sluice"])]
    if result.get("flink"):
        out.append(("flink", result["flink"]))
    return out


def title_suffix(result):
    kind = "quick run (harness check, not a benchmark)" if result.get("quick") else "full run"
    return f"{result['input_records']:,} input records, {result['partitions']} partitions, {kind}"


def latency_cdf(result, path):
    fig, ax = plt.subplots(figsize=(8, 5))
    drawn = 0
    for name, sys_result in systems(result):
        lat = sys_result.get("latency")
        if not lat or not lat.get("cdf"):
            continue
        qs = [q for q, _ in lat["cdf"]]
        ms = [max(v, 0.5) for _, v in lat["cdf"]]  # log axis: clamp 0 ms reads to 0.5
        ax.step(ms, qs, where="post", color=COLORS[name], marker=".", markersize=2,
                label=f"{LABELS[name]} (p50 {lat['p50_ms']:.0f}, p99 {lat['p99_ms']:.0f} ms)")
        drawn += 1
    if drawn == 0:
        raise SystemExit("plot.py: no latency samples in the result")
    ax.set_xscale("log")
    ax.set_xlabel("append to input → visible to a read_committed reader (ms, log scale)")
    ax.set_ylabel("fraction of decisions")
    ax.set_ylim(0, 1.001)
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title(f"Latency CDF at {result['latency_rate']:,} input records/s\n{title_suffix(result)}",
                 fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def rates(timeline):
    """(t, records/s) between consecutive committed-offset samples."""
    out = []
    for a, b in zip(timeline, timeline[1:]):
        dt = b["t_secs"] - a["t_secs"]
        if dt > 0:
            out.append((b["t_secs"], (b["committed"] - a["committed"]) / dt))
    return out


def throughput(result, path):
    fig, ax = plt.subplots(figsize=(8, 5))
    for name, sys_result in systems(result):
        timeline = sys_result.get("drain", {}).get("timeline") or []
        points = rates(timeline)
        if not points:
            continue
        ax.step([t for t, _ in points], [r for _, r in points], where="pre", color=COLORS[name], marker="o",
                markersize=3,
                label=f"{LABELS[name]} (mean {sys_result['drain']['records_per_sec']:,.0f}/s)")
    ax.set_xlabel("seconds since the process started")
    ax.set_ylabel("input records/s (committed offsets, per ~1 s sample)")
    ax.grid(True, alpha=0.3)
    ax.set_title(f"Drain throughput over time\n{title_suffix(result)}", fontsize=10)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main():
    if len(sys.argv) != 2:
        raise SystemExit("usage: plot.py RESULT.json")
    src = Path(sys.argv[1])
    result = json.loads(src.read_text())
    stem = src.with_suffix("") if src.suffix == ".json" else src
    cdf_path = Path(f"{stem}.latency-cdf.png")
    tp_path = Path(f"{stem}.throughput.png")
    latency_cdf(result, cdf_path)
    throughput(result, tp_path)
    print(cdf_path)
    print(tp_path)


if __name__ == "__main__":
    main()
